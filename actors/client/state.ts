/**
 * The client as a pure state machine with one entry point:
 * {@linkcode ClientState.handle} takes an event (a submission, a future
 * gained or dropped, a task ending, a cancel, a failed fetch, a scheduler
 * message, a flush) and returns the effects (messages to send, keys that
 * settled, deadlocks to report). It knows what it holds of each key (status,
 * inline value, where the value lives, error), how many holders each key
 * has, and keeps the scheduler's reference counts right. Outgoing messages
 * are batched until a `flush` event: consecutive submissions become one
 * `submit`, consecutive wants or releases of one owner one message.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import type {
  ClientToScheduler,
  ScatteredValue,
  SchedulerAnswer,
  SchedulerToClient,
  TaskSpec,
} from "../protocol.ts";
import type { CoordinationMessage } from "./coordination/link.ts";

/** What an event without effects returns (shared; never written to). */
const NO_EFFECTS: ClientEffect[] = [];

/** A future's status, as in Dask. */
export type FutureStatus = "pending" | "finished" | "error" | "cancelled";

/** Everything the client knows of one key (read it; only the machine writes it). */
export class KeyRecord {
  /** Where the key is. */
  status: FutureStatus = "pending";
  /** Inline codec bytes of the value. */
  value: Packed | undefined;
  /** Data addresses holding the value when it was not inlined. */
  who: string[] | undefined;
  /** Codec bytes of the error. */
  error: Packed | undefined;
  /** Why it was cancelled. */
  reason: string | undefined;
  /** Decoded value, cached once fetched or decoded. */
  decoded: { value: unknown } | undefined;
  /** Failed fetches since the value was last had. */
  fetchFailures = 0;
  /**
   * The client shell's callbacks waiting for this key to leave "pending"
   * (kept here to spare a lookup per settled key; the machine never touches
   * them).
   */
  waiters: (() => void)[] | null = null;
  /**
   * Holders per owner ("" = the client itself, else a task key): the first
   * owner inline (the common case: one per key), others in `more`.
   */
  private owner: string | undefined;
  private count = 0;
  private more: Map<string, number> | null = null;
  /** A record for `key`, pending. */
  constructor(readonly key: string) {}

  /** Adds a holder; true when it is `owner`'s first. */
  addHolder(owner: string): boolean {
    if (this.owner === undefined || this.owner === owner) {
      this.owner = owner;
      return this.count++ === 0;
    }
    this.more ??= new Map();
    const n = this.more.get(owner) ?? 0;
    this.more.set(owner, n + 1);
    return n === 0;
  }

  /** Removes one holder (all of `owner`'s with `all`); true when `owner` holds no more. */
  removeHolder(owner: string, all = false): boolean {
    if (this.owner === owner && this.count > 0) {
      this.count = all ? 0 : this.count - 1;
      if (this.count === 0) this.owner = undefined;
      return this.count === 0;
    }
    const n = this.more?.get(owner);
    if (n === undefined) return false;
    if (n > 1 && !all) {
      this.more!.set(owner, n - 1);
      return false;
    }
    this.more!.delete(owner);
    return true;
  }

  /** True while `owner` holds the key. */
  heldBy(owner: string): boolean {
    return (this.owner === owner && this.count > 0) ||
      (this.more?.has(owner) ?? false);
  }

  /** True while anyone holds the key. */
  get held(): boolean {
    return this.count > 0 || (this.more !== null && this.more.size > 0);
  }
}

