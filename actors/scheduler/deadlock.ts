/**
 * Deadlock diagnosis for tasks that opted out of automatic secession. A
 * blocked task holds its slot while it waits; its wait can end only if every
 * key it waits for can still finish. A key can finish if it is done, runs
 * without a slot (seceded), runs or can start on a worker that has a slot not
 * held by a blocked task, or waits for keys that can finish. When some
 * blocked task waits for a key that cannot, no event can ever end that wait:
 * the tasks stuck that way are named so their waits reject with a
 * `DeadlockError` instead of hanging.
 *
 * @module
 */

import { mayRunOn } from "./placement.ts";
import type { TaskRecord, WorkerRecord } from "./records.ts";

/** The stuck tasks and a message naming them. */
export interface Deadlock {
  /** Blocked tasks whose waits can never end. */
  stuck: TaskRecord[];
  /** Names them and what they wait for. */
  message: string;
}

/**
 * The deadlock among `workers`, if there is one.
 *
 * @example A parent holds the only slot its queued child needs
 * ```ts
 * import assert from "node:assert/strict";
 * import { findDeadlock } from "./deadlock.ts";
 * import { TaskRecord, WorkerRecord } from "./records.ts";
 * const w = new WorkerRecord("w1", 1, "inproc://w1");
 * const parent = new TaskRecord({ key: "p", fn: "f", args: "" }, [0, 0, 0]);
 * const child = new TaskRecord({ key: "c", fn: "f", args: "" }, [0, 1, 1]);
 * const tasks = new Map([["p", parent], ["c", child]]);
 * parent.status = "processing";
 * parent.processingOn = w;
 * parent.blockedOn = ["c"];
 * w.blocked.add(parent);
 * child.status = "queued"; // and the only slot is held by its waiting parent
 * assert.deepEqual(findDeadlock([w], tasks)?.stuck, [parent]);
 * child.status = "memory";
 * assert.equal(findDeadlock([w], tasks), undefined);
 * ```
 */
export function findDeadlock(
  workers: Iterable<WorkerRecord>,
  tasks: ReadonlyMap<string, TaskRecord>,
): Deadlock | undefined {
  const blocked: TaskRecord[] = [];
  const open: WorkerRecord[] = [];
  for (const w of workers) {
    for (const b of w.blocked) blocked.push(b);
    if (!w.fullyBlocked) open.push(w);
  }
  if (blocked.length === 0) return undefined;
  const canStart = (t: TaskRecord) => open.some((w) => mayRunOn(t, w));
  const memo = new Map<TaskRecord, boolean>();
  const canFinish = (t: TaskRecord | undefined): boolean => {
    if (!t) return true; // forgotten: the wait on it is cancelled
    const known = memo.get(t);
    if (known !== undefined) return known;
    memo.set(t, false); // a wait that reaches itself is no progress
    let ok: boolean;
    switch (t.status) {
      case "processing":
        if (t.seceded) ok = true;
        else if (t.blockedOn) {
          ok = t.blockedOn.every((k) => canFinish(tasks.get(k)));
        } else ok = !t.processingOn!.fullyBlocked || canStart(t);
        break;
      case "queued":
        ok = canStart(t);
        break;
      case "waiting":
        ok = t.deps.every(canFinish);
        break;
      default: // memory, erred, released, forgotten: the wait ends
        ok = true;
    }
    memo.set(t, ok);
    return ok;
  };
  const stuck = blocked.filter((b) => !canFinish(b));
  if (stuck.length === 0) return undefined;
  const waits = stuck.map((b) =>
    `${b.key} waits for ${b.blockedOn!.join(", ")}`
  );
  const message = "deadlock: tasks wait, with automatic secession turned " +
    "off, for work that can never get a slot (every slot it may use is held " +
    "by such a waiting task): " + waits.join("; ") +
    ". Call secede() before waiting, or leave automatic secession on.";
  return { stuck, message };
}
