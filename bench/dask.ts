/**
 * The Dask side: runs `bench/bench_dask.py` and
 * `bench/dask_extra.py` case by case under a time cap, and reads their JSON
 * lines as Tendril cases' values (which run answers which case:
 * `dask_jobs.ts`). Each Python run gets its own session (`setsid`) so a
 * capped run is killed with all its worker processes.
 *
 * @module
 */

import { type Job, jobsFor, type Line } from "./dask_jobs.ts";
import { median, round3 } from "./stats.ts";

/** A Dask measurement for one Tendril case. */
export interface DaskResult {
  case: string;
  /** In the Tendril case's unit; absent when capped or failed. */
  value?: number;
  /** The case was killed after this many seconds. */
  capped?: number;
  /** Why there is no value (other than the cap). */
  note?: string;
  /** The Python JSON line(s) the value came from. */
  raw?: unknown[];
}

/** Where the Python files are and how long a case may run. */
export interface DaskOptions {
  /** Python interpreter; default: the first of python3, /usr/bin/python3 with `distributed`. */
  python?: string;
  /** The anchor script; default `bench/bench_dask.py`. */
  script?: string;
  capSeconds: number;
  /** Largest fib(n) to run on Dask. */
  fibMax: number;
  reps: number;
}

const here = new URL(".", import.meta.url);
const defaultScript = new URL("./bench_dask.py", here);
const ok = async (cmd: string, args: string[]) => {
  try {
    const { success } = await new Deno.Command(cmd, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
};

/** A python3 that imports `distributed` and its version, or why there is none. */
export async function findPython(
  preferred?: string,
): Promise<{ python: string; version: string } | { skipped: string }> {
  const tried = preferred ? [preferred] : ["python3", "/usr/bin/python3"];
  for (const py of tried) {
    try {
      const { success, stdout } = await new Deno.Command(py, {
        args: ["-c", "import distributed; print(distributed.__version__)"],
        stderr: "null",
      }).output();
      if (success) {
        return { python: py, version: new TextDecoder().decode(stdout).trim() };
      }
    } catch { /* not installed: try the next */ }
  }
  return {
    skipped: `Dask side skipped: no Python with \`distributed\` (tried ${
      tried.join(", ")
    }); install it with \`apt-get install -y python3-distributed\` or pass --python`,
  };
}

/** Runs one Python process under the cap; returns its JSON lines and whether it was capped. */
async function runPython(
  python: string,
  file: string,
  job: Job,
  capSeconds: number,
  cwd: string,
): Promise<{ lines: Line[]; capped: boolean; error?: string }> {
  const child = new Deno.Command("setsid", {
    args: [python, file, ...job.args],
    env: { ...job.env, PYTHONUNBUFFERED: "1" },
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killGroup = (signal: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, signal);
    } catch { /* already gone */ }
  };
  activeGroups.add(child.pid);
  let capped = false;
  const timer = setTimeout(() => {
    capped = true;
    killGroup("SIGTERM");
    setTimeout(() => killGroup("SIGKILL"), 3000);
  }, capSeconds * 1000);
  try {
    const [out, err, status] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    const lines = out.split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as Line
    );
    const error = !status.success && !capped
      ? err.trim().split("\n").slice(-3).join(" | ") || `exit ${status.code}`
      : undefined;
    return { lines, capped, error };
  } finally {
    clearTimeout(timer);
    killGroup("SIGKILL"); // leftovers of a run that exited (none expected)
    activeGroups.delete(child.pid);
  }
}

/** Process groups of running Python jobs (killed on SIGINT by run.ts). */
export const activeGroups: Set<number> = new Set();

/** Kills every running Python job with its workers. */
export function killActive(): void {
  for (const pid of activeGroups) {
    try {
      Deno.kill(-pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** Runs the Dask counterparts of the Tendril cases `ids`. */
export async function runDask(
  ids: string[],
  options: DaskOptions,
  progress: (r: DaskResult) => void = () => {},
): Promise<{ results: DaskResult[]; version: string } | { skipped: string }> {
  const found = await findPython(options.python);
  if ("skipped" in found) return found;
  if (!(await ok("setsid", ["true"]))) {
    return { skipped: "Dask side skipped: needs `setsid` (util-linux)" };
  }
  const anchor = options.script ?? decodeURIComponent(defaultScript.pathname);
  try {
    Deno.statSync(anchor);
  } catch {
    return {
      skipped: `Dask side skipped: ${anchor} not found (pass --dask-script)`,
    };
  }
  const files = {
    "bench_dask.py": anchor,
    "dask_extra.py": decodeURIComponent(
      new URL("dask_extra.py", here).pathname,
    ),
  };
  const cwd = await Deno.makeTempDir({ prefix: "tendril-bench-dask-" });
  const results: DaskResult[] = [];
  try {
    for (const job of jobsFor(ids, options.fibMax)) {
      const values = new Map<string, (number | string)[]>();
      const raw = new Map<string, unknown[]>();
      let capped = false;
      let error: string | undefined;
      for (let rep = 0; rep < options.reps && !capped; rep++) {
        const run = await runPython(
          found.python,
          files[job.script],
          job,
          options.capSeconds,
          cwd,
        );
        capped ||= run.capped;
        error ??= run.error;
        for (const e of job.expect) {
          const line = run.lines.find(e.match);
          if (!line) continue;
          values.set(e.case, [...(values.get(e.case) ?? []), e.value(line)]);
          raw.set(e.case, [...(raw.get(e.case) ?? []), line]);
        }
      }
      for (const e of job.expect) {
        const got = values.get(e.case) ?? [];
        const r: DaskResult = { case: e.case, raw: raw.get(e.case) };
        const nums = got.filter((v) => typeof v === "number") as number[];
        if (nums.length) r.value = round3(median(nums));
        else if (got.length) r.note = String(got[0]);
        else if (capped) r.capped = options.capSeconds;
        else r.note = error ?? "no output";
        results.push(r);
        progress(r);
      }
    }
  } finally {
    await Deno.remove(cwd, { recursive: true }).catch(() => {});
  }
  return { results, version: found.version };
}
