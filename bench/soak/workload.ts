import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { setTimeout } from 'node:timers/promises';
import { sha256Of } from '../../test/helpers/http';
import { exchange, type ExchangeRequest, type MeasuredExchange } from './client';
import { type Corpus, HOSTED_REMOTE, PROXY_REMOTE, logUniformSize } from './corpus';
import { EXPECTED_STATUS, type Expectation, type Operation, judge } from './expectations';
import { Tally } from './tally';
import type { UploadPool } from './upload-pool';

const KiB = 1024;
const MiB = 1024 * KiB;

/** What a client loop does; flushes come from a loop of their own, on a timer. */
export type LoopOperation = Exclude<Operation, 'flush'>;

/** Relative frequencies of the loops' operations. */
export const DEFAULT_WEIGHTS: Readonly<Record<LoopOperation, number>> = {
  hit: 40,
  index: 22,
  new: 8,
  missing: 6,
  upload: 6,
  'upload-read': 10,
  'upload-conflict': 1,
  'upload-delete': 5,
  'deleted-read': 2,
};

/** The operation whose cumulative weight first exceeds `r` (0 <= r < 1) times the total. */
export function pickOperation(
  weights: Readonly<Record<LoopOperation, number>>,
  r: number,
): LoopOperation {
  const entries = Object.entries(weights) as Array<[LoopOperation, number]>;
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let threshold = r * total;
  for (const [op, weight] of entries) {
    if (threshold < weight) {
      return op;
    }
    threshold -= weight;
  }
  return entries[entries.length - 1][0];
}

export interface WorkloadOptions {
  /** base URLs of the gateways; loop i uses gateway i mod n */
  gateways: readonly string[];
  connections: number;
  adminToken: string;
  corpus: Corpus;
  uploads: UploadPool;
  weights?: Readonly<Record<LoopOperation, number>>;
  requestTimeoutMs: number;
  /** how long a mutable file may lawfully lag behind the upstream (TTL + revalidation time) */
  indexLagMs: number;
  /** one flush of the proxy remote this often (alternating gateways), never while paused */
  flushEveryMs: number;
}

/**
 * The client side of the soak: `connections` loops, each with its own keep-alive connection,
 * doing one operation after another with no pause, every answer judged and counted. Pausable,
 * so that the runner can sample the processes while nothing is in flight.
 */
export class Workload {
  readonly tally = new Tally();
  private readonly agents: http.Agent[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly weights: Readonly<Record<LoopOperation, number>>;
  private stopped = false;
  private paused: Promise<void> | null = null;
  private unpause: (() => void) | null = null;
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  private uploadSequence = 0;
  private readonly stopping = new AbortController();

  constructor(private readonly options: WorkloadOptions) {
    this.weights = options.weights ?? DEFAULT_WEIGHTS;
  }

  start(): void {
    for (let i = 0; i < this.options.connections; i += 1) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.agents.push(agent);
      const gateway = this.options.gateways[i % this.options.gateways.length];
      this.loops.push(this.loop(() => this.one(agent, gateway)));
    }
    const flushAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.agents.push(flushAgent);
    let flushes = 0;
    this.loops.push(
      this.loop(async () => {
        const gateway = this.options.gateways[flushes % this.options.gateways.length];
        flushes += 1;
        await this.flush(flushAgent, gateway);
      }, this.options.flushEveryMs),
    );
  }

  /** Lets running operations finish and starts no new ones until `resume`. */
  async pause(): Promise<void> {
    if (!this.paused) {
      this.paused = new Promise((resolve) => (this.unpause = resolve));
    }
    await this.idle();
  }

  resume(): void {
    this.unpause?.();
    this.paused = null;
    this.unpause = null;
  }

