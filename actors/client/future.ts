/**
 * A future: a handle on one task's result. Passing a future as an argument
 * (also nested in arrays and objects) makes it a dependency: the task
 * receives its value.
 *
 * @module
 */

import { keyRef } from "../../runtime/codec/codec.ts";
import { withDeadline } from "./deadline.ts";
import type { AwaitOptions } from "./types.ts";
import type { FutureStatus, KeyRecord } from "./state.ts";

function retain<V>(_holder: unknown, value: V): V {
  return value;
}

/** What a future needs from its client. */
export interface FutureHost {
  /** Resolves with the decoded value, rejects with the task's error. */
  resultOf(record: KeyRecord, options?: AwaitOptions): Promise<unknown>;
  /** Waits for the key to leave "pending" (with automatic secession). */
  settle(records: KeyRecord[], options?: AwaitOptions): Promise<void>;
  /** Cancels the key. */
  cancelKeys(keys: string[]): Promise<void>;
  /** One holder of the key is gone (`token` unregisters its finalizer). */
  dropHolder(record: KeyRecord, owner: string, token: object): void;
  /** Decodes what an erred key's task threw (any value, as in a `catch`). */
  errorOf(record: KeyRecord): unknown;
}

/**
 * A future on the result of one task. Not thenable on purpose: `await f`
 * gives back `f` (use `await f.result()`), because JavaScript adopts any
 * thenable an async function returns, and tasks must be able to return
 * futures.
 *
 * @example Result, status and release
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const f = client.submit((x: number) => x + 1, 1);
 * assert.equal(await f.result(), 2);
 * assert.equal(f.status, "finished");
 * assert.ok(f.done());
 * assert.equal(await f.exception(), undefined);
 * f.release();
 * ```
 */
export class Future<T = unknown> {
  /** Marks this object as a key reference for the codec. */
  readonly [keyRef]: string;
  /** @internal */
  readonly record: KeyRecord;
  /** @internal */
  readonly host: FutureHost;
  /** @internal the owner holding this future ("" = the client). */
  readonly owner: string;
  #released = false;

  /** @internal futures are made by a Client. */
  constructor(record: KeyRecord, host: FutureHost, owner: string) {
    this[keyRef] = record.key;
    this.record = record;
    this.host = host;
    this.owner = owner;
  }

  /** The task's key. */
  get key(): string {
    return this.record.key;
  }

  /** "pending", "finished", "error" or "cancelled". */
  get status(): FutureStatus {
    return this.record.status;
  }

  /** True once the task finished, erred or was cancelled. */
  done(): boolean {
    return this.record.status !== "pending";
  }

  /** The task's result; rethrows its error (name, message, remote stack). */
  result(options?: AwaitOptions): Promise<T> {
    // The reaction captures `this`, so a future whose result is awaited is
    // not garbage collected (and released) before the result arrives.
    return this.host.resultOf(this.record, options).then((v) =>
      retain(this, v)
    ) as Promise<T>;
  }

  /**
   * What the task threw once it erred, undefined once it finished. A task
   * may throw any value (a thrown `{ code: 42 }` comes back as that object),
   * so `E` is only what the caller expects: pass `unknown` when unsure.
   */
  async exception<E = Error>(
    options: AwaitOptions = {},
  ): Promise<E | undefined> {
    await withDeadline(
      () => `exception() of ${this.key}`,
      options,
      (bounded) => this.host.settle([this.record], bounded),
    );
    if (this.record.status === "error") {
      return this.host.errorOf(this.record) as E;
    }
    return undefined;
  }

  /** Cancels the task (and tasks depending on it, and tasks it launched). */
  cancel(): Promise<void> {
    return this.host.cancelKeys([this.record.key]);
  }

  /**
   * Lets go of this future: once no future on the key is left, the scheduler
   * forgets the result. Also done automatically when the future is garbage
   * collected, and for futures made inside a task when the task ends.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.host.dropHolder(this.record, this.owner, this);
  }

  /** Same as {@linkcode Future.release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** A short description, as Dask prints futures. */
  toString(): string {
    return `<Future: ${this.status}, key: ${this.key}>`;
  }
}
