/**
 * Actor handles: what `client.actor(Class, ...args)` and `getActor(name)`
 * give back. A handle is a typed proxy whose every method call goes straight
 * to the worker hosting the instance (over the caller's data connection to
 * it, never through the scheduler) and returns a promise of the result.
 * Handles are values: they travel in task arguments and results (the codec
 * sends them as actor references) and keep their actor alive while held,
 * through the future on the actor's task that each one holds.
 *
 * @module
 */

import { pack, type Packed, unpack } from "../../runtime/codec/packed.ts";
import { actorRef } from "../../runtime/codec/codec.ts";
import {
  ActorDiedError,
  ClientClosedError,
  ConnectionFailedError,
} from "../../runtime/errors.ts";
import {
  ACTOR_NAME_MAX,
  type ActorReply,
  checkFitsMessage,
} from "../protocol.ts";
import type { Future } from "./future.ts";
import type { KeyRecord } from "./state.ts";
import type { SubmitOptions } from "./types.ts";

/**
 * A handle on an actor of class `T`: each method of `T` becomes one that
 * runs on the actor's worker and returns a promise of its (awaited) result;
 * fields are not exposed. `kill()` ends the actor (a method of `T` named
 * `kill` is shadowed by it).
 *
 * @example Methods return promises of their results
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Actor, Client, LocalCluster } from "@tendril/tendril";
 * class Tally {
 *   n = 0;
 *   add(by: number) { return (this.n += by); }
 * }
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const tally: Actor<Tally> = await client.actor(Tally);
 * assert.equal(await tally.add(2), 2);
 * assert.equal(await tally.add(3), 5);
 * ```
 */
