/**
 * `map(noop, N)` + gather, as Dask's `client.gather(client.map(noop, range(n)))`:
 * submission, scheduling, running and result transfer of N tiny tasks.
 *
 * @module
 */

import type { CaseDef } from "../harness.ts";
import { noop } from "../tasks.ts";
import { connect, unavailable, type Where } from "./common.ts";

/** A `map.<where>.<size>` case. */
export function mapCase(where: Where, n: number, label: string): CaseDef {
  return {
    id: `map.${where}.${label}`,
    title: `map(noop, ${label}) + gather, ${
      where === "tcp" ? "TCP" : "in-process"
    }`,
    unit: "ms",
    extras: { tasksPerS: "/s" },
    async open() {
      const why = unavailable(where);
      if (why) return { skipped: why };
      const conn = await connect(where);
      const items = Array.from({ length: n }, (_, i) => i);
      return {
        async run() {
          const t = performance.now();
          const futures = conn.client.map(noop, items);
          const values = await conn.client.gather(futures);
          const ms = performance.now() - t;
          for (const f of futures) f.release();
          if (values[n - 1] !== n - 1) throw new Error("wrong map result");
          return { value: ms, extra: { tasksPerS: n / (ms / 1000) } };
        },
        [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
      };
    },
  };
}
