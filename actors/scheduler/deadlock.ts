/**
 * Deadlock diagnosis for tasks that opted out of automatic secession: when,
 * on every worker, every slot is held by a task blocked in such a wait, and
 * none of the keys they wait for is finished or running seceded (the only
 * work that progresses without a slot), nothing can ever progress.
 *
 * @module
 */

import type { TaskState, WorkerState } from "./records.ts";

/** The stuck tasks and a message naming them. */
export interface Deadlock {
  stuck: TaskState[];
  message: string;
}

/**
 * The deadlock among `workers`, if there is one.
 *
 * @example
 * ```ts
 * import { findDeadlock } from "./deadlock.ts";
 * console.assert(findDeadlock([], new Map()) === undefined);
 * ```
 */
export function findDeadlock(
  workers: Iterable<WorkerState>,
  tasks: ReadonlyMap<string, TaskState>,
): Deadlock | undefined {
  const stuck: TaskState[] = [];
  let any = false;
  for (const w of workers) {
    any = true;
    if (w.blocked.size < w.slots) return undefined;
    for (const b of w.blocked) {
      for (const key of b.blockedOn!) {
        const t = tasks.get(key);
        if (!t || t.terminal || (t.status === "processing" && t.seceded)) {
          return undefined;
        }
      }
      stuck.push(b);
    }
  }
  if (!any) return undefined;
  const waits = stuck.map((b) =>
    `${b.key} waits for ${b.blockedOn!.join(", ")}`
  );
  const message = "deadlock: every worker slot is held by a task waiting " +
    "with automatic secession turned off for work that needs a slot: " +
    waits.join("; ") +
    ". Call secede() before waiting, or leave automatic secession on.";
  return { stuck, message };
}
