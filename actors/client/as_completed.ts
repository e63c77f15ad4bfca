/**
 * `asCompleted`: futures in the order they complete, as an async iterator
 * that more futures can join while it runs (`add`), optionally yielding each
 * future with its value (`withResults`), like Dask's `as_completed`.
 *
 * @module
 */

import type { Future } from "./future.ts";
import type { KeyRecord } from "./state.ts";
import type { AwaitOptions } from "./types.ts";

/** What an {@linkcode AsCompleted} needs from its client. */
export interface AsCompletedHost {
  /** Calls `fn` once `record` leaves "pending" (at once if it has). */
  whenSettled(record: KeyRecord, fn: () => void): void;
  /**
   * Awaits `until`, which ends when one of `pending` settles (inside a task:
   * seceding for the wait, as every client wait does).
   */
  waitFor(
    until: Promise<void>,
    pending: KeyRecord[],
    options: AwaitOptions,
  ): Promise<void>;
}

/** Options of {@linkcode AsCompleted}. */
export interface AsCompletedOptions {
  /**
   * Yield `[future, value]` pairs instead of futures. A future that erred
   * or was cancelled then rejects the iteration with its error.
   */
  withResults?: boolean;
}

/**
 * Futures as they complete (finish, err or are cancelled), in completion
 * order; futures already done come first. Made by `client.asCompleted`.
 *
 * @example Adding work while iterating
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const double = (x: number) => 2 * x;
 * const seq = client.asCompleted(client.map(double, [1, 2]), { withResults: true });
 * const seen: number[] = [];
 * for await (const [, value] of seq) {
 *   seen.push(value);
 *   if (value < 8) seq.add(client.submit(double, value)); // 2 -> 4 -> 8
 * }
 * assert.deepEqual(seen.sort((a, b) => a - b), [2, 4, 4, 8, 8]);
 * ```
 */
export class AsCompleted<T, Y = Future<T>> implements AsyncIterableIterator<Y> {
  /** Futures not yielded yet that are still pending. */
  readonly #pending = new Set<Future<T>>();
  /** Futures that settled and were not yielded yet, in settling order. */
  readonly #ready: Future<T>[] = [];
  /** Wakes a `next` waiting for the next settled (or added) future. */
  #wake: (() => void) | null = null;
  readonly #host: AsCompletedHost;
  readonly #withResults: boolean;

  /** @internal use `client.asCompleted`. */
  constructor(
    host: AsCompletedHost,
    futures: Iterable<Future<T>>,
    options: AsCompletedOptions = {},
  ) {
    this.#host = host;
    this.#withResults = options.withResults ?? false;
    for (const f of futures) this.add(f);
  }

  /** Adds a future to those yielded when they complete. */
  add(future: Future<T>): void {
    this.#pending.add(future);
    this.#host.whenSettled(future.record, () => {
      if (!this.#pending.delete(future)) return;
      this.#ready.push(future);
      this.#wake?.();
    });
    this.#wake?.();
  }

  /** Futures not yielded yet (pending or ready). */
  get count(): number {
    return this.#pending.size + this.#ready.length;
  }

  /** True when there is nothing left to yield. */
  isEmpty(): boolean {
    return this.count === 0;
  }

  /** The next future to complete (with its value, with `withResults`). */
  async next(): Promise<IteratorResult<Y, undefined>> {
    while (this.#ready.length === 0) {
      if (this.#pending.size === 0) return { done: true, value: undefined };
      const woken = new Promise<void>((resolve) => (this.#wake = resolve));
      try {
        const pending = [...this.#pending].map((f) => f.record);
        await this.#host.waitFor(woken, pending, {});
      } finally {
        this.#wake = null;
      }
    }
    const future = this.#ready.shift()!;
    if (!this.#withResults) return { done: false, value: future as Y };
    return { done: false, value: [future, await future.result()] as Y };
  }

  /** Stops the iteration: nothing more is yielded. */
  return(): Promise<IteratorResult<Y, undefined>> {
    this.#pending.clear();
    this.#ready.length = 0;
    return Promise.resolve({ done: true, value: undefined });
  }

  /** This object is its own iterator. */
  [Symbol.asyncIterator](): this {
    return this;
  }
}
