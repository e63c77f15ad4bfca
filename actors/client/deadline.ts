/**
 * Bounds on a wait: `timeout` (milliseconds) and `signal` (an AbortSignal)
 * folded into one signal that the wait watches. A timeout aborts it with
 * the shared {@linkcode TimeoutError}; the caller's signal aborts it with
 * that signal's reason, as `fetch` and Deno's std `abortable` do.
 *
 * @module
 */

import { TimeoutError } from "../../runtime/errors.ts";

/** The bounds a caller may put on a wait. */
export interface WaitBounds {
  /** Give up after this many milliseconds (rejects with `TimeoutError`). */
  timeout?: number;
  /** Give up when this aborts (rejects with its reason). */
  signal?: AbortSignal;
}

/** One wait's bound: the signal to watch, and how to let go of its timer. */
export interface Deadline {
  /** Aborted when the wait must give up; undefined when it is unbounded. */
  readonly signal: AbortSignal | undefined;
  /** Stops the timer and detaches from the caller's signal. */
  clear(): void;
}

const UNBOUNDED: Deadline = { signal: undefined, clear() {} };

/**
 * The deadline of a wait for `what` (named by a timeout's error).
 *
 * @throws {RangeError} when `timeout` is negative or not a number.
 * @example A timeout aborts with TimeoutError, a signal with its reason
 * ```ts
 * import assert from "node:assert/strict";
 * import { deadline } from "./deadline.ts";
 * import { TimeoutError } from "../../runtime/errors.ts";
 * const d = deadline("result() of x", { timeout: 1 });
 * await new Promise((r) => d.signal!.addEventListener("abort", r));
 * assert.ok(d.signal!.reason instanceof TimeoutError);
 * assert.match(d.signal!.reason.message, /result\(\) of x timed out after 1 ms/);
 * const stop = new AbortController();
 * const e = deadline("gather()", { timeout: 60_000, signal: stop.signal });
 * stop.abort(new Error("user gave up"));
 * assert.match(e.signal!.reason.message, /user gave up/);
 * e.clear(); // the 60 s timer is gone
 * assert.equal(deadline("wait()", {}).signal, undefined);
 * assert.throws(() => deadline("wait()", { timeout: -1 }), RangeError);
 * ```
 */
export function deadline(what: string, bounds: WaitBounds): Deadline {
  const { timeout: ms, signal } = bounds;
  if (ms === undefined) return signal ? { signal, clear() {} } : UNBOUNDED;
  if (typeof ms !== "number" || !(ms >= 0)) {
    throw new RangeError(
      `timeout of ${what} must be a number of milliseconds >= 0, got ${
        String(ms)
      }`,
    );
  }
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const timer = controller.signal.aborted ? undefined : setTimeout(
    () => controller.abort(new TimeoutError(what, ms)),
    ms,
  );
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * Runs the wait `run` within the bounds in `options`: with a timeout, `run`
 * gets the same options with the timeout folded into `signal` (so nested
 * waits share one deadline), and the timer is cleared when it settles.
 *
 * @example The inner wait sees one signal, no timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { type WaitBounds, withDeadline } from "./deadline.ts";
 * const bounds: WaitBounds = { timeout: 50 };
 * const seen = await withDeadline(() => "gather()", bounds, (o) =>
 *   Promise.resolve(o));
 * assert.equal(seen.timeout, undefined);
 * assert.ok(seen.signal instanceof AbortSignal);
 * ```
 */
export function withDeadline<O extends WaitBounds, T>(
  what: () => string,
  options: O,
  run: (options: O) => Promise<T>,
): Promise<T> {
  if (options.timeout === undefined) return run(options);
  const d = deadline(what(), options);
  return run({ ...options, timeout: undefined, signal: d.signal }).finally(
    () => d.clear(),
  );
}
