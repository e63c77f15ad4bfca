/**
 * Shape checks for messages from untrusted peers. Over TCP anyone can send
 * valid msgpack; before a message reaches a state machine its operation and
 * every field's type are checked here, and a bad one is a
 * {@linkcode ProtocolError} naming the operation and the field, which closes
 * only that peer's connection.
 *
 * @module
 */

import type { FunctionRef } from "../runtime/shipping/describe.ts";
import type {
  ClientToScheduler,
  DataRequest,
  DataResponse,
  TaskSpec,
  ToScheduler,
  WorkerToScheduler,
} from "./protocol.ts";
import { ProtocolError } from "../runtime/errors.ts";

/** A worker's liveness signal (consumed by the server, never by the state machine). */
export type Heartbeat = { op: "heartbeat" };

/** Who sent a message: decides which operations are allowed. */
export type PeerRole = "client" | "worker";

type Obj = Record<string, unknown>;

const CLIENT_OPS: ReadonlySet<string> = new Set([
  "submit",
  "want",
  "release",
  "cancel",
]);
const WORKER_OPS: ReadonlySet<string> = new Set([
  "task-finished",
  "task-erred",
  "seceded",
  "rejoined",
  "blocked",
  "unblocked",
  "missing-data",
  "heartbeat",
]);

/** Longest string accepted in a key, id or similar field. */
const MAX_KEY = 4096;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "object") return "a map";
  return typeof value === "undefined" ? "nothing" : `a ${typeof value}`;
}

class Checker {
  constructor(private readonly op: string, private readonly msg: Obj) {}

  fail(field: string, expected: string, got: unknown): never {
    throw new ProtocolError(
      `bad ${
        JSON.stringify(this.op)
      } message: field ${field} must be ${expected}, got ${describe(got)}`,
    );
  }

  str(v: unknown, field: string, max = MAX_KEY): string {
    if (typeof v !== "string") this.fail(field, "a string", v);
    if (v.length > max) {
      this.fail(field, `a string of at most ${max} characters`, v);
    }
    return v;
  }

  optStr(v: unknown, field: string): void {
    if (v !== undefined) this.str(v, field);
  }

  strs(v: unknown, field: string): void {
    if (!Array.isArray(v)) this.fail(field, "an array of strings", v);
    for (let i = 0; i < v.length; i++) this.str(v[i], `${field}[${i}]`);
  }

  /** A packed value: codec bytes, or a one-byte string (runtime/packed.ts). */
  bytes(v: unknown, field: string): void {
    if (!(v instanceof Uint8Array) && typeof v !== "string") {
      this.fail(field, "bytes", v);
    }
  }

  num(v: unknown, field: string): void {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      this.fail(field, "a finite number", v);
    }
  }

  nat(v: unknown, field: string): void {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      this.fail(field, "a non-negative integer", v);
    }
  }

  bool(v: unknown, field: string): void {
    if (typeof v !== "boolean") this.fail(field, "a boolean", v);
  }

  map(v: unknown, field: string): Obj {
    if (
      typeof v !== "object" || v === null || Array.isArray(v) ||
      v instanceof Uint8Array
    ) {
      this.fail(field, "a map", v);
    }
    return v as Obj;
  }

  field(name: string): unknown {
    return this.msg[name];
  }

  fnRef(v: unknown, field: string): void {
    const ref = this.map(v, field) as Partial<FunctionRef> & Obj;
    if (ref.kind === "module") {
      this.str(ref.url, `${field}.url`, 1 << 16);
    } else if (ref.kind === "source") {
      this.str(ref.source, `${field}.source`, 1 << 24);
    } else {
      this.fail(`${field}.kind`, `"module" or "source"`, ref.kind);
    }
    this.str(ref.name, `${field}.name`);
    if (ref.wrapped !== undefined) this.bool(ref.wrapped, `${field}.wrapped`);
  }

  task(v: unknown, field: string): void {
    const t = this.map(v, field) as Partial<Record<keyof TaskSpec, unknown>>;
    this.str(t.key, `${field}.key`);
    this.str(t.fn, `${field}.fn`);
    if (t.fnRef !== undefined) this.fnRef(t.fnRef, `${field}.fnRef`);
    this.bytes(t.args, `${field}.args`);
    if (t.deps !== undefined) this.strs(t.deps, `${field}.deps`);
    this.optStr(t.parent, `${field}.parent`);
    if (t.priority !== undefined) this.num(t.priority, `${field}.priority`);
    if (t.retries !== undefined) this.nat(t.retries, `${field}.retries`);
    if (t.workers !== undefined) this.strs(t.workers, `${field}.workers`);
    if (t.allowOtherWorkers !== undefined) {
      this.bool(t.allowOtherWorkers, `${field}.allowOtherWorkers`);
    }
  }
}

