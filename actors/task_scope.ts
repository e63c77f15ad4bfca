/**
 * The scope functions shipped by source are compiled in: the in-task API by
 * the names in `task_scope_names.ts`.
 *
 * @module
 */

import { compute, delayed } from "./delayed.ts";
import { CancelledError, DeadlockError, KilledWorkerError } from "./errors.ts";
import { Future } from "./future.ts";
import {
  getClient,
  getWorker,
  rejoin,
  secede,
  taskKey,
  taskSignal,
  workerClient,
} from "./task_context.ts";
import { TASK_SCOPE_NAMES } from "./task_scope_names.ts";

let scope: Record<string, unknown> | undefined;

/** The in-task API as a scope object (built once, on first use). */
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
      CancelledError,
      DeadlockError,
      KilledWorkerError,
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
