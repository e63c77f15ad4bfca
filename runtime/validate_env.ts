/**
 * The `TENDRIL_VALIDATE` switch: with `TENDRIL_VALIDATE=1` in the
 * environment, every state machine of a real cluster checks all its
 * invariants after every event (slow; for tests and debugging).
 *
 * @module
 */

/**
 * True when `TENDRIL_VALIDATE=1` (false without env permission).
 *
 * @example Reading the switch
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateFromEnv } from "./validate_env.ts";
 * assert.equal(validateFromEnv(), Deno.env.get("TENDRIL_VALIDATE") === "1");
 * ```
 */
export function validateFromEnv(): boolean {
  try {
    return Deno.env.get("TENDRIL_VALIDATE") === "1";
  } catch {
    return false; // no env permission
  }
}
