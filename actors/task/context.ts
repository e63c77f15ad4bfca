/**
 * Which task is running, found through AsyncLocalStorage because many tasks
 * interleave on one isolate, and the in-task API built on it: `getWorker`,
 * `taskKey`, `taskSignal`, `secede` and `rejoin` (`getClient` and
 * `workerClient`, in `client/get_client.ts`, use it too).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";

/** What a running task sees of the worker it runs on. */
export interface WorkerRuntime {
  /** The worker's id. */
  readonly id: string;
  /** Where its data server listens. */
  readonly address: string;
  /** Slots of the worker (its concurrency budget). */
  readonly slots: number;
  /**
   * The worker's one shared client (a `Client`; typed loosely so this
   * module does not depend on the client, which depends on it).
   */
  readonly client: unknown;
  /** Releases the task's slot. */
  secede(key: string): void;
  /** Resolves once the task holds a slot again. */
  rejoin(key: string): Promise<void>;
}

/** The running task's context. */
export interface TaskContext {
  /** The task's key. */
  readonly key: string;
  /** The id the scheduler gave this run of the task. */
  readonly run: number;
  /** The worker it runs on. */
  readonly worker: WorkerRuntime;
  /** Aborted when the task is cancelled. */
  readonly signal: AbortSignal;
  /** True between secede() and the end of rejoin(). */
  seceded: boolean;
  /**
   * Waits in progress that seceded automatically (a task may await several
   * at once): the slot is taken back when the last one ends.
   */
  autoWaits: number;
}

/**
 * A running task's context. Its AbortSignal is made only when someone asks
 * for it: most tasks never do, and an AbortController per task is costly.
 */
export class RunningTask implements TaskContext {
  /** True between secede() and the end of rejoin(). */
  seceded = false;
  /** Waits in progress that seceded automatically. */
  autoWaits = 0;
  /** Made on the first read of `signal`. */
  private controller: AbortController | null = null;
  /** Why the task was cancelled, kept for a signal made after the abort. */
  private reason: unknown = undefined;
  /** True once `abort` was called. */
  private aborted = false;

  /** The context of run `run` of task `key` on `worker`. */
  constructor(
    readonly key: string,
    readonly run: number,
    readonly worker: WorkerRuntime,
  ) {}

