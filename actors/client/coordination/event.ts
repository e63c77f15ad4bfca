/**
 * `ClusterEvent`: a named event kept by the scheduler (Dask's `Event`;
 * named so that importing it does not shadow the global DOM `Event`).
 *
 * @module
 */

import type { WaitBounds } from "../deadline.ts";
import { NamedPrimitive } from "./named.ts";

/**
 * A named event kept by the scheduler, set or clear (clear at first):
 * `wait` resolves once it is set (at once while it is), `set` wakes every
 * waiter, `clear` makes later waits wait again.
 *
 * @example Tasks wait until the client sets the event
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, ClusterEvent, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const go = new ClusterEvent("go", { client });
 * const waitThenRun = async (x: number) => {
 *   await new ClusterEvent("go").wait();
 *   return x * 2;
 * };
 * const futures = client.map(waitThenRun, [1, 2, 3]);
 * assert.equal(await go.isSet(), false);
 * await go.set();
 * assert.deepEqual(await client.gather(futures), [2, 4, 6]);
 * await go.clear();
 * ```
 */
export class ClusterEvent extends NamedPrimitive {
  /** Sets it: every wait ends. */
  async set(): Promise<void> {
    await this.ask("set()", {
      op: "event-set",
      name: this.name,
      on: true,
    });
  }

  /** Clears it: later waits wait for the next `set`. */
  async clear(): Promise<void> {
    await this.ask("clear()", {
      op: "event-set",
      name: this.name,
      on: false,
    });
  }

  /**
   * Waits until it is set.
   *
   * @throws {TimeoutError} when `options.timeout` passes first.
   */
  async wait(options: WaitBounds = {}): Promise<void> {
    await this.ask("wait()", {
      op: "event-wait",
      name: this.name,
    }, options);
  }

  /** Whether it is set now. */
  async isSet(): Promise<boolean> {
    const answer = await this.ask("isSet()", {
      op: "event-wait",
      name: this.name,
      poll: true,
    });
    return answer.count === 1;
  }

  /** Errors call it an event. */
  protected get kind(): string {
    return "event";
  }
}
