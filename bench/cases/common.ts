/**
 * What most cases share: a 2-worker cluster (in-process or the cluster CLI
 * over TCP) with a connected client and the task module registered.
 *
 * @module
 */

import { Client, LocalCluster, registerModule } from "../../mod.ts";
import { ProcessCluster, tcpUnavailable } from "../process_cluster.ts";

/** The module of the benchmarks' task functions. */
export const TASKS = new URL("../tasks.ts", import.meta.url);

/** Where a case's cluster runs. */
export type Where = "inproc" | "tcp";

/** A connected client and what to stop after it. */
export interface Connected extends AsyncDisposable {
  client: Client;
  /** The in-process cluster, when there is one. */
  cluster?: LocalCluster;
}

/** Starts a 2-worker, 1-slot cluster and connects a client to it. */
export async function connect(where: Where = "inproc"): Promise<Connected> {
  await registerModule(TASKS);
  if (where === "inproc") {
    const cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    const client = await Client.connect(cluster);
    return {
      client,
      cluster,
      async [Symbol.asyncDispose]() {
        await client.close();
        await cluster.close();
      },
    };
  }
  const cluster = await ProcessCluster.start(2, 1);
  try {
    const client = await Client.connect(cluster.address);
    return {
      client,
      async [Symbol.asyncDispose]() {
        await client.close();
        await cluster.stop();
      },
    };
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/** Why a case on `where` cannot run, or undefined. */
export function unavailable(where: Where): string | undefined {
  return where === "tcp" ? tcpUnavailable() : undefined;
}
