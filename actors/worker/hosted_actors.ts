/**
 * The actors a worker hosts: instances constructed by actor tasks, and the
 * method calls callers send them over data connections. Each actor runs at
 * most `concurrency` calls at once (default 1) and starts them in arrival
 * order, so the calls of one caller, which arrive in order on its one
 * connection, run in order. Calls hold no slot: an actor serves beside the
 * worker's tasks, as Dask's actors do.
 *
 * @module
 */

import { ActorDiedError, describeThrown } from "../../runtime/errors.ts";
import type { Packed } from "../../runtime/codec/packed.ts";
import type { ActorCall, ActorReply } from "../protocol.ts";

/** How a {@linkcode HostedActors} decodes arguments, encodes answers, and runs a call. */
export interface ActorCodec {
  /** Decodes a call's argument bytes (futures and actor handles revived). */
  decode(args: Packed): unknown;
  /** Encodes a method's value. */
  encodeValue(value: unknown, what: string): Packed;
  /** Encodes what a method threw. */
  encodeError(error: unknown): Packed;
  /** Runs a method (in the context that lets it use `getClient()`). */
  run<R>(fn: () => R): R;
}

/** One hosted instance and its calls. */
interface Hosted {
  readonly instance: object;
  readonly concurrency: number;
  /** Calls running now. */
  running: number;
  /**
   * Calls waiting for a place, in arrival order: each is started with
   * `true` when a finishing call hands it its place, `false` when the
   * actor was dropped.
   */
  readonly waiting: ((started: boolean) => void)[];
}

/**
 * A worker's hosted actors, by the key of the task that constructed each.
 *
 * @example Calls of one actor run one at a time, in order
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostedActors } from "./hosted_actors.ts";
 * import { pack, unpack } from "../../runtime/codec/packed.ts";
 * const actors = new HostedActors({
 *   decode: (b) => unpack(b),
 *   encodeValue: (v) => pack(v),
 *   encodeError: (e) => pack(e),
 *   run: (fn) => fn(),
 * });
 * const log: string[] = [];
 * actors.host("c-1", {
 *   async add(s: string) {
 *     log.push(`start ${s}`);
 *     await Promise.resolve();
 *     log.push(`end ${s}`);
 *     return log.length;
 *   },
 * }, 1);
 * const call = (id: number, s: string) =>
 *   actors.call({ op: "actor-call", id, key: "c-1", method: "add", args: pack([s]) });
 * const [a, b] = await Promise.all([call(1, "a"), call(2, "b")]);
 * assert.deepEqual(log, ["start a", "end a", "start b", "end b"]);
 * assert.equal(unpack(b.value!), 4);
 * assert.equal(a.id, 1);
 * assert.equal((await call(3, "c")).gone, undefined);
 * actors.drop("c-1");
 * assert.equal((await call(4, "d")).gone, true);
 * ```
 */
export class HostedActors {
  private readonly actors = new Map<string, Hosted>();

  /** Hosts nothing yet; `codec` says how calls are decoded, run and answered. */
  constructor(private readonly codec: ActorCodec) {}

  /** Number of actors hosted. */
  get size(): number {
    return this.actors.size;
  }

  /** Whether the actor of `key` is hosted here. */
  has(key: string): boolean {
    return this.actors.has(key);
  }

  /** Hosts `instance` as the actor of task `key`. */
  host(key: string, instance: object, concurrency: number): void {
    this.actors.set(key, {
      instance,
      concurrency: Math.max(1, concurrency),
      running: 0,
      waiting: [],
    });
  }

  /**
   * Stops hosting the actor of `key` (released or killed): calls waiting
   * for it are answered with an ActorDiedError; calls running finish.
   */
  drop(key: string): void {
    const hosted = this.actors.get(key);
    if (!hosted) return;
    this.actors.delete(key);
    for (const start of hosted.waiting.splice(0)) start(false);
  }

  /** Runs one call (after those before it) and makes its answer. */
  async call(msg: ActorCall): Promise<ActorReply> {
    const hosted = this.actors.get(msg.key);
    if (!hosted) return { op: "actor-reply", id: msg.id, gone: true };
    if (hosted.running < hosted.concurrency && hosted.waiting.length === 0) {
      hosted.running++;
    } else {
      // A finishing call hands its place over: nothing can jump the queue.
      const started = await new Promise<boolean>((start) =>
        hosted.waiting.push(start)
      );
      if (!started) {
        const error = new ActorDiedError(
          msg.key,
          "it was stopped on its worker (killed or released) before this " +
            `call of ${msg.method}() started`,
        );
        return {
          op: "actor-reply",
          id: msg.id,
          error: this.codec.encodeError(error),
        };
      }
    }
    try {
      return await this.run(hosted, msg);
    } finally {
      const next = hosted.waiting.shift();
      if (next) next(true);
      else hosted.running--;
    }
  }

  /** Calls the method and encodes how it ended. */
  private async run(hosted: Hosted, msg: ActorCall): Promise<ActorReply> {
    const { id, key, method } = msg;
    try {
      const fn = methodOf(hosted.instance, key, method);
      const args = this.codec.decode(msg.args) as unknown[];
      const value = await this.codec.run(() => fn.apply(hosted.instance, args));
      return {
        op: "actor-reply",
        id,
        value: this.codec.encodeValue(
          value,
          `the value of ${method}() of actor ${key}`,
        ),
      };
    } catch (e) {
      return { op: "actor-reply", id, error: this.codec.encodeError(e) };
    }
  }
}

/**
 * The method `name` of an actor's instance: a function of the instance or
 * its class chain, never one every object has (`toString`, `constructor`).
 *
 * @throws {TypeError} naming the actor's class and the missing method.
 */
function methodOf(
  instance: object,
  key: string,
  name: string,
): (...args: unknown[]) => unknown {
  const fn = (instance as Record<string, unknown>)[name];
  if (typeof fn === "function" && !(name in Object.prototype)) {
    return fn as (...args: unknown[]) => unknown;
  }
  const cls = instance.constructor?.name || "its class";
  throw new TypeError(
    `actor ${key} (${cls}) has no method ${JSON.stringify(name)}` +
      (fn === undefined ? "" : `: it is ${describeThrown(typeof fn)}`),
  );
}
