/**
 * Every error Tendril raises, in one family: each extends
 * {@linkcode TendrilError}, carries its facts as fields (`key`, `keys`,
 * `attempts`, ...) and an optional `cause`, and keeps its class across
 * isolates and TCP (the codec revives it by name, see
 * {@linkcode tendrilErrorClass}). A task's own error is not wrapped: it
 * reaches `result()` with its original name, message and remote stack.
 *
 * @module
 */

/** Options every Tendril error accepts. */
export interface TendrilErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/**
 * The base of every error Tendril raises.
 *
 * @example Telling Tendril's errors from a task's own
 * ```ts
 * import assert from "node:assert/strict";
 * import { CancelledError, TendrilError } from "@tendril/tendril";
 * const e: unknown = new CancelledError("inc-1");
 * assert.ok(e instanceof TendrilError);
 * assert.ok(!(new RangeError("a task's own") instanceof TendrilError));
 * ```
 */
export class TendrilError extends Error {
  /** Builds the error; `options.cause` is kept as `cause`. */
  constructor(message: string, options?: TendrilErrorOptions) {
    super(message, options);
    // The class name, also for subclasses, so it survives minification.
    Object.defineProperty(this, "name", {
      value: new.target.errorName,
      enumerable: false,
      writable: true,
      configurable: true,
    });
  }

  /** The `name` of this class's instances. */
  static readonly errorName: string = "TendrilError";
}

/**
 * The future's task was cancelled (by `cancel()`, because the task that
 * launched it was cancelled and nobody else wanted it, or because its
 * client lost the scheduler).
 *
 * @example Naming the cancelled task and why
 * ```ts
 * import assert from "node:assert/strict";
 * import { CancelledError } from "@tendril/tendril";
 * const e = new CancelledError("inc-1", "cancelled with parent-3");
 * assert.equal(e.name, "CancelledError");
 * assert.equal(e.key, "inc-1");
 * assert.match(e.message, /task inc-1 was cancelled with parent-3/);
 * ```
 */
export class CancelledError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "CancelledError";
  /** The cancelled key. */
  readonly key: string;
  /** Why it was cancelled. */
  readonly reason: string;
  /** Builds the error for `key`, optionally saying why. */
  constructor(
    key: string,
    reason = "cancelled",
    options?: TendrilErrorOptions,
  ) {
    super(`task ${key} was ${reason}`, options);
    this.key = key;
    this.reason = reason;
  }
}

/**
 * The task's worker died while running it too many times: the task is
 * suspected of killing workers and is not retried again.
 *
 * @example Counting the workers that died
 * ```ts
 * import assert from "node:assert/strict";
 * import { KilledWorkerError } from "@tendril/tendril";
 * const e = new KilledWorkerError("boom-1", 4);
 * assert.equal(e.attempts, 4);
 * assert.equal(e.key, "boom-1");
 * ```
 */
export class KilledWorkerError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "KilledWorkerError";
  /** The key that kept losing its worker. */
  readonly key: string;
  /** How many workers died running it. */
  readonly attempts: number;
  /** Builds the error for `key` after `attempts` worker deaths. */
  constructor(key: string, attempts: number, options?: TendrilErrorOptions) {
    super(
      `task ${key} was running on ${attempts} workers that died; ` +
        `it is probably what kills them, so it is not retried again`,
      options,
    );
    this.key = key;
    this.attempts = attempts;
  }
}

/**
 * Tasks wait, with automatic secession turned off, for work that can never
 * get a slot: nothing can progress. `keys` are the waiting tasks.
 *
 * @example Naming the stuck tasks
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadlockError } from "@tendril/tendril";
 * const e = new DeadlockError("stuck", ["parent-1"]);
 * assert.deepEqual(e.keys, ["parent-1"]);
 * ```
 */
export class DeadlockError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "DeadlockError";
  /** The tasks whose waits can never end. */
  readonly keys: readonly string[];
  /** Builds the error naming the stuck tasks. */
  constructor(
    message: string,
    keys: readonly string[] = [],
    options?: TendrilErrorOptions,
  ) {
    super(message, options);
    this.keys = keys;
  }
}

/**
 * A value could not be had: its holders died or could not be reached, and
 * it cannot be recomputed (or fetching it kept failing). `key` is the value
 * that was lost; `notHeld` and `unreachable` name the holders that were
 * asked (when a fetch failed).
 *
 * @example A value whose holder is unreachable
 * ```ts
 * import assert from "node:assert/strict";
 * import { LostDataError } from "@tendril/tendril";
 * const e = new LostDataError("big-2", "the holder is unreachable", {
 *   unreachable: ["tcp://10.0.0.7:4100"],
 * });
 * assert.equal(e.key, "big-2");
 * assert.deepEqual(e.unreachable, ["tcp://10.0.0.7:4100"]);
 * assert.deepEqual(e.notHeld, []);
 * ```
 */
