/**
 * The coordination primitives the scheduler keeps by name (Dask keeps its
 * queues, variables, events, semaphores and pub/sub on the scheduler too):
 * a pure sub-machine of the scheduler. `SchedulerState` hands it every
 * {@linkcode CoordinationRequest} and every peer that leaves; it answers
 * through its host and holds the keys of futures inside stored values
 * through it (so they live while stored), never doing I/O itself.
 *
 * Every request that may wait is answered exactly once: when its wait
 * ends, or `withdrawn` when its client gives up first. A withdrawal that
 * crosses the answer on the wire finds nothing to withdraw; the client then
 * undoes what it was given (puts the item back, releases the lease), so an
 * item or lease never goes to a wait nobody is waiting on.
 *
 * @module
 */

import type { CoordinationRequest, SchedulerToClient } from "../../protocol.ts";
import type {
  Answer,
  CoordinationContext,
  Item,
  Primitive,
  Waiter,
} from "./context.ts";
import { EventRecord } from "./event.ts";
import { QueueRecord } from "./queue.ts";
import { SemaphoreRecord } from "./semaphore.ts";
import { TopicRecord } from "./topic.ts";
import { VariableRecord } from "./variable.ts";

/** What the coordination machine asks of the scheduler. */
export interface CoordinationHost {
  /** Sends `msg` to peer `to`. */
  send(to: string, msg: SchedulerToClient): void;
  /** Holds `keys` (those in the graph) on behalf of `holder`. */
  hold(keys: readonly string[], holder: string): void;
  /** Lets go of everything held on behalf of `holder`. */
  unhold(holder: string): void;
  /** Peer `peer` (for task `task`) now wants `keys`, as if it had asked. */
  give(keys: readonly string[], peer: string, task: string | undefined): void;
}

/** The operations this machine takes, as a table the compiler keeps complete. */
const OPS: Record<CoordinationRequest["op"], true> = {
  "queue-put": true,
  "queue-get": true,
  "queue-size": true,
  "variable-set": true,
  "variable-get": true,
  "variable-delete": true,
  "event-set": true,
  "event-wait": true,
  "semaphore-acquire": true,
  "semaphore-release": true,
  "topic-subscribe": true,
  "topic-publish": true,
  withdraw: true,
};

/**
 * Every named primitive, and every wait and subscription in progress.
 *
 * @example A get waits for a put; a timed-out get is withdrawn
 * ```ts
 * import assert from "node:assert/strict";
 * import { Coordination } from "./coordination.ts";
 * const sent: unknown[] = [];
 * const c = new Coordination({
 *   send: (to, msg) => sent.push([to, msg]),
 *   hold() {}, unhold() {}, give() {},
 * });
 * c.handle("a", { op: "queue-get", id: 1, name: "q" });
 * assert.equal(sent.length, 0, "waits while empty");
 * c.handle("b", { op: "queue-put", id: 7, name: "q", value: "\x01" });
 * assert.deepEqual(sent, [
 *   ["b", { op: "coordinated", id: 7 }],
 *   ["a", { op: "coordinated", id: 1, value: "\x01" }],
 * ]);
 * c.handle("a", { op: "queue-get", id: 2, name: "q" });
 * c.handle("a", { op: "withdraw", id: 2 });
 * assert.deepEqual(sent[2], ["a", { op: "coordinated", id: 2, withdrawn: true }]);
 * c.validate();
 * ```
 */
export class Coordination implements CoordinationContext {
  /** Queues by name. */
  readonly queues: Map<string, QueueRecord> = new Map();
  /** Variables by name. */
  readonly variables: Map<string, VariableRecord> = new Map();
  /** Events by name. */
  readonly events: Map<string, EventRecord> = new Map();
  /** Semaphores (and locks) by name. */
  readonly semaphores: Map<string, SemaphoreRecord> = new Map();
  /** Topics by name. */
  readonly topics: Map<string, TopicRecord> = new Map();
  /** Waits in progress: by peer, the primitive each request id waits on. */
  private readonly parked = new Map<string, Map<number, Primitive>>();
  /** Subscriptions: by peer, the topic of each subscribing request id. */
  private readonly subscriptions = new Map<string, Map<number, TopicRecord>>();
  /** Holder names handed out. */
  private holders = 0;
  /** Lease numbers handed out. */
  private leases = 0;

