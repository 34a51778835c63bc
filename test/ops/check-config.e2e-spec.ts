import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../tools/processes';

const ROOT = join(__dirname, '..', '..');

/** docs/CONFIGURATION.md: `npm run check-config` validates a remotes file and starts nothing. */
describe('npm run check-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'check-config-'));
  const check = (file: string) =>
    runCommand('npm', ['run', '--silent', 'check-config', '--', file], {
      cwd: ROOT,
      timeoutMs: 60_000,
    });

  it('summarises a valid file', async () => {
    const { stdout } = await check(join(ROOT, 'config/remotes.yaml'));
    expect(stdout).toMatch(/remotes\.yaml: valid, \d+ remotes: .*dockerhub \(docker\)/);
  });

  it('names every problem of an invalid file and exits 1', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'remotes:\n  a:\n    package: rpmx\n  b:\n    package: generic\n    mutable_ttl: -1\n',
    );
    const failed = await check(file).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(failed).toContain('bad.yaml: invalid');
    expect(failed).toContain('remotes.a.package: must be one of');
    expect(failed).toContain('remotes.b.base_url: required');
    expect(failed).toContain('remotes.b.mutable_ttl: must be an integer >= 0');
  });
});
