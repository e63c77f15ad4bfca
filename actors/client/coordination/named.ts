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

/** A named primitive kept by the scheduler, as a client uses it. */
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
