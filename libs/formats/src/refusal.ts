import { isArtifactError } from '@app/common';

/** The code of the ArtifactError `run` throws, null when it throws none: for the format specs. */
export function refusalOf(run: () => unknown): string | null {
  try {
    run();
    return null;
  } catch (error) {
    return isArtifactError(error) ? error.code : 'not an ArtifactError';
  }
}
