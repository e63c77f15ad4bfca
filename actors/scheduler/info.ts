/**
 * The scheduler described for people: workers, task counts by status and
 * per-function totals, as `client.schedulerInfo()` and `/api/info` give it.
 * Read off the graph when asked (linear in tasks), never kept up to date on
 * the hot path.
 *
 * @module
 */

import type { SchedulerInfo, WorkerSummary } from "../protocol.ts";
import type { SchedulerMetrics } from "./metrics.ts";
import type { TaskStatus } from "./records.ts";
import { SCHEDULER_HOLDER, type TaskGraph } from "./transitions.ts";

/** The statuses reported, in the order of a task's life. */
export const REPORTED_STATUSES: readonly TaskStatus[] = [
  "released",
  "waiting",
  "queued",
  "processing",
  "memory",
  "erred",
];

/** Where the scheduler is reachable, told by its shell. */
export interface SchedulerAbout {
  /** Where clients and workers connect (TCP schedulers). */
  address?: string;
  /** The dashboard's URL, when it runs. */
  dashboard?: string;
}

/**
 * Describes `graph` (with its `metrics`, and its workers' last `usage`
 * reports): one pass over its tasks and workers.
 *
 * @example An empty scheduler with one worker
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchedulerState } from "./state.ts";
 * import { describeScheduler } from "./info.ts";
 * const s = new SchedulerState();
 * s.handle({ type: "worker-joined", id: "w1", slots: 2, address: "inproc://w1" });
 * const info = describeScheduler(s, s.metrics, { dashboard: "http://127.0.0.1:1/" });
 * assert.equal(info.workers[0].slots, 2);
 * assert.equal(info.tasks.memory, 0);
 * assert.equal(info.dashboard, "http://127.0.0.1:1/");
 * ```
 */
export function describeScheduler(
  graph: TaskGraph,
  metrics: SchedulerMetrics,
  about: SchedulerAbout = {},
  usage?: ReadonlyMap<string, { rss: number; heap: number; cpu: number }>,
): SchedulerInfo {
  const tasks: Record<string, number> = {};
  for (const s of REPORTED_STATUSES) tasks[s] = 0;
  for (const ts of graph.tasks.values()) tasks[ts.status]++;
  const workers: WorkerSummary[] = [];
  for (const w of graph.workers.values()) {
    let seceded = 0;
    for (const ts of w.processing) if (ts.seceded) seceded++;
    let heldBytes = 0;
    for (const ts of w.hasWhat) heldBytes += ts.nbytes;
    workers.push({
      id: w.id,
      address: w.address,
      slots: w.slots,
      executing: w.executing,
      processing: w.processing.size,
      seceded,
      heldKeys: w.hasWhat.size,
      heldBytes,
      ...usage?.get(w.id),
    });
  }
  const byName = new Map<
    string,
    { name: string; finished: number; erred: number; seconds: number }
  >();
  for (const f of metrics.byFunction.values()) {
    const sum = byName.get(f.name) ??
      { name: f.name, finished: 0, erred: 0, seconds: 0 };
    sum.finished += f.finished;
    sum.erred += f.erred;
    sum.seconds += f.seconds;
    byName.set(f.name, sum);
  }
  let clients = 0;
  for (const id of graph.clientOwners.keys()) {
    if (!graph.workers.has(id) && id !== SCHEDULER_HOLDER) clients++;
  }
  const info: SchedulerInfo = {
    workers,
    tasks,
    finished: metrics.finished,
    erred: metrics.erred,
    functions: [...byName.values()],
    clients,
    time: Date.now(),
  };
  if (about.address) info.address = about.address;
  if (about.dashboard) info.dashboard = about.dashboard;
  return info;
}
