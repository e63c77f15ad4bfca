/**
 * Entry script of an in-process worker (a Deno Web Worker). The first
 * message wires it: scheduler on `self`, a data port for the main isolate's
 * clients, and one port per peer worker.
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
    /** One data port per other worker of the cluster, with its address. */
    peers: { address: string; port: MessagePort }[];
    /** Delivers `{ peer }`: the data port of a worker started later. */
    control: MessagePort;
  };
}

/**
 * The worker global scope, typed here rather than with triple-slash lib
 * directives (which JSR does not allow in a package).
 */
const scope = globalThis as unknown as PostEndpoint & {
  onmessage: ((event: MessageEvent<WorkerInit>) => void) | null;
  close(): void;
};

scope.onmessage = (event: MessageEvent<WorkerInit>) => {
  const { id, slots, address, mainData, peers, control } = event.data.init;
  const scheduler = new PortConnection<ToWorkerConnection, ToScheduler>(
    scope,
    "scheduler",
  );
  const worker = new WorkerActor({
    id,
    slots,
    address,
    scheduler: scheduler as Connection<ToWorkerConnection, ToScheduler>,
    connect: (peer) =>
      Promise.reject(new Error(`worker ${id} has no route to ${peer}`)),
  });
  worker.serve(new PortConnection(mainData, "main"));
  for (const peer of peers) {
    worker.serve(new PortConnection(peer.port, peer.address), peer.address);
  }
  control.onmessage = (
    e: MessageEvent<{ peer: { address: string; port: MessagePort } }>,
  ) => {
    const { address, port } = e.data.peer;
    worker.serve(new PortConnection(port, address), address);
  };
  scheduler.onClose(() => {
    control.close();
    worker.close();
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
