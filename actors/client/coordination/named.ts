/**
 * What every coordination primitive of a client is: a name the scheduler
 * files it under, the client its requests go through, and requests named
 * after the call that made them (for errors and timeouts).
 *
 * @module
 */

import type { Coordinated } from "../../protocol.ts";
import type { Client } from "../client.ts";
import type { WaitBounds } from "../deadline.ts";
import { getClient } from "../get_client.ts";
import { ask, askValue } from "./ask.ts";
import type { CoordinationAsk } from "./link.ts";

/** Where a primitive's requests go. */
export interface PrimitiveOptions {
  /**
   * The client to use (default: `getClient()`, the worker's client inside
   * a task, else the newest open client).
   */
  client?: Client;
}

/**
 * A named primitive kept by the scheduler, as a client uses it: the base
 * of `Queue`, `Variable`, `ClusterEvent`, `Semaphore`, `Lock`
 * and `Topic`. Objects of one kind and name are views of one primitive.
 *
 * @example Two objects, one queue; names must not be empty
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, NamedPrimitive, Queue } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const a = new Queue<string>("shared", { client });
 * const b = new Queue<string>("shared"); // getClient(): the newest client
 * assert.ok(a instanceof NamedPrimitive);
 * await a.put("x");
 * assert.equal(await b.get(), "x");
 * assert.throws(() => new Queue(""), /a Queue needs a non-empty string name/);
 * ```
 */
export abstract class NamedPrimitive {
  /** Its name: every object of this kind and name, anywhere, is the same one. */
  readonly name: string;
  /** The client its requests go through. */
  readonly client: Client;

  /**
   * The primitive named `name`.
   *
   * @throws {TypeError} for an empty name.
   */
  constructor(name: string, options: PrimitiveOptions = {}) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`a ${new.target.name} needs a non-empty string name`);
    }
    this.name = name;
    this.client = options.client ?? getClient();
  }

  /** The kind, as errors name it ("queue"). */
  protected abstract get kind(): string;

  /** `call` of this primitive, as errors name it. */
  protected what(call: string): string {
    return `${call} of ${this.kind} ${this.name}`;
  }

  /** Asks `question` for `call`, waiting within `bounds`. */
  protected async ask(
    call: string,
    question: CoordinationAsk,
    bounds?: WaitBounds,
  ): Promise<Coordinated> {
    return (await ask(this.client, this.what(call), question, bounds)).answer;
  }

  /** Asks `question` for `call` and decodes the value it answers with. */
  protected askValue(
    call: string,
    question: CoordinationAsk,
    bounds?: WaitBounds,
  ): Promise<unknown> {
    return askValue(this.client, this.what(call), question, bounds);
  }
}
