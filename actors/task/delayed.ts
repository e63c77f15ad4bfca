/**
 * `delayed` and `compute`, as in Dask: calling a delayed function builds a
 * lazy call; `compute` submits the calls (and the delayed calls in their
 * arguments) and gathers the results. Inside a task it uses the worker's
 * client and secedes while it waits, so recursion cannot deadlock.
 *
 * This module also owns the task scope (what functions shipped by source
 * see, {@linkcode taskScope}): `delayed` recompiles functions in that scope,
 * and the scope holds `delayed` itself, so both live here.
 *
 * @module
 */

import { canRebindSelf, compileWithScope } from "../../runtime/shipping/mod.ts";
import type { AwaitOptions, Client } from "../client/client.ts";
import {
  CancelledError,
  ClientClosedError,
  DeadlockError,
  KilledWorkerError,
  LostDataError,
  TendrilError,
  TimeoutError,
} from "../../runtime/errors.ts";
import { getClient, workerClient } from "../client/get_client.ts";
import { Future } from "../client/future.ts";
import {
  currentTask,
  getWorker,
  rejoin,
  secede,
  taskKey,
  taskSignal,
} from "./context.ts";
import { TASK_SCOPE_NAMES } from "./scope_names.ts";
import { ClusterEvent } from "../client/coordination/event.ts";
import { Lock } from "../client/coordination/lock.ts";
import { Queue } from "../client/coordination/queue.ts";
import { Semaphore } from "../client/coordination/semaphore.ts";
import { Topic } from "../client/coordination/topic.ts";
import { Variable } from "../client/coordination/variable.ts";

/** Where a delayed wrapper keeps the function it wraps (read by the worker). */
const wrappedKey = Symbol.for("tendril.wrapped");
/** The task scope's names, for `canRebindSelf`. */
const scopeNames: ReadonlySet<string> = new Set(TASK_SCOPE_NAMES);

/** A lazy call of a delayed function. */
export class Delayed<T = unknown> {
  /** @internal */
  constructor(
    /** The delayed function (its wrapper). */
    readonly fn: (...args: never[]) => unknown,
    /** The call's arguments (may hold other Delayed values and futures). */
    readonly args: readonly unknown[],
  ) {}

  /** Runs the call on the cluster (with the current client) and returns its value. */
  async compute(options?: AwaitOptions): Promise<T> {
    const [value] = await computeWith(getClient(), [this], options);
    return value as T;
  }
}

/** A function whose calls build {@linkcode Delayed} values. */
export type DelayedFunction<A extends unknown[], R> = (
  ...args: { [K in keyof A]: A[K] | Delayed<A[K]> | Future<A[K]> }
) => Delayed<Awaited<R>>;

/**
 * Wraps `fn` so calls are lazy; `compute` (or `.compute()`) runs them as
 * tasks. Recursive calls by the function's own name go through the wrapper.
 *
 * @example Recursive fib as delayed calls
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   Client,
 *   compute,
 *   Delayed,
 *   delayed,
 *   LocalCluster,
 * } from "@tendril/tendril";
 * const fibD = delayed(async function fibD(n: number): Promise<number> {
 *   if (n < 2) return n;
 *   const [a, b] = await compute(fibD(n - 1), fibD(n - 2));
 *   return a + b;
 * });
 * assert.ok(fibD(10) instanceof Delayed); // nothing runs yet
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * await using client = await Client.connect(cluster);
 * assert.equal(await fibD(10).compute(), 55);
 * ```
 */
export function delayed<A extends unknown[], R>(
  fn: (...args: A) => R,
): DelayedFunction<A, R> {
  const make = (inner: (...args: never[]) => unknown) => {
    const wrapper = (...args: unknown[]) => new Delayed(wrapper, args);
    Object.defineProperty(wrapper, "name", { value: fn.name });
    Object.defineProperty(wrapper, wrappedKey, { value: inner });
    return wrapper;
  };
  if (fn.name && canRebindSelf(fn, scopeNames)) {
    return compileWithScope(
      fn.toString(),
      taskScope(),
      fn.name,
      make,
    ) as DelayedFunction<A, R>;
  }
  return make(fn as (...args: never[]) => unknown) as DelayedFunction<A, R>;
}

