/**
 * Fire-and-forget (Dask's `fire_and_forget`): a client asks that keys run
 * to the end even if it lets go of them or leaves. The scheduler holds each
 * such key itself, under a name of its own (see `TaskGraph.hold`), until
 * the key is in memory, erred or cancelled; then it lets go, and the key is
 * released as usual once nobody else wants it.
 *
 * @module
 */

import type { TaskStatus } from "./records.ts";
import { SCHEDULER_HOLDER } from "./transitions.ts";

const PREFIX = "fire-and-forget\u0000";

/**
 * The name under which the scheduler holds `key` for fire-and-forget.
 *
 * @example One name per key, told apart from other holds
 * ```ts
 * import assert from "node:assert/strict";
 * import { forgetHolder, isForgetHolder } from "./fire_and_forget.ts";
 * import { SCHEDULER_HOLDER } from "./transitions.ts";
 * const owner = `${SCHEDULER_HOLDER}\u0000${forgetHolder("inc-1")}`;
 * assert.equal(isForgetHolder(owner), "inc-1");
 * assert.equal(isForgetHolder(`${SCHEDULER_HOLDER}\u0000dataset\u0000xs`), undefined);
 * ```
 */
export function forgetHolder(key: string): string {
  return PREFIX + key;
}

/**
 * The key a scheduler owner id holds for fire-and-forget, if it is such a
 * hold (see {@linkcode forgetHolder} for an example).
 */
export function isForgetHolder(ownerId: string): string | undefined {
  const head = `${SCHEDULER_HOLDER}\u0000${PREFIX}`;
  return ownerId.startsWith(head) ? ownerId.slice(head.length) : undefined;
}

/**
 * Whether a key in `status` still needs a fire-and-forget hold: one already
 * in memory or erred has run to its end.
 *
 * @example Only keys still on their way are held
 * ```ts
 * import assert from "node:assert/strict";
 * import { runsOn } from "./fire_and_forget.ts";
 * assert.ok(runsOn("processing") && runsOn("released"));
 * assert.ok(!runsOn("memory") && !runsOn("erred"));
 * ```
 */
export function runsOn(status: TaskStatus): boolean {
  return status !== "memory" && status !== "erred" && status !== "forgotten";
}