function opOf(msg: unknown): string {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    throw new ProtocolError(
      `bad message: expected a map, got ${describe(msg)}`,
    );
  }
  const op = (msg as Obj).op;
  if (typeof op !== "string") {
    throw new ProtocolError(
      `bad message: field op must be a string, got ${describe(op)}`,
    );
  }
  return op;
}

/**
 * Checks one message sent to the scheduler by a peer of `role` (a worker
 * may also send its in-task client's operations, and heartbeats).
 *
 * @throws {ProtocolError} naming the operation and field.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateToScheduler } from "./validate.ts";
 * validateToScheduler({ op: "want", keys: ["a"] }, "client");
 * assert.throws(() => validateToScheduler({ op: "want", keys: [1] }, "client"), /field keys\[0\] must be a string/);
 * assert.throws(() => validateToScheduler({ op: "launch-missiles" }, "client"), /unknown operation "launch-missiles"/);
 * ```
 */
export function validateToScheduler(
  msg: unknown,
  role: PeerRole,
): asserts msg is ToScheduler | Heartbeat {
  const op = opOf(msg);
  const m = msg as Obj;
  const c: Checker = new Checker(op, m);
  if (!CLIENT_OPS.has(op) && !WORKER_OPS.has(op)) {
    throw new ProtocolError(`unknown operation ${JSON.stringify(op)}`);
  }
  if (role === "client" && !CLIENT_OPS.has(op)) {
    throw new ProtocolError(
      `operation ${JSON.stringify(op)} is for workers, not clients`,
    );
  }
  switch (op as (ClientToScheduler | WorkerToScheduler | Heartbeat)["op"]) {
    case "submit": {
      const tasks = c.field("tasks");
      if (!Array.isArray(tasks)) c.fail("tasks", "an array of tasks", tasks);
      for (let i = 0; i < tasks.length; i++) c.task(tasks[i], `tasks[${i}]`);
      return;
    }
    case "want":
    case "release":
      c.strs(m.keys, "keys");
      c.optStr(m.owner, "owner");
      return;
    case "cancel":
      c.strs(m.keys, "keys");
      return;
    case "task-finished":
      c.str(m.key, "key");
      if (m.value !== undefined) c.bytes(m.value, "value");
      c.nat(m.nbytes, "nbytes");
      if (m.refs !== undefined) c.strs(m.refs, "refs");
      return;
    case "task-erred":
      c.str(m.key, "key");
      c.bytes(m.error, "error");
      return;
    case "seceded":
    case "rejoined":
    case "unblocked":
      c.str(m.key, "key");
      return;
    case "blocked":
      c.str(m.key, "key");
      c.strs(m.on, "on");
      return;
    case "missing-data":
      c.str(m.key, "key");
      c.str(m.dep, "dep");
      c.str(m.from, "from");
      return;
    case "heartbeat":
      return;
  }
}

/**
 * Checks one message on a worker's data connection: a request for values,
 * or the answer to one.
 *
 * @throws {ProtocolError} naming the operation and field.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateDataMessage } from "./validate.ts";
 * validateDataMessage({ op: "get-data", id: 1, keys: ["x"] });
 * assert.throws(() => validateDataMessage({ op: "get-data", id: "1", keys: [] }), /field id/);
 * ```
 */
export function validateDataMessage(
  msg: unknown,
): asserts msg is DataRequest | DataResponse {
  const op = opOf(msg);
  const m = msg as Obj;
  const c: Checker = new Checker(op, m);
  if (op === "get-data") {
    c.nat(m.id, "id");
    c.strs(m.keys, "keys");
  } else if (op === "data") {
    c.nat(m.id, "id");
    const values = c.map(m.values, "values");
    for (const [k, v] of Object.entries(values)) {
      c.bytes(v, `values[${JSON.stringify(k)}]`);
    }
    c.strs(m.missing, "missing");
  } else {
    throw new ProtocolError(
      `unknown operation ${JSON.stringify(op)} on a data connection`,
    );
  }
}
