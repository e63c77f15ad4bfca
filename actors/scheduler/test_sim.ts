/**
 * A scheduler state machine driven directly by tests (no transport, no
 * workers), with helpers to make events and read what it sent.
 *
 * @module
 */

import assert from "node:assert/strict";
import { pack } from "../../runtime/codec/packed.ts";
import type { TaskSpec, ToScheduler } from "../protocol.ts";
import { type SchedulerEffect, SchedulerState } from "./state.ts";

/** The function id of test tasks. */
export const FN = "s:test";
/** The definition sent with test tasks. */
export const fnRef = {
  kind: "source" as const,
  source: "(x) => x",
  name: "id",
};

/** A test task `key` (with `extra` fields). */
export function spec(key: string, extra: Partial<TaskSpec> = {}): TaskSpec {
  return { key, fn: FN, fnRef, args: pack([1]), ...extra };
}

/** A message the scheduler sent, with any fields. */
export type Sent = Record<string, unknown> & { op: string };

/** A scheduler with helpers to drive it and read what it sent. */
export class Sim {
  readonly s: SchedulerState;
  out: SchedulerEffect[] = [];

  constructor(
    workers: [string, number][] = [["w1", 1]],
    saturation = 4,
    validate = true,
  ) {
    this.s = new SchedulerState({ saturation, validate });
    for (const [id, slots] of workers) this.join(id, slots);
    this.event({ type: "client-joined", id: "c" });
    this.drain();
  }

  /** Handles `e`, then the end of its batch (held-back frees go out). */
  event(e: Parameters<SchedulerState["handle"]>[0]): SchedulerEffect[] {
    const fx = [...this.s.handle(e), ...this.s.handle({ type: "flush" })];
    this.out.push(...fx);
    return fx;
  }

  msg(from: string, msg: ToScheduler): SchedulerEffect[] {
    return this.event({ type: "message", from, msg });
  }

  join(id: string, slots = 1): void {
    this.event({ type: "worker-joined", id, slots, address: `inproc://${id}` });
  }

  leave(id: string): void {
    this.event({ type: "worker-left", id });
  }

  submit(...tasks: TaskSpec[]): void {
    this.msg("c", { op: "submit", tasks });
  }

  drain(): SchedulerEffect[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Messages with `op` (to `to`) since the last drain, without draining. */
  sent(op: string, to?: string): Sent[] {
    return this.out.flatMap((e) =>
      e.type === "send" && e.msg.op === op && (to === undefined || e.to === to)
        ? [e.msg as unknown as Sent]
        : []
    );
  }

  logs(): string[] {
    return this.out.flatMap((e) => e.type === "log" ? [e.message] : []);
  }

  task(key: string) {
    const ts = this.s.tasks.get(key);
    assert.ok(ts, `task ${key} is in the graph`);
    return ts;
  }

  on(key: string): string {
    return this.task(key).processingOn!.id;
  }

  finish(key: string, value: unknown = 1, extra: { refs?: string[] } = {}) {
    const ts = this.task(key);
    const bytes = pack(value);
    this.msg(ts.processingOn!.id, {
      op: "task-finished",
      key,
      run: ts.run,
      value: bytes,
      nbytes: bytes.length,
      ...extra,
    });
  }

  /** Finishes with a value too big to inline: workers must fetch it. */
  finishBig(key: string, nbytes = 1e6) {
    const ts = this.task(key);
    this.msg(ts.processingOn!.id, {
      op: "task-finished",
      key,
      run: ts.run,
      nbytes,
    });
  }

  err(key: string, error: unknown = new RangeError("boom")) {
    const ts = this.task(key);
    this.msg(ts.processingOn!.id, {
      op: "task-erred",
      key,
      run: ts.run,
      error: pack(error),
    });
  }

  worker(
    op: "seceded" | "rejoined" | "unblocked" | "task-stopped",
    key: string,
  ) {
    const ts = this.task(key);
    this.msg(ts.processingOn!.id, { op, key, run: ts.run });
  }
}
