/**
 * The Web Worker transport: a {@linkcode Connection} over anything with
 * `postMessage` (a `Worker`, a `MessagePort`, a worker's `self`). Each batch
 * is one structured-clone postMessage; LIMITS.md measured that as twice the
 * throughput of msgpack bytes for small control messages, so values travel
 * as codec bytes inside plain messages rather than whole batches as bytes.
 *
 * @module
 */

import { BatchingConnection } from "./transport.ts";

/** Something we can post to and receive from. */
export interface PostEndpoint {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close?(): void;
  terminate?(): void;
}

/** What travels: a batch, or the notice that the sender closed. */
type Frame<T> = T[] | { close: string | null };

/**
 * A connection over a postMessage endpoint.
 *
 * @example
 * ```ts
 * import { PortConnection } from "./webworker.ts";
 * const { port1, port2 } = new MessageChannel();
 * const a = new PortConnection<string, string>(port1, "b");
 * const b = new PortConnection<string, string>(port2, "a");
 * const got = new Promise<string[]>((r) => b.onMessages(r));
 * a.send("hello");
 * console.assert((await got)[0] === "hello");
 * a.close();
 * b.close();
 * ```
 */
export class PortConnection<In, Out> extends BatchingConnection<In, Out> {
  /** Creates the connection and starts listening on `endpoint` at once. */
  constructor(private readonly endpoint: PostEndpoint, readonly peer: string) {
    super();
    // Listen synchronously: a message posted before a listener exists is lost.
    endpoint.onmessage = (event) => this.receive(event.data as Frame<In>);
  }

  private receive(frame: Frame<In>): void {
    if (Array.isArray(frame)) return this.deliver(frame);
    if (frame !== null && typeof frame === "object" && "close" in frame) {
      const reason = frame.close === null ? undefined : new Error(frame.close);
      return this.terminate(reason);
    }
    const error = new TypeError(
      `bad frame from ${this.peer}: expected a batch (array), got ${
        describe(frame)
      }`,
    );
    console.error(`tendril: closing connection: ${error.message}`);
    this.terminate(error);
  }

  protected write(batch: Out[]): void {
    this.endpoint.postMessage(batch);
  }

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

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}
