/**
 * Cluster start-up to first result, 2 workers: start the cluster, connect a
 * client, `await submit(noop, 1).result()`. In-process (Web Workers) and as
 * processes (the cluster CLI over TCP). A fresh cluster each repetition;
 * stopping it is not timed.
 *
 * @module
 */

import type { CaseDef } from "../harness.ts";
import { noop } from "../tasks.ts";
import { connect, unavailable, type Where } from "./common.ts";

/** A `startup.<inproc|processes>` case. */
export function startupCase(where: Where): CaseDef {
  return {
    id: where === "inproc" ? "startup.inproc" : "startup.processes",
    title: where === "inproc"
      ? "start-up to first result, 2 Web Workers"
      : "start-up to first result, 2 worker processes (cluster CLI)",
    unit: "ms",
    open() {
      const why = unavailable(where);
      if (why) return Promise.resolve({ skipped: why });
      return Promise.resolve({
        async run() {
          const t = performance.now();
          const conn = await connect(where);
          try {
            if (await conn.client.submit(noop, 1).result() !== 1) {
              throw new Error("wrong result");
            }
            return { value: performance.now() - t };
          } finally {
            await conn[Symbol.asyncDispose]();
          }
        },
        [Symbol.asyncDispose]: () => Promise.resolve(),
      });
    },
  };
}
