/**
 * The client as a pure state machine: what it knows of each key it holds
 * futures on (status, inline value, where the value lives, error), how many
 * holders each key has, and the messages that keep the scheduler's
 * reference counts right. The `Client` class wraps it with promises and I/O.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import type {
  ClientToScheduler,
  SchedulerToClient,
  TaskSpec,
} from "../protocol.ts";

/** A future's status, as in Dask. */
export type FutureStatus = "pending" | "finished" | "error" | "cancelled";

/** Everything the client knows of one key. */
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
  /**
   * Holders per owner ("" = the client itself, else a task key): the first
   * owner inline (the common case: one per key), others in `more`.
   */
  private owner: string | undefined;
  private count = 0;
  private more: Map<string, number> | null = null;
  /** Callbacks waiting for the key to leave "pending". */
  waiters: (() => void)[] | null = null;
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

/** The client's bookkeeping and its outgoing messages. */
export class ClientState {
  readonly keys: Map<string, KeyRecord> = new Map();
  private out: ClientToScheduler[] = [];
  private submitting: TaskSpec[] | null = null;

  /** Messages produced since the last drain, in order. */
  drain(): ClientToScheduler[] {
    const out = this.out;
    this.out = [];
    this.submitting = null;
    return out;
  }

  /**
   * Submits a task held by `owner` ("" for the client itself). Returns
   * false when the key was already held here (an identical pure submit):
   * it then only gains a holder.
   */
  submit(spec: TaskSpec, owner: string): KeyRecord {
    const existing = this.keys.get(spec.key);
    if (existing) {
      this.hold(existing.key, owner);
      return existing;
    }
    const record = new KeyRecord(spec.key);
    this.keys.set(spec.key, record);
    record.addHolder(owner);
    if (this.submitting) this.submitting.push(spec);
    else {
      this.submitting = [spec];
      this.out.push({ op: "submit", tasks: this.submitting });
    }
    return record;
  }

  /** Adds a holder of `key` (a future object, or one task's use of it). */
  hold(key: string, owner: string): KeyRecord {
    let record = this.keys.get(key);
    if (!record) {
      record = new KeyRecord(key);
      this.keys.set(key, record);
    }
    if (record.addHolder(owner)) this.keyMessage("want", key, owner);
    return record;
  }

  /** Removes a holder; the last one of an owner releases the key. */
  drop(key: string, owner: string): void {
    const record = this.keys.get(key);
    if (!record || !record.heldBy(owner) || !record.removeHolder(owner)) return;
    this.keyMessage("release", key, owner);
    if (!record.held) this.keys.delete(key);
  }

  /**
   * A task ended: the scheduler releases what it owned by itself, so only
   * local records go, without messages.
   */
  endTask(task: string, keys: Iterable<string>): void {
    for (const key of keys) {
      const record = this.keys.get(key);
      if (!record || !record.removeHolder(task, true)) continue;
      if (!record.held) this.keys.delete(key);
    }
  }

  /** Asks the scheduler to cancel keys. */
  cancel(keys: string[]): void {
    this.message({ op: "cancel", keys });
  }

  /** Applies a scheduler message; returns the record that changed. */
  handle(msg: SchedulerToClient): KeyRecord | undefined {
    if (msg.op === "deadlock") return undefined;
    const record = this.keys.get(msg.key);
    if (!record) return undefined;
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
    return record;
  }

  private message(msg: ClientToScheduler): void {
    this.submitting = null;
    this.out.push(msg);
  }

  /** A want or release of one key, merged into the previous one when alike. */
  private keyMessage(op: "want" | "release", key: string, owner: string): void {
    const last = this.out[this.out.length - 1];
    const field = ownerField(owner);
    if (last && last.op === op && last.owner === field) {
      return void last.keys.push(key);
    }
    this.message({ op, keys: [key], owner: field });
  }
}

function ownerField(owner: string): string | undefined {
  return owner === "" ? undefined : owner;
}
