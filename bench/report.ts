/**
 * The report: Tendril's numbers beside Dask's, the speedup (Dask time /
 * Tendril time), the targets and the machine's floors (`bench/FLOORS.md`),
 * as a terminal table or as Markdown.
 *
 * @module
 */

import type { DaskResult } from "./dask.ts";
import type { CaseResult } from "./harness.ts";
import { fmt, sig } from "./stats.ts";

/** Everything one run produced (also what `--save` writes). */
export interface RunReport {
  meta: {
    date: string;
    deno: string;
    cpus: number;
    quick: boolean;
    reps?: number;
    dask?: string;
    /** 1-minute load average at the start and at the end. */
    load?: number[];
  };
  tendril: CaseResult[];
  dask?: DaskResult[];
  daskSkipped?: string;
}

interface Target {
  test: (r: CaseResult) => number | undefined;
  ok: (x: number) => boolean;
  text: string;
}

const extra = (name: string) => (r: CaseResult) => r.extra?.[name]?.median;
const med = (r: CaseResult) => r.median;

/** The issue's targets (part 4), by case id pattern. */
const targets: [RegExp, Target][] = [
  [/^map\.inproc\./, {
    test: extra("tasksPerS"),
    ok: (x) => x >= 100_000,
    text: "≥ 100k tasks/s",
  }],
  [/^map\.tcp\./, {
    test: extra("tasksPerS"),
    ok: (x) => x >= 50_000,
    text: "≥ 50k tasks/s",
  }],
  [/^fib\.[a-z_]+\.20$/, { test: med, ok: (x) => x < 500, text: "< 0.5 s" }],
  [/^fib\.[a-z_]+\.25$/, { test: med, ok: (x) => x < 15_000, text: "< 15 s" }],
  [/^latency\.task$/, { test: med, ok: (x) => x < 250, text: "< 250 µs" }],
  [/^startup\.inproc$/, { test: med, ok: (x) => x < 60, text: "< 60 ms" }],
  [/^memory\.held\.scheduler$/, {
    test: med,
    ok: (x) => x <= 1024,
    text: "≤ 1 KB/task",
  }],
  [/^memory\.released$/, {
    test: med,
    ok: (x) => x < 1,
    text: "no growth (< 1 B/task)",
  }],
];

/** Physical floors measured on the benchmark machine (bench/FLOORS.md), by case id pattern. */
const floors: [RegExp, string][] = [
  [/^map\.inproc\./, "postMessage 334k msg/s, 3.6M/s batched; codec 1.58M/s"],
  [/^map\.tcp\./, "TCP 211k frames/s, 3.0M/s batched"],
  [/^latency\.client$/, "postMessage RTT 52 µs (13 µs busy)"],
  [/^latency\.task/, "2 postMessage RTTs ≈ 104 µs (26 µs busy)"],
  [/^startup\.inproc$/, "Web Worker spawn 11 ms"],
  [/^startup\.processes$/, "`deno run` 10–16 ms + TCP connect 0.14 ms"],
];

/** Readable names of side metrics. */
const labels: Record<string, string> = {
  tasksPerS: "throughput",
  peakRss: "peak RSS",
  submitPerS: "submit rate",
  residual: "left after cancel",
  growth: "heap growth",
  leftInScheduler: "left in scheduler",
};

function targetOf(r: CaseResult): { text: string; met?: boolean } | undefined {
  const t = targets.find(([re]) => re.test(r.case))?.[1];
  if (!t) return undefined;
  const x = r.skipped || r.error ? undefined : t.test(r);
  return { text: t.text, met: x === undefined ? undefined : t.ok(x) };
}

/** "12.3 ms (11.9–15.0)", or why there is no number. */
function tendrilCell(r: CaseResult): string {
  if (r.skipped) return `skipped: ${r.skipped}`;
  if (r.error) return `error: ${r.error.split("\n")[0]}`;
  const u = r.unit!;
  return `${fmt(r.median, u)} (${fmt(r.min, u)} – ${fmt(r.max, u)})`;
}

/** Side metrics: throughput, peak RSS, p99, residuals. */
function extraCell(r: CaseResult): string {
  if (!r.extra) return "";
  return Object.entries(r.extra).map(([name, s]) =>
    `${labels[name] ?? name} ${fmt(s.median, s.unit)}`
  ).join(", ");
}

