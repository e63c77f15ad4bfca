/**
 * One data connection between a worker and a peer (another worker or a
 * client): both ends may ask for values (`get-data`) and answer them. Results
 * stay on the worker that made them; this is how they move.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import type { Connection } from "../../runtime/wire/transport.ts";
import type { DataRequest, DataResponse } from "../protocol.ts";

/** What a data server answers for the keys it is asked for. */
export type DataServer = (keys: string[]) => DataResponse["values"];

/** Values received for a request, and the keys the peer did not have. */
export interface DataReply {
  values: Record<string, Packed>;
  missing: string[];
}

type DataMessage = DataRequest | DataResponse;

/**
 * Requests and serves values over one connection.
 *
 * @example
 * ```ts
 * import { DataPeer } from "./data_peer.ts";
 * import { localPair } from "../../runtime/wire/local.ts";
 * const [a, b] = localPair("a", "b");
 * const store = new Map([["x", new Uint8Array([1])]]);
 * const server = new DataPeer(b, (keys) => Object.fromEntries(keys.flatMap((k) => store.has(k) ? [[k, store.get(k)!]] : [])));
 * const reply = await new DataPeer(a).get(["x", "y"]);
 * console.assert(reply.values.x[0] === 1 && reply.missing[0] === "y");
 * a.close();
 * server.close();
 * ```
 */
export class DataPeer {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    {
      resolve: (r: DataReply) => void;
      reject: (e: Error) => void;
      keys: string[];
    }
  >();

  /** Wraps `conn`; with `serve`, answers the peer's requests too. */
  constructor(
    readonly conn: Connection<unknown, unknown>,
    private readonly serve?: DataServer,
  ) {
    conn.onMessages((batch) => this.receive(batch as DataMessage[]));
    conn.onClose((reason) => {
      const error = new Error(
        `data connection to ${conn.peer} closed${
          reason ? `: ${reason.message}` : ""
        }`,
      );
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
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

  private receive(batch: DataMessage[]): void {
    for (const msg of batch) {
      if (msg?.op === "get-data" && this.serve && Array.isArray(msg.keys)) {
        const values = this.serve(msg.keys);
        const missing = msg.keys.filter((k) => !(k in values));
        this.conn.send(
          { op: "data", id: msg.id, values, missing } satisfies DataResponse,
        );
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

/**
 * Fetches one value from the first of its holders that has it, trying them
 * in order; the error names each holder and why it failed. `peerFor` opens
 * (or finds) the data connection to a holder's address.
 *
 * @example
 * ```ts
 * import { DataPeer, fetchFromHolders } from "./data_peer.ts";
 * import { localPair } from "../../runtime/wire/local.ts";
 * const [a, b] = localPair("a", "b");
 * const server = new DataPeer(b, () => ({ x: "v" }));
 * const client = new DataPeer(a);
 * console.assert(await fetchFromHolders("x", ["w1"], () => client) === "v");
 * a.close();
 * server.close();
 * ```
 */
export async function fetchFromHolders(
  key: string,
  who: readonly string[],
  peerFor: (address: string) => DataPeer | Promise<DataPeer> | undefined,
): Promise<Packed> {
  const errors: string[] = [];
  for (const address of who) {
    try {
      const peer = await peerFor(address);
      if (!peer) {
        errors.push(`${address}: no route`);
        continue;
      }
      const reply = await peer.get([key]);
      if (reply.values[key] !== undefined) return reply.values[key];
      errors.push(`${address} does not have it`);
    } catch (e) {
      errors.push(`${address}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `could not fetch ${key} from ${errors.join("; ") || "anyone"}`,
  );
}
