/**
 * What the dashboard page shows, read off the scheduler's state: one
 * aggregated snapshot per tick (workers, task counts per function, the task
 * stream's new spans, capped), and one task's details for the task page.
 * Built on the page's clock (once a second), never on the scheduler's hot
 * path.
 *
 * @module
 */

import { unpack } from "../../runtime/codec/packed.ts";
import type { SchedulerInfo } from "../protocol.ts";
import type { TaskStatus } from "../scheduler/records.ts";
import type { SchedulerState } from "../scheduler/state.ts";

/** Most spans one snapshot carries (beyond, an even sample of them). */
export const MAX_SPANS_PER_SNAPSHOT = 1000;

/** Counts of one function's tasks, by status, and its finished runs. */
export interface GroupCounts {
  /** The function's name. */
  name: string;
  /** Tasks in the graph kept without a value (lineage). */
  released: number;
  /** Tasks waiting for dependencies. */
  waiting: number;
  /** Runnable tasks no worker has room for. */
  queued: number;
  /** Tasks sent to a worker. */
  processing: number;
  /** Tasks whose value is held. */
  memory: number;
  /** Tasks that failed. */
  erred: number;
  /** Runs that returned, over the scheduler's life. */
  finished: number;
}

/** One tick of the page. */
export interface LiveSnapshot {
  /** The cluster, as `/api/info` gives it. */
  info: SchedulerInfo;
  /** Per function name. */
  groups: GroupCounts[];
  /**
   * Runs that ended since the last snapshot: `[worker, start, stop,
   * function name, erred, key, seceded]`, epoch ms (`seceded`: pairs of
   * times it spent seceded, or null).
   */
  spans: [string, number, number, string, boolean, string, number[] | null][];
  /** Spans recorded up to this snapshot: pass it back as `since`. */
  seq: number;
  /** Spans left out: more ended than a snapshot carries, or the scheduler no longer keeps them. */
  skipped: number;
}

/**
 * The snapshot of `state` with the spans recorded from sequence number
 * `since` on.
 *
 * @example Counts of a submitted task
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchedulerState } from "../scheduler/state.ts";
 * import { liveSnapshot } from "./live.ts";
 * const s = new SchedulerState();
 * s.handle({ type: "client-joined", id: "c" });
 * const fnRef = { kind: "source" as const, source: "() => 1", name: "one" };
 * s.handle({ type: "message", from: "c", msg: { op: "submit", tasks: [{ key: "one-1", fn: "s:one", fnRef, args: "\x90" }] } });
 * const snap = liveSnapshot(s, 0);
 * assert.deepEqual(snap.groups.map((g) => [g.name, g.queued]), [["one", 1]]);
 * ```
 */
export function liveSnapshot(
  state: SchedulerState,
  since: number,
): LiveSnapshot {
  const byFn = new Map<string, GroupCounts>();
  /** The counts of function `fn`, made (all zero, named `name()`) on first use. */
  const groupOf = (fn: string, name: () => string): GroupCounts => {
    let g = byFn.get(fn);
    if (!g) {
      g = {
        name: name(),
        released: 0,
        waiting: 0,
        queued: 0,
        processing: 0,
        memory: 0,
        erred: 0,
        finished: 0,
      };
      byFn.set(fn, g);
    }
    return g;
  };
  for (const ts of state.tasks.values()) {
    const g = groupOf(ts.fn, () => state.fns.get(ts.fn)?.name || ts.fn);
    g[ts.status as Exclude<TaskStatus, "forgotten">]++;
  }
  for (const [fn, stats] of state.metrics.byFunction) {
    groupOf(fn, () => stats.name).finished = stats.finished;
  }
  // Functions of one name (two modules) are one group on the page.
  const groups = new Map<string, GroupCounts>();
  for (const g of byFn.values()) {
    const same = groups.get(g.name);
    if (!same) {
      groups.set(g.name, g);
      continue;
    }
    for (const k of Object.keys(g) as (keyof GroupCounts)[]) {
      if (k !== "name") same[k] += g[k];
    }
  }
  const seq = state.metrics.spans;
  // More runs than a snapshot carries: every k-th, so the stream thins out
  // evenly instead of showing a gap.
  const all = state.metrics.spansSince(since);
  const stride = Math.ceil(all.length / MAX_SPANS_PER_SNAPSHOT);
  const spans: LiveSnapshot["spans"] = [];
  for (let i = 0; i < all.length; i += stride) {
    const s = all[i];
    spans.push([s.worker, s.start, s.stop, s.name, s.erred, s.key, s.seceded]);
  }
  return {
    info: state.describe(),
    groups: [...groups.values()].sort((a, b) => a.name.localeCompare(b.name)),
    spans,
    seq,
    skipped: seq - since - spans.length,
  };
}

/** One task as the task page shows it. */
export interface TaskDetail {
  /** Its key. */
  key: string;
  /** Its status. */
  status: string;
  /** Its function's name. */
  function: string;
  /** The worker running it, while processing. */
  worker?: string;
  /** Whether it gave its slot back (`secede()`). */
  seceded: boolean;
  /** Keys it depends on, with their status. */
  dependencies: { key: string; status: string }[];
  /** Keys that depend on it (first 200), with their status. */
  dependents: { key: string; status: string }[];
  /** Workers holding its value. */
  holders: string[];
  /** Encoded size of its value. */
  nbytes: number;
  /** Clients and tasks holding a future on it. */
  wantedBy: string[];
  /** The key of the task whose tree it belongs to, when launched from a task. */
  root?: string;
  /** Its error, when erred: name, message and the remote stack. */
  error?: { name: string; message: string; stack?: string };
}

/**
 * The details of task `key`, or undefined when the scheduler does not have it.
 *
 * @example An unknown key
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchedulerState } from "../scheduler/state.ts";
 * import { taskDetail } from "./live.ts";
 * assert.equal(taskDetail(new SchedulerState(), "nope"), undefined);
 * ```
 */
export function taskDetail(
  state: SchedulerState,
  key: string,
): TaskDetail | undefined {
  const ts = state.tasks.get(key);
  if (!ts) return undefined;
  const detail: TaskDetail = {
    key,
    status: ts.status,
    function: state.fns.get(ts.fn)?.name || ts.fn,
    seceded: ts.seceded,
    dependencies: ts.deps.map((d) => ({ key: d.key, status: d.status })),
    dependents: [...(ts.dependents ?? [])].slice(0, 200).map((d) => ({
      key: d.key,
      status: d.status,
    })),
    holders: (ts.whoHas ?? []).map((w) => w.id),
    nbytes: ts.nbytes,
    wantedBy: (ts.wantedBy ?? []).map((o) =>
      o.task === undefined ? o.client : `task ${o.task} on ${o.client}`
    ),
  };
  if (ts.processingOn) detail.worker = ts.processingOn.id;
  if (ts.root) detail.root = ts.root.key;
  if (ts.error !== null) {
    let e: Error;
    try {
      e = unpack(ts.error) as Error;
    } catch (cause) {
      e = new Error(`(the error could not be decoded: ${cause})`);
    }
    detail.error = { name: e?.name, message: e?.message, stack: e?.stack };
  }
  return detail;
}
