/**
 * The last lines tasks printed on each worker, kept by the scheduler for
 * `client.getWorkerLogs()`.
 *
 * @module
 */

import type { OutputLine } from "../protocol.ts";

/** Lines kept per worker by {@linkcode RecentOutput}. */
export const RECENT_LINES = 500;

/**
 * The last lines tasks printed on each worker, as `[key] text`.
 *
 * @example The oldest lines go first
 * ```ts
 * import assert from "node:assert/strict";
 * import { RECENT_LINES, RecentOutput } from "./recent_output.ts";
 * const out = new RecentOutput();
 * for (let i = 0; i <= RECENT_LINES; i++) {
 *   out.keep("w1", { key: "k", stream: "out", text: `${i}` });
 * }
 * const lines = out.recent.get("w1")!;
 * assert.equal(lines.length, RECENT_LINES);
 * assert.equal(lines[0], "[k] 1");
 * ```
 */
export class RecentOutput {
  /** Lines by worker id, oldest first. */
  readonly recent: Map<string, string[]> = new Map();

  /** Keeps `line`, printed on worker `worker`. */
  keep(worker: string, line: OutputLine): void {
    let lines = this.recent.get(worker);
    if (!lines) this.recent.set(worker, lines = []);
    if (lines.length >= RECENT_LINES) lines.shift();
    lines.push(`[${line.key}] ${line.text}`);
  }
}