export class LostDataError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "LostDataError";
  /** The key whose value was lost. */
  readonly key: string;
  /** Holders that answered without the value. */
  readonly notHeld: readonly string[];
  /** Holders that could not be reached. */
  readonly unreachable: readonly string[];
  /** Builds the error for `key`. */
  constructor(
    key: string,
    message: string,
    options: TendrilErrorOptions & {
      notHeld?: readonly string[];
      unreachable?: readonly string[];
    } = {},
  ) {
    super(message, options);
    this.key = key;
    this.notHeld = options.notHeld ?? [];
    this.unreachable = options.unreachable ?? [];
  }
}

/**
 * An actor is gone: its worker died (and it may not be restarted, or has
 * used its `maxRestarts`), it was killed, or a call was under way on it
 * when its worker died (the call may or may not have run). `key` names the
 * task that hosted it; `reason` says what happened.
 *
 * @example An actor whose worker died
 * ```ts
 * import assert from "node:assert/strict";
 * import { ActorDiedError, TendrilError } from "@tendril/tendril";
 * const e = new ActorDiedError("Counter-1", "its worker w2 died");
 * assert.equal(e.key, "Counter-1");
 * assert.match(e.message, /actor Counter-1 died: its worker w2 died/);
 * assert.ok(e instanceof TendrilError);
 * ```
 */
export class ActorDiedError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "ActorDiedError";
  /** The key of the task that hosted the actor. */
  readonly key: string;
  /** What happened to it. */
  readonly reason: string;
  /** Builds the error for the actor of `key`. */
  constructor(key: string, reason: string, options?: TendrilErrorOptions) {
    super(`actor ${key} died: ${reason}`, options);
    this.key = key;
    this.reason = reason;
  }
}

/**
 * A value cannot travel (at encode time), or bytes are not a valid message
 * (at decode time). The message names the value and the path to the part
 * that cannot travel.
 *
 * @example A value that cannot travel
 * ```ts
 * import assert from "node:assert/strict";
 * import { SerializationError, TendrilError } from "@tendril/tendril";
 * import { encode } from "./codec/codec.ts";
 * assert.throws(
 *   () => encode({ f: () => 1 }),
 *   (e) => e instanceof SerializationError && /a function at f/.test(e.message),
 * );
 * assert.ok(new SerializationError("x") instanceof TendrilError);
 * ```
 */
export class SerializationError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "SerializationError";
}

/**
 * A function cannot be shipped (or loaded): it captures a variable a worker
 * cannot see, is native or bound, or its module lacks the export.
 *
 * @example Naming the captured variables
 * ```ts
 * import assert from "node:assert/strict";
 * import { ShippingError } from "@tendril/tendril";
 * const e = new ShippingError("uses k", ["k"]);
 * assert.deepEqual(e.variables, ["k"]);
 * ```
 */
export class ShippingError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "ShippingError";
  /** The variables the function uses that the other side cannot see (if that is the reason). */
  readonly variables: readonly string[];
  /** An error with `message`, naming the offending `variables`. */
  constructor(
    message: string,
    variables: readonly string[] = [],
    options?: TendrilErrorOptions,
  ) {
    super(message, options);
    this.variables = variables;
  }
}

/**
 * A module imported to find or load task functions started a cluster or a
 * client while being imported: its main block is not guarded with
 * `if (import.meta.main)`.
 *
 * @example A kind of shipping error
 * ```ts
 * import assert from "node:assert/strict";
 * import { ShippingError, UnguardedEntryError } from "@tendril/tendril";
 * assert.ok(new UnguardedEntryError("guard it") instanceof ShippingError);
 * ```
 */
export class UnguardedEntryError extends ShippingError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "UnguardedEntryError";
}

/**
 * A timed wait ran out of time. `ms` is the bound, `what` what was awaited.
 *
 * @example The bound and what was awaited
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimeoutError } from "@tendril/tendril";
 * const e = new TimeoutError("wait()", 50);
 * assert.equal(e.ms, 50);
 * assert.match(e.message, /wait\(\) timed out after 50 ms/);
 * ```
 */
