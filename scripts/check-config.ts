/**
 * `npm run check-config [-- FILE]`: validates a remotes file (default: ARTIFACT_CONFIG, else
 * config/remotes.yaml) and the environment as the apps would read them, without starting
 * anything. Prints every problem, one per line, and exits 1; or a one-line summary and exits 0.
 */
import { resolve } from 'node:path';
import { loadAppConfig } from '../libs/config/src';

const file = resolve(process.argv[2] ?? process.env.ARTIFACT_CONFIG ?? 'config/remotes.yaml');
try {
  const config = loadAppConfig({ ...process.env, ARTIFACT_CONFIG: file });
  const remotes = Object.values(config.remotes).map(
    (remote) => `${remote.name} (${remote.package})`,
  );
  process.stdout.write(`${file}: valid, ${remotes.length} remotes: ${remotes.join(', ')}\n`);
} catch (error) {
  process.stderr.write(
    `${file}: invalid\n${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
}
