/**
 * One data connection between a worker and a peer (another worker or a
 * client): both ends may ask for values (`get-data`) and answer them. Results
 * stay on the worker that made them; this is how they move.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import { ConnectionFailedError, LostDataError } from "../../runtime/errors.ts";
import type { Connection } from "../../runtime/wire/transport.ts";
import type {
  ActorCall,
  ActorReply,
  DataMessage,
  DataRequest,
  DataResponse,
  DataStored,
} from "../protocol.ts";

/** The transport interface a {@linkcode DataPeer} wraps. */
export type { Connection };

/** What a data server answers for the keys it is asked for. */
export type DataServer = (keys: string[]) => DataResponse["values"];

/**
 * Stores values a peer puts (`client.scatter`); returns the keys stored.
 * Throws to refuse them (the error's message goes back to the peer).
 */
export type DataAcceptor = (values: Record<string, Packed>) => string[];

/** Runs a method call on an actor hosted here and makes its answer. */
export type ActorServer = (call: ActorCall) => Promise<ActorReply>;

/** Values received for a request, and the keys the peer did not have. */
export interface DataReply {
  /** Codec bytes of each value the peer had, by key. */
  values: Record<string, Packed>;
  /** Keys asked for that the peer did not have. */
  missing: string[];
}

/**
 * Requests and serves values over one connection.
 *
 * @example One end serves a store, the other asks it
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataPeer } from "./data_peer.ts";
 * import { localPair } from "../../runtime/wire/local.ts";
 * const [a, b] = localPair("a", "b");
 * const store = new Map([["x", new Uint8Array([1])]]);
 * const server = new DataPeer(b, (keys) => Object.fromEntries(keys.flatMap((k) => store.has(k) ? [[k, store.get(k)!]] : [])));
 * const reply = await new DataPeer(a).get(["x", "y"]);
 * assert.deepEqual(reply.values.x, new Uint8Array([1]));
 * assert.deepEqual(reply.missing, ["y"]);
 * a.close();
 * server.close();
 * ```
 */
export class DataPeer {
  /** Id of the last request sent. */
  private nextId = 0;
  /** Requests not answered yet, by id. */
  private readonly pending = new Map<
    number,
    {
      resolve: (r: DataReply) => void;
      reject: (e: Error) => void;
      keys: string[];
    }
  >();
  /** Puts not answered yet, by id. */
  private readonly puts = new Map<
    number,
    { resolve: (keys: string[]) => void; reject: (e: Error) => void }
  >();
  /** Actor method calls not answered yet, by id. */
  private readonly calls = new Map<
    number,
    { resolve: (reply: ActorReply) => void; reject: (e: Error) => void }
  >();

  /**
   * Wraps `conn`; with `serve`, answers the peer's requests too; with
   * `accept`, stores the values the peer puts; with `actors`, runs the
   * peer's calls of actors hosted here.
   */
  constructor(
    readonly conn: Connection<unknown, unknown>,
    private readonly serve?: DataServer,
    private readonly accept?: DataAcceptor,
    private readonly actors?: ActorServer,
  ) {
    conn.onMessages((batch) => this.receive(batch as DataMessage[]));
    conn.onClose((reason) => {
      const error = new Error(
        `data connection to ${conn.peer} closed${
          reason ? `: ${reason.message}` : ""
        }`,
      );
      for (const p of this.pending.values()) p.reject(error);
      for (const p of this.puts.values()) p.reject(error);
      for (const p of this.calls.values()) p.reject(error);
      this.pending.clear();
      this.puts.clear();
      this.calls.clear();
    });
  }

