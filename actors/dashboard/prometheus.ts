/**
 * The scheduler's metrics in Prometheus' text exposition format (version
 * 0.0.4), as `/metrics` serves them. Built when scraped, from the counters
 * the scheduler keeps ({@linkcode SchedulerMetrics}) and one pass over its
 * graph ({@linkcode describeScheduler}).
 *
 * @module
 */

import type { SchedulerInfo } from "../protocol.ts";
import {
  DURATION_BUCKETS,
  type SchedulerMetrics,
} from "../scheduler/metrics.ts";

/** What the scheduler's shell measures itself, for `/metrics`. */
export interface ProcessGauges {
  /** The scheduler's event-loop lag: the largest of the recent samples, in seconds. */
  eventLoopLagSeconds: number;
  /** Resident set size of the scheduler's process, in bytes. */
  residentBytes: number;
}

/** A label value escaped as the format requires (backslash, quote, newline). */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(
    /\n/g,
    "\\n",
  );
}

/** A number as the format writes it. */
function num(x: number): string {
  if (x === Infinity) return "+Inf";
  if (x === -Infinity) return "-Inf";
  return Number.isNaN(x) ? "NaN" : String(x);
}

/**
 * Renders the metrics of a scheduler described by `info`, with its
 * counters `metrics` and its shell's `gauges`.
 *
 * @example One worker, no tasks yet
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchedulerState } from "../scheduler/state.ts";
 * import { describeScheduler } from "../scheduler/info.ts";
 * import { renderMetrics } from "./prometheus.ts";
 * const s = new SchedulerState();
 * s.handle({ type: "worker-joined", id: "w1", slots: 2, address: "inproc://w1" });
 * const text = renderMetrics(describeScheduler(s, s.metrics), s.metrics, {
 *   eventLoopLagSeconds: 0.001,
 *   residentBytes: 1000,
 * });
 * assert.match(text, /^tendril_workers 1$/m);
 * assert.match(text, /^tendril_tasks\{state="memory"\} 0$/m);
 * assert.match(text, /^tendril_worker_memory_bytes\{worker="w1"\} 0$/m);
 * ```
 */
export function renderMetrics(
  info: SchedulerInfo,
  metrics: SchedulerMetrics,
  gauges: ProcessGauges,
): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  family("tendril_workers", "gauge", "Workers connected to the scheduler.");
  out.push(`tendril_workers ${info.workers.length}`);
  family("tendril_worker_slots", "gauge", "Slots of each worker.");
  for (const w of info.workers) {
    out.push(`tendril_worker_slots{worker="${label(w.id)}"} ${w.slots}`);
  }
  family(
    "tendril_worker_executing",
    "gauge",
    "Tasks holding a slot on each worker.",
  );
  for (const w of info.workers) {
    out.push(
      `tendril_worker_executing{worker="${label(w.id)}"} ${w.executing}`,
    );
  }
  family(
    "tendril_worker_memory_bytes",
    "gauge",
    "Encoded bytes of the task results each worker holds (managed memory).",
  );
  for (const w of info.workers) {
    out.push(
      `tendril_worker_memory_bytes{worker="${label(w.id)}"} ${w.heldBytes}`,
    );
  }
  const usage = (
    name: string,
    help: string,
    value: (w: SchedulerInfo["workers"][number]) => number | undefined,
  ) => {
    family(name, "gauge", help);
    for (const w of info.workers) {
      const v = value(w);
      if (v !== undefined) out.push(`${name}{worker="${label(w.id)}"} ${v}`);
    }
  };
  usage(
    "tendril_worker_rss_bytes",
    "Resident bytes of each worker's process (in-process workers share one).",
    (w) => w.rss,
  );
  usage(
    "tendril_worker_heap_bytes",
    "Heap bytes of each worker's isolate.",
    (w) => w.heap,
  );
  usage(
    "tendril_worker_cpu_ratio",
    "Cores each worker's process used over its last report (1 = one core).",
    (w) => w.cpu,
  );
  family("tendril_clients", "gauge", "Clients connected to the scheduler.");
  out.push(`tendril_clients ${info.clients}`);
  family("tendril_tasks", "gauge", "Tasks in the scheduler's graph by state.");
  for (const [state, n] of Object.entries(info.tasks)) {
    out.push(`tendril_tasks{state="${state}"} ${n}`);
  }
  family(
    "tendril_tasks_completed_total",
    "counter",
    "Task runs that returned a value.",
  );
  out.push(`tendril_tasks_completed_total ${metrics.finished}`);
  family("tendril_tasks_erred_total", "counter", "Task runs that threw.");
  out.push(`tendril_tasks_erred_total ${metrics.erred}`);
  family(
    "tendril_task_duration_seconds",
    "histogram",
    "Time task runs spent in their function, by function name.",
  );
  const byName = new Map<
    string,
    { buckets: number[]; sum: number; n: number }
  >();
  for (const f of metrics.byFunction.values()) {
    const h = byName.get(f.name) ??
      { buckets: new Array(f.buckets.length).fill(0), sum: 0, n: 0 };
    f.buckets.forEach((c, i) => h.buckets[i] += c);
    h.sum += f.seconds;
    h.n += f.timed;
    byName.set(f.name, h);
  }
  for (const [name, h] of byName) {
    const fn = `function="${label(name)}"`;
    let cumulative = 0;
    h.buckets.forEach((c, i) => {
      cumulative += c;
      const le = i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i] : Infinity;
      out.push(
        `tendril_task_duration_seconds_bucket{${fn},le="${
          num(le)
        }"} ${cumulative}`,
      );
    });
    out.push(`tendril_task_duration_seconds_sum{${fn}} ${num(h.sum)}`);
    out.push(`tendril_task_duration_seconds_count{${fn}} ${h.n}`);
  }
  family(
    "tendril_event_loop_lag_seconds",
    "gauge",
    "Largest recent delay of the scheduler's event loop.",
  );
  out.push(`tendril_event_loop_lag_seconds ${num(gauges.eventLoopLagSeconds)}`);
  family(
    "tendril_scheduler_resident_bytes",
    "gauge",
    "Resident set size of the scheduler's process.",
  );
  out.push(`tendril_scheduler_resident_bytes ${gauges.residentBytes}`);
  return out.join("\n") + "\n";
}
