/**
 * How a process this package starts (a worker, a scheduler) finds the same
 * configuration as its parent: `deno run` of one of our scripts needs this
 * repository's deno.json, whose import map resolves the runtime's own
 * dependencies.
 *
 * @module
 */

/**
 * `["--config", PATH]` of this repository's deno.json when running from
 * files and it is there; otherwise nothing (a copy without its deno.json:
 * Deno finds the caller's config).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configArgs } from "./config_args.ts";
 * const args = configArgs();
 * assert.ok(args.length === 0 || (args[0] === "--config" && args[1].endsWith("deno.json")));
 * ```
 */
export function configArgs(): string[] {
  if (!import.meta.url.startsWith("file:")) return [];
  const config = new URL("../deno.json", import.meta.url);
  try {
    Deno.statSync(config);
    return ["--config", config.pathname];
  } catch {
    return [];
  }
}
