import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, startProcess, waitUntilReady } from './processes';
import { waitFor } from './wait-for';

const ROOT = join(__dirname, '..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'processes-spec-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

describe('startProcess', () => {
  it('runs the command in a process group of its own, its output in the log, and stops it', async () => {
    const logFile = join(dir, 'echo.log');
    const sleeper = await startProcess('sleeper', 'bash', ['-c', 'echo started; exec sleep 30'], {
      logFile,
    });
    expect(processGroupOf(sleeper.pid)).toBe(sleeper.pid);
    await waitFor(() => readFileSync(logFile, 'utf8').includes('started'), {
      description: 'the output in the log',
    });
    await sleeper.stop();
    expect(sleeper.hasExited()).toBe(true);
    expect(isAlive(sleeper.pid)).toBe(false);
  });

  it('kills a process that ignores its stop signal once the deadline passes', async () => {
    const stubborn = await startProcess(
      'stubborn',
      'bash',
      ['-c', "trap '' TERM; echo ready; while :; do sleep 0.1; done"],
      { logFile: join(dir, 'stubborn.log'), stopTimeoutMs: 300 },
    );
    await waitFor(() => stubborn.tail().includes('ready'), { description: 'the trap set' });
    const began = Date.now();
    await stubborn.stop();
    expect(stubborn.hasExited()).toBe(true);
    expect(Date.now() - began).toBeGreaterThanOrEqual(300);
  });

  it('fails the wait for readiness at once, with the log, when the process exits', async () => {
    const failing = await startProcess('failing', 'bash', ['-c', 'echo no config file; exit 3'], {
      logFile: join(dir, 'failing.log'),
    });
    await expect(
      waitUntilReady(failing, 'failing to answer', () => Promise.resolve(false), {
        timeoutMs: 20_000,
      }),
    ).rejects.toThrow(/exited during start-up[\s\S]*no config file/);
  });

  it('stops a process that does not get ready in time, and says what the probe saw', async () => {
    const deaf = await startProcess('deaf', 'sleep', ['30'], { logFile: join(dir, 'deaf.log') });
    await expect(
      waitUntilReady(deaf, 'deaf to answer', () => Promise.reject(new Error('refused')), {
        timeoutMs: 300,
      }),
    ).rejects.toThrow(/timed out after 300 ms waiting for deaf to answer/);
    expect(deaf.hasExited()).toBe(true);
  });

  it('stops what it started when its owner is killed outright (SIGKILL)', async () => {
    const owner = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        '-e',
        `require('./tools/processes').startProcess('orphan', 'sleep', ['60'], { logFile: ${JSON.stringify(join(dir, 'orphan.log'))} }).then((p) => console.log(p.pid))`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const pid = await new Promise<number>((resolve) =>
      owner.stdout.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim()))),
    );
    expect(isAlive(pid)).toBe(true);
    owner.kill('SIGKILL');
    await waitFor(() => !isAlive(pid), {
      description: `orphan ${pid} to be stopped`,
      timeoutMs: 5_000,
    });
    // ts-node's start-up of the owner takes seconds on a loaded machine.
  }, 30_000);
});

describe('shareProcessGroup', () => {
  it("keeps what is started in the owner's group, and stop() still stops it", async () => {
    const script = [
      "const p = require('./tools/processes');",
      'p.shareProcessGroup();',
      `p.startProcess('sleeper', 'sleep', ['60'], { logFile: ${JSON.stringify(join(dir, 'shared.log'))} })`,
      '  .then(async (s) => { console.log(s.pid); await new Promise((r) => setTimeout(r, 500));',
      "    await s.stop(); console.log('stopped', s.hasExited()); });",
    ].join('\n');
    const owner = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    owner.stdout.on('data', (chunk: Buffer) => (output += String(chunk)));
    const pid = Number(
      await waitFor(() => /^\d+\n/.exec(output)?.[0], { description: "the sleeper's pid" }),
    );
    expect(processGroupOf(pid)).toBe(owner.pid);
    await waitFor(() => output.includes('stopped true'), {
      description: 'the owner to stop the sleeper',
      timeoutMs: 20_000,
    });
    expect(isAlive(pid)).toBe(false);
  }, 30_000);
});
