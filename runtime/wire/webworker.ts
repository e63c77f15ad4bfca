/**
 * The Web Worker transport: a {@linkcode Connection} over anything with
 * `postMessage` (a `Worker`, a `MessagePort`, a worker's `self`). Each batch
 * is one structured-clone postMessage. For small control messages that was
 * measured at twice the throughput of posting the batch as msgpack bytes, so
 * values travel as codec bytes inside plain messages rather than whole
 * batches as bytes.
 *
 * @module
 */

import { describeValue } from "./checks.ts";
import { BatchingConnection } from "./transport.ts";

/** Something we can post to and receive from. */
export interface PostEndpoint {
  /** Sends one message (structured-cloned) to the other side. */
  postMessage(message: unknown): void;
  /** The listener of incoming messages; set to `null` when the connection closes. */
  onmessage: ((event: MessageEvent) => void) | null;
  /** Closes the endpoint (a `MessagePort`, a worker's `self`); called on shutdown when present. */
  close?(): void;
  /** Stops a `Worker`; {@linkcode PortConnection} itself never calls it. */
  terminate?(): void;
}

/** What travels: a batch, or the notice that the sender closed. */
type Frame<T> = T[] | { close: string | null };

/**
 * A connection over a postMessage endpoint. Batches travel as arrays; a
 * closing side posts `{ close: reason }` (the reason's message, or `null`),
 * which closes the other side too.
 *
 * @example Over the two ports of a MessageChannel
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortConnection } from "./webworker.ts";
 * const { port1, port2 } = new MessageChannel();
 * const a = new PortConnection<string, string>(port1, "b");
 * const b = new PortConnection<string, string>(port2, "a");
 * const got = new Promise<string[]>((r) => b.onMessages(r));
 * a.send("hello");
 * assert.deepEqual(await got, ["hello"]);
 * const closed = new Promise<Error | undefined>((r) => b.onClose(r));
 * a.close(new Error("done"));
 * assert.equal((await closed)?.message, "done");
 * ```
 */
export class PortConnection<In, Out> extends BatchingConnection<In, Out> {
  /** Creates the connection and starts listening on `endpoint` at once. */
  constructor(private readonly endpoint: PostEndpoint, readonly peer: string) {
    super();
    // Listen synchronously: a message posted before a listener exists is lost.
    endpoint.onmessage = (event) => this.receive(event.data as Frame<In>);
  }

  /** Handles one posted frame: delivers a batch, closes on a close notice or anything else. */
  private receive(frame: Frame<In>): void {
    if (Array.isArray(frame)) return this.deliver(frame);
    if (frame !== null && typeof frame === "object" && "close" in frame) {
      const reason = frame.close === null ? undefined : new Error(frame.close);
      return this.terminate(reason);
    }
    const error = new TypeError(
      `bad frame from ${this.peer}: expected a batch (array), got ${
        describeValue(frame)
      }`,
    );
    console.error(`tendril: closing connection: ${error.message}`);
    this.terminate(error);
  }

  /** Posts `batch` as one message. */
  protected write(batch: Out[]): void {
    this.endpoint.postMessage(batch);
  }

  /**
   * Tells the other side (`{ close: reason }`, if it is still there), stops
   * listening and closes the endpoint when it can be closed.
   */
  protected shutdown(reason: Error | undefined): void {
    try {
      this.endpoint.postMessage({ close: reason ? reason.message : null });
    } catch {
      // The other side is already gone.
    }
    this.endpoint.onmessage = null;
    this.endpoint.close?.();
  }
}
