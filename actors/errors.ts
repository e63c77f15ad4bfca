/**
 * Errors Tendril itself raises. A task's own error is not wrapped: it reaches
 * `result()` with its original name, message and remote stack.
 *
 * @module
 */

/**
 * The future's task was cancelled (by `cancel()`, or because the task that
 * launched it was cancelled and nobody else wanted it).
 *
 * @example
 * ```ts
 * import { CancelledError } from "@tendril/tendril";
 * const e = new CancelledError("inc-1");
 * console.assert(e.name === "CancelledError" && e.key === "inc-1");
 * ```
 */
export class CancelledError extends Error {
  /** Always "CancelledError". */
  override name = "CancelledError";
  /** The cancelled key. */
  readonly key: string;
  /** Builds the error for `key`, optionally saying why. */
  constructor(key: string, reason = "cancelled") {
    super(`task ${key} was ${reason}`);
    this.key = key;
  }
}

/**
 * The task's worker died while running it too many times: the task is
 * suspected of killing workers and is not retried again.
 *
 * @example
 * ```ts
 * import { KilledWorkerError } from "@tendril/tendril";
 * console.assert(new KilledWorkerError("boom-1", 4).attempts === 4);
 * ```
 */
export class KilledWorkerError extends Error {
  /** Always "KilledWorkerError". */
  override name = "KilledWorkerError";
  /** The key that kept losing its worker. */
  readonly key: string;
  /** How many workers died running it. */
  readonly attempts: number;
  /** Builds the error for `key` after `attempts` worker deaths. */
  constructor(key: string, attempts: number) {
    super(
      `task ${key} was running on ${attempts} workers that died; ` +
        `it is probably what kills them, so it is not retried again`,
    );
    this.key = key;
    this.attempts = attempts;
  }
}

/**
 * Every worker slot is held by a task waiting (with automatic secession
 * turned off) for work that can only run in a slot: nothing can progress.
 *
 * @example
 * ```ts
 * import { DeadlockError } from "@tendril/tendril";
 * console.assert(new DeadlockError("stuck").name === "DeadlockError");
 * ```
 */
export class DeadlockError extends Error {
  /** Always "DeadlockError". */
  override name = "DeadlockError";
}

/**
 * A result was lost with its worker and cannot be recomputed because its
 * own dependencies are gone.
 *
 * @example
 * ```ts
 * import { LostDataError } from "@tendril/tendril";
 * console.assert(new LostDataError("x").name === "LostDataError");
 * ```
 */
export class LostDataError extends Error {
  /** Always "LostDataError". */
  override name = "LostDataError";
}

const tendrilErrors: Record<string, { prototype: Error }> = {
  CancelledError,
  KilledWorkerError,
  DeadlockError,
  LostDataError,
};

/**
 * Gives an error decoded from another isolate its Tendril class back (the
 * codec keeps name, message and stack, but builds a plain Error for classes
 * it does not know), so `instanceof KilledWorkerError` works at the client.
 *
 * @example
 * ```ts
 * import { KilledWorkerError, reviveError } from "./errors.ts";
 * const e = Object.assign(new Error("x"), { name: "KilledWorkerError" });
 * console.assert(reviveError(e) instanceof KilledWorkerError);
 * ```
 */
export function reviveError(e: Error): Error {
  const cls = tendrilErrors[e.name];
  if (cls && !(e instanceof (cls as unknown as typeof Error))) {
    Object.setPrototypeOf(e, cls.prototype);
  }
  return e;
}
