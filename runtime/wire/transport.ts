/**
 * The transport interface every actor speaks through, and the batching all
 * transports share. A connection moves plain messages in order; messages sent
 * in one macrotask travel as one batch (one postMessage, one TCP write), so
 * batching grows by itself under load without adding latency when idle.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { ConnectionClosedError } from "../errors.ts";

/** A two-way, ordered, batched message channel to one peer. */
export interface Connection<In = unknown, Out = unknown> {
  /** Queues `msg`; everything queued in this macrotask is sent as one batch. */
  send(msg: Out): void;
  /** Receives batches in order; batches that arrived before are replayed. */
  onMessages(handler: (batch: In[]) => void): void;
  /** Called once when the connection closes, with the reason if it failed. */
  onClose(handler: (reason: Error | undefined) => void): void;
  /** Flushes what is queued, then closes both ends. */
  close(reason?: Error): void;
  /** True once closed from either end. */
  readonly closed: boolean;
  /** A description of the peer for logs and errors. */
  readonly peer: string;
}

/**
 * Shared machinery of a {@linkcode Connection}: the outgoing batch, the
 * flush on the next macrotask, buffering until a handler is attached and
 * close bookkeeping. A transport implements `write` and `shutdown` and calls
 * `deliver` and `terminate`.
 *
 * @example A loopback transport: two sends, one batch
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionClosedError } from "../errors.ts";
 * import { BatchingConnection } from "./transport.ts";
 * class Loop extends BatchingConnection<number, number> {
 *   readonly peer = "loop";
 *   protected write(batch: number[]) { this.deliver(batch); }
 *   protected shutdown() {}
 * }
 * const c = new Loop();
 * const got = new Promise<number[]>((r) => c.onMessages(r));
 * c.send(1);
 * c.send(2);
 * assert.deepEqual(await got, [1, 2]);
 * c.close();
 * assert.equal(c.closed, true);
 * assert.throws(() => c.send(3), ConnectionClosedError);
 * ```
 */
export abstract class BatchingConnection<In, Out>
  implements Connection<In, Out> {
  /** Peer description. */
  abstract readonly peer: string;
  #out: Out[] = [];
  #scheduled = false;
  #handler: ((batch: In[]) => void) | null = null;
  #early: In[][] = [];
  #closeHandlers: ((reason: Error | undefined) => void)[] = [];
  #closed = false;
  #reason: Error | undefined;

  /** Writes one batch to the peer. */
  protected abstract write(batch: Out[]): void;
  /** Releases the underlying resource; called once. */
  protected abstract shutdown(reason: Error | undefined): void;

  /** True once closed from either end. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues `msg`; everything queued in this macrotask is sent as one batch.
   *
   * @throws {ConnectionClosedError} when the connection is closed.
   */
  send(msg: Out): void {
    if (this.#closed) {
      throw new ConnectionClosedError(`connection to ${this.peer} is closed`);
    }
    this.#out.push(msg);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends what is queued now (normally done on the next macrotask). */
  readonly flush = (): void => {
    this.#scheduled = false;
    if (this.#out.length === 0 || this.#closed) return;
    const batch = this.#out;
    this.#out = [];
    try {
      this.write(batch);
    } catch (e) {
      this.terminate(e instanceof Error ? e : new Error(String(e)));
    }
  };

  /**
   * Sets the handler of received batches (replacing any earlier one) and
   * hands it, in order, the batches that arrived while there was none.
   */
  onMessages(handler: (batch: In[]) => void): void {
    this.#handler = handler;
    const early = this.#early;
    this.#early = [];
    for (const batch of early) handler(batch);
  }

  /**
   * Calls `handler` once the connection closes, with the reason if it
   * failed; at once if it is already closed.
   */
  onClose(handler: (reason: Error | undefined) => void): void {
    if (this.#closed) handler(this.#reason);
    else this.#closeHandlers.push(handler);
  }

  /** Sends what is queued, then closes (once; later calls do nothing). */
  close(reason?: Error): void {
    if (this.#closed) return;
    this.flush();
    this.terminate(reason);
  }

  /** Takes the batches buffered while there was no handler (to pass them through something first). */
  protected takeEarly(): In[][] {
    const early = this.#early;
    this.#early = [];
    return early;
  }

  /** Hands a received batch to the handler (or buffers it). */
  protected deliver(batch: In[]): void {
    if (this.#closed) return;
    if (this.#handler) this.#handler(batch);
    else this.#early.push(batch);
  }

  /** Marks the connection closed and tells everyone, once. */
  protected terminate(reason: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reason = reason;
    this.#out = [];
    try {
      this.shutdown(reason);
    } finally {
      for (const h of this.#closeHandlers.splice(0)) h(reason);
    }
  }
}