  /**
   * Ends every loop after its current operation and closes the connections; `cut` closes them
   * first, so that operations in flight end at once (as broken transfers, counted).
   */
  async stop(options: { cut?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.resume();
    if (options.cut) {
      this.agents.forEach((agent) => agent.destroy());
    }
    await Promise.all(this.loops);
    this.agents.forEach((agent) => agent.destroy());
  }

  /** One flush of the proxy remote, judged and counted like any operation. */
  private async flush(agent: http.Agent, gateway: string): Promise<void> {
    await this.run('flush', gateway, {
      request: {
        method: 'PUT',
        url: `${gateway}/cache/flush?remote=${PROXY_REMOTE}`,
        headers: this.auth(),
      },
      expect: () => ({ status: EXPECTED_STATUS.flush }),
      agent,
    });
  }

  /** Runs `step` again and again (after `everyMs` each time, if given) until stopped. */
  private async loop(step: () => Promise<void>, everyMs = 0): Promise<void> {
    for (;;) {
      if (everyMs > 0) {
        await setTimeout(everyMs, undefined, { signal: this.stopping.signal }).catch(
          () => undefined,
        );
      }
      if (this.paused) {
        await this.paused;
      }
      if (this.stopped) {
        return;
      }
      this.active += 1;
      try {
        await step();
      } finally {
        this.active -= 1;
        if (this.active === 0) {
          this.idleWaiters.splice(0).forEach((wake) => wake());
        }
      }
    }
  }

  private idle(): Promise<void> {
    return this.active === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Picks what to do next; an operation whose precondition fails turns into its nearest kin. */
  private chooseOperation(): LoopOperation {
    const op = pickOperation(this.weights, Math.random());
    const { uploads } = this.options;
    switch (op) {
      case 'upload':
        return uploads.full ? 'upload-delete' : op;
      case 'upload-read':
      case 'upload-conflict':
      case 'upload-delete':
        return uploads.size === 0 ? 'upload' : op;
      case 'deleted-read':
        return uploads.deletedPath() === null ? 'missing' : op;
      case 'hit':
      case 'index':
      case 'new':
      case 'missing':
        return op;
    }
  }

  private async one(agent: http.Agent, gateway: string): Promise<void> {
    const { corpus, uploads, indexLagMs } = this.options;
    const proxyUrl = (path: string) => `${gateway}/api/v1/remote/${PROXY_REMOTE}/${path}`;
    const hostedUrl = (path: string) => `${gateway}/api/v1/remote/${HOSTED_REMOTE}/${path}`;
    const op = this.chooseOperation();
    switch (op) {
      case 'hit': {
        const file = corpus.poolFile();
        await this.run(op, gateway, {
          agent,
          request: { method: 'GET', url: proxyUrl(file.path) },
          expect: () => ({ status: 200, sha256: [file.sha256], sources: ['cache', 'remote'] }),
        });
        return;
      }
      case 'index': {
        const path = corpus.indexPath();
        const history = corpus.history(path);
        await this.run(op, gateway, {
          agent,
          request: { method: 'GET', url: proxyUrl(path) },
          expect: (done) => ({
            status: 200,
            sha256: history.currentIn(done.started - indexLagMs, done.ended),
            outdatedSha256: history.all(),
            sources: ['cache', 'remote'],
          }),
        });
        return;
      }
      case 'new': {
        const file = corpus.newFile();
        try {
          await this.run(op, gateway, {
            agent,
            request: { method: 'GET', url: proxyUrl(file.path) },
            expect: () => ({ status: 200, sha256: [file.sha256], sources: ['remote'] }),
          });
        } finally {
          file.retire();
        }
        return;
      }
      case 'missing':
        await this.run(op, gateway, {
          agent,
          request: { method: 'GET', url: proxyUrl(corpus.missingPath()) },
          expect: () => ({ status: EXPECTED_STATUS.missing }),
        });
        return;
      case 'upload': {
        this.uploadSequence += 1;
        const body = randomBytes(logUniformSize(1 * KiB, 1 * MiB));
        const path = `soak/${this.uploadSequence}-${randomBytes(3).toString('hex')}.bin`;
        const sha256 = sha256Of(body);
        const ok = await this.run(op, gateway, {
          agent,
          request: {
            method: 'PUT',
            url: hostedUrl(path),
            headers: {
              ...this.auth(),
              'content-type': 'application/octet-stream',
              'x-checksum-sha256': sha256,
            },
            body,
          },
          expect: () => ({ status: EXPECTED_STATUS.upload, answerSha256: sha256 }),
        });
        if (ok) {
          uploads.add({ path, size: body.length, sha256 });
        }
        return;
      }
      case 'upload-read':
      case 'upload-conflict': {
        const file = uploads.borrow();
        if (!file) {
          return;
        }
        try {
          await this.run(op, gateway, {
            agent,
            request:
              op === 'upload-read'
                ? { method: 'GET', url: hostedUrl(file.path) }
                : {
                    method: 'PUT',
                    url: hostedUrl(file.path),
                    headers: { ...this.auth(), 'content-type': 'application/octet-stream' },
                    // Small: the gateway answers 409 before reading the body, and a large body
                    // still being sent then may meet a closed connection instead of the answer.
                    body: randomBytes(512),
                  },
            expect: () =>
              op === 'upload-read'
                ? { status: 200, sha256: [file.sha256], sources: ['local'] }
                : { status: EXPECTED_STATUS['upload-conflict'] },
          });
        } finally {
          file.release();
        }
        return;
      }
      case 'upload-delete': {
        const file = uploads.takeForDelete();
        if (!file) {
          return;
        }
        const ok = await this.run(op, gateway, {
          agent,
          request: { method: 'DELETE', url: hostedUrl(file.path), headers: this.auth() },
          expect: () => ({ status: EXPECTED_STATUS['upload-delete'] }),
        });
        if (ok) {
          uploads.markDeleted(file.path);
        }
        return;
      }
      case 'deleted-read': {
        const path = uploads.deletedPath();
        if (path === null) {
          return;
        }
        await this.run(op, gateway, {
          agent,
          request: { method: 'GET', url: hostedUrl(path) },
          expect: () => ({ status: EXPECTED_STATUS['deleted-read'] }),
        });
        return;
      }
    }
  }

  private async run(
    op: Operation,
    gateway: string,
    step: {
      agent: http.Agent;
      request: Omit<ExchangeRequest, 'timeoutMs'>;
      /** built after the answer: a mutable file's right versions depend on when it was asked */
      expect: (done: MeasuredExchange) => Expectation;
    },
  ): Promise<boolean> {
    const done = await exchange(step.agent, {
      ...step.request,
      timeoutMs: this.options.requestTimeoutMs,
    });
    const judgement = judge(done, step.expect(done));
    this.tally.record(op, done, judgement, `${step.request.method} ${step.request.url}`, gateway);
    return judgement.ok;
  }

  private auth(): Record<string, string> {
    return { authorization: `Bearer ${this.options.adminToken}` };
  }
}
