/**
 * The scheduler actor: a thin shell around {@linkcode SchedulerState} that
 * feeds it batches from connections and sends what it produces. A message
 * the state machine rejects closes only the connection it came from.
 *
 * @module
 */

import type { Connection } from "../../runtime/wire/transport.ts";
import type { ToScheduler, ToWorkerConnection } from "../protocol.ts";
import { type SchedulerOptions, SchedulerState } from "./state.ts";

/** A connection as the scheduler sees it. */
export type SchedulerConnection = Connection<ToScheduler, ToWorkerConnection>;

/**
 * The scheduler actor.
 *
 * @example
 * ```ts
 * import { Scheduler } from "./actor.ts";
 * const scheduler = new Scheduler();
 * console.assert(scheduler.state.tasks.size === 0);
 * ```
 */
export class Scheduler {
  /** The state machine (read it for stats and tests). */
  readonly state: SchedulerState;
  private readonly conns = new Map<string, SchedulerConnection>();
  private flushing = false;

  constructor(options?: SchedulerOptions) {
    this.state = new SchedulerState(options);
  }

  /** Adds a worker reachable over `conn` (which also carries its in-task client). */
  addWorker(
    id: string,
    slots: number,
    address: string,
    conn: SchedulerConnection,
  ): void {
    this.attach(id, conn, () => this.state.removeWorker(id));
    this.state.addWorker(id, slots, address);
    this.flush();
  }

  /** Adds a client reachable over `conn`. */
  addClient(id: string, conn: SchedulerConnection): void {
    this.attach(id, conn, () => this.state.removeClient(id));
    this.state.addClient(id);
  }

  /** Connected peer ids. */
  get peers(): string[] {
    return [...this.conns.keys()];
  }

  private attach(
    id: string,
    conn: SchedulerConnection,
    remove: () => void,
  ): void {
    if (this.conns.has(id)) {
      throw new Error(`peer id ${id} is already connected`);
    }
    this.conns.set(id, conn);
    conn.onClose(() => {
      if (this.conns.get(id) !== conn) return;
      this.conns.delete(id);
      remove();
      this.flush();
    });
    conn.onMessages((batch) => this.receive(id, conn, batch));
  }

  private receive(
    id: string,
    conn: SchedulerConnection,
    batch: ToScheduler[],
  ): void {
    for (const msg of batch) {
      try {
        this.state.handle(id, msg);
      } catch (e) {
        const reason = e instanceof Error ? e : new Error(String(e));
        console.error(
          `tendril: closing connection to ${conn.peer}: ${reason.message}`,
        );
        conn.close(reason);
        break;
      }
    }
    this.flush();
  }

  /** Sends what the state machine produced. */
  flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (const { to, msg } of this.state.drain()) {
        const conn = this.conns.get(to);
        if (conn && !conn.closed) conn.send(msg);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Closes every connection. */
  close(): void {
    for (const conn of [...this.conns.values()]) conn.close();
    this.conns.clear();
  }
}
