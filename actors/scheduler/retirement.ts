/**
 * Bookkeeping of graceful worker retirement (`client.retireWorkers`), as
 * Dask's `retire_workers` does it: a retiring worker gets no new work, its
 * unstarted runs are asked back, and once its runs have ended every value
 * only it holds is copied to another worker (that worker `acquire`s it from
 * the retiring one and reports `acquired`); then it is told to close. The
 * scheduler's machine (`state.ts`) drives the steps; this module plans the
 * copies and tracks which client waits for which workers.
 *
 * @module
 */

import type { DepLocation } from "../protocol.ts";
import type { WorkerRecord } from "./records.ts";

/** One client's request to retire workers, until its last worker closed. */
interface RetireRequest {
  /** The client that asked. */
  client: string;
  /** Its request id. */
  id: number;
  /** Ids of the workers not closed yet. */
  waiting: Set<string>;
  /** Ids of the workers closed (retired, or gone meanwhile). */
  retired: string[];
}

/** The answer owed to a client once its workers are all gone. */
export interface RetireAnswer {
  /** The client to answer. */
  to: string;
  /** The `workers-retired` message. */
  msg: { op: "workers-retired"; id: number; workers: string[] };
}

/**
 * Requests of clients waiting for workers to retire.
 *
 * @example A request is answered once its last worker is gone
 * ```ts
 * import assert from "node:assert/strict";
 * import { RetireRequests } from "./retirement.ts";
 * const requests = new RetireRequests();
 * requests.start("c", 7, ["w1", "w2"]);
 * assert.deepEqual(requests.gone("w1"), []);
 * assert.deepEqual(requests.gone("w2"), [
 *   { to: "c", msg: { op: "workers-retired", id: 7, workers: ["w1", "w2"] } },
 * ]);
 * ```
 */
export class RetireRequests {
  private readonly pending: RetireRequest[] = [];

  /** Client `client` waits (request `id`) for workers `ids` to be gone. */
  start(client: string, id: number, ids: string[]): void {
    this.pending.push({ client, id, waiting: new Set(ids), retired: [] });
  }

  /** Worker `id` is gone (closed or died): the answers now complete. */
  gone(id: string): RetireAnswer[] {
    return this.settle(id, true);
  }

  /** Worker `id` stays after all (no other worker is left): the answers now complete, without it. */
  kept(id: string): RetireAnswer[] {
    return this.settle(id, false);
  }

  /** Worker `id` no longer retires, gone or kept. */
  private settle(id: string, gone: boolean): RetireAnswer[] {
    const done: RetireAnswer[] = [];
    for (let i = 0; i < this.pending.length; i++) {
      const r = this.pending[i];
      if (!r.waiting.delete(id)) continue;
      if (gone) r.retired.push(id);
      if (r.waiting.size > 0) continue;
      done.push({
        to: r.client,
        msg: { op: "workers-retired", id: r.id, workers: r.retired },
      });
      this.pending.splice(i--, 1);
    }
    return done;
  }

  /** A client left: its requests need no answer (their workers still retire). */
  clientLeft(client: string): void {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i].client === client) this.pending.splice(i, 1);
    }
  }
}

/**
 * Where the values only the retiring worker `w` holds go: each to the
 * staying worker holding the fewest values so far (inline values, which
 * the scheduler keeps, and values with another holder need no copy). Files
 * each move in `w.moving` and returns the `acquire` requests by worker.
 *
 * @example Two values spread over the two staying workers
 * ```ts
 * import assert from "node:assert/strict";
 * import { planMoves } from "./retirement.ts";
 * import { TaskRecord, WorkerRecord } from "./records.ts";
 * const old = new WorkerRecord("w0", 1, "inproc://w0");
 * old.retiring = true;
 * const a = new WorkerRecord("w1", 1, "inproc://w1");
 * const b = new WorkerRecord("w2", 1, "inproc://w2");
 * for (const key of ["x", "y"]) {
 *   const ts = new TaskRecord({ key, fn: "f", args: "" }, [0, 0, 0]);
 *   ts.whoHas = [old];
 *   old.hasWhat.add(ts);
 * }
 * const moves = planMoves(old, [old, a, b]);
 * assert.deepEqual([...moves.keys()].map((w) => w.id), ["w1", "w2"]);
 * assert.equal(old.moving?.size, 2);
 * ```
 */
export function planMoves(
  w: WorkerRecord,
  workers: Iterable<WorkerRecord>,
): Map<WorkerRecord, DepLocation[]> {
  const moving = w.moving = new Map<string, WorkerRecord>();
  const byTarget = new Map<WorkerRecord, DepLocation[]>();
  const staying: { w: WorkerRecord; held: number }[] = [];
  for (const x of workers) {
    if (!x.retiring) staying.push({ w: x, held: x.hasWhat.size });
  }
  if (staying.length === 0) return byTarget;
  for (const ts of w.hasWhat) {
    if (ts.value !== null || ts.whoHas!.some((h) => !h.retiring)) continue;
    let target = staying[0];
    for (const s of staying) if (s.held < target.held) target = s;
    target.held++;
    moving.set(ts.key, target.w);
    const deps = byTarget.get(target.w);
    const dep = { key: ts.key, who: [w.address] };
    if (deps) deps.push(dep);
    else byTarget.set(target.w, [dep]);
  }
  return byTarget;
}
