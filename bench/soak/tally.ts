import type { MeasuredExchange } from './client';
import type { Judgement, Operation } from './expectations';

export interface UnexpectedExample {
  op: Operation;
  problem: string;
  request: string;
  gateway: string;
  status: number;
  /** ms since the tally began */
  at: number;
  /** the start of the answer's body when it was small (the gateway's error message) */
  text: string | null;
}

interface OperationTally {
  byStatus: Map<number, number>;
  bySource: Map<string, number>;
  problems: Map<string, number>;
  durationsMs: number[];
  bytes: number;
}

/** Examples kept per (operation, problem): enough to see what went wrong, bounded. */
const EXAMPLES_PER_PROBLEM = 3;

/** Every judged exchange, counted by operation, status, source and problem. */
export class Tally {
  readonly began = Date.now();
  readonly examples: UnexpectedExample[] = [];
  private readonly perOperation = new Map<Operation, OperationTally>();
  private readonly exampleCounts = new Map<string, number>();

  record(
    op: Operation,
    done: MeasuredExchange,
    judgement: Judgement,
    request: string,
    gateway: string,
  ): void {
    const tally = this.of(op);
    increment(tally.byStatus, done.status);
    increment(tally.bySource, done.source ?? '-');
    tally.durationsMs.push(done.ended - done.started);
    tally.bytes += done.bytes;
    if (judgement.ok) {
      return;
    }
    increment(tally.problems, judgement.problem);
    const key = `${op}\0${judgement.problem}`;
    const seen = this.exampleCounts.get(key) ?? 0;
    this.exampleCounts.set(key, seen + 1);
    if (seen < EXAMPLES_PER_PROBLEM) {
      this.examples.push({
        op,
        problem: judgement.problem,
        request,
        gateway,
        status: done.status,
        at: done.started - this.began,
        text: done.text === null ? null : done.text.slice(0, 300),
      });
    }
  }

  operations(): Array<[Operation, Readonly<OperationTally>]> {
    return [...this.perOperation.entries()];
  }

  get requests(): number {
    let n = 0;
    for (const tally of this.perOperation.values()) {
      n += tally.durationsMs.length;
    }
    return n;
  }

  get bytes(): number {
    let n = 0;
    for (const tally of this.perOperation.values()) {
      n += tally.bytes;
    }
    return n;
  }

  get unexpected(): number {
    let n = 0;
    for (const tally of this.perOperation.values()) {
      for (const count of tally.problems.values()) {
        n += count;
      }
    }
    return n;
  }

  private of(op: Operation): OperationTally {
    let tally = this.perOperation.get(op);
    if (!tally) {
      tally = {
        byStatus: new Map(),
        bySource: new Map(),
        problems: new Map(),
        durationsMs: [],
        bytes: 0,
      };
      this.perOperation.set(op, tally);
    }
    return tally;
  }
}

function increment<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
