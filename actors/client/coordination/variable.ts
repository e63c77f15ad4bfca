/**
 * `Variable<T>`: a named value kept by the scheduler, shared by every
 * client and task that names it (Dask's `Variable`).
 *
 * @module
 */

import type { WaitBounds } from "../deadline.ts";
import { encodeItem } from "./ask.ts";
import { NamedPrimitive } from "./named.ts";

/**
 * A named variable kept by the scheduler: `set` replaces its value (once
 * `set` resolves, every later `get` anywhere sees it or a newer one),
 * `get` reads it, waiting until it has one, `delete` empties it. A value
 * may contain futures: their keys stay alive while it is the variable's
 * value, even after the client that set it released them.
 *
 * @example A future handed over through a variable outlives its client's hold
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, type Future, LocalCluster, Variable } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const shared = new Variable<Future<number>>("answer", { client });
 * const f = client.submit(() => 42);
 * await shared.set(f);
 * f.release();
 * const g = await shared.get({ timeout: 60_000 });
 * assert.equal(await g.result(), 42);
 * await shared.delete();
 * ```
 */
export class Variable<T = unknown> extends NamedPrimitive {
  /**
   * Sets the value.
   *
   * @throws {SerializationError} when `value` cannot travel.
   */
  async set(value: T): Promise<void> {
    const item = encodeItem(value, `the value of variable ${this.name}`);
    await this.ask("set()", {
      op: "variable-set",
      name: this.name,
      ...item,
    });
  }

  /**
   * The value, waiting until there is one.
   *
   * @throws {TimeoutError} when `options.timeout` passes first.
   */
  async get(options: WaitBounds = {}): Promise<T> {
    return await this.askValue("get()", {
      op: "variable-get",
      name: this.name,
    }, options) as T;
  }

  /** Empties the variable (gets wait again until the next `set`). */
  async delete(): Promise<void> {
    await this.ask("delete()", {
      op: "variable-delete",
      name: this.name,
    });
  }

  /** Errors call it a variable. */
  protected get kind(): string {
    return "variable";
  }
}
