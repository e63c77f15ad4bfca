/**
 * Entry script of an in-process worker (a Deno Web Worker). The first
 * message wires it: scheduler on `self`, a data port for the main isolate's
 * clients, and a control port to the cluster, through which it dials peers
 * (the cluster hands each side one end of a fresh MessageChannel) and hears
 * of peers that died.
 *
 * The worker guards its isolate: a stray error of a task is reported against
 * that task instead of ending the thread, and a thread that ends anyway
 * (`Deno.exit()` in a task) says so on its way out, so the cluster replaces
 * it at once.
 *
 * @module
 */

import {
  PortConnection,
  type PostEndpoint,
} from "../../runtime/wire/webworker.ts";
import type { Connection } from "../../runtime/wire/transport.ts";
import { loadShipping } from "../../runtime/shipping/lazy.ts";
import { WorkerActor } from "./actor.ts";
import { guardStrayErrors } from "./stray_errors.ts";
import {
  PROTOCOL_VERSION,
  type RegisterWorker,
  type ToScheduler,
  type ToWorkerConnection,
} from "../protocol.ts";

/** The wiring message LocalCluster posts first. */
export interface WorkerInit {
  /** Who the worker is and the ports it serves data on. */
  init: {
    /** The worker's id. */
    id: string;
    /** Tasks it runs at once. */
    slots: number;
    /** Its data address (`inproc://<id>`). */
    address: string;
    /** Data port for the clients of the main isolate. */
    mainData: MessagePort;
    /** The control port to the cluster (see {@linkcode ControlMessage}). */
    control: MessagePort;
  };
}

/** What travels on a worker's control port, either way. */
export type ControlMessage =
  /** Worker to cluster: connect me to `to` over `port` (the far end of my new channel). */
  | { dial: string; port: MessagePort }
  /** Cluster to worker: serve the peer `from` on `port`. */
  | { accept: string; port: MessagePort }
  /** Cluster to worker: the peer at `gone` died; drop its connection. */
  | { gone: string };

/**
 * The worker global scope, typed here rather than with triple-slash lib
 * directives (which JSR does not allow in a package).
 */
const scope = globalThis as unknown as PostEndpoint & {
  onmessage: ((event: MessageEvent<WorkerInit>) => void) | null;
  close(): void;
};

scope.onmessage = (event: MessageEvent<WorkerInit>) => {
  const { id, slots, address, mainData, control } = event.data.init;
  const scheduler = new PortConnection<ToWorkerConnection, ToScheduler>(
    scope,
    "scheduler",
  );
  const worker = new WorkerActor({
    id,
    slots,
    address,
    scheduler: scheduler as Connection<ToWorkerConnection, ToScheduler>,
    connect: (peer) => {
      const { port1, port2 } = new MessageChannel();
      const dial: ControlMessage = { dial: peer, port: port2 };
      control.postMessage(dial, [port2]);
      return Promise.resolve(new PortConnection(port1, peer));
    },
    // The client's terminal is this process's: it prints what it is sent.
    echoTaskOutput: false,
  });
  guardStrayErrors((error, task) => worker.strayError(error, task));
  // `Deno.exit()` in a task ends this thread with no event in the main
  // isolate; `unload` still runs, so the thread says it is going.
  addEventListener("unload", () => {
    try {
      scope.postMessage({ close: `worker ${id} exited (Deno.exit)` });
    } catch {
      // The cluster is gone already.
    }
  });
  worker.serve(new PortConnection(mainData, "main"));
  control.onmessage = (event: MessageEvent<ControlMessage>) => {
    const msg = event.data;
    if ("accept" in msg) {
      worker.serve(new PortConnection(msg.port, msg.accept), msg.accept);
    } else if ("gone" in msg) worker.dropPeer(msg.gone);
  };
  scheduler.onClose(() => {
    control.close();
    worker.close();
    control.close();
    scope.close();
  });
  const hello: RegisterWorker = {
    op: "register-worker",
    id,
    slots,
    address,
    version: PROTOCOL_VERSION,
  };
  (scheduler as Connection<unknown, unknown>).send(hello);
  // Warm up function shipping while the scheduler sends the first task.
  setTimeout(() => void loadShipping(), 0);
};