/** The values `compute` returns for its arguments. */
export type Computed<T extends readonly unknown[]> = {
  -readonly [K in keyof T]: T[K] extends Delayed<infer V> ? V
    : T[K] extends Future<infer V> ? V
    : Awaited<T[K]>;
};

/**
 * Computes delayed calls in parallel and returns their values in order.
 * Futures and promises among the arguments are awaited; other values pass
 * through.
 *
 * @example Nested delayed calls, a future and a plain value
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, compute, delayed, LocalCluster } from "@tendril/tendril";
 * const add = delayed((a: number, b: number) => a + b);
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const ten = client.submit(() => 10);
 * const [x, y, z, w] = await compute(add(1, 2), add(add(1, 1), 3), ten, "as is");
 * assert.deepEqual([x, y, z, w], [3, 5, 10, "as is"]);
 * ```
 */
export function compute<T extends unknown[]>(
  ...items: T
): Promise<Computed<T>> {
  return computeWith(getClient(), items) as Promise<Computed<T>>;
}

/** @internal compute on a given client. */
export async function computeWith(
  client: Client,
  items: readonly unknown[],
  options?: AwaitOptions,
): Promise<unknown[]> {
  const submitted = new Map<Delayed, Future<unknown>>();
  const toFuture = (d: Delayed): Future<unknown> => {
    let f = submitted.get(d);
    if (!f) {
      const args = d.args.map(function replace(a: unknown): unknown {
        if (a instanceof Delayed) return toFuture(a);
        if (Array.isArray(a)) return a.map(replace);
        return a;
      });
      f = client.submit(d.fn as (...args: unknown[]) => unknown, ...args);
      submitted.set(d, f);
    }
    return f;
  };
  const targets = await Promise.all(
    items.map((item) => item instanceof Delayed ? toFuture(item) : item),
  );
  try {
    return await client.gather(targets, options) as unknown[];
  } finally {
    // Like Dask's compute, keep nothing: the values are returned. (Inside a
    // task the futures belong to the task and go when it ends.)
    if (!currentTask()) { for (const f of submitted.values()) f.release(); }
  }
}

/** The task scope, once built. */
let scope: Record<string, unknown> | undefined;

/**
 * The in-task API as a scope object (built once, on first use): what
 * functions shipped by source see, by the names in `scope_names.ts`.
 *
 * @example One entry per name a shipped function may use
 * ```ts
 * import assert from "node:assert/strict";
 * import { TASK_SCOPE_NAMES } from "./scope_names.ts";
import { ClusterEvent } from "../client/coordination/event.ts";
import { Lock } from "../client/coordination/lock.ts";
import { Queue } from "../client/coordination/queue.ts";
import { Semaphore } from "../client/coordination/semaphore.ts";
import { Topic } from "../client/coordination/topic.ts";
import { Variable } from "../client/coordination/variable.ts";
 * import { taskScope } from "./delayed.ts";
 * assert.deepEqual(Object.keys(taskScope()).sort(), [...TASK_SCOPE_NAMES].sort());
 * ```
 */
export function taskScope(): Record<string, unknown> {
  if (!scope) {
    scope = {
      getClient,
      getWorker,
      secede,
      rejoin,
      workerClient,
      delayed,
      compute,
      taskKey,
      taskSignal,
      Future,
      TendrilError,
      CancelledError,
      ClientClosedError,
      DeadlockError,
      KilledWorkerError,
      LostDataError,
      TimeoutError,
      Queue,
      Variable,
      ClusterEvent,
      Lock,
      Semaphore,
      Topic,
    };
    const missing = TASK_SCOPE_NAMES.filter((n) => !(n in scope!));
    if (missing.length) {
      throw new Error(`task scope lacks ${missing.join(", ")}`);
    }
  }
  return scope;
}

/** Re-wraps a function that was shipped as the inside of a `delayed`. */
export function wrapTask(
  fn: (...args: never[]) => unknown,
): (...args: never[]) => unknown {
  return delayed(fn as (...args: unknown[]) => unknown);
}
