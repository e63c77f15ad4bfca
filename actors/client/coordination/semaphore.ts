/**
 * `Semaphore`: a named semaphore kept by the scheduler (Dask's
 * `Semaphore`), whose leases go back when their holder leaves or dies.
 *
 * @module
 */

import { TendrilError } from "../../../runtime/errors.ts";
import type { WaitBounds } from "../deadline.ts";
import { NamedPrimitive, type PrimitiveOptions } from "./named.ts";

/** Options of a {@linkcode Semaphore}. */
export interface SemaphoreOptions extends PrimitiveOptions {
  /**
   * Leases it has (default 1). Every object naming one semaphore must give
   * the same number; an acquire with another one is refused.
   */
  maxLeases?: number;
}

/**
 * A named semaphore kept by the scheduler: at most `maxLeases` leases are
 * held at once, cluster-wide; `acquire` waits for one (in order of
 * arrival), `release` gives back the oldest this object holds. A lease is
 * held by the client that took it (inside a task: the worker's client), and
 * goes back by itself when that client closes or that worker dies, so a
 * dead holder never blocks the others.
 *
 * @example At most two tasks in the guarded section at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, Semaphore } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 2 });
 * await using client = await Client.connect(cluster);
 * const guarded = async (i: number) => {
 *   const sem = new Semaphore("db", { maxLeases: 2 });
 *   await sem.acquire();
 *   try {
 *     return i;
 *   } finally {
 *     await sem.release();
 *   }
 * };
 * assert.deepEqual(await client.gather(client.map(guarded, [1, 2, 3, 4])), [1, 2, 3, 4]);
 * const sem = new Semaphore("db", { client, maxLeases: 2 });
 * await sem.acquire({ timeout: 60_000 });
 * assert.equal(sem.held, 1);
 * await sem.release();
 * ```
 */
export class Semaphore extends NamedPrimitive {
  /** Leases it has. */
  readonly maxLeases: number;
  /** Leases this object holds, oldest first. */
  private readonly leases: number[] = [];

  /**
   * The semaphore named `name`, made on first use.
   *
   * @throws {TypeError} for an empty name.
   * @throws {RangeError} when `maxLeases` is not a positive integer.
   */
  constructor(name: string, options: SemaphoreOptions = {}) {
    super(name, options);
    const max = options.maxLeases ?? 1;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(
        `maxLeases of semaphore ${name} must be a positive integer, got ${max}`,
      );
    }
    this.maxLeases = max;
  }

  /** Leases this object holds. */
  get held(): number {
    return this.leases.length;
  }

  /**
   * Takes a lease, waiting while all are held.
   *
   * @throws {TimeoutError} when `options.timeout` passes first (no lease is taken).
   */
  async acquire(options: WaitBounds = {}): Promise<void> {
    const answer = await this.ask("acquire()", {
      op: "semaphore-acquire",
      name: this.wireName,
      maxLeases: this.maxLeases,
    }, options);
    this.leases.push(answer.count!);
  }

  /**
   * Gives back the oldest lease this object holds.
   *
   * @throws {TendrilError} when it holds none, or the lease was already
   * given back because its client left.
   */
  async release(): Promise<void> {
    const lease = this.leases.shift();
    if (lease === undefined) {
      throw new TendrilError(`${this.what("release()")}: no lease held here`);
    }
    await this.ask("release()", {
      op: "semaphore-release",
      name: this.wireName,
      lease,
    });
  }

  /** The name the scheduler files it under. */
  protected get wireName(): string {
    return this.name;
  }

  /** Errors call it a semaphore. */
  protected get kind(): string {
    return "semaphore";
  }
}
