/**
 * A client's side of the coordination primitives the scheduler keeps
 * (`Queue`, `Variable`, `ClusterEvent`, `Semaphore`, `Lock`, `Topic`): the
 * requests in flight, matched to their answers by id, and the
 * subscriptions. One per client (views and the worker's in-task client
 * share it).
 *
 * A wait given up (timeout, abort, a cancelled task) is withdrawn at the
 * scheduler. When the answer crossed the withdrawal on the wire, what it
 * gave is undone here: a queue item is put back at the head of its queue,
 * a lease is released, and the keys of futures inside a value are let go.
 *
 * @module
 */

import { type Packed, unpack } from "../../../runtime/codec/packed.ts";
import { ClientClosedError } from "../../../runtime/errors.ts";
import type {
  ClientToScheduler,
  Coordinated,
  CoordinationRequest,
  SchedulerToClient,
} from "../../protocol.ts";

/** A message the scheduler sends about coordination. */
export type CoordinationMessage =
  | Coordinated
  | Extract<SchedulerToClient, { op: "topic-message" }>;

/** A request as a primitive makes it (the link gives it its id). */
export type CoordinationAsk = {
  [Op in Exclude<CoordinationRequest["op"], "withdraw" | "topic-publish">]:
    Omit<Extract<CoordinationRequest, { op: Op }>, "id">;
}[Exclude<CoordinationRequest["op"], "withdraw" | "topic-publish">];

/** Requests answered with values whose futures are held for the asking task. */
const OWNED: ReadonlySet<string> = new Set<CoordinationRequest["op"]>([
  "queue-get",
  "variable-get",
  "topic-subscribe",
]);

/** What the link needs of its client. */
export interface LinkHost {
  /** Sends `msg` after everything the client queued before it. */
  send(msg: ClientToScheduler): void;
  /** Decodes `bytes`, turning the keys inside into futures held for `owner`. */
  decode(bytes: Packed, owner: string): unknown;
  /** Holds `keys` for `owner` while `then` runs, then lets them go. */
  holdWhile(keys: string[], owner: string, then: () => void): void;
}

/** One request in flight. */
export interface Request {
  /** Its id. */
  readonly id: number;
  /** The request. */
  readonly ask: CoordinationAsk;
  /** The task it was made for ("" for the client itself). */
  readonly owner: string;
  /** Its answer, once it came. */
  answer: Coordinated | undefined;
  /** Resolves with the answer; rejects when the client closes or is lost. */
  readonly answered: Promise<Coordinated>;
}

/** A request's resolvers and whether its wait was given up. */
interface Entry {
  readonly request: Request;
  readonly resolvers: PromiseWithResolvers<Coordinated>;
  abandoned: boolean;
}

/** A subscription's callbacks. */
export interface Subscription {
  /** The task it was made for. */
  readonly owner: string;
  /** A message arrived. */
  readonly message: (value: Packed, refs: string[] | undefined) => void;
  /** It ended: the client closed or was lost (`error`), or its task ended. */
  readonly end: (error?: Error) => void;
}

/**
 * The coordination requests of one client.
 *
 * @example A request answered, one abandoned after its answer crossed
 * ```ts
 * import assert from "node:assert/strict";
 * import { CoordinationLink } from "./link.ts";
 * const sent: { op: string }[] = [];
 * const link = new CoordinationLink({
 *   send: (msg) => sent.push(msg),
 *   decode: (bytes) => bytes,
 *   holdWhile: (_keys, _owner, then) => then(),
 * });
 * const size = link.request({ op: "queue-size", name: "q" }, "");
 * link.receive({ op: "coordinated", id: size.id, count: 2 });
 * assert.equal((await size.answered).count, 2);
 * const get = link.request({ op: "queue-get", name: "q" }, "");
 * link.receive({ op: "coordinated", id: get.id, value: "\x05" });
 * link.abandon(get); // given up too late: the item goes back to the queue
 * assert.deepEqual(sent.at(-1), {
 *   op: "queue-put", id: 3, name: "q", value: "\x05", refs: undefined, front: true,
 * });
 * ```
 */
export class CoordinationLink {
  private seq = 0;
  private readonly pending = new Map<number, Entry>();
  private readonly subscriptions = new Map<number, Subscription>();
  private closed: Error | undefined;

  /** A link sending through `host`. */
  constructor(private readonly host: LinkHost) {}