  /**
   * Puts `values` into the peer's store; resolves with the keys it stored.
   *
   * @throws {Error} (as a rejection) when the peer refuses them or the connection closes.
   */
  put(values: Record<string, Packed>): Promise<string[]> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.puts.set(id, { resolve, reject });
      try {
        this.conn.send({ op: "put-data", id, values } satisfies DataRequest);
      } catch (e) {
        this.puts.delete(id);
        reject(e);
      }
    });
  }

  /**
   * Calls `method` of the actor of task `key` hosted by the peer, with
   * `args` (codec bytes of the argument array); resolves with its answer.
   *
   * @throws {Error} (as a rejection) when the connection closes first (the
   * call may or may not have run).
   */
  call(key: string, method: string, args: Packed): Promise<ActorReply> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      try {
        this.conn.send(
          { op: "actor-call", id, key, method, args } satisfies ActorCall,
        );
      } catch (e) {
        this.calls.delete(id);
        reject(e);
      }
    });
  }

  /** Asks the peer for `keys`. */
  get(keys: string[]): Promise<DataReply> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, keys });
      try {
        this.conn.send({ op: "get-data", id, keys } satisfies DataRequest);
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  /** Closes the connection; pending requests reject. */
  close(): void {
    this.conn.close();
  }

  /** Stores a put's values with the acceptor and makes the answer. */
  private store(id: number, values: Record<string, Packed>): DataStored {
    try {
      return { op: "stored", id, keys: this.accept!(values) };
    } catch (e) {
      return { op: "stored", id, keys: [], error: String(e) };
    }
  }

  /**
   * Answers requests (when serving) and settles answered requests. Anything
   * else closes the connection.
   */
  private receive(batch: DataMessage[]): void {
    for (const msg of batch) {
      if (msg?.op === "get-data" && this.serve && Array.isArray(msg.keys)) {
        const values = this.serve(msg.keys);
        const missing = msg.keys.filter((k) => !(k in values));
        this.conn.send(
          { op: "data", id: msg.id, values, missing } satisfies DataResponse,
        );
      } else if (msg?.op === "put-data" && this.accept) {
        this.conn.send(this.store(msg.id, msg.values));
      } else if (msg?.op === "actor-call" && this.actors) {
        // Answers go back as calls end, in any order (matched by id).
        this.actors(msg).then((reply) => {
          if (!this.conn.closed) this.conn.send(reply);
        });
      } else if (msg?.op === "actor-reply" && this.calls.has(msg.id)) {
        const p = this.calls.get(msg.id)!;
        this.calls.delete(msg.id);
        p.resolve(msg);
      } else if (msg?.op === "stored" && this.puts.has(msg.id)) {
        const p = this.puts.get(msg.id)!;
        this.puts.delete(msg.id);
        if (msg.error === undefined) p.resolve(msg.keys);
        else {
          p.reject(
            new Error(`${this.conn.peer} refused the values: ${msg.error}`),
          );
        }
      } else if (msg?.op === "data" && this.pending.has(msg.id)) {
        const p = this.pending.get(msg.id)!;
        this.pending.delete(msg.id);
        p.resolve({ values: msg.values, missing: msg.missing });
      } else {
        const error = new TypeError(
          `bad data message from ${this.conn.peer}: ${
            JSON.stringify(msg)?.slice(0, 80)
          }`,
        );
        console.error(`tendril: closing connection: ${error.message}`);
        this.conn.close(error);
        return;
      }
    }
  }
}

/** How often, and after how long, a request to an unreachable peer is tried again. */
export interface RetryOptions {
  /** Tries after the first (default 3). */
  retries?: number;
  /** Milliseconds before the first retry, doubling after each (default 50). */
  backoff?: number;
}

/**
 * Asks the peer at `address` for `keys`, dialling it through `peerFor`.
 * Connection failures are retried with backoff (a holder that just died is
 * meanwhile noticed by the scheduler); an answer, even one without the
 * values, is final.
 *
 * @throws {Error} (as a rejection) naming why the peer could not be asked.
 * @example A peer with no route
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestFrom } from "./data_peer.ts";
 * await assert.rejects(
 *   requestFrom("inproc://nowhere", ["x"], () => undefined),
 *   /no route to inproc:\/\/nowhere/,
 * );
 * ```
 */