export type Actor<T> =
  & {
    readonly [K in keyof T as T[K] extends AnyMethod ? K : never]: T[K] extends
      (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>>
      : never;
  }
  & ActorControls;

/** Any function (each parameter accepts `never`): what marks a method of `T`. */
export type AnyMethod = (...args: never[]) => unknown;

/** What every actor handle has besides its class's methods. */
export interface ActorControls {
  /**
   * Ends the actor now, whoever holds it: its instance is dropped, calls
   * waiting for it and later ones reject with `ActorDiedError`, and a name
   * it had is free again. Resolves once the scheduler has ended it.
   */
  kill(): Promise<void>;
}

/**
 * Options of `client.actor()`, given after the constructor's arguments;
 * `workers`, `allowOtherWorkers` and `resources` place its construction as
 * they place a task.
 */
export interface ActorOptions
  extends Pick<SubmitOptions, "workers" | "allowOtherWorkers" | "resources"> {
  /**
   * A cluster-wide name: the actor then lives until killed (not only while
   * held) and any client or task reaches it with `getActor(name)`. A name a
   * live actor has is refused.
   */
  name?: string;
  /**
   * Method calls it runs at once (default 1: one at a time, in arrival
   * order). Above 1, async methods interleave at their awaits.
   */
  concurrency?: number;
  /**
   * Times it is constructed again (its constructor re-run, its state
   * lost) on another worker when its worker dies (default 0: it dies with
   * its worker, and calls reject with `ActorDiedError`).
   */
  maxRestarts?: number;
}

/** The keys {@linkcode ActorOptions} may have. */
const OPTION_KEYS: ReadonlySet<string> = new Set([
  "name",
  "concurrency",
  "maxRestarts",
  "workers",
  "allowOtherWorkers",
  "resources",
]);

/**
 * Splits `client.actor()`'s arguments into the constructor's and the
 * options: the last argument is the options when there are more arguments
 * than the constructor declares and it is a plain object whose keys are all
 * option names. (To pass such an object as the constructor's last argument,
 * give options after it, even `{}`.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitActorArgs } from "./actor_handle.ts";
 * class C { constructor(_start = 0) {} }
 * assert.deepEqual(splitActorArgs(C, [1, { name: "c" }]), [[1], { name: "c" }]);
 * assert.deepEqual(splitActorArgs(C, [1]), [[1], {}]);
 * assert.deepEqual(splitActorArgs(C, [{ path: "m" }]), [[{ path: "m" }], {}]);
 * ```
 */
export function splitActorArgs(
  cls: { length: number },
  args: unknown[],
): [unknown[], ActorOptions] {
  const last = args[args.length - 1];
  if (
    args.length > cls.length && last !== null && typeof last === "object" &&
    Object.getPrototypeOf(last) === Object.prototype &&
    Object.keys(last).every((k) => OPTION_KEYS.has(k))
  ) {
    return [args.slice(0, -1), last as ActorOptions];
  }
  return [args, {}];
}

/**
 * Checks an actor's name or a method's name before it travels (the
 * scheduler's and workers' checks would close the connection on it).
 *
 * @throws {TypeError} when `name` is not a string.
 * @throws {RangeError} when it is longer than {@linkcode ACTOR_NAME_MAX}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkActorName } from "./actor_handle.ts";
 * checkActorName("hits", "an actor name");
 * assert.throws(() => checkActorName("x".repeat(2000), "an actor name"), RangeError);
 * assert.throws(() => checkActorName(7, "an actor name"), TypeError);
 * ```
 */
export function checkActorName(name: unknown, what: string): string {
  if (typeof name !== "string") {
    throw new TypeError(`${what} must be a string, got ${typeof name}`);
  }
  if (name.length > ACTOR_NAME_MAX) {
    throw new RangeError(
      `${what} must be at most ${ACTOR_NAME_MAX} characters long, got ` +
        `${name.length}: ${JSON.stringify(name.slice(0, 40))}...`,
    );
  }
  return name;
}

/** What an actor handle needs of the client it calls through. */
export interface ActorClient {
  /** Waits until `record` is no longer pending. */
  settle(records: KeyRecord[]): Promise<void>;
  /** The thrown value of an erred record. */
  errorOf(record: KeyRecord): unknown;
  /** The largest message the client's connections carry, if limited. */
  readonly maxMessageSize: number | undefined;
  /** Decodes a method's value (futures and handles in it revived). */
  decodeValue(bytes: Packed): unknown;
  /** Calls a method on the worker at `address` (see `ClientHost.callActor`). */
  callActor(
    address: string,
    key: string,
    method: string,
    args: Packed,
  ): Promise<ActorReply>;
  /**
   * The actor's worker did not have it or could not be reached: asks the
   * scheduler where it is now (its record turns pending until answered).
   */
  relocate(
    key: string,
    address: string,
    gone: boolean,
    reason: string,
  ): void;
  /** Tells the scheduler to end the actor of `key`, and waits until it has. */
  killActor(key: string): Promise<void>;
  /**
   * Calls `fn` once, at the next news from the scheduler about `record`'s
   * key; the function returned stops waiting (so `fn`, and what it holds,
   * is not kept by the record).
   */
  watch(record: KeyRecord, fn: () => void): () => void;
}

/** A call under way: where it went, and how to end it. */
interface CallUnderWay {
  readonly address: string;
  readonly fail: (error: Error) => void;
}

/** Tries of a call whose actor was not where its record said. */
const MAX_RELOCATIONS = 5;

/**
 * The working part of a handle: the future on the actor's task it holds
 * (keeping the actor alive), and the calls it makes.
 */
export class ActorLink {
  /** The key of the actor's task. */
  readonly key: string;
  /** Calls sent and not answered. */
  private readonly underWay = new Set<CallUnderWay>();
  /**
   * Stops awaiting news of the actor's key (see `watch`); set while it is
   * awaited, which is only while calls are under way: the record's waiter
   * holds this link, and with it the future that keeps the actor alive.
   */
  private unwatch: (() => void) | undefined;
  /** The record's value `address` was read from (see `known`). */
  private located: Packed | undefined;

  /**
   * A link through `client`, holding `future` (on the actor's task); with
   * `address`, the first calls go there without looking it up.
   */
  constructor(
    private readonly client: ActorClient,
    readonly future: Future<unknown>,
    private address?: string,
  ) {
    this.key = future.key;
  }

  /**
   * Where the actor lives now: the value of its task (the hosting worker's
   * data address), once constructed.
   *
   * @throws the actor's constructor error, or {@linkcode ActorDiedError}.
   */
  private async locate(): Promise<string> {
    const record = this.future.record;
    if (record.status === "pending") await this.client.settle([record]);
    switch (record.status) {
      case "finished": {
        this.address = undefined; // read afresh from the record
        const address = this.known();
        if (address !== undefined) return address;
        break;
      }
      case "error":
        throw this.client.errorOf(record);
      case "cancelled":
        throw new ActorDiedError(this.key, record.reason ?? "it was cancelled");
      case "pending": // still, once settled: the client closed
        throw new ClientClosedError(`a call of actor ${this.key}`);
    }
    throw new ActorDiedError(this.key, "its location is unknown");
  }

  /**
   * Where the actor lives, when that is known now: from its finished
   * record (news that came while no call was under way shows there: a
   * restarted actor's value is its new place), or the address last known
   * while the record is pending.
   */
  private known(): string | undefined {
    const record = this.future.record;
    if (record.status === "pending") return this.address;
    if (record.status !== "finished") return undefined;
    if (this.address === undefined || record.value !== this.located) {
      this.located = record.value;
      this.address = addressOf(record);
    }
    return this.address;
  }

  /** Calls `method(...args)` on the actor; resolves with its result. */
  async call(method: string, args: unknown[]): Promise<unknown> {
    checkActorName(method, `actor ${this.key}: a method name`);
    const bytes = pack(
      args,
      undefined,
      () => `the arguments of ${method}() of actor ${this.key}`,
    );
    // Refused here, not by the connection (which would close, failing the
    // other calls on it).
    checkFitsMessage(
      bytes,
      this.client.maxMessageSize,
      `the arguments of ${method}() of actor ${this.key}`,
      "scatter the large value and pass its future",
    );
    for (let tries = 1;; tries++) {
      // Known without waiting when it can be: a call that waited could be
      // overtaken by a later one, and one caller's calls run in order.
      const address = this.known() ?? await this.locate();
      let reply: ActorReply;
      const lost = Promise.withResolvers<never>();
      const call = { address, fail: lost.reject };
      this.underWay.add(call);
      this.watch();
      try {
        reply = await Promise.race([
          this.client.callActor(address, this.key, method, bytes),
          lost.promise,
        ]);
      } catch (e) {
        if (e instanceof ActorDiedError || e instanceof ClientClosedError) {
          throw e;
        }
        const reason = (e as Error)?.message ?? String(e);
        if (!(e instanceof ConnectionFailedError)) {
          throw new ActorDiedError(
            this.key,
            `its worker at ${address} went away during ${method}() (which ` +
              `may or may not have run): ${reason}`,
          );
        }
        // Not sent: the worker is gone; the actor may be elsewhere by now.
        if (tries >= MAX_RELOCATIONS) {
          throw new ActorDiedError(this.key, `cannot reach it: ${reason}`);
        }
        this.moved(address, false, reason);
        continue;
      } finally {
        this.underWay.delete(call);
        if (this.underWay.size === 0) {
          this.unwatch?.();
          this.unwatch = undefined;
        }
      }
      if (reply.gone) {
        if (tries >= MAX_RELOCATIONS) {
          throw new ActorDiedError(this.key, `${address} no longer hosts it`);
        }
        this.moved(address, true, `${address} does not host it`);
        continue;
      }
      if (reply.error !== undefined) throw unpack(reply.error);
      return this.client.decodeValue(reply.value!);
    }
  }

  /**
   * Waits for news of the actor's key while calls are under way: once the
   * scheduler says the actor died or lives elsewhere (its worker was
   * removed: frozen, cut off), the calls sent to its old place fail, even
   * when that worker's connection stays open.
   */
  private watch(): void {
    if (this.unwatch) return;
    this.unwatch = this.client.watch(this.future.record, () => {
      this.unwatch = undefined;
      const record = this.future.record;
      const now = record.status === "finished" ? addressOf(record) : undefined;
      const died = record.status === "error"
        ? this.client.errorOf(record)
        : undefined;
      if (this.address !== now) this.address = undefined;
      for (const call of this.underWay) {
        if (call.address === now) continue;
        this.underWay.delete(call);
        call.fail(
          died instanceof ActorDiedError ? died : new ActorDiedError(
            this.key,
            `its worker at ${call.address} was lost while a call was under ` +
              `way (which may or may not have run)`,
          ),
        );
      }
      if (this.underWay.size > 0) this.watch();
    });
  }

  /** The actor was not at `address`: look it up again before the next call. */
  private moved(address: string, gone: boolean, reason: string): void {
    this.address = undefined;
    if (this.future.record.status !== "finished") return;
    this.client.relocate(this.key, address, gone, reason);
  }

  /** See {@linkcode ActorControls.kill}. */
  kill(): Promise<void> {
    this.address = undefined;
    return this.client.killActor(this.key);
  }
}

/** The address an actor's finished record gives (its task's value). */
function addressOf(record: KeyRecord): string | undefined {
  if (record.value !== undefined) return unpack(record.value) as string;
  return record.who?.[0];
}

/** Method callers of one handle, made once per method name. */
type Callers = Map<string, (...args: unknown[]) => Promise<unknown>>;

/**
 * The typed proxy over `link`: any property read is a method of the actor,
 * except `kill`, `then` (undefined, so a handle is not thenable and an
 * async function can return one), `toJSON` (undefined, so
 * `JSON.stringify` makes no call) and the names every object has
 * (`toString` prints the handle, the others are undefined). The codec
 * sends it as an actor reference.
 */
export function actorProxy<T>(link: ActorLink): Actor<T> {
  const callers: Callers = new Map();
  const kill = () => link.kill();
  const inspect = () => `Actor(${link.key})`;
  const target = Object.create(null) as Record<PropertyKey, unknown>;
  return new Proxy(target, {
    get(_, prop) {
      if (prop === actorRef) return link.key;
      if (prop === INSPECT || prop === "toString") return inspect;
      // Not methods: `then` (a handle is not thenable), `toJSON`, and what
      // every object has (no actor serves those: `valueOf`, asked by `+`,
      // would make a call whose refusal nobody awaits).
      if (
        typeof prop === "symbol" || prop === "then" || prop === "toJSON" ||
        prop in Object.prototype
      ) return undefined;
      if (prop === "kill") return kill;
      let caller = callers.get(prop);
      if (!caller) {
        caller = (...args: unknown[]) => link.call(prop, args);
        callers.set(prop, caller);
      }
      return caller;
    },
    set() {
      throw new TypeError(
        `actor ${link.key}: a handle has no fields to set; call a method`,
      );
    },
    has(_, prop) {
      return prop === actorRef;
    },
  }) as Actor<T>;
}

/** How Deno prints a value. */
const INSPECT = Symbol.for("Deno.customInspect");