/** Everything that can happen to a client. */
export type ClientEvent =
  /** Submit a task held by `owner` ("" for the client itself, else a task key). */
  | { type: "submit"; spec: TaskSpec; owner: string }
  /**
   * A task `owner` submitted errs before reaching the scheduler (its
   * arguments cannot be sent): held here, erred with `error`, never sent.
   */
  | { type: "refused"; key: string; owner: string; error: Packed }
  /** `owner` gains a holder of `key` (a future object, or a task's use of it). */
  | { type: "hold"; key: string; owner: string }
  /** `owner` loses a holder of `key`; its last one releases the key. */
  | { type: "drop"; key: string; owner: string }
  /**
   * The scheduler counts `owner` as holding `keys` (it answered a dataset
   * request nobody reads any more): those `owner` does not hold here are
   * released.
   */
  | { type: "unwanted"; keys: string[]; owner: string }
  /** Task `task` ended: the scheduler releases its futures by itself. */
  | { type: "task-ended"; task: string; keys: Iterable<string> }
  /**
   * `owner` put these values into workers' stores (`client.scatter`): it
   * holds each key, and the scheduler is told where they are.
   */
  | { type: "scattered"; values: ScatteredValue[]; owner: string }
  /** Ask the scheduler to cancel keys. */
  | { type: "cancel"; keys: string[] }
  /** Ask the scheduler to run erred keys again: they are pending again. */
  | { type: "retry"; keys: string[] }
  /** Ask for a function call on the workers or the scheduler (`client.run`). */
  | {
    type: "call";
    msg: Extract<ClientToScheduler, { op: `call-on-${string}` }>;
  }
  /** Fetching `key`'s value from its holders failed. */
  | {
    type: "fetch-failed";
    key: string;
    notHeld: readonly string[];
    unreachable: readonly string[];
    reason: string;
  }
  /** A message from the scheduler. */
  | { type: "message"; msg: SchedulerToClient }
  /**
   * The connection to the scheduler is gone: nothing pending can settle.
   * With `error` (codec bytes, a `SchedulerLostError`), pending keys err
   * with it; without, they are cancelled with `reason`.
   */
  | { type: "lost"; reason: string; error?: Packed }
  /** Send what is queued. */
  | { type: "flush" };

/** What the shell must do. */
export type ClientEffect =
  /** Send these messages to the scheduler, in order. */
  | { type: "send"; msgs: ClientToScheduler[] }
  /** `key` left pending (or went back to it): wake whoever waits on it. */
  | { type: "settled"; key: string }
  /** Waits of these tasks can never end. */
  | { type: "deadlock"; keys: string[]; message: string }
  /** The scheduler answered a request (matched by its `id`). */
  | { type: "answer"; msg: SchedulerAnswer }
  /** Tasks of this client's trees printed these lines. */
  | { type: "output"; msg: Extract<SchedulerToClient, { op: "task-output" }> }
  /** The scheduler warns the user. */
  | { type: "warning"; message: string }
  /** The answer to a function call (`client.run`). */
  | {
    type: "call-result";
    msg: Extract<SchedulerToClient, { op: "call-result" }>;
  }
  /** An answer or message of a coordination primitive (`Queue`, `Lock`...). */
  | { type: "coordination"; msg: CoordinationMessage };

/** The client's bookkeeping, its one entry point and its invariants. */
export class ClientState {
  /** Every key held here. */
  readonly keys: Map<string, KeyRecord> = new Map();
  private out: ClientToScheduler[] = [];
  private submitting: TaskSpec[] | null = null;
  private effects: ClientEffect[] = NO_EFFECTS;
  /** Why the scheduler is out of reach, once it is. */
  private lostReason: string | undefined;
  /** What pending keys err with once the scheduler is lost, if it is known why. */
  private lostError: Packed | undefined;

  /** A client machine; with `validating`, it checks its invariants after each event. */
  constructor(private readonly validating = false) {}