export async function requestFrom(
  address: string,
  keys: string[],
  peerFor: (address: string) => DataPeer | Promise<DataPeer> | undefined,
  options: RetryOptions = {},
): Promise<DataReply> {
  const retries = options.retries ?? 3;
  const backoff = options.backoff ?? 50;
  for (let attempt = 0;; attempt++) {
    let peer: DataPeer | undefined;
    try {
      peer = await peerFor(address);
      if (peer) return await peer.get(keys);
    } catch (e) {
      if (attempt >= retries) throw e;
      await new Promise((r) => setTimeout(r, backoff * 2 ** attempt));
      continue;
    }
    throw new Error(`no route to ${address}`);
  }
}

/**
 * Fetches one value from the first of its holders that has it, trying them
 * in order (see {@linkcode requestFrom} for retries). `peerFor` opens (or
 * finds) the data connection to a holder's address.
 *
 * @throws {LostDataError} (as a rejection) naming each holder and why it failed.
 * @example A holder that has the value, and one that does not
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataPeer, fetchFromHolders } from "./data_peer.ts";
 * import { LostDataError } from "../../runtime/errors.ts";
 * import { localPair } from "../../runtime/wire/local.ts";
 * const [a, b] = localPair("a", "b");
 * const server = new DataPeer(b, (keys): Record<string, string> => keys.includes("x") ? { x: "v" } : {});
 * const client = new DataPeer(a);
 * assert.equal(await fetchFromHolders("x", ["w1"], () => client), "v");
 * await assert.rejects(fetchFromHolders("y", ["w1"], () => client), (e) =>
 *   e instanceof LostDataError && e.notHeld[0] === "w1");
 * a.close();
 * server.close();
 * ```
 */
export async function fetchFromHolders(
  key: string,
  who: readonly string[],
  peerFor: (address: string) => DataPeer | Promise<DataPeer> | undefined,
  options?: RetryOptions,
): Promise<Packed> {
  const notHeld: string[] = [];
  const unreachable: string[] = [];
  const reasons: string[] = [];
  for (const address of who) {
    let reply: DataReply;
    try {
      reply = await requestFrom(address, [key], peerFor, options);
    } catch (e) {
      unreachable.push(address);
      reasons.push(`${address}: ${(e as Error)?.message ?? e}`);
      continue;
    }
    if (reply.values[key] !== undefined) return reply.values[key];
    notHeld.push(address);
    reasons.push(`${address} does not have it`);
  }
  throw new LostDataError(
    key,
    `could not fetch ${key}: ${reasons.join("; ") || "no holder is known"}`,
    { notHeld, unreachable },
  );
}

/**
 * Calls `method` of the actor of task `key` hosted by the worker at
 * `address`, dialling it through `peerFor` (once: a call is not retried,
 * it may have side effects).
 *
 * @throws {ConnectionFailedError} (as a rejection) when the worker could not
 * be reached: the call was not sent.
 * @throws {Error} (as a rejection) when the connection closed during the
 * call: it may or may not have run.
 * @example A worker that cannot be reached
 * ```ts
 * import assert from "node:assert/strict";
 * import { callActorAt } from "./data_peer.ts";
 * import { ConnectionFailedError } from "../../runtime/errors.ts";
 * await assert.rejects(
 *   callActorAt("inproc://gone", "c-1", "get", "\x90", () => undefined),
 *   (e) => e instanceof ConnectionFailedError && /inproc:\/\/gone/.test(e.message),
 * );
 * ```
 */
export async function callActorAt(
  address: string,
  key: string,
  method: string,
  args: Packed,
  peerFor: (address: string) => DataPeer | Promise<DataPeer> | undefined,
): Promise<ActorReply> {
  let peer: DataPeer | undefined;
  try {
    peer = await peerFor(address);
  } catch (e) {
    if (e instanceof ConnectionFailedError) throw e;
    throw new ConnectionFailedError(
      `cannot reach ${address}: ${(e as Error)?.message ?? e}`,
      { cause: e },
    );
  }
  if (!peer) throw new ConnectionFailedError(`no worker at ${address}`);
  return peer.call(key, method, args);
}
