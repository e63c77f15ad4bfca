/**
 * The benchmark cases, in report order. Sizes depend on `--quick`, so ids
 * do too (`map.inproc.100k` becomes `map.inproc.10k`).
 *
 * @module
 */

import type { CaseDef } from "./harness.ts";
import {
  actorClientLatency,
  actorTaskLatency,
  actorThroughput,
} from "./cases/actor.ts";
import { balanceCase } from "./cases/balance.ts";
import { deadlockCase, fibCase, type FibVariant } from "./cases/fib.ts";
import {
  clientLatency,
  taskLatency,
  workerClientLatency,
} from "./cases/latency.ts";
import { mapCase } from "./cases/map.ts";
import { heldCase, releasedCase } from "./cases/memory.ts";
import { startupCase } from "./cases/startup.ts";

/** Map sizes, labelled. */
export function mapSizes(quick: boolean): [number, string][] {
  return quick ? [[1_000, "1k"], [10_000, "10k"]] : [[10_000, "10k"], [
    100_000,
    "100k",
  ]];
}

/** fib(n) sizes. */
export function fibSizes(quick: boolean): number[] {
  return quick ? [14, 18] : [14, 18, 20, 25];
}

/** Every case, in report order. */
export function allCases(quick: boolean): CaseDef[] {
  const out: CaseDef[] = [];
  for (const where of ["inproc", "tcp"] as const) {
    for (const [n, label] of mapSizes(quick)) {
      out.push(mapCase(where, n, label));
    }
  }
  for (
    const variant of ["secede", "worker_client", "delayed"] as FibVariant[]
  ) {
    for (const n of fibSizes(quick)) out.push(fibCase(variant, n));
  }
  out.push(
    balanceCase("mixed"),
    balanceCase("skewed"),
    deadlockCase,
    clientLatency,
    taskLatency(false),
    taskLatency(true),
    workerClientLatency,
    actorClientLatency,
    actorTaskLatency,
    actorThroughput(false, quick),
    actorThroughput(true, quick),
    startupCase("inproc"),
    startupCase("tcp"),
    heldCase(true),
    heldCase(false),
    releasedCase,
  );
  return out;
}

/** Cases whose id equals or starts with one of `only` (dot-separated). */
export function select(cases: CaseDef[], only: string[] | undefined) {
  if (!only?.length) return cases;
  return cases.filter((c) =>
    only.some((p) => c.id === p || c.id.startsWith(p + "."))
  );
}
