/**
 * Errors no task awaits: a throw from a timer a task set, a rejected promise
 * nobody handles. Left alone, either one destroys the isolate they happen
 * in, and with it every task and value of its worker. A worker installs this
 * guard so they are reported instead, against the task that caused them.
 *
 * A timer's callback runs in the task context of whoever set it, but the
 * isolate's `error` event fires outside any context; so the guard wraps
 * `setTimeout`, `setInterval` and `queueMicrotask` to catch a callback's
 * throw where the context is still known. Unhandled rejections keep their
 * context and need no wrapping.
 *
 * @module
 */

import { currentTask, type TaskContext } from "../task/context.ts";

/** Told of each stray error, with the task whose code raised it when known. */
export type StrayErrorReport = (
  error: unknown,
  task: TaskContext | undefined,
) => void;

type TimerFn = (
  callback: (...args: unknown[]) => void,
  delay?: number,
  ...args: unknown[]
) => number;

/** What the guard patches, kept to undo it. */
interface Saved {
  setTimeout: TimerFn;
  setInterval: TimerFn;
  queueMicrotask: (callback: () => void) => void;
  onError: (event: ErrorEvent) => void;
  onRejection: (event: PromiseRejectionEvent) => void;
}

let saved: Saved | null = null;

/**
 * Reports stray errors of this isolate to `report` instead of letting them
 * end it. One guard per isolate: installing again replaces the report.
 * Returns a function that removes the guard.
 *
 * @example A throw from a stray timer is reported, not fatal
 * ```ts
 * import assert from "node:assert/strict";
 * import { guardStrayErrors } from "./stray_errors.ts";
 * const seen = Promise.withResolvers<unknown>();
 * const unguard = guardStrayErrors((error) => seen.resolve(error));
 * setTimeout(() => {
 *   throw new Error("late");
 * }, 0);
 * assert.equal(((await seen.promise) as Error).message, "late");
 * unguard();
 * ```
 */
export function guardStrayErrors(report: StrayErrorReport): () => void {
  if (saved) unguard();
  const g = globalThis as unknown as Saved;
  const guarded = <A extends unknown[]>(callback: (...args: A) => void) =>
    function (this: unknown, ...args: A): void {
      try {
        callback.apply(this, args);
      } catch (e) {
        report(e, currentTask());
      }
    };
  const mine: Saved = {
    setTimeout: g.setTimeout,
    setInterval: g.setInterval,
    queueMicrotask: g.queueMicrotask,
    onError: (event) => {
      // Whatever the wrapped timers did not catch (a throw from an event
      // listener, say): its task is not known.
      event.preventDefault();
      report(event.error ?? new Error(event.message), undefined);
    },
    onRejection: (event) => {
      event.preventDefault();
      report(event.reason, currentTask());
    },
  };
  g.setTimeout =
    ((callback, delay, ...args) =>
      typeof callback === "function"
        ? mine.setTimeout(guarded(callback), delay, ...args)
        : mine.setTimeout(callback, delay, ...args)) as TimerFn;
  g.setInterval =
    ((callback, delay, ...args) =>
      typeof callback === "function"
        ? mine.setInterval(guarded(callback), delay, ...args)
        : mine.setInterval(callback, delay, ...args)) as TimerFn;
  g.queueMicrotask = (callback) => mine.queueMicrotask(guarded(callback));
  globalThis.addEventListener("error", mine.onError);
  globalThis.addEventListener("unhandledrejection", mine.onRejection);
  saved = mine;
  return unguard;
}

/** Puts back what {@linkcode guardStrayErrors} replaced. */
function unguard(): void {
  if (!saved) return;
  const g = globalThis as unknown as Saved;
  g.setTimeout = saved.setTimeout;
  g.setInterval = saved.setInterval;
  g.queueMicrotask = saved.queueMicrotask;
  globalThis.removeEventListener("error", saved.onError);
  globalThis.removeEventListener("unhandledrejection", saved.onRejection);
  saved = null;
}
