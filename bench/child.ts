/**
 * Runs one case in a child process (`bench/run_case.ts`) and reads its
 * result line. A child that does not exit soon after its result is killed
 * and the result carries a warning: a leaked timer, port or worker.
 *
 * @module
 */

import type { CaseResult } from "./harness.ts";
import { RESULT_PREFIX } from "./run_case.ts";

const script = decodeURIComponent(
  new URL("run_case.ts", import.meta.url).pathname,
);
let current: Deno.ChildProcess | undefined;

/** Kills the running case process, if any (on Ctrl-C). */
export function killCurrentCase(): void {
  try {
    current?.kill("SIGTERM");
  } catch { /* already gone */ }
}

/** Runs case `id` in a fresh `deno run` with `--expose-gc`. */
export async function runCaseProcess(
  id: string,
  options: {
    reps?: string;
    quick: boolean;
    /** Kill the case after this long (default 15 minutes). */
    timeoutMs?: number;
    exitGraceMs?: number;
  },
): Promise<CaseResult> {
  const args = ["run", "-A", "--v8-flags=--expose-gc", script, id];
  if (options.reps) args.push("--reps", options.reps);
  if (options.quick) args.push("--quick");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  current = child;
  let timedOut = false;
  let killer: ReturnType<typeof setTimeout> | undefined;
  const deadline = setTimeout(() => {
    timedOut = true;
    killCurrentCase(); // SIGTERM: it stops its cluster processes
    killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 5_000);
  }, options.timeoutMs ?? 15 * 60_000);
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    let result: CaseResult | undefined;
    while (!result) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      const line = text.split("\n").slice(0, -1).find((l) =>
        l.startsWith(RESULT_PREFIX)
      );
      if (line) result = JSON.parse(line.slice(RESULT_PREFIX.length));
    }
    const drain = async () => {
      while (!(await reader.read()).done) { /* discard */ }
    };
    drain().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), options.exitGraceMs ?? 15_000);
      }),
    ]);
    clearTimeout(timer);
    result ??= {
      case: id,
      title: "?",
      error: timedOut ? "timed out" : "exited without a result",
    };
    if (!exited) {
      child.kill("SIGKILL");
      result.warning = "did not exit within 15 s of its result (leak?)";
    }
    return result;
  } finally {
    await child.status;
    clearTimeout(deadline);
    clearTimeout(killer);
    current = undefined;
  }
}
