/**
 * Entry script of a worker process's heartbeat thread (a Deno Web Worker).
 * Tasks run on the worker's main thread, and a task that computes for a
 * minute without yielding would silence heartbeats sent from there: the
 * scheduler would take a healthy, busy worker for a dead one. This thread
 * has its own connection to the scheduler (role `heartbeat`) and beats
 * whatever the main thread does; it stops only with its process, so a
 * killed, frozen or cut-off worker still falls silent.
 *
 * @module
 */

import { greet } from "../../runtime/wire/handshake.ts";
import { connect } from "../../runtime/wire/tcp/listen.ts";
import type { Heartbeat } from "../protocol.ts";

/** What the worker posts to start the thread. */
export interface HeartbeatInit {
  /** The scheduler's address. */
  scheduler: string;
  /** The id of the worker this thread beats for. */
  id: string;
  /** The cluster token, if any. */
  token?: string;
  /** PEM CA certificates trusted for `tls://`. */
  caCerts?: string[];
  /** PEM certificate and key presented to a scheduler that asks (mutual TLS). */
  clientCert?: { cert: string; key: string };
  /** Milliseconds between heartbeats. */
  interval: number;
  /** Milliseconds a handshake may take. */
  handshakeTimeout: number;
}

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<HeartbeatInit>) => void) | null;
};

scope.onmessage = async (event: MessageEvent<HeartbeatInit>) => {
  const init = event.data;
  const beat: Heartbeat = { op: "heartbeat" };
  // One connection at a time; a lost one is dialled again on the next beat.
  for (;;) {
    try {
      const conn = await connect(init.scheduler, {
        caCerts: init.caCerts,
        clientCert: init.clientCert,
      });
      await greet(conn, {
        role: "heartbeat",
        token: init.token,
        id: init.id,
      }, init.handshakeTimeout);
      while (!conn.closed) {
        conn.send(beat);
        await new Promise((r) => setTimeout(r, init.interval));
      }
    } catch {
      // The main thread's own connection reports the scheduler's loss.
    }
    await new Promise((r) => setTimeout(r, init.interval));
  }
};