function daskCell(d: DaskResult | undefined, unit: string | undefined) {
  if (!d) return "–";
  if (d.value !== undefined) return fmt(d.value, unit ?? "ms");
  if (d.capped) return `> ${d.capped} s (cap)`;
  return d.note ?? "–";
}

/** Dask time / Tendril time, "> x" when Dask hit the cap. */
export function speedup(
  r: CaseResult,
  d: DaskResult | undefined,
): string {
  if (!d || r.median === undefined || r.median <= 0) return "–";
  if (r.case.startsWith("deadlock.") && d.value === undefined) {
    return "∞ (Dask deadlocks)";
  }
  if (d.value !== undefined) return `${sig(d.value / r.median)}×`;
  if (d.capped && r.unit === "ms") {
    return `> ${sig((d.capped * 1000) / r.median)}×`;
  }
  return "–";
}

function rows(report: RunReport) {
  const dask = new Map((report.dask ?? []).map((d) => [d.case, d]));
  return report.tendril.map((r) => {
    const d = dask.get(r.case);
    const target = targetOf(r);
    const mark = target?.met === undefined
      ? "not measured"
      : target.met
      ? "met"
      : "MISSED";
    return {
      id: r.case,
      title: r.title,
      tendril: tendrilCell(r),
      extra: extraCell(r),
      dask: report.dask ? daskCell(d, r.unit) : "",
      speedup: report.dask ? speedup(r, d) : "",
      target: target ? `${target.text}${mark ? `: ${mark}` : ""}` : "",
      floor: floors.find(([re]) => re.test(r.case))?.[1] ?? "",
    };
  });
}

/** The terminal table (for stderr). */
export function textTable(report: RunReport): string {
  const cols = ["id", "tendril", "dask", "speedup", "target", "extra"] as const;
  const heads = {
    id: "case",
    tendril: "Tendril median (min – max)",
    dask: "Dask",
    speedup: "Dask/Tendril",
    target: "target",
    extra: "side metrics (median)",
  };
  const all = rows(report);
  const shown = cols.filter((c) =>
    report.dask || (c !== "dask" && c !== "speedup")
  );
  const width = (c: typeof cols[number]) =>
    Math.max(heads[c].length, ...all.map((r) => r[c].length));
  const line = (cells: Record<string, string>) =>
    shown.map((c) => cells[c].padEnd(width(c))).join("  ").trimEnd();
  const out = [line(heads), shown.map((c) => "-".repeat(width(c))).join("  ")];
  for (const r of all) out.push(line(r));
  if (report.daskSkipped) out.push("", report.daskSkipped);
  return out.join("\n");
}

/** The Markdown table for bench/README.md. */
export function markdown(report: RunReport): string {
  const m = report.meta;
  const esc = (s: string) => s.replaceAll("|", "\\|");
  const out = [
    `Run of ${m.date.slice(0, 10)} on ${m.cpus} CPUs, Deno ${m.deno}` +
    (m.dask ? `, Dask ${m.dask}` : "") +
    (m.quick ? " (--quick sizes)" : "") +
    (m.load ? `, load average ${m.load.join(" → ")}` : "") +
    `. Median of ${m.reps ?? "5 (3 for fib(25) and memory)"} runs after a ` +
    "warm-up, (min – max); Dask: one run per case unless `--dask-reps`.",
    "",
    "| case | Tendril | Dask | Dask/Tendril | target | floor (FLOORS.md) | side metrics (median) |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const r of rows(report)) {
    out.push(
      `| \`${r.id}\` | ${esc(r.tendril)} | ${esc(r.dask || "–")} | ${
        r.speedup || "–"
      } | ${esc(r.target || "–")} | ${esc(r.floor || "–")} | ${
        esc(r.extra || "–")
      } |`,
    );
  }
  if (report.daskSkipped) out.push("", report.daskSkipped);
  return out.join("\n");
}

const START = "<!-- results:start -->";
const END = "<!-- results:end -->";

/** `readme` with the text between the results markers replaced by `table`. */
export function spliceReadme(readme: string, table: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`no ${START} ... ${END} in the README`);
  return `${readme.slice(0, a + START.length)}\n${table}\n${readme.slice(b)}`;
}
