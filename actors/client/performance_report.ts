/**
 * The HTML of `client.performanceReport()`: one self-contained file (inline
 * style and SVG, no script, no link) with the task stream of the runs that
 * ended during the measured call and statistics per function and per
 * worker, as Dask's `performance_report` gives.
 *
 * @module
 */

import type { SchedulerInfo, TaskSpan } from "../protocol.ts";

/** What a report is made of. */
export interface PerformanceData {
  /** Epoch milliseconds when the measured call started. */
  started: number;
  /** Epoch milliseconds when it ended. */
  ended: number;
  /** Runs that ended meanwhile. */
  spans: TaskSpan[];
  /** Runs that ended meanwhile but the scheduler no longer kept. */
  skipped: number;
  /** The cluster at the end. */
  info: SchedulerInfo;
}

const LANE = 12;
const GUTTER = 180;
const WIDTH = 1200;

/** `s` with HTML's special characters escaped. */
function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A colour of its own per function name. */
function colorOf(name: string): string {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360} 60% 50%)`;
}

/** Milliseconds as text. */
function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(2)} ms`;
}

/** The task stream as SVG: one lane per concurrent run on each worker. */
function taskStream(data: PerformanceData): string {
  const from = Math.min(data.started, ...data.spans.map((s) => s.start));
  const to = Math.max(data.ended, ...data.spans.map((s) => s.stop));
  const span = Math.max(1, to - from);
  const x = (t: number) => GUTTER + (t - from) / span * (WIDTH - GUTTER);
  const rows = new Map<string, number[]>(); // worker -> lane ends
  const placed: [string, number, TaskSpan][] = [];
  for (const s of [...data.spans].sort((a, b) => a.start - b.start)) {
    let lanes = rows.get(s.worker);
    if (!lanes) rows.set(s.worker, lanes = []);
    let lane = lanes.findIndex((end) => end <= s.start);
    if (lane < 0) lane = lanes.push(0) - 1;
    lanes[lane] = s.stop;
    placed.push([s.worker, lane, s]);
  }
  const top = new Map<string, number>();
  let y = 0;
  const parts: string[] = [];
  for (const worker of [...rows.keys()].sort()) {
    top.set(worker, y);
    parts.push(`<text x="2" y="${y + 10}">${esc(worker.slice(-28))}</text>`);
    y += rows.get(worker)!.length * LANE + 4;
  }
  for (const [worker, lane, s] of placed) {
    const ty = top.get(worker)! + lane * LANE;
    const fill = s.erred ? "#c0392b" : colorOf(s.name);
    parts.push(
      `<rect x="${x(s.start).toFixed(1)}" y="${ty}" width="${
        Math.max(0.5, x(s.stop) - x(s.start)).toFixed(1)
      }" height="${LANE - 2}" fill="${fill}"><title>${esc(s.key)} (${
        esc(s.name)
      }) ${ms(s.stop - s.start)}${s.erred ? ", erred" : ""}</title></rect>`,
    );
    const sec = s.seceded ?? [];
    for (let i = 0; i + 1 < sec.length; i += 2) {
      parts.push(
        `<rect class="seceded" x="${x(sec[i]).toFixed(1)}" y="${ty + 2}" ` +
          `width="${Math.max(0.5, x(sec[i + 1]) - x(sec[i])).toFixed(1)}" ` +
          `height="${LANE - 6}" fill="#fff" fill-opacity="0.7"/>`,
      );
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${
    Math.max(y, 20)
  }" font-size="10" font-family="sans-serif">${parts.join("")}</svg>`;
}

/** Rows of the per-function table. */
function byFunction(data: PerformanceData): string {
  const stats = new Map<
    string,
    { runs: number; erred: number; total: number; max: number; times: number[] }
  >();
  for (const s of data.spans) {
    let f = stats.get(s.name);
    if (!f) {
      stats.set(s.name, f = { runs: 0, erred: 0, total: 0, max: 0, times: [] });
    }
    const t = s.stop - s.start;
    f.runs++;
    if (s.erred) f.erred++;
    f.total += t;
    f.max = Math.max(f.max, t);
    f.times.push(t);
  }
  const all = [...stats.values()].reduce((a, f) => a + f.total, 0) || 1;
  return [...stats.entries()].sort((a, b) => b[1].total - a[1].total).map(
    ([name, f]) => {
      const sorted = f.times.sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      return `<tr data-function="${esc(name)}"><td><i style="background:${
        colorOf(name)
      }"></i>${
        esc(name)
      }</td><td class="runs">${f.runs}</td><td>${f.erred}</td><td>${
        ms(f.total)
      }</td><td>${ms(f.total / f.runs)}</td><td>${ms(median)}</td><td>${
        ms(f.max)
      }</td><td>${(100 * f.total / all).toFixed(1)}%</td></tr>`;
    },
  ).join("");
}

/** Rows of the per-worker table. */
function byWorker(data: PerformanceData): string {
  const duration = Math.max(1, data.ended - data.started);
  const busy = new Map<string, { runs: number; time: number }>();
  for (const s of data.spans) {
    const w = busy.get(s.worker) ?? { runs: 0, time: 0 };
    w.runs++;
    w.time += s.stop - s.start;
    busy.set(s.worker, w);
  }
  return data.info.workers.map((w) => {
    const b = busy.get(w.id) ?? { runs: 0, time: 0 };
    return `<tr><td>${esc(w.id)}</td><td>${w.slots}</td><td>${b.runs}</td><td>${
      ms(b.time)
    }</td><td>${(100 * b.time / (duration * w.slots)).toFixed(1)}%</td></tr>`;
  }).join("");
}

/**
 * The report's HTML.
 *
 * @example Two runs of one function
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderPerformanceReport } from "./performance_report.ts";
 * const span = (key: string, start: number) => ({
 *   key, name: "inc", worker: "w1", start, stop: start + 5, erred: false, seceded: null,
 * });
 * const html = renderPerformanceReport({
 *   started: 1000, ended: 1020, spans: [span("a", 1000), span("b", 1010)], skipped: 0,
 *   info: { workers: [], tasks: {}, finished: 2, erred: 0, functions: [], clients: 1, time: 1020 },
 * });
 * assert.match(html, /<td class="runs">2<\/td>/);
 * assert.equal(html.match(/<rect /g)?.length, 2);
 * assert.doesNotMatch(html, /<script|<link|src=/);
 * ```
 */
export function renderPerformanceReport(data: PerformanceData): string {
  const duration = data.ended - data.started;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tendril performance report</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
table { border-collapse: collapse; margin-bottom: 16px; }
th, td { text-align: right; padding: 2px 10px; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
td i { display: inline-block; width: 10px; height: 10px; margin-right: 6px; }
.note { color: #666; }
</style></head><body>
<h1>Tendril performance report</h1>
<p>Measured from ${new Date(data.started).toISOString()} for ${
    ms(duration)
  }: ${data.spans.length} task runs on ${data.info.workers.length} workers${
    data.skipped
      ? ` (${data.skipped} earlier runs were no longer kept by the scheduler and are not shown)`
      : ""
  }.</p>
<h2>Task stream</h2>
<p class="note">One lane per run at once on each worker; colour by function, red: erred, paler: seceded. Hover a bar for its task.</p>
${taskStream(data)}
<h2>Per function</h2>
<table><thead><tr><th>function</th><th>runs</th><th>erred</th><th>total time</th><th>mean</th><th>median</th><th>max</th><th>share</th></tr></thead>
<tbody>${byFunction(data)}</tbody></table>
<h2>Per worker</h2>
<table><thead><tr><th>worker</th><th>slots</th><th>runs</th><th>busy</th><th>busy / (slots × duration)</th></tr></thead>
<tbody>${byWorker(data)}</tbody></table>
</body></html>
`;
}
