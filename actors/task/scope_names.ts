/**
 * Names a function shipped by source may use without importing them: the
 * in-task API, provided on the worker by `taskScope()` in `delayed.ts`. Kept apart from the
 * scope object itself so the client can check names without importing the
 * whole runtime.
 *
 * @module
 */

/** The in-task API names visible to functions shipped by source. */
export const TASK_SCOPE_NAMES: readonly string[] = [
  "getClient",
  "getWorker",
  "secede",
  "rejoin",
  "workerClient",
  "delayed",
  "compute",
  "taskKey",
  "taskSignal",
  "Future",
  "TendrilError",
  "CancelledError",
  "ClientClosedError",
  "DeadlockError",
  "KilledWorkerError",
  "LostDataError",
  "TimeoutError",
  "Queue",
  "Variable",
  "ClusterEvent",
  "Lock",
  "Semaphore",
  "Topic",
];
