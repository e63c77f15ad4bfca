/**
 * What the scheduler counts about finished runs, for `/metrics`, the
 * dashboard and `client.schedulerInfo()`. Kept cheap on the hot path: one
 * map lookup and a short bucket scan per finished run; everything else
 * (task counts by state, held bytes) is read off the graph when asked.
 *
 * @module
 */

import type { TaskSpan } from "../protocol.ts";

export type { TaskSpan };

/**
 * Upper bounds, in seconds, of the task-duration histogram's buckets (the
 * last, +Inf, is implicit).
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001,
  0.0005,
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  60,
];

/** Counts and timing of the runs of one function. */
export class FunctionStats {
  /** Runs that returned a value. */
  finished = 0;
  /** Runs that threw (retried runs included). */
  erred = 0;
  /** Runs that reported their duration, by bucket; the last is +Inf. */
  readonly buckets: number[] = new Array(DURATION_BUCKETS.length + 1).fill(0);
  /** Sum of the reported durations, in seconds. */
  seconds = 0;
  /** Runs that reported their duration. */
  timed = 0;

  /** A function's stats, under its readable `name`. */
  constructor(readonly name: string) {}

  /** Files a run that took `seconds`. */
  time(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    this.buckets[i]++;
    this.seconds += seconds;
    this.timed++;
  }
}

/** How many finished runs {@linkcode SchedulerMetrics.recent} keeps. */
export const RECENT_SPANS = 10_000;

/**
 * Counters of finished runs, by function, and a ring of the most recent
 * runs' spans (for the task stream).
 *
 * @example Two runs of one function
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchedulerMetrics } from "./metrics.ts";
 * const m = new SchedulerMetrics();
 * m.ended("s:inc", "inc", "a", "w1", 1000, 1000.05, false);
 * m.ended("s:inc", "inc", "b", "w1", 1000, 1002, true);
 * assert.equal(m.finished, 1);
 * assert.equal(m.erred, 1);
 * const inc = m.byFunction.get("s:inc")!;
 * assert.equal(inc.timed, 2);
 * assert.equal(inc.buckets[0], 1, "0.05 ms is under the first bound");
 * assert.deepEqual(m.spansSince(0).map((s) => s.key), ["a", "b"]);
 * ```
 */
export class SchedulerMetrics {
  /** Runs that returned a value, over the scheduler's life. */
  finished = 0;
  /** Runs that threw, over the scheduler's life. */
  erred = 0;
  /** Stats by function id. */
  readonly byFunction: Map<string, FunctionStats> = new Map();
  /** The last {@linkcode RECENT_SPANS} spans, a ring written at `spans % RECENT_SPANS`. */
  private readonly recent: TaskSpan[] = [];
  /** Spans recorded so far: the sequence number of the next one. */
  spans = 0;

  /**
   * Files a run of function `fn` (named `name`) of task `key` on `worker`
   * that ended (threw when `erred`); `start` and `stop` are the worker's
   * epoch milliseconds when it reported them, `seceded` the times it spent
   * seceded.
   */
  ended(
    fn: string,
    name: string,
    key: string,
    worker: string,
    start: number | undefined,
    stop: number | undefined,
    erred: boolean,
    seceded?: number[],
  ): void {
    if (erred) this.erred++;
    else this.finished++;
    let stats = this.byFunction.get(fn);
    if (!stats) this.byFunction.set(fn, stats = new FunctionStats(name));
    if (erred) stats.erred++;
    else stats.finished++;
    if (start === undefined || stop === undefined) return;
    stats.time(Math.max(0, stop - start) / 1000);
    const i = this.spans++ % RECENT_SPANS;
    const span = this.recent[i];
    if (span) {
      span.key = key;
      span.name = name;
      span.worker = worker;
      span.start = start;
      span.stop = stop;
      span.erred = erred;
      span.seceded = seceded ?? null;
    } else {
      this.recent[i] = {
        key,
        name,
        worker,
        start,
        stop,
        erred,
        seceded: seceded ?? null,
      };
    }
  }

  /**
   * Copies of the spans recorded from sequence number `from` on (those
   * still in the ring), oldest first.
   */
  spansSince(from: number): TaskSpan[] {
    const first = Math.max(from, this.spans - RECENT_SPANS, 0);
    const out: TaskSpan[] = [];
    for (let n = first; n < this.spans; n++) {
      out.push({ ...this.recent[n % RECENT_SPANS] });
    }
    return out;
  }
}