  /**
   * Handles one event; returns what to do about it. Messages to the
   * scheduler are held back until a `flush` event.
   *
   * @example Submissions batch until a flush
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClientState } from "./state.ts";
   * const c = new ClientState(true);
   * c.handle({ type: "submit", spec: { key: "a", fn: "f", args: "\x90" }, owner: "" });
   * c.handle({ type: "submit", spec: { key: "b", fn: "f", args: "\x90" }, owner: "" });
   * const [sent] = c.handle({ type: "flush" });
   * assert.ok(sent.type === "send" && sent.msgs.length === 1);
   * const [submit] = sent.msgs;
   * assert.ok(submit.op === "submit" && submit.tasks.length === 2);
   * const [settled] = c.handle({ type: "message", msg: { op: "key-done", key: "a", value: "\x01" } });
   * assert.deepEqual(settled, { type: "settled", key: "a" });
   * assert.equal(c.keys.get("a")!.status, "finished");
   * ```
   */
  handle(event: ClientEvent): ClientEffect[] {
    switch (event.type) {
      case "submit":
        this.submit(event.spec, event.owner);
        break;
      case "hold":
        this.hold(event.key, event.owner);
        break;
      case "refused": {
        if (this.keys.has(event.key)) {
          this.hold(event.key, event.owner);
          break;
        }
        const record = new KeyRecord(event.key);
        this.keys.set(event.key, record);
        record.addHolder(event.owner);
        record.status = "error";
        record.error = event.error;
        this.effect({ type: "settled", key: event.key });
        break;
      }
      case "drop":
        this.drop(event.key, event.owner);
        break;
      case "unwanted":
        for (const key of event.keys) {
          if (!this.keys.get(key)?.heldBy(event.owner)) {
            this.keyMessage("release", key, event.owner);
          }
        }
        break;
      case "task-ended":
        for (const key of event.keys) {
          const record = this.keys.get(key);
          if (!record || !record.removeHolder(event.task, true)) continue;
          if (!record.held) this.keys.delete(key);
        }
        break;
      case "scattered":
        this.scattered(event.values, event.owner);
        break;
      case "cancel":
        this.message({ op: "cancel", keys: event.keys });
        break;
      case "retry":
        this.retry(event.keys);
        break;
      case "call":
        this.message(event.msg);
        break;
      case "fetch-failed":
        this.fetchFailed(event);
        break;
      case "message":
        this.receive(event.msg);
        break;
      case "lost":
        this.lostReason ??= event.reason;
        this.lostError ??= event.error;
        for (const record of this.keys.values()) this.cancelIfLost(record);
        break;
      case "flush":
        if (this.out.length > 0 && this.lostReason === undefined) {
          this.effect({ type: "send", msgs: this.out });
        }
        this.out = [];
        this.submitting = null;
        break;
    }
    if (this.validating) this.validate();
    const out = this.effects;
    this.effects = NO_EFFECTS;
    return out;
  }

  /** The record of `key`, if held here. */
  record(key: string): KeyRecord | undefined {
    return this.keys.get(key);
  }

  /**
   * Files a new task held by `owner` and queues it into the current `submit`
   * message; a key already held here only gains a holder.
   */
  private submit(spec: TaskSpec, owner: string): void {
    const existing = this.keys.get(spec.key);
    if (existing) return this.hold(existing.key, owner);
    const record = new KeyRecord(spec.key);
    this.keys.set(spec.key, record);
    record.addHolder(owner);
    if (this.cancelIfLost(record)) return;
    if (this.submitting) this.submitting.push(spec);
    else {
      this.submitting = [spec];
      this.out.push({ op: "submit", tasks: this.submitting });
    }
  }

  /**
   * `owner` holds scattered values: each key gains a holder (a new one is
   * pending until the scheduler confirms it), and one `scattered` message
   * tells the scheduler, which counts it as `owner`'s want.
   */
  private scattered(values: ScatteredValue[], owner: string): void {
    for (const { key } of values) {
      let record = this.keys.get(key);
      if (!record) this.keys.set(key, record = new KeyRecord(key));
      record.addHolder(owner);
      this.cancelIfLost(record);
    }
    this.message({
      op: "scattered",
      values,
      owner: owner === "" ? undefined : owner,
    });
  }

  /** `owner` gains a holder of `key`; its first one tells the scheduler it wants the key. */
  private hold(key: string, owner: string): void {
    let record = this.keys.get(key);
    if (!record) {
      record = new KeyRecord(key);
      this.keys.set(key, record);
      this.cancelIfLost(record);
    }
    if (record.addHolder(owner)) this.keyMessage("want", key, owner);
  }

  /**
   * After the scheduler is lost, a pending record can only err with the
   * loss (or be cancelled, when the loss has no error).
   */
  private cancelIfLost(record: KeyRecord): boolean {
    if (this.lostReason === undefined || record.status !== "pending") {
      return false;
    }
    if (this.lostError) {
      record.status = "error";
      record.error = this.lostError;
    } else record.status = "cancelled";
    record.reason = this.lostReason;
    record.who = undefined;
    this.effect({ type: "settled", key: record.key });
    return true;
  }

