/**
 * Where a runnable task goes: the worker with the fewest executing tasks per
 * slot, then the one already holding most of its dependencies' bytes.
 * Workers at capacity (`slots * saturation` tasks) are skipped, and so are
 * workers whose every slot is held by a task blocked without secession
 * (nothing new could start there). Restrictions exclude workers unless they
 * are loose (`allowOtherWorkers`), in which case they only lose ties.
 *
 * @module
 */

import type { TaskRecord, WorkerRecord } from "./records.ts";

/** True when `w` is one of the workers the restricted task `ts` names. */
export function allowedOn(ts: TaskRecord, w: WorkerRecord): boolean {
  return ts.restrictions!.has(w.id) || ts.restrictions!.has(w.address);
}

/** True when `ts` may run on `w` (restrictions aside when they are loose). */
export function mayRunOn(ts: TaskRecord, w: WorkerRecord): boolean {
  return !ts.restrictions || ts.loose || allowedOn(ts, w);
}

/**
 * The best worker for `ts`, or undefined when every eligible one is full.
 *
 * @example The least loaded worker wins; full workers are skipped
 * ```ts
 * import assert from "node:assert/strict";
 * import { pickWorker } from "./placement.ts";
 * import { TaskRecord, WorkerRecord } from "./records.ts";
 * const ts = new TaskRecord({ key: "a", fn: "f", args: "" }, [0, 0, 0]);
 * const busy = new WorkerRecord("w1", 1, "inproc://w1");
 * busy.executing = 1;
 * const idle = new WorkerRecord("w2", 1, "inproc://w2");
 * assert.equal(pickWorker(ts, [busy, idle], 4), idle);
 * assert.equal(pickWorker(ts, [busy], 1), undefined);
 * ```
 */
export function pickWorker(
  ts: TaskRecord,
  workers: Iterable<WorkerRecord>,
  saturation: number,
): WorkerRecord | undefined {
  let best: WorkerRecord | undefined;
  let bestLoad = Infinity;
  let bestLocal = -1;
  for (const w of workers) {
    if (w.executing >= w.slots * saturation || w.fullyBlocked) continue;
    const fits = !ts.restrictions || allowedOn(ts, w);
    if (!fits && !ts.loose) continue;
    const load = w.executing / w.slots + (fits ? 0 : 1e6);
    if (load > bestLoad) continue;
    let local = 0;
    for (const d of ts.deps) {
      if (d.whoHas?.includes(w)) local += d.nbytes + 1;
    }
    if (load < bestLoad || local > bestLocal) {
      best = w;
      bestLoad = load;
      bestLocal = local;
    }
  }
  return best;
}
