/**
 * Which Python runs answer which Tendril cases: each job names a script
 * (`bench/bench_dask.py` or `bench/dask_extra.py`), its arguments and
 * environment, and how to read each expected JSON line as a value in the
 * Tendril case's unit (ms, or µs for latencies).
 *
 * @module
 */

/** One JSON line printed by the Python scripts. */
export type Line = Record<string, unknown>;

/** One Python run and the Tendril cases it answers. */
export interface Job {
  script: "bench_dask.py" | "dask_extra.py";
  args: string[];
  env?: Record<string, string>;
  expect: {
    case: string;
    match: (l: Line) => boolean;
    value: (l: Line) => number | string;
  }[];
}

const ms = (l: Line) => Number(l.seconds) * 1000;

/** The Python runs that answer the Tendril cases `ids`. */
export function jobsFor(ids: string[], fibMax: number): Job[] {
  const jobs: Job[] = [];
  const has = (re: RegExp) => ids.filter((id) => re.test(id));
  const mapIds = has(/^map\./);
  const sizeOf = (id: string) => Number(id.split(".")[2].replace("k", "000"));
  const mapExpect = (id: string) => ({
    case: id,
    match: (l: Line) => l.case === "map" && l.tasks === sizeOf(id),
    value: ms,
  });
  const small = mapIds.filter((id) => [1000, 10000].includes(sizeOf(id)));
  if (small.length) {
    jobs.push({
      script: "bench_dask.py",
      args: ["map"],
      expect: small.map(mapExpect),
    });
  }
  const big = [...new Set(mapIds.map(sizeOf))].filter((n) => n > 10000);
  for (const n of big) {
    jobs.push({
      script: "dask_extra.py",
      args: ["map"],
      env: { MAP_NS: String(n) },
      expect: mapIds.filter((id) => sizeOf(id) === n).map(mapExpect),
    });
  }
  for (const id of has(/^fib\./)) {
    const [, variant, nText] = id.split(".");
    const n = Number(nText);
    if (n > fibMax) continue;
    const pyCase = `fib_${variant}`;
    jobs.push({
      script: variant === "delayed" ? "dask_extra.py" : "bench_dask.py",
      args: [pyCase],
      env: { FIB_NS: String(n) },
      expect: [{
        case: id,
        match: (l) => l.case === pyCase && l.n === n,
        value: ms,
      }],
    });
  }
  const connect = has(/^latency\.(task|worker_client)$/);
  if (connect.length) {
    jobs.push({
      script: "bench_dask.py",
      args: ["connect"],
      expect: connect.map((id) => ({
        case: id,
        match: (l) => l.case === "connect",
        value: (l) =>
          1000 * Number(
            id === "latency.task"
              ? l.submit_result_inside_task_ms_median
              : l.worker_client_enter_ms_median,
          ),
      })),
    });
  }
  if (ids.includes("latency.client")) {
    jobs.push({
      script: "dask_extra.py",
      args: ["latency"],
      env: { LAT_K: "200" },
      expect: [{
        case: "latency.client",
        match: (l) => l.case === "latency",
        value: (l) => Number(l.us_median),
      }],
    });
  }
  const actorIds = has(/^actor\./);
  if (actorIds.length) {
    // One run answers them all, with as many calls as the totals' ids say.
    const total = actorIds.find((id) => id.startsWith("actor.calls."));
    const k = total?.endsWith(".200") ? "200" : "1000";
    jobs.push({
      script: "dask_extra.py",
      args: ["actor"],
      env: { ACTOR_K: k },
      expect: actorIds.map((id) => {
        const [, what, mode] = id.split(".");
        const pyCase = what === "calls" ? `actor_${mode}` : `actor_${what}`;
        return {
          case: id,
          match: (l: Line) => l.case === pyCase,
          value: what === "calls" ? ms : (l: Line) => Number(l.us_median),
        };
      }),
    });
  }
  for (
    const [id, processes] of [["startup.inproc", "0"], [
      "startup.processes",
      "1",
    ]]
  ) {
    if (!ids.includes(id)) continue;
    jobs.push({
      script: "dask_extra.py",
      args: ["startup_first"],
      env: { PROCESSES: processes },
      expect: [{
        case: id,
        match: (l) => l.case === "startup_first",
        value: ms,
      }],
    });
  }
  const balance = has(/^balance\./);
  if (balance.length) {
    jobs.push({
      script: "dask_extra.py",
      args: ["balance"],
      expect: balance.map((id) => ({
        case: id,
        match: (l) => l.case === "balance" && l.kind === id.split(".")[1],
        value: ms,
      })),
    });
  }
  if (ids.includes("deadlock.fib8")) {
    jobs.push({
      script: "bench_dask.py",
      args: ["deadlock"],
      expect: [{
        case: "deadlock.fib8",
        match: (l) => l.case === "deadlock",
        value: (l) => (l.deadlocked ? `deadlocked (${l.error})` : 0),
      }],
    });
  }
  return jobs;
}