  /** Sends `ask` for task `owner` ("" for none); see {@linkcode Request}. */
  request(ask: CoordinationAsk, owner: string): Request {
    const id = ++this.seq;
    const resolvers = Promise.withResolvers<Coordinated>();
    const request: Request = {
      id,
      ask,
      owner,
      answer: undefined,
      answered: resolvers.promise,
    };
    // Callers that gave up no longer listen: a later failure is not unhandled.
    resolvers.promise.catch(() => {});
    if (this.closed) {
      resolvers.reject(this.closed);
      return request;
    }
    this.pending.set(id, { request, resolvers, abandoned: false });
    const msg = { ...ask, id } as CoordinationRequest;
    if (owner !== "" && OWNED.has(msg.op)) {
      (msg as { owner?: string }).owner = owner;
    }
    this.host.send(msg);
    return request;
  }

  /**
   * The wait for `request` is given up: withdrawn at the scheduler, or,
   * when its answer already came, what the answer gave is undone.
   */
  abandon(request: Request): void {
    if (request.answer) return this.undo(request, request.answer);
    const entry = this.pending.get(request.id);
    if (!entry || entry.abandoned) return;
    entry.abandoned = true;
    this.host.send({ op: "withdraw", id: request.id });
  }

  /** Sends a fire-and-forget publication. */
  publish(name: string, value: Packed, refs: string[] | undefined): void {
    if (this.closed) throw this.closed;
    this.host.send({ op: "topic-publish", name, value, refs });
  }

  /**
   * Subscribes to topic `name` for task `owner`: messages go to `sub` from
   * the time the returned request is answered.
   */
  subscribe(name: string, owner: string, sub: Subscription): Request {
    const request = this.request({ op: "topic-subscribe", name }, owner);
    if (!this.closed) this.subscriptions.set(request.id, sub);
    return request;
  }

  /** Ends subscription `id` (at the scheduler too). */
  unsubscribe(id: number): void {
    if (!this.subscriptions.delete(id) || this.closed) return;
    this.host.send({ op: "withdraw", id });
  }

  /** Task `task` ended: the subscriptions it opened end with it. */
  taskEnded(task: string): void {
    for (const [id, sub] of this.subscriptions) {
      if (sub.owner !== task) continue;
      this.unsubscribe(id);
      sub.end();
    }
  }

  /** A coordination message from the scheduler. */
  receive(msg: CoordinationMessage): void {
    if (msg.op === "topic-message") {
      const sub = this.subscriptions.get(msg.id);
      if (sub) return sub.message(msg.value, msg.refs);
      // Ended here before the scheduler knew: let go of what it gave.
      if (msg.refs) this.host.holdWhile(msg.refs, "", () => {});
      return;
    }
    const entry = this.pending.get(msg.id);
    if (!entry) return;
    this.pending.delete(msg.id);
    if (entry.abandoned) return this.undo(entry.request, msg);
    entry.request.answer = msg;
    entry.resolvers.resolve(msg);
  }

  /** The client closed or lost the scheduler: every wait rejects with `error`. */
  fail(error: Error = new ClientClosedError("a coordination wait")): void {
    this.closed ??= error;
    for (const entry of this.pending.values()) {
      entry.resolvers.reject(this.closed);
    }
    this.pending.clear();
    for (const sub of this.subscriptions.values()) sub.end(this.closed);
    this.subscriptions.clear();
  }

  /** Gives back what `answer` to `request` gave, which nobody will receive. */
  private undo(request: Request, answer: Coordinated): void {
    if (answer.withdrawn || answer.error !== undefined || this.closed) return;
    const { ask, owner } = request;
    const giveBack = () => {
      if (ask.op === "queue-get") {
        const values = answer.values ?? [];
        if (answer.value !== undefined) values.push(answer.value);
        // Back to the head, last first: they keep their order.
        for (const value of values.reverse()) {
          this.host.send({
            op: "queue-put",
            id: ++this.seq,
            name: ask.name,
            value,
            refs: values.length === 1 ? answer.refs : refsIn(value),
            front: true,
          });
        }
      } else if (ask.op === "semaphore-acquire" && answer.count !== undefined) {
        this.host.send({
          op: "semaphore-release",
          id: ++this.seq,
          name: ask.name,
          lease: answer.count,
        });
      } else if (ask.op === "topic-subscribe") this.unsubscribe(request.id);
    };
    if (answer.refs) this.host.holdWhile(answer.refs, owner, giveBack);
    else giveBack();
  }
}

/** The keys of the futures inside `value` (the refs of one item of a batch). */
function refsIn(value: Packed): string[] | undefined {
  const refs = new Set<string>();
  unpack(value, (key) => refs.add(key));
  return refs.size > 0 ? [...refs] : undefined;
}
