/**
 * `Variable<T>`: a named value kept by the scheduler, shared by every
 * client and task that names it (Dask's `Variable`).
 *
 * @module
 */

import type { Client } from "../client.ts";
import type { WaitBounds } from "../deadline.ts";
import {
  ask,
  askValue,
  encodeItem,
  primitiveClient,
  type PrimitiveOptions,
} from "./ask.ts";

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
export class Variable<T = unknown> {
  /** The variable's name. */
  readonly name: string;
  /** The client its requests go through. */
  readonly client: Client;

  /**
   * The variable named `name`, made on first use.
   *
   * @throws {TypeError} for an empty name.
   */
  constructor(name: string, options: PrimitiveOptions = {}) {
    this.client = primitiveClient("Variable", name, options);
    this.name = name;
  }

  /**
   * Sets the value.
   *
   * @throws {SerializationError} when `value` cannot travel.
   */
  async set(value: T): Promise<void> {
    const item = encodeItem(value, `the value of variable ${this.name}`);
    await ask(this.client, `set() of variable ${this.name}`, {
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
    return await askValue(this.client, `get() of variable ${this.name}`, {
      op: "variable-get",
      name: this.name,
    }, options) as T;
  }

  /** Empties the variable (gets wait again until the next `set`). */
  async delete(): Promise<void> {
    await ask(this.client, `delete() of variable ${this.name}`, {
      op: "variable-delete",
      name: this.name,
    });
  }
}