  /** A machine with no primitive yet, acting through `host`. */
  constructor(private readonly host: CoordinationHost) {}

  /** Whether `msg` is a coordination request. */
  static handles(msg: { op: string }): msg is CoordinationRequest {
    return Object.hasOwn(OPS, msg.op);
  }

  /** A request from peer `from`. */
  handle(from: string, msg: CoordinationRequest): void {
    if (msg.op === "withdraw") return this.withdraw(from, msg.id);
    if (msg.op === "topic-publish") {
      const refs = msg.refs?.length ? msg.refs : undefined;
      const item = { value: msg.value, refs, holder: undefined };
      this.topics.get(msg.name)?.publish(this, item);
      return;
    }
    const w: Waiter = {
      peer: from,
      id: msg.id,
      task: "owner" in msg ? msg.owner : undefined,
    };
    this.request(w, msg);
    this.tidy(msg.name);
  }

  /** A request that may wait, or be answered at once. */
  private request(
    w: Waiter,
    msg: Exclude<CoordinationRequest, { op: "withdraw" | "topic-publish" }>,
  ): void {
    const name = msg.name;
    switch (msg.op) {
      case "queue-put": {
        const q = getOrAdd(this.queues, name, () => new QueueRecord());
        if (msg.maxsize !== undefined && msg.maxsize !== q.maxsize) {
          if (q.maxsize !== undefined) {
            return this.answer(w, {
              error:
                `queue ${name} has maxsize ${q.maxsize}, not ${msg.maxsize}`,
            });
          }
          q.bound(this, msg.maxsize);
        }
        return q.put(this, w, this.store(msg), msg.front ?? false);
      }
      case "queue-get":
        return getOrAdd(this.queues, name, () => new QueueRecord())
          .get(this, w, msg.batch);
      case "queue-size":
        return this.answer(w, {
          count: this.queues.get(name)?.items.length ?? 0,
        });
      case "variable-set":
        getOrAdd(this.variables, name, () => new VariableRecord())
          .set(this, this.store(msg));
        return this.answer(w, {});
      case "variable-get":
        return getOrAdd(this.variables, name, () => new VariableRecord())
          .get(this, w);
      case "variable-delete":
        this.variables.get(name)?.delete(this);
        return this.answer(w, {});
      case "event-set":
        getOrAdd(this.events, name, () => new EventRecord()).set(this, msg.on);
        return this.answer(w, {});
      case "event-wait":
        return getOrAdd(this.events, name, () => new EventRecord())
          .wait(this, w, msg.poll ?? false);
      case "semaphore-acquire": {
        const max = msg.maxLeases;
        const s = getOrAdd(
          this.semaphores,
          name,
          () => new SemaphoreRecord(max),
        );
        if (s.maxLeases === max) return s.acquire(this, w);
        return this.answer(w, {
          error: `semaphore ${name} has ${s.maxLeases} leases, not ${max}`,
        });
      }
      case "semaphore-release": {
        const s = this.semaphores.get(name);
        if (s) return s.release(this, w, msg.lease);
        return this.answer(w, {
          error: `lease ${msg.lease} of semaphore ${name} is not held`,
        });
      }
      case "topic-subscribe": {
        const topic = getOrAdd(this.topics, name, () => new TopicRecord());
        getOrAdd(this.subscriptions, w.peer, () => new Map()).set(w.id, topic);
        return topic.subscribe(this, w);
      }
    }
  }

  /** Peer `peer` gives up request `id` (see the module's note). */
  private withdraw(peer: string, id: number): void {
    const w: Waiter = { peer, id, task: undefined };
    const waiting = this.parked.get(peer)?.get(id);
    if (waiting) waiting.withdraw(this, w);
    const subscribed = this.subscriptions.get(peer);
    const topic = subscribed?.get(id);
    if (topic) {
      topic.withdraw(this, w);
      subscribed!.delete(id);
      if (subscribed!.size === 0) this.subscriptions.delete(peer);
    }
    if (waiting || topic) this.tidyAll();
  }

  /** Peer `peer` left: its waits and subscriptions end, its leases go back. */
  peerLeft(peer: string): void {
    this.parked.delete(peer);
    this.subscriptions.delete(peer);
    for (const p of this.all()) p.peerLeft(this, peer);
    this.tidyAll();
  }

