/**
 * Task functions in a sibling module: they use its constants, each other, a
 * nested lib/ module and the in-task API. Nothing to register: the entry
 * script imports this module, so its exports ship by reference.
 *
 * @module
 */
import { getClient } from "../../mod.ts";
import { label } from "./lib/units.ts";

/** A constant of the module: shipping by source could not see it. */
export const SCALE = 10;

/** One step. */
export function inc(x: number): number {
  return x + 1;
}

/** Uses a constant and a sibling function. */
export function scaled(x: number): number {
  return inc(x) * SCALE;
}

/** Uses a nested module. */
export function describe(x: number): string {
  return label(scaled(x));
}

/** Launches tasks from a task. */
export async function total(n: number): Promise<number> {
  const client = getClient();
  const parts = client.map(scaled, Array.from({ length: n }, (_, i) => i));
  return (await client.gather(parts)).reduce((a, b) => a + b, 0);
}