export class TimeoutError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "TimeoutError";
  /** What was awaited. */
  readonly what: string;
  /** The bound, in milliseconds. */
  readonly ms: number;
  /** Builds the error for `what` after `ms` milliseconds. */
  constructor(what: string, ms: number, options?: TendrilErrorOptions) {
    super(`${what} timed out after ${ms} ms`, options);
    this.what = what;
    this.ms = ms;
  }
}

/**
 * The client was closed: it refuses new work, and waits that were pending
 * when it closed reject with this.
 *
 * @example Naming the refused operation
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClientClosedError } from "@tendril/tendril";
 * assert.match(new ClientClosedError("submit()").message, /submit\(\): the client is closed/);
 * ```
 */
export class ClientClosedError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "ClientClosedError";
  /** Builds the error for the operation `what`. */
  constructor(what: string, options?: TendrilErrorOptions) {
    super(`${what}: the client is closed`, options);
  }
}

/**
 * A connection could not be opened: its message names the address and the
 * cause (nothing listening, a TLS mismatch), and `cause` keeps the
 * system's own error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionFailedError } from "@tendril/tendril";
 * const e = new ConnectionFailedError("cannot connect to tcp://127.0.0.1:9: refused");
 * assert.match(e.message, /tcp:\/\/127\.0\.0\.1:9/);
 * ```
 */
export class ConnectionFailedError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "ConnectionFailedError";
}

/**
 * No worker is left to run a task, and none is coming: the cluster's
 * supervisor gave up replacing its workers (they kept dying as they
 * started). `reason` says why it gave up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkersUnavailableError } from "@tendril/tendril";
 * const e = new WorkersUnavailableError("3 workers in a row died as they started");
 * assert.match(e.message, /no worker is left.*3 workers in a row/);
 * ```
 */
export class WorkersUnavailableError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "WorkersUnavailableError";
  /** Why no worker can be kept alive. */
  readonly reason: string;
  /** Builds the error for `reason`. */
  constructor(reason: string, options?: TendrilErrorOptions) {
    super(
      `no worker is left to run it, and none is coming: ${reason}`,
      options,
    );
    this.reason = reason;
  }
}

/**
 * The connection to the scheduler was lost: `address` names the scheduler,
 * and `vanished` tells a peer that stopped answering or reset the connection
 * (killed, frozen, cut off) from one that closed it (`false`).
 *
 * @example A scheduler that went silent
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchedulerLostError } from "@tendril/tendril";
 * const e = new SchedulerLostError("tcp://127.0.0.1:8786", true, "no reply for 10 s");
 * assert.equal(e.vanished, true);
 * assert.match(e.message, /tcp:\/\/127\.0\.0\.1:8786 vanished: no reply for 10 s/);
 * ```
 */
export class SchedulerLostError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "SchedulerLostError";
  /** The scheduler's address. */
  readonly address: string;
  /** True when the scheduler vanished rather than closed the connection. */
  readonly vanished: boolean;
  /** Builds the error for the scheduler at `address`. */
  constructor(
    address: string,
    vanished: boolean,
    detail: string,
    options?: TendrilErrorOptions,
  ) {
    super(
      `lost the scheduler: ${address} ${
        vanished ? "vanished" : "closed the connection"
      }: ${detail}`,
      options,
    );
    this.address = address;
    this.vanished = vanished;
  }
}

/**
 * A message broke the protocol (unknown operation, a field of the wrong
 * type); its message names the operation and the field. It closes only the
 * connection it came from.
 *
 * @example An unknown operation
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError, TendrilError } from "@tendril/tendril";
 * import { messageChecker } from "./wire/checks.ts";
 * const check = messageChecker<{ op: "ping" }>({ ping: {} });
 * assert.throws(() => check({ op: "pong" }), ProtocolError);
 * assert.ok(new ProtocolError("bad") instanceof TendrilError);
 * ```
 */
export class ProtocolError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "ProtocolError";
}

/**
 * A frame on a TCP connection broke the framing (too big, truncated, not a
 * batch).
 *
 * @example A Tendril error with its own name
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameError } from "@tendril/tendril";
 * assert.equal(new FrameError("too big").name, "FrameError");
 * ```
 */
export class FrameError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "FrameError";
}

/**
 * The other side refused a connection's hello (wrong token, version, role),
 * or the handshake failed or timed out.
 *
 * @example A Tendril error with its own name
 * ```ts
 * import assert from "node:assert/strict";
 * import { HandshakeError } from "@tendril/tendril";
 * assert.equal(new HandshakeError("wrong token").name, "HandshakeError");
 * ```
 */
export class HandshakeError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "HandshakeError";
}

