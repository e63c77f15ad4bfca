/**
 * How long each function's runs take, learned from the durations workers
 * report with their results (as Dask learns per task prefix): an
 * exponentially weighted mean, in whole microseconds, per function id.
 * Runs that seceded report no duration (their wall time is mostly waiting
 * on other tasks), so functions that launch tasks learn from their leaves.
 *
 * @module
 */

/** Weight of a new sample: a few slow runs among many quick ones still show. */
const ALPHA = 1 / 16;

/** Expected duration of a function that never finished yet, for stealing (Dask's 0.5 s). */
export const UNKNOWN_DURATION_US = 500_000;

/**
 * Learned durations by function id.
 *
 * @example The first sample is taken as is, later ones are blended in
 * ```ts
 * import assert from "node:assert/strict";
 * import { TaskDurations } from "./durations.ts";
 * const d = new TaskDurations();
 * assert.equal(d.known("f"), undefined);
 * d.learn("f", 16); // ms
 * assert.equal(d.known("f"), 16_000); // µs
 * d.learn("f", 0);
 * assert.equal(d.known("f"), 15_000);
 * ```
 */
export class TaskDurations {
  readonly #us = new Map<string, number>();

  /** Adds a run of `fn` that took `ms` milliseconds on its slot. */
  learn(fn: string, ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    const sample = ms * 1000;
    const old = this.#us.get(fn);
    this.#us.set(
      fn,
      Math.round(old === undefined ? sample : old + ALPHA * (sample - old)),
    );
  }

  /** The learned duration of `fn` in µs, if any run of it reported one. */
  known(fn: string): number | undefined {
    return this.#us.get(fn);
  }

  /** Number of functions with a learned duration. */
  get size(): number {
    return this.#us.size;
  }
}
