/**
 * Worker resources (`GPU=2`, `MEM=8e9`): abstract amounts a worker offers
 * and a task needs while it is assigned there (queued or running on the
 * worker, seceded included). A task with resources goes only to a worker
 * with that much free, and holds it until its run ends; a task no worker
 * offers enough of is refused at submit, naming the resource.
 *
 * @module
 */

import type { TaskRecord, WorkerRecord } from "./records.ts";

/** Amounts by resource name. */
export type Resources = Readonly<Record<string, number>>;

/**
 * Why `resources` cannot be a task's or a worker's resources: an amount
 * that is not a positive finite number. Undefined when they can.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resourcesProblem } from "./resources.ts";
 * assert.equal(resourcesProblem({ GPU: 1, MEM: 8e9 }), undefined);
 * assert.match(resourcesProblem({ GPU: 0 })!, /GPU must be a positive number, got 0/);
 * ```
 */
export function resourcesProblem(resources: Resources): string | undefined {
  for (const [name, amount] of Object.entries(resources)) {
    if (!(amount > 0) || !Number.isFinite(amount)) {
      return `resource ${name} must be a positive number, got ${amount}`;
    }
  }
  return undefined;
}

/** True when `w` has free at least what `ts` needs of every resource. */
export function fitsResources(ts: TaskRecord, w: WorkerRecord): boolean {
  const need = ts.resources;
  if (!need) return true;
  const has = w.resources;
  if (!has) return false;
  for (const name in need) {
    if ((has[name] ?? 0) - (w.resourcesUsed.get(name) ?? 0) < need[name]) {
      return false;
    }
  }
  return true;
}

/** `w` takes (`sign` 1) or gives back (`sign` -1) the resources `need`. */
export function holdResources(
  w: WorkerRecord,
  need: Resources | null,
  sign: 1 | -1,
): void {
  if (!need) return;
  for (const name in need) {
    const used = (w.resourcesUsed.get(name) ?? 0) + sign * need[name];
    if (used > 0) w.resourcesUsed.set(name, used);
    else w.resourcesUsed.delete(name);
  }
}

/**
 * The first resource of `need` that no worker in `workers` offers that much
 * of, with the most any offers; undefined when some worker could run it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unsatisfiable } from "./resources.ts";
 * import { WorkerRecord } from "./records.ts";
 * const gpu = new WorkerRecord("w1", 1, "inproc://w1", { GPU: 1 });
 * assert.deepEqual(unsatisfiable({ GPU: 2 }, [gpu]), { name: "GPU", most: 1 });
 * assert.equal(unsatisfiable({ GPU: 1 }, [gpu]), undefined);
 * ```
 */
export function unsatisfiable(
  need: Resources,
  workers: Iterable<WorkerRecord>,
): { name: string; most: number } | undefined {
  let worst: { name: string; most: number } | undefined;
  for (const w of workers) {
    let short: { name: string; most: number } | undefined;
    for (const name in need) {
      const has = w.resources?.[name] ?? 0;
      if (has < need[name]) {
        short = { name, most: has };
        break;
      }
    }
    if (!short) return undefined;
    if (!worst) worst = short;
    else if (short.name === worst.name) {
      worst.most = Math.max(worst.most, short.most);
    }
  }
  return worst;
}

/**
 * Parses `GPU=2,MEM=8e9` (a worker's `--resources`).
 *
 * @throws {RangeError} naming the bad entry.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseResources } from "./resources.ts";
 * assert.deepEqual(parseResources("GPU=2,MEM=8e9"), { GPU: 2, MEM: 8e9 });
 * assert.throws(() => parseResources("GPU"), /NAME=AMOUNT/);
 * assert.throws(() => parseResources("GPU=-1"), /GPU must be a positive number/);
 * ```
 */
export function parseResources(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of text.split(",")) {
    const m = /^\s*([^=\s]+)\s*=\s*(\S+)\s*$/.exec(entry);
    if (!m) {
      throw new RangeError(
        `resources must be NAME=AMOUNT[,NAME=AMOUNT...], got ${
          JSON.stringify(entry)
        }`,
      );
    }
    out[m[1]] = Number(m[2]);
  }
  const problem = resourcesProblem(out);
  if (problem) throw new RangeError(problem);
  return out;
}