/**
 * Something was sent on a connection that is already closed.
 *
 * @example A Tendril error with its own name
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionClosedError } from "@tendril/tendril";
 * assert.equal(new ConnectionClosedError("closed").name, "ConnectionClosedError");
 * ```
 */
export class ConnectionClosedError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "ConnectionClosedError";
}

/**
 * A task needs more of a worker resource than any worker offers: it could
 * never run, so it errs at submit instead of waiting forever.
 *
 * @example Naming the resource
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResourceError } from "@tendril/tendril";
 * const e = new ResourceError("train-1", "GPU", 2, 1);
 * assert.equal(e.resource, "GPU");
 * assert.match(e.message, /needs GPU=2, but no worker offers that much \(at most 1\)/);
 * ```
 */
export class ResourceError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "ResourceError";
  /** The task's key. */
  readonly key: string;
  /** The resource no worker offers enough of. */
  readonly resource: string;
  /** How much the task needs. */
  readonly needed: number;
  /** The most any connected worker offers. */
  readonly available: number;
  /** Builds the error for `key` needing `needed` of `resource`. */
  constructor(
    key: string,
    resource: string,
    needed: number,
    available: number,
    options?: TendrilErrorOptions,
  ) {
    super(
      `task ${key} needs ${resource}=${needed}, but no worker offers that ` +
        `much (at most ${available}); start workers with ` +
        `--resources ${resource}=${needed}`,
      options,
    );
    this.key = key;
    this.resource = resource;
    this.needed = needed;
    this.available = available;
  }
}

/**
 * A task restricted to workers (`workers:`) of which none connected within
 * the grace period, without `allowOtherWorkers`.
 *
 * @example Naming the workers
 * ```ts
 * import assert from "node:assert/strict";
 * import { NoWorkerError } from "@tendril/tendril";
 * const e = new NoWorkerError("t-1", ["gpu-box"], 10_000);
 * assert.deepEqual(e.workers, ["gpu-box"]);
 * assert.match(e.message, /none of the workers gpu-box connected within 10000 ms/);
 * ```
 */
export class NoWorkerError extends TendrilError {
  /** The `name` of this class's instances. */
  static override readonly errorName: string = "NoWorkerError";
  /** The task's key. */
  readonly key: string;
  /** The workers it was restricted to. */
  readonly workers: string[];
  /** How long it waited for one, in ms. */
  readonly waited: number;
  /** Builds the error for `key`, restricted to `workers`, after `waited` ms. */
  constructor(
    key: string,
    workers: string[],
    waited: number,
    options?: TendrilErrorOptions,
  ) {
    super(
      `task ${key} may run only on ${workers.join(", ")}, but none of the ` +
        `workers ${workers.join(", ")} connected within ${waited} ms ` +
        `(pass allowOtherWorkers: true to let it run elsewhere)`,
      options,
    );
    this.key = key;
    this.workers = workers;
    this.waited = waited;
  }
}

const FAMILY: ReadonlyMap<string, typeof TendrilError> = new Map(
  ([
    TendrilError,
    CancelledError,
    KilledWorkerError,
    DeadlockError,
    LostDataError,
    SerializationError,
    ShippingError,
    UnguardedEntryError,
    TimeoutError,
    ClientClosedError,
    ConnectionFailedError,
    SchedulerLostError,
    WorkersUnavailableError,
    ProtocolError,
    FrameError,
    HandshakeError,
    ConnectionClosedError,
    ResourceError,
    NoWorkerError,
    ActorDiedError,
  ] as (typeof TendrilError)[]).map((cls) => [cls.errorName, cls]),
);

/**
 * The Tendril error class whose instances are named `name`, if any: how the
 * codec gives a decoded error its class back, so `instanceof` works on the
 * other side of a wire.
 *
 * @example Reviving a decoded error's class
 * ```ts
 * import assert from "node:assert/strict";
 * import { KilledWorkerError, tendrilErrorClass } from "./errors.ts";
 * assert.equal(tendrilErrorClass("KilledWorkerError"), KilledWorkerError);
 * assert.equal(tendrilErrorClass("RangeError"), undefined);
 * ```
 */
export function tendrilErrorClass(
  name: string,
): typeof TendrilError | undefined {
  return FAMILY.get(name);
}

/**
 * Describes a thrown value that is not an `Error` (`{ code: 42 }`, a string)
 * with its content, for messages and logs; never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeThrown } from "./errors.ts";
 * assert.equal(describeThrown({ code: 42 }), "{ code: 42 }");
 * assert.equal(describeThrown("plain"), "plain");
 * ```
 */
export function describeThrown(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return Deno.inspect(value, { depth: 4 });
  } catch {
    return String(value);
  }
}
