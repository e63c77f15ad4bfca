/**
 * Which task is running, found through AsyncLocalStorage because many tasks
 * interleave on one isolate, and the in-task API built on it: `getClient`,
 * `getWorker`, `secede`, `rejoin`, `workerClient`, `taskSignal`.
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
}

/**
 * A running task's context. Its AbortSignal is made only when someone asks
 * for it: most tasks never do, and an AbortController per task is costly.
 */
export class RunningTask implements TaskContext {
  /** True between secede() and the end of rejoin(). */
  seceded = false;
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
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

const storage = new AsyncLocalStorage<TaskContext>();

/** @internal runs `fn` as task `ctx`. */
export function runInTask<R>(ctx: TaskContext, fn: () => R): R {
  return storage.run(ctx, fn);
}

/** The context of the task running now, if any. */
export function currentTask(): TaskContext | undefined {
  return storage.getStore();
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
 * @example
 * ```ts
 * import { getWorker } from "@tendril/tendril";
 * export function where(): string {
 *   return getWorker().id; // only inside a task
 * }
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
 * @example
 * ```ts
 * import { taskKey } from "@tendril/tendril";
 * export function me(): string {
 *   return taskKey(); // only inside a task
 * }
 * ```
 */
export function taskKey(): string {
  return requireTask("taskKey").key;
}

/**
 * Aborted when the current task is cancelled; pass it to fetch() and
 * friends, or check `aborted` in loops.
 *
 * @example
 * ```ts
 * import { taskSignal } from "@tendril/tendril";
 * export async function poll(url: string): Promise<string> {
 *   return await (await fetch(url, { signal: taskSignal() })).text();
 * }
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
 * @example
 * ```ts
 * import { getClient, rejoin, secede } from "@tendril/tendril";
 * export async function fib(n: number): Promise<number> {
 *   if (n < 2) return n;
 *   const client = getClient();
 *   const a = client.submit(fib, n - 1);
 *   const b = client.submit(fib, n - 2);
 *   secede();
 *   const [x, y] = await client.gather([a, b]);
 *   await rejoin();
 *   return x + y;
 * }
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
 * @example
 * ```ts
 * import { rejoin, secede } from "@tendril/tendril";
 * export async function pause(ms: number): Promise<void> {
 *   secede();
 *   await new Promise((r) => setTimeout(r, ms));
 *   await rejoin();
 * }
 * ```
 */
export async function rejoin(): Promise<void> {
  const ctx = storage.getStore();
  if (!ctx || !ctx.seceded) return;
  await ctx.worker.rejoin(ctx.key);
  ctx.seceded = false;
}

/** The running task's context, or an error naming `what` that needs one. */
export function requireTask(what: string): TaskContext {
  const ctx = storage.getStore();
  if (!ctx) throw new Error(`${what}() works only inside a running task`);
  return ctx;
}

/**
 * `promise`, or a rejection with the signal's reason as soon as `signal`
 * aborts (the listener is removed when the promise settles).
 *
 * @example
 * ```ts
 * import { untilAborted } from "./context.ts";
 * console.assert(await untilAborted(Promise.resolve(1), new AbortController().signal) === 1);
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
