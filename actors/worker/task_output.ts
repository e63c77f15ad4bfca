/**
 * What tasks print: `console.log` and friends, called inside a task, are
 * caught here and handed to the worker running the task (which sends them
 * to the scheduler, which forwards them to the client that submitted the
 * root of the task's tree). Calls outside tasks print as usual. The console
 * of the isolate is patched once; each worker in it registers a sink, found
 * through the running task's context (several workers may share an
 * isolate in tests).
 *
 * @module
 */

import { format } from "node:util";
import type { OutputLine } from "../protocol.ts";
import { currentTask, type WorkerRuntime } from "../task/context.ts";

/** Longest line kept, in characters (the rest is cut, and says so). */
export const MAX_LINE = 16_000;

/** Where one worker's task output goes. */
export interface OutputSink {
  /** Takes one line a task printed. */
  send(line: OutputLine): void;
  /** Also print it here, as the console would have (a worker process's own terminal). */
  echo: boolean;
}

const METHODS = [
  ["log", "out"],
  ["info", "out"],
  ["debug", "out"],
  ["warn", "err"],
  ["error", "err"],
] as const;

const sinks = new Map<WorkerRuntime, OutputSink>();
let patched = false;

/** Replaces the console's printing methods with ones that catch task output. */
function patchConsole(): void {
  if (patched) return;
  patched = true;
  const con = console as unknown as Record<string, (...a: unknown[]) => void>;
  for (const [method, stream] of METHODS) {
    const original = con[method].bind(console);
    con[method] = (...args: unknown[]) => {
      const task = currentTask();
      const sink = task && sinks.get(task.worker);
      if (!sink) return original(...args);
      let text = format(...args);
      if (text.length > MAX_LINE) {
        text = `${text.slice(0, MAX_LINE)}… (${
          text.length - MAX_LINE
        } more characters cut)`;
      }
      sink.send({ key: task.key, stream, text });
      if (sink.echo) original(...args);
    };
  }
}

/**
 * Sends what tasks running on `worker` print to `sink`; returns the
 * function that stops it.
 *
 * @example A line printed inside a task, and one outside
 * ```ts
 * import assert from "node:assert/strict";
 * import { captureTaskOutput } from "./task_output.ts";
 * import { RunningTask, runInTask, type WorkerRuntime } from "../task/context.ts";
 * const worker = { id: "w1" } as unknown as WorkerRuntime;
 * const lines: unknown[] = [];
 * const stop = captureTaskOutput(worker, { send: (l) => lines.push(l), echo: false });
 * runInTask(new RunningTask("k-1", 1, worker), () => console.log("x =", 1));
 * stop();
 * assert.deepEqual(lines, [{ key: "k-1", stream: "out", text: "x = 1" }]);
 * ```
 */
export function captureTaskOutput(
  worker: WorkerRuntime,
  sink: OutputSink,
): () => void {
  patchConsole();
  sinks.set(worker, sink);
  return () => {
    if (sinks.get(worker) === sink) sinks.delete(worker);
  };
}
