/**
 * Work stealing: which tasks an idle worker should take from the busiest
 * one. Tasks are assigned ahead of time (a worker queues several per slot),
 * so a worker can run dry while another still has a queue behind a slow
 * task. When a worker has a free slot and nothing to take from the
 * scheduler's queue, the worker with the most expected work per slot gives
 * up the tasks it has not started, last in its queue first, while moving
 * one is worth it: it would start sooner on the thief (behind the thief's
 * expected work, plus the steal's round trips and moving its inputs) than
 * behind the expected work ahead of it on the victim. Expected work comes
 * from durations learned per function (unknown ones count as 0.5 s, as in
 * Dask), so quick tasks behind quick tasks stay put. The scheduler sends `steal` for each; the victim gives back
 * those not started yet (`task-stopped`) and they are placed again.
 *
 * @module
 */

import { type TaskDurations, UNKNOWN_DURATION_US } from "./durations.ts";
import { mayRunOn } from "./placement.ts";
import { fitsResources } from "./resources.ts";
import type { TaskRecord, WorkerRecord } from "./records.ts";

/** What a steal costs in µs (a round trip to the victim, one to the thief). */
export const STEAL_COST_US = 2_000;

/** Bytes per µs assumed for moving a dependency between workers (100 MB/s, as Dask). */
export const BANDWIDTH_BYTES_PER_US = 100;

/** What nothing to steal returns (shared; never written to). */
const NONE: TaskRecord[] = [];

/** The expected duration (µs) of a run of `ts` as of now. */
function expected(ts: TaskRecord, durations: TaskDurations): number {
  return durations.known(ts.fn) ?? UNKNOWN_DURATION_US;
}

/** µs to move the inputs of `ts` that `thief` lacks and that do not travel inline. */
export function transferCost(ts: TaskRecord, thief: WorkerRecord): number {
  let bytes = 0;
  for (const d of ts.deps) {
    if (d.value === null && !d.whoHas?.includes(thief)) bytes += d.nbytes;
  }
  return bytes / BANDWIDTH_BYTES_PER_US;
}

/** A worker's runs that hold a slot, in the order it starts them (rank). */
function slotHolders(w: WorkerRecord): TaskRecord[] {
  const out: TaskRecord[] = [];
  for (const ts of w.processing) if (!ts.seceded) out.push(ts);
  return out.sort((a, b) => a.rank - b.rank);
}

/**
 * The tasks `thief` should steal now: none unless it has a free slot; else
 * unstarted tasks of the worker with the most expected work per slot.
 *
 * @example An idle worker takes half of a backlog of slow tasks
 * ```ts
 * import assert from "node:assert/strict";
 * import { stealsFor } from "./stealing.ts";
 * import { TaskDurations } from "./durations.ts";
 * import { TaskRecord, WorkerRecord } from "./records.ts";
 * const durations = new TaskDurations();
 * durations.learn("slow", 100); // ms
 * const busy = new WorkerRecord("w1", 1, "inproc://w1");
 * for (let i = 0; i < 4; i++) {
 *   const ts = new TaskRecord({ key: `t${i}`, fn: "slow", args: "" }, [0, 0, i]);
 *   ts.status = "processing";
 *   ts.processingOn = busy;
 *   busy.processing.add(ts);
 *   busy.executing++;
 * }
 * const idle = new WorkerRecord("w2", 1, "inproc://w2");
 * const stolen = stealsFor(idle, [busy, idle], durations);
 * assert.deepEqual(stolen.map((ts) => ts.key), ["t3", "t2"]); // last queued first
 * ```
 */
export function stealsFor(
  thief: WorkerRecord,
  workers: Iterable<WorkerRecord>,
  durations: TaskDurations,
): TaskRecord[] {
  if (thief.executing >= thief.slots || thief.fullyBlocked || thief.retiring) {
    return NONE;
  }
  let victim: WorkerRecord | undefined;
  let victimWork = 0;
  for (const w of workers) {
    if (w === thief || w.executing <= w.slots) continue;
    let work = 0;
    for (const ts of w.processing) {
      if (!ts.seceded) work += expected(ts, durations);
    }
    if (work / w.slots > victimWork / (victim?.slots ?? 1)) {
      victim = w;
      victimWork = work;
    }
  }
  if (!victim) return NONE;
  let thiefWork = 0;
  for (const ts of thief.processing) {
    if (!ts.seceded) thiefWork += expected(ts, durations);
  }
  // No task of the victim waits longer than all of its work: when even that
  // is no more than a steal costs the thief, nothing is worth moving.
  if (victimWork / victim.slots <= thiefWork / thief.slots + STEAL_COST_US) {
    return NONE;
  }
  const stolen: TaskRecord[] = [];
  // The first `slots` runs are (likely) running: only the rest can move,
  // last in the victim's queue (the longest wait) first.
  const holders = slotHolders(victim);
  let behind = 0; // expected work queued after the task at hand that stays
  for (let i = holders.length - 1; i >= victim.slots; i--) {
    const ts = holders[i];
    const e = expected(ts, durations);
    if (
      ts.stealing || ts.blockedOn || !mayRunOn(ts, thief) ||
      (ts.resources !== null && !fitsResources(ts, thief))
    ) {
      behind += e;
      continue;
    }
    // Moving pays when the task would start sooner on the thief, round
    // trips and inputs included, than behind the work ahead of it here.
    const ahead = (victimWork - behind - e) / victim.slots;
    const there = thiefWork / thief.slots + STEAL_COST_US +
      transferCost(ts, thief);
    if (there >= ahead) break;
    thiefWork += e;
    victimWork -= e;
    stolen.push(ts);
  }
  return stolen;
}