  // ---- CoordinationContext ---------------------------------------------------

  /** @internal */
  answer(w: Waiter, answer: Answer): void {
    const parked = this.parked.get(w.peer);
    if (parked?.delete(w.id) && parked.size === 0) this.parked.delete(w.peer);
    this.host.send(w.peer, { op: "coordinated", id: w.id, ...answer });
  }

  /** @internal */
  park(w: Waiter, where: Primitive): void {
    getOrAdd(this.parked, w.peer, () => new Map()).set(w.id, where);
  }

  /** @internal */
  deliver(w: Waiter, item: Item): void {
    const { value, refs } = item;
    if (!refs) return this.answer(w, { value });
    this.host.give(refs, w.peer, w.task);
    this.answer(w, { value, refs });
  }

  /** @internal */
  deliverBatch(w: Waiter, items: Item[]): void {
    const values = items.map((item) => item.value);
    const refs = [...new Set(items.flatMap((item) => item.refs ?? []))];
    if (refs.length === 0) this.answer(w, { values });
    else {
      this.host.give(refs, w.peer, w.task);
      this.answer(w, { values, refs });
    }
    for (const item of items) this.drop(item);
  }

  /** @internal */
  drop(item: Item): void {
    if (item.holder !== undefined) this.host.unhold(item.holder);
  }

  /** @internal */
  publish(w: Waiter, item: Item): void {
    const { value, refs } = item;
    if (!refs) {
      return this.host.send(w.peer, { op: "topic-message", id: w.id, value });
    }
    this.host.give(refs, w.peer, w.task);
    this.host.send(w.peer, { op: "topic-message", id: w.id, value, refs });
  }

  /** @internal */
  nextLease(): number {
    return ++this.leases;
  }

  // ---- bookkeeping -----------------------------------------------------------

  /** A value to store: the keys inside it are held until it is dropped. */
  private store(msg: { value: Item["value"]; refs?: string[] }): Item {
    const refs = msg.refs && msg.refs.length > 0 ? msg.refs : undefined;
    if (!refs) return { value: msg.value, refs, holder: undefined };
    const holder = `coordination ${++this.holders}`;
    this.host.hold(refs, holder);
    return { value: msg.value, refs, holder };
  }

  /** Every primitive. */
  private *all(): Iterable<Primitive> {
    yield* this.queues.values();
    yield* this.variables.values();
    yield* this.events.values();
    yield* this.semaphores.values();
    yield* this.topics.values();
  }

  /** Forgets the primitives named `name` that keep nothing. */
  private tidy(name: string): void {
    for (const map of this.maps()) if (map.get(name)?.idle) map.delete(name);
  }

  /** Forgets every primitive that keeps nothing. */
  private tidyAll(): void {
    for (const map of this.maps()) {
      for (const [name, p] of map) if (p.idle) map.delete(name);
    }
  }

  /** The maps of primitives. */
  private maps(): Map<string, Primitive>[] {
    return [
      this.queues,
      this.variables,
      this.events,
      this.semaphores,
      this.topics,
    ];
  }

  /**
   * Checks every primitive's invariants, and that the waits filed here are
   * exactly those the primitives hold.
   *
   * @throws {Error} naming the first broken invariant.
   */
  validate(): void {
    let waiting = 0;
    for (const p of this.all()) {
      p.validate();
      if (p.idle) throw new Error("an idle primitive is kept");
    }
    for (const q of this.queues.values()) {
      waiting += q.getters.length + q.putters.length;
    }
    for (const v of this.variables.values()) waiting += v.waiters.length;
    for (const e of this.events.values()) waiting += e.waiters.length;
    for (const s of this.semaphores.values()) waiting += s.waiters.length;
    let parked = 0;
    for (const m of this.parked.values()) parked += m.size;
    if (parked !== waiting) {
      throw new Error(`${parked} waits filed, ${waiting} waiting`);
    }
    let subscribed = 0;
    for (const t of this.topics.values()) subscribed += t.subscribers.length;
    let filed = 0;
    for (const m of this.subscriptions.values()) filed += m.size;
    if (subscribed !== filed) {
      throw new Error(`${filed} subscriptions filed, ${subscribed} subscribed`);
    }
  }
}

/** The value of `key` in `map`, added with `make` when missing. */
function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, v = make());
  return v;
}
