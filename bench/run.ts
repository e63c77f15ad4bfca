/**
 * The benchmark suite: runs each case in a fresh child process
 * (`bench/run_case.ts`: warm-up, then N measured runs), optionally the Dask
 * side, and reports. A table goes to stderr, one JSON line per case to
 * stdout (or the Markdown table with `--markdown`).
 *
 *     deno task bench [--only map,fib.secede] [--reps N] [--quick] [--dask]
 *                     [--case-timeout-seconds 900]
 *                     [--dask-cap-seconds 60] [--dask-fib-max 16] [--dask-reps 1]
 *                     [--python PATH] [--dask-script PATH]
 *                     [--save | --out FILE] [--markdown] [--update-readme]
 *                     [--from FILE] [--list]
 *
 * @module
 */

import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { allCases, select } from "./cases.ts";
import { killCurrentCase, runCaseProcess } from "./child.ts";
import { killActive, runDask } from "./dask.ts";
import type { CaseResult } from "./harness.ts";
import {
  markdown,
  type RunReport,
  speedup,
  spliceReadme,
  textTable,
} from "./report.ts";
import { fmt } from "./stats.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    reps: { type: "string" },
    quick: { type: "boolean", default: false },
    dask: { type: "boolean", default: false },
    "dask-cap-seconds": { type: "string", default: "60" },
    "case-timeout-seconds": { type: "string", default: "900" },
    "dask-fib-max": { type: "string", default: "16" },
    "dask-reps": { type: "string", default: "1" },
    python: { type: "string" },
    "dask-script": { type: "string" },
    save: { type: "boolean", default: false },
    out: { type: "string" },
    markdown: { type: "boolean", default: false },
    "update-readme": { type: "boolean", default: false },
    from: { type: "string" },
    list: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

const log = (s: string) => console.error(s);
const emit = (obj: unknown) => {
  if (!flags.markdown) console.log(JSON.stringify(obj));
};
const quick = flags.quick!;
const cases = select(allCases(quick), flags.only?.split(",").filter(Boolean));

/** "12 ms (10 ms – 15 ms)", or why there is no number. */
function brief(r: CaseResult): string {
  if (r.skipped) return `skipped: ${r.skipped}`;
  if (r.error) return `error: ${r.error.split("\n")[0]}`;
  const u = r.unit!;
  return `${fmt(r.median, u)} (${fmt(r.min, u)} – ${fmt(r.max, u)})`;
}

async function main(): Promise<number> {
  if (flags.help) {
    const doc = (await Deno.readTextFile(new URL(import.meta.url)))
      .split("*/")[0];
    log(doc.replace(/^\/\*\*|^ \* ?/gm, "").replace("@module", "").trim());
    return 0;
  }
  if (flags.from) {
    const report = JSON.parse(await Deno.readTextFile(flags.from)) as RunReport;
    if (flags.markdown) console.log(markdown(report));
    else log(textTable(report));
    if (flags["update-readme"]) await updateReadme(report);
    return 0;
  }
  if (flags.list || cases.length === 0) {
    if (cases.length === 0) log(`no case matches --only ${flags.only}`);
    for (const c of allCases(quick)) log(`${c.id.padEnd(26)} ${c.title}`);
    return cases.length === 0 ? 1 : 0;
  }
  const report: RunReport = {
    meta: {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      cpus: navigator.hardwareConcurrency,
      quick,
      reps: flags.reps ? Number(flags.reps) : undefined,
      load: [loadAverage()],
    },
    tendril: [],
  };
  log(`Tendril: ${cases.length} case(s), each in a fresh process`);
  for (const def of cases) {
    const t = performance.now();
    const r = await runCaseProcess(def.id, {
      reps: flags.reps,
      quick,
      timeoutMs: Number(flags["case-timeout-seconds"]) * 1000,
    });
    report.tendril.push(r);
    emit({ side: "tendril", ...r });
    const took = ((performance.now() - t) / 1000).toFixed(1);
    log(`  ${def.id.padEnd(26)} ${brief(r)}  [${took} s]`);
    if (r.warning) log(`  warning: ${def.id} ${r.warning}`);
  }
  if (flags.dask) await daskSide(report);
  report.meta.load!.push(loadAverage());
  log("");
  log(textTable(report));
  if (flags.markdown) console.log(markdown(report));
  if (flags["update-readme"]) await updateReadme(report);
  const out = flags.out ??
    (flags.save
      ? decodeURIComponent(
        new URL("results/latest.json", import.meta.url).pathname,
      )
      : undefined);
  if (out) {
    await Deno.mkdir(dirname(out), { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(report, null, 1) + "\n");
    log(`wrote ${out}`);
  }
  return report.tendril.some((r) => r.error) ? 1 : 0;
}

/** Puts the results table into bench/README.md between its markers. */
async function updateReadme(report: RunReport): Promise<void> {
  const file = new URL("README.md", import.meta.url);
  const text = await Deno.readTextFile(file);
  await Deno.writeTextFile(file, spliceReadme(text, markdown(report)));
  // Keep `deno fmt --check` clean: let it align the table.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", decodeURIComponent(file.pathname)],
  }).output();
  log("updated bench/README.md");
}

/** The 1-minute load average (other work on the machine skews numbers). */
function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/** Runs the Dask counterparts of the selected cases into `report`. */
async function daskSide(report: RunReport): Promise<void> {
  log("Dask: one Python process per case, capped");
  const byId = new Map(report.tendril.map((r) => [r.case, r]));
  const dask = await runDask(cases.map((c) => c.id), {
    python: flags.python,
    script: flags["dask-script"],
    capSeconds: Number(flags["dask-cap-seconds"]),
    fibMax: Number(flags["dask-fib-max"]),
    reps: Number(flags["dask-reps"]),
  }, (d) => {
    const r = byId.get(d.case)!;
    const ratio = speedup(r, d);
    emit({ side: "dask", ...d, speedup: ratio });
    const v = d.value !== undefined
      ? fmt(d.value, r.unit ?? "ms")
      : d.capped
      ? `> ${d.capped} s (cap)`
      : d.note;
    log(`  ${d.case.padEnd(26)} ${v}  Dask/Tendril ${ratio}`);
  });
  if ("skipped" in dask) {
    report.daskSkipped = dask.skipped;
    log(dask.skipped);
  } else {
    report.dask = dask.results;
    report.meta.dask = dask.version;
  }
}

const onInterrupt = () => {
  killCurrentCase();
  killActive();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", onInterrupt);
Deno.addSignalListener("SIGTERM", onInterrupt);
let code = 1;
try {
  code = await main();
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt);
  Deno.removeSignalListener("SIGTERM", onInterrupt);
}
Deno.exitCode = code;
