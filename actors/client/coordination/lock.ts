/**
 * `Lock`: a named mutual-exclusion lock kept by the scheduler (Dask's
 * `Lock`), a semaphore of one lease.
 *
 * @module
 */

import type { PrimitiveOptions } from "./named.ts";
import { Semaphore } from "./semaphore.ts";

/**
 * A named lock kept by the scheduler: one holder at a time, cluster-wide;
 * `acquire` waits (in order of arrival), `release` lets the next one in.
 * It is a {@linkcode Semaphore} of one lease in a namespace of its own (a
 * lock and a semaphore of one name are two things), so the lock of a
 * client that closes, or of a worker that dies, is released by itself.
 *
 * @example Tasks update a shared variable without losing an update
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, Lock, Variable } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 2 });
 * await using client = await Client.connect(cluster);
 * await new Variable<number[]>("seen", { client }).set([]);
 * const append = async (i: number) => {
 *   const lock = new Lock("seen");
 *   const seen = new Variable<number[]>("seen");
 *   await lock.acquire();
 *   try {
 *     await seen.set([...(await seen.get()), i]);
 *   } finally {
 *     await lock.release();
 *   }
 * };
 * await client.gather(client.map(append, [1, 2, 3, 4, 5, 6]));
 * const seen = await new Variable<number[]>("seen", { client }).get();
 * assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6]);
 * ```
 */
export class Lock extends Semaphore {
  /**
   * The lock named `name`, made on first use.
   *
   * @throws {TypeError} for an empty name.
   */
  constructor(name: string, options: PrimitiveOptions = {}) {
    super(name, { client: options.client, maxLeases: 1 });
  }

  /** Whether this object holds the lock. */
  get locked(): boolean {
    return this.held > 0;
  }

  /** Locks live apart from semaphores of the same name. */
  protected override get wireName(): string {
    return `\u0000lock ${this.name}`;
  }

  /** Errors call it a lock. */
  protected override get kind(): string {
    return "lock";
  }
}
