/**
 * Where a runnable task goes: the worker with the fewest executing tasks per
 * slot, then the one already holding most of its dependencies' bytes.
 * Workers at capacity (`slots * saturation` tasks) are skipped; restrictions
 * exclude workers unless they are loose (`allowOtherWorkers`), in which case
 * they only lose ties.
 *
 * @module
 */

import type { TaskState, WorkerState } from "./records.ts";

/** True when `w` is one of the workers `ts` is restricted to. */
export function allowed(ts: TaskState, w: WorkerState): boolean {
  return ts.restrictions!.has(w.id) || ts.restrictions!.has(w.address);
}

/**
 * The best worker for `ts`, or undefined when every eligible one is full.
 *
 * @example
 * ```ts
 * import { pickWorker } from "./placement.ts";
 * console.assert(pickWorker({} as never, [], 1) === undefined);
 * ```
 */
export function pickWorker(
  ts: TaskState,
  workers: Iterable<WorkerState>,
  saturation: number,
): WorkerState | undefined {
  let best: WorkerState | undefined;
  let bestLoad = Infinity;
  let bestLocal = -1;
  for (const w of workers) {
    if (w.executing >= w.slots * saturation) continue;
    const fits = !ts.restrictions || allowed(ts, w);
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