  /** Aborted when the task is cancelled. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Cancels the task: aborts its signal (now, or when first asked for). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** The running task's context, carried across awaits of that task. */
const storage = new AsyncLocalStorage<TaskContext>();

/** @internal runs `fn` as task `ctx`. */
export function runInTask<R>(ctx: TaskContext, fn: () => R): R {
  return storage.run(ctx, fn);
}

/** The context of the task running now, if any. */
export function currentTask(): TaskContext | undefined {
  return storage.getStore();
}

/** The worker hosting the actor whose method runs now, carried across its awaits. */
const actorCalls = new AsyncLocalStorage<WorkerRuntime>();

/**
 * @internal runs `fn` as a method call of an actor hosted by `worker`:
 * outside any task (a call made from a task of the same worker does not
 * run as that task), with `getClient()` giving the worker's client.
 */
export function runInActorCall<R>(worker: WorkerRuntime, fn: () => R): R {
  return storage.run(undefined as never, () => actorCalls.run(worker, fn));
}

/** @internal the worker hosting the actor whose method runs now, if any. */
export function actorCallWorker(): WorkerRuntime | undefined {
  return actorCalls.getStore();
}

/** What a task learns about the worker running it. */
export interface WorkerInfo {
  /** The worker's id. */
  id: string;
  /** Its data address. */
  address: string;
  /** Its slot budget. */
  slots: number;
}

/**
 * The worker running the current task.
 *
 * @throws {Error} outside a running task.
 * @example Asking a task where it ran
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, getWorker, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const info = await client.submit(() => getWorker()).result();
 * assert.equal(info.id, cluster.workerIds[0]);
 * assert.equal(info.slots, 1);
 * assert.equal(info.address, `inproc://${info.id}`); // a LocalCluster worker
 * assert.throws(() => getWorker(), /only inside a running task/);
 * ```
 */
export function getWorker(): WorkerInfo {
  const ctx = requireTask("getWorker");
  const { id, address, slots } = ctx.worker;
  return { id, address, slots };
}

/**
 * The current task's key.
 *
 * @throws {Error} outside a running task.
 * @example A task reads the key it was given
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, taskKey } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const f = client.with({ key: "answer" }).submit(() => taskKey());
 * assert.equal(await f.result(), "answer");
 * assert.throws(() => taskKey(), /only inside a running task/);
 * ```
 */
export function taskKey(): string {
  return requireTask("taskKey").key;
}

/**
 * Aborted when the current task is cancelled; pass it to fetch() and
 * friends, or check `aborted` in loops.
 *
 * @throws {Error} outside a running task.
 * @example A task that runs until it is cancelled
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   CancelledError,
 *   Client,
 *   LocalCluster,
 *   taskSignal,
 * } from "@tendril/tendril";
 * // Says whether it is cancelled yet; with `wait`, waits until it is.
 * function cancelled(wait: boolean): boolean | Promise<never> {
 *   const signal = taskSignal();
 *   if (!wait) return signal.aborted;
 *   return new Promise((_, reject) => {
 *     signal.addEventListener("abort", () => reject(signal.reason));
 *   });
 * }
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * assert.equal(await client.submit(cancelled, false).result(), false);
 * const endless = client.submit(cancelled, true);
 * await endless.cancel();
 * await assert.rejects(endless.result(), CancelledError);
 * // The one slot is free again: the cancelled task saw the abort and ended.
 * assert.equal(await client.submit(() => "next").result(), "next");
 * ```
 */
export function taskSignal(): AbortSignal {
  return requireTask("taskSignal").signal;
}

/**
 * Releases the current task's slot: the worker starts its next ready task at
 * once and the scheduler stops counting this one toward the worker's load.
 * Harmless outside a task and when already seceded.
 *
 * @example Recursive fib on one slot, giving it up while waiting
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   Client,
 *   getClient,
 *   LocalCluster,
 *   rejoin,
 *   secede,
 * } from "@tendril/tendril";
 * async function fib(n: number): Promise<number> {
 *   if (n < 2) return n;
 *   const client = getClient();
 *   const a = client.submit(fib, n - 1);
 *   const b = client.submit(fib, n - 2);
 *   secede(); // the children may now run on this task's slot
 *   const [x, y] = await client.gather([a, b]);
 *   await rejoin();
 *   return x + y;
 * }
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * assert.equal(await client.submit(fib, 10).result(), 55);
 * ```
 */
export function secede(): void {
  const ctx = storage.getStore();
  if (!ctx || ctx.seceded) return;
  ctx.seceded = true;
  ctx.worker.secede(ctx.key);
}

/**
 * Waits for a slot on the worker after {@linkcode secede}, ahead of tasks not
 * yet started. Harmless without a prior secede.
 *
 * @example Taking the slot back after the children ran
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   Client,
 *   getClient,
 *   LocalCluster,
 *   rejoin,
 *   secede,
 * } from "@tendril/tendril";
 * async function sumOfSquares(xs: number[]): Promise<number> {
 *   const client = getClient();
 *   const squares = client.map((x: number) => x * x, xs);
 *   secede(); // the only slot runs the squares meanwhile
 *   const values = await client.gather(squares);
 *   await rejoin(); // back on a slot, ahead of tasks not yet started
 *   return values.reduce((a, b) => a + b, 0);
 * }
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * assert.equal(await client.submit(sumOfSquares, [1, 2, 3]).result(), 14);
 * // Outside a task, secede and rejoin do nothing.
 * secede();
 * await rejoin();
 * ```
 */
export async function rejoin(): Promise<void> {
  const ctx = storage.getStore();
  if (!ctx || !ctx.seceded) return;
  await ctx.worker.rejoin(ctx.key);
  ctx.seceded = false;
}

/**
 * The running task's context.
 *
 * @throws {Error} outside a running task, naming `what` (the API that needs one).
 */
export function requireTask(what: string): TaskContext {
  const ctx = storage.getStore();
  if (!ctx) throw new Error(`${what}() works only inside a running task`);
  return ctx;
}

/**
 * `promise`, or a rejection with the signal's reason as soon as `signal`
 * aborts (the listener is removed when the promise settles).
 *
 * @example Settles with the promise, or rejects on the abort
 * ```ts
 * import assert from "node:assert/strict";
 * import { untilAborted } from "./context.ts";
 * const calm = new AbortController();
 * assert.equal(await untilAborted(Promise.resolve(1), calm.signal), 1);
 * const stop = new AbortController();
 * const waiting = untilAborted(new Promise<number>(() => {}), stop.signal);
 * stop.abort(new Error("stopped"));
 * await assert.rejects(waiting, /stopped/);
 * ```
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
