/**
 * Function calls on every worker (`client.run`): the scheduler sends the
 * call to each worker and answers the client once every worker did, or
 * left (which counts as an error from it). Pure bookkeeping: it returns
 * the messages to send and never sends anything itself.
 *
 * @module
 */

import { pack, type Packed } from "../../runtime/codec/packed.ts";
import { TendrilError } from "../../runtime/errors.ts";
import type {
  FunctionCall,
  SchedulerToClient,
  SchedulerToWorker,
} from "../protocol.ts";

/** A call waiting for its workers' answers. */
interface PendingCall {
  /** The client that asked. */
  readonly client: string;
  /** The client's id of the call. */
  readonly id: number;
  /** Workers that have not answered yet. */
  readonly waiting: Set<string>;
  /** Values by worker id. */
  readonly values: Record<string, Packed>;
  /** Errors by worker id. */
  readonly errors: Record<string, Packed>;
}

/** A message to a peer. */
export type Send<M> = { to: string; msg: M };

/** A call to one worker. */
export type CallFunction = Send<
  Extract<SchedulerToWorker, { op: "call-function" }>
>;

/** The answer a client gets: every worker's value or error. */
export type CallResult = Send<
  Extract<SchedulerToClient, { op: "call-result" }>
>;

/**
 * The calls in flight, by the scheduler's own id for each.
 *
 * @example Two workers answer, the client hears once
 * ```ts
 * import assert from "node:assert/strict";
 * import { FunctionCalls } from "./calls.ts";
 * const calls = new FunctionCalls();
 * const fnRef = { kind: "source" as const, source: "() => 1", name: "one" };
 * const sends = calls.start("c", { id: 9, fn: "s:one", fnRef, args: "\x90" }, ["w1", "w2"]);
 * assert.deepEqual(sends.map((s) => s.to), ["w1", "w2"]);
 * const id = sends[0].msg.id;
 * assert.equal(calls.answered("w1", id, "\x01", undefined), undefined);
 * const done = calls.answered("w2", id, "\x02", undefined)!;
 * assert.deepEqual(done, { to: "c", msg: { op: "call-result", id: 9, values: { w1: "\x01", w2: "\x02" }, errors: {} } });
 * assert.equal(calls.size, 0);
 * ```
 */
export class FunctionCalls {
  readonly #calls = new Map<number, PendingCall>();
  #seq = 0;

  /** Calls in flight. */
  get size(): number {
    return this.#calls.size;
  }

  /**
   * `client` asks `workers` to call a function: the calls to send, or, with
   * no worker, the (empty) answer at once.
   */
  start(
    client: string,
    call: FunctionCall,
    workers: Iterable<string>,
  ): (CallFunction | CallResult)[] {
    const id = ++this.#seq;
    const pending: PendingCall = {
      client,
      id: call.id,
      waiting: new Set(workers),
      values: {},
      errors: {},
    };
    if (pending.waiting.size === 0) return [resultOf(pending)];
    this.#calls.set(id, pending);
    const { fn, fnRef, args } = call;
    return [...pending.waiting].map((to) => ({
      to,
      msg: { op: "call-function", id, fn, fnRef, args },
    }));
  }

  /** Worker `from` answered call `id`: the client's answer once it was the last. */
  answered(
    from: string,
    id: number,
    value: Packed | undefined,
    error: Packed | undefined,
  ): CallResult | undefined {
    const call = this.#calls.get(id);
    if (!call || !call.waiting.delete(from)) return undefined;
    if (error !== undefined) call.errors[from] = error;
    else if (value !== undefined) call.values[from] = value;
    if (call.waiting.size > 0) return undefined;
    this.#calls.delete(id);
    return resultOf(call);
  }

  /** Worker `id` left: it answers every call it owed with an error. */
  workerLeft(id: string): CallResult[] {
    const out: CallResult[] = [];
    for (const [callId, call] of [...this.#calls]) {
      if (!call.waiting.has(id)) continue;
      const error = pack(
        new TendrilError(`worker ${id} left before answering`),
      );
      const done = this.answered(id, callId, undefined, error);
      if (done) out.push(done);
    }
    return out;
  }

  /** Client `id` left: its calls are dropped (answers are ignored). */
  clientLeft(id: string): void {
    for (const [callId, call] of this.#calls) {
      if (call.client === id) this.#calls.delete(callId);
    }
  }
}

/** The client's answer to a call every worker answered. */
function resultOf(call: PendingCall): CallResult {
  return {
    to: call.client,
    msg: {
      op: "call-result",
      id: call.id,
      values: call.values,
      errors: call.errors,
    },
  };
}
