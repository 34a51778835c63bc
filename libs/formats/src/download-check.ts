import type { ProxyRemoteConfig } from '@app/config';
import type { FetchTarget } from './fetch-target';

/**
 * What a format's check of a downloaded file (PackageFormat.verifyDownload) is given: the file
 * complete in the spool, before its last byte reaches a client or it is published.
 */
export interface DownloadCheck {
  readonly remote: ProxyRemoteConfig;
  readonly target: FetchTarget;
  /** the job's path */
  readonly path: string;
  /** the spool file, every byte of the download in it; read only */
  readonly file: string;
  /** the job's deadline */
  readonly signal: AbortSignal;
  /**
   * Another immutable path of the same remote, small and read whole, through the cache: the
   * stored copy, or else fetched upstream and stored. Null when the upstream has no such path.
   */
  related(path: string): Promise<Buffer | null>;
}
