/**
 * `progress(futures)`, like Dask's: a bar on stderr that counts the given
 * futures' tasks and the tasks those launch as they appear, with the rate
 * and an ETA. On a terminal it redraws in place; otherwise it prints one
 * line every few seconds. Drawing is `cli-progress`'s; what is counted
 * comes from the futures and from the scheduler, asked a few times a
 * second how far each future's tree of launched tasks is.
 *
 * @module
 */

// @ts-types="./cli_progress.d.ts"
import cliProgress from "cli-progress";
import process from "node:process";
import type { Client } from "./client.ts";
import type { Future } from "./future.ts";

/** Where the bar is drawn: a writable with `isTTY` (stderr by default). */
export interface ProgressStream {
  /** Writes a chunk of text. */
  write(chunk: string): unknown;
  /** Whether it is a terminal: the bar redraws in place only then. */
  isTTY?: boolean;
}

/** Options of {@linkcode progress}. */
export interface ProgressOptions {
  /**
   * Reject with the error of the first future that errs (default true).
   * With false, resolve once every future is done, erred ones included.
   */
  rejectOnError?: boolean;
  /** Milliseconds between lines when the stream is not a terminal (default 5000). */
  lineInterval?: number;
  /** Where to draw (default `process.stderr`). */
  stream?: ProgressStream;
}

/** Milliseconds between questions to the scheduler about launched tasks. */
const POLL_MS = 250;

/** Per future: its tree's launched and done counts, as last reported. */
interface Tree {
  future: Future<unknown>;
  launched: number;
  launchedDone: number;
  /** The future is done and its final counts arrived. */
  final: boolean;
}

/**
 * Shows a progress bar until every future in `futures` is done: done/total
 * (tasks launched by those futures' tasks count as they appear), rate and
 * ETA, on stderr. Resolves when all are done; rejects with the first
 * future's error unless `rejectOnError` is false.
 *
 * @example A map, its bar written to a buffer
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, progress } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * await using client = await Client.connect(cluster);
 * let text = "";
 * const stream = { write: (s: string) => (text += s), isTTY: false };
 * await progress(client.map((x: number) => x, [1, 2, 3]), { stream });
 * assert.match(text, /3\/3 tasks/);
 * ```
 */
export async function progress(
  futures: Future<unknown> | Iterable<Future<unknown>>,
  options: ProgressOptions = {},
): Promise<void> {
  const list = [...(Symbol.iterator in futures ? futures : [futures])];
  if (list.length === 0) return;
  const client = (list[0] as Partial<Future<unknown>>)?.host as
    | Client
    | undefined;
  if (typeof client?.treeProgress !== "function") {
    throw new TypeError("progress() takes futures made by a Client");
  }
  const rejectOnError = options.rejectOnError ?? true;
  const stream = options.stream ?? process.stderr;
  const bar = new cliProgress.SingleBar({
    stream,
    noTTYOutput: true,
    notTTYSchedule: options.lineInterval ?? 5000,
    format: "{bar} {percentage}% | {value}/{total} tasks | {rate}/s | " +
      "ETA {eta_formatted}",
    hideCursor: false,
    etaBuffer: 100,
  }, cliProgress.Presets.shades_classic);
  const trees: Tree[] = list.map((future) => ({
    future,
    launched: 0,
    launchedDone: 0,
    final: false,
  }));
  const started = performance.now();
  const counts = () => {
    let done = 0, total = 0;
    for (const t of trees) {
      total += 1 + t.launched;
      if (t.final) done += 1 + t.launched;
      else done += t.launchedDone + (t.future.done() ? 1 : 0);
    }
    return { done: Math.min(done, total), total };
  };
  const rate = (done: number) =>
    (done / Math.max(0.001, (performance.now() - started) / 1000)).toFixed(0);
  const first = counts();
  bar.start(first.total, first.done, { rate: "0" });

  // Notes the first error, and wakes the loop then and once all are done
  // (not at every future: the loop asks the scheduler at its own pace).
  let wake = (): void => {};
  let failed: Future<unknown> | undefined;
  const watch = (async () => {
    for await (const f of client.asCompleted(list)) {
      if (f.status === "error" && !failed) {
        failed = f;
        wake();
      }
    }
    wake();
  })();
  try {
    for (;;) {
      if (failed && rejectOnError) break;
      // The futures that are not final: pending ones, and done ones whose
      // last counts (all their tree launched) are still to be read.
      const asking = trees.filter((t) => !t.final);
      if (asking.length === 0) break;
      const doneBefore = asking.map((t) => t.future.done());
      const answer = await client.treeProgress(
        asking.map((t) => t.future.key),
      );
      asking.forEach((t, i) => {
        t.launched = Math.max(t.launched, answer.launched[i]);
        t.launchedDone = Math.max(t.launchedDone, answer.done[i]);
        if (doneBefore[i]) t.final = true;
      });
      const now = counts();
      bar.setTotal(now.total);
      bar.update(now.done, { rate: rate(now.done) });
      if (trees.every((t) => t.final)) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = () => {};
    }
  } finally {
    bar.stop();
  }
  if (failed && rejectOnError) {
    throw (await failed.exception())!;
  }
  await watch;
}
