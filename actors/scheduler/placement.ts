/**
 * Where a runnable task goes: the worker with the least expected work per
 * slot (its `occupancy`, from learned durations, each task counting at
 * least 1 µs so that tasks of unknown duration spread by count), then the
 * one already holding most of its dependencies' bytes. Workers without
 * room (see {@linkcode hasRoom}) are skipped, and so are workers whose every
 * slot is held by a task blocked without secession (nothing new could start
 * there), and so are retiring workers. Restrictions exclude workers unless they are loose
 * (`allowOtherWorkers`), in which case they only lose ties.
 *
 * @module
 */

import type { TaskRecord, WorkerRecord } from "./records.ts";
import { fitsResources } from "./resources.ts";

/**
 * Expected work a worker may have queued per slot beyond its running tasks:
 * enough to cover a round trip to the scheduler many times over, small
 * enough that slow tasks wait in the scheduler's queue, where any worker
 * that frees up can take them, instead of behind each other on one worker.
 */
export const QUEUE_BUDGET_US = 50_000;

/**
 * True when worker `w` may be given another task: it has a free slot, or it
 * holds fewer than `slots * saturation` tasks whose expected work is under
 * {@linkcode QUEUE_BUDGET_US} per slot. So a worker queues up to
 * `saturation` quick tasks per slot but only a few slow ones: saturation
 * adapts to the learned durations. A fully blocked worker has no room.
 *
 * @example Quick tasks queue deep, slow ones do not
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasRoom } from "./placement.ts";
 * import { WorkerRecord } from "./records.ts";
 * const w = new WorkerRecord("w1", 1, "inproc://w1");
 * assert.ok(hasRoom(w, 64));
 * w.executing = 10;
 * w.occupancy = 10 * 100; // ten 100 µs tasks
 * assert.ok(hasRoom(w, 64));
 * w.occupancy = 10 * 100_000; // ten 100 ms tasks
 * assert.ok(!hasRoom(w, 64));
 * ```
 */
export function hasRoom(w: WorkerRecord, saturation: number): boolean {
  if (w.fullyBlocked || w.retiring) return false;
  if (w.executing < w.slots) return true;
  return w.executing < w.slots * saturation &&
    w.occupancy < w.slots * QUEUE_BUDGET_US;
}

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
    if (!hasRoom(w, saturation)) continue;
    if (ts.resources !== null && !fitsResources(ts, w)) continue;
    const fits = !ts.restrictions || allowedOn(ts, w);
    if (!fits && !ts.loose) continue;
    const load = (w.occupancy + w.executing) / w.slots + (fits ? 0 : 1e15);
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
