/**
 * Runs one case in this (fresh) process and prints its result as a JSON
 * line prefixed with `RESULT `. `bench/run.ts` starts one of these per case,
 * so every case gets a clean heap, RSS and set of workers.
 *
 *     deno run -A --v8-flags=--expose-gc bench/run_case.ts <case-id> [--reps N] [--quick]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { allCases } from "./cases.ts";
import { type CaseResult, measure } from "./harness.ts";
import { ProcessCluster } from "./process_cluster.ts";

/** The marker before the result line on stdout. */
export const RESULT_PREFIX = "RESULT ";

if (import.meta.main) {
  // Interrupted (Ctrl-C, or run.ts's case timeout): stop cluster processes.
  const stop = () => {
    ProcessCluster.terminateAll();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      reps: { type: "string" },
      quick: { type: "boolean", default: false },
    },
  });
  const quick = values.quick ?? false;
  const id = positionals[0];
  const def = allCases(quick).find((c) => c.id === id);
  let result: CaseResult;
  if (!def) {
    result = { case: id, title: "?", error: `no case ${id}` };
  } else {
    const reps = values.reps ? Number(values.reps) : def.reps ?? 5;
    try {
      result = await measure(def, { quick }, reps);
    } catch (e) {
      const message = e instanceof Error ? e.stack ?? e.message : String(e);
      result = { case: def.id, title: def.title, error: message };
    }
  }
  console.log(RESULT_PREFIX + JSON.stringify(result));
  // A failed case may leave timers or ports behind: do not hang on them. A
  // passing case must exit by itself (run.ts reports one that does not).
  if (result.error) Deno.exit(1);
}