  /**
   * `owner` loses a holder of `key`; its last one releases the key at the
   * scheduler, and the record goes once nobody holds it.
   */
  private drop(key: string, owner: string): void {
    const record = this.keys.get(key);
    if (!record || !record.heldBy(owner) || !record.removeHolder(owner)) return;
    this.keyMessage("release", key, owner);
    if (!record.held) this.keys.delete(key);
  }

  /** Erred keys held here go back to pending; the scheduler runs them again. */
  private retry(keys: string[]): void {
    const erred = keys.filter((k) => this.keys.get(k)?.status === "error");
    if (erred.length === 0) return;
    for (const key of erred) {
      const record = this.keys.get(key)!;
      record.status = "pending";
      record.error = undefined;
    }
    this.message({ op: "retry", keys: erred });
  }

  /** The value could not be fetched: ask the scheduler where it is now, and wait. */
  private fetchFailed(
    event: Extract<ClientEvent, { type: "fetch-failed" }>,
  ): void {
    const record = this.keys.get(event.key);
    if (!record || record.status !== "finished") return;
    record.fetchFailures++;
    record.status = "pending";
    record.who = undefined;
    this.message({
      op: "missing-data",
      key: event.key,
      notHeld: [...event.notHeld],
      unreachable: [...event.unreachable],
      reason: event.reason,
    });
  }

  /**
   * Records what the scheduler says of a held key and reports the key
   * settled; a deadlock report, and answers to requests, are passed on as
   * effects.
   */
  private receive(msg: SchedulerToClient): void {
    switch (msg.op) {
      case "scheduler-info":
      case "tree-progress":
      case "worker-logs":
      case "task-stream":
      case "workers-retired":
      case "restarted":
      case "dataset-answer":
      case "actor-key":
        return this.effect({ type: "answer", msg });
      case "task-output":
        return this.effect({ type: "output", msg });
      case "coordinated":
      case "topic-message":
        return this.effect({ type: "coordination", msg });
    }
    if (msg.op === "deadlock") {
      return this.effect({
        type: "deadlock",
        keys: msg.keys,
        message: msg.message,
      });
    }
    if (msg.op === "call-result") {
      return this.effect({ type: "call-result", msg });
    }
    if (msg.op === "warning") {
      return this.effect({ type: "warning", message: msg.message });
    }
    const record = this.keys.get(msg.key);
    if (!record) return;
    switch (msg.op) {
      case "key-done":
        record.status = "finished";
        record.value = msg.value;
        record.who = msg.who;
        record.error = undefined;
        break;
      case "key-erred":
        record.status = "error";
        record.error = msg.error;
        break;
      case "key-cancelled":
        record.status = "cancelled";
        record.reason = msg.reason;
        break;
    }
    this.effect({ type: "settled", key: msg.key });
  }

  /** Adds an effect to those the current event returns. */
  private effect(effect: ClientEffect): void {
    if (this.effects === NO_EFFECTS) this.effects = [];
    this.effects.push(effect);
  }

  /** Queues a message for the next flush; it ends the current batch of submissions. */
  private message(msg: ClientToScheduler): void {
    this.submitting = null;
    this.out.push(msg);
  }

  /** A want or release of one key, merged into the previous one when alike. */
  private keyMessage(op: "want" | "release", key: string, owner: string): void {
    const last = this.out[this.out.length - 1];
    const field = owner === "" ? undefined : owner;
    if (last && last.op === op && last.owner === field) {
      return void last.keys.push(key);
    }
    this.message({ op, keys: [key], owner: field });
  }

  /**
   * Checks every invariant: each record is filed under its key and held; a
   * finished record has its value or a place to fetch it; an erred one its
   * error; a pending one neither.
   *
   * @throws {Error} naming the first broken invariant.
   */
  validate(): void {
    for (const [key, r] of this.keys) {
      const fail = (what: string) => {
        throw new Error(
          `client invariant broken: ${key} (${r.status}) ${what}`,
        );
      };
      if (r.key !== key) fail("is filed under another key");
      if (!r.held) fail("is held by nobody");
      switch (r.status) {
        case "finished":
          if (r.value === undefined && !r.who && !r.decoded) {
            fail("has no value and no holder");
          }
          break;
        case "error":
          if (r.error === undefined) fail("has no error");
          break;
        case "pending":
          if (r.who !== undefined) fail("has holders");
          break;
      }
    }
  }
}
