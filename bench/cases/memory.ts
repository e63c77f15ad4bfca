/**
 * Scheduler memory. Held: N tiny tasks that cannot run (all depend on a gate
 * task that never finishes) are submitted, and this isolate's heap growth
 * after GC is divided by N. Submitted from inside a task, the futures live
 * on a worker, so the growth is the scheduler's alone; submitted from this
 * client, it is the client's records plus the scheduler's. Released: N tasks
 * pass through in batches (submit, gather, release) and the heap after GC is
 * compared before and after (it should not grow).
 *
 * @module
 */

import type { Future } from "../../mod.ts";
import { type CaseDef, type CaseOptions, until } from "../harness.ts";
import { gcUnavailable, heapAfterGc } from "../memory_probe.ts";
import { gate, holdPending, noop } from "../tasks.ts";
import { connect } from "./common.ts";

const size = (o: CaseOptions) => (o.quick ? 100_000 : 1_000_000);
const CHUNK = 10_000;

/** `memory.held.scheduler` (from a task) or `memory.held.client` (from here). */
export function heldCase(fromTask: boolean): CaseDef {
  return {
    id: fromTask ? "memory.held.scheduler" : "memory.held.client",
    title: fromTask
      ? "scheduler heap per pending task (submitted from a task)"
      : "client + scheduler heap per pending task (submitted here)",
    unit: "B/task",
    extras: { submitPerS: "/s", residual: "B/task" },
    reps: 3,
    async open(options) {
      const why = gcUnavailable();
      if (why) return { skipped: why };
      const n = size(options);
      const conn = await connect("inproc");
      const tasks = () => conn.cluster!.scheduler.state.tasks;
      const once = async (m: number) => {
        const before = await heapAfterGc();
        const t = performance.now();
        let stop: () => Promise<void>;
        if (fromTask) {
          const holder = conn.client.submit(holdPending, m, CHUNK);
          stop = () => holder.cancel();
        } else {
          const g = conn.client.submit(gate);
          let held: Future<unknown>[] = [];
          for (let i = 0; i < m; i += CHUNK) {
            for (let j = i; j < Math.min(m, i + CHUNK); j++) {
              held.push(conn.client.submit(noop, g));
            }
            await new Promise((r) => setTimeout(r, 0));
          }
          stop = async () => {
            await g.cancel();
            for (const f of held) f.release();
            held = [];
          };
        }
        await until(() => tasks().size >= m + (fromTask ? 2 : 1), 600_000);
        const ms = performance.now() - t;
        const after = await heapAfterGc();
        await stop();
        await until(() => tasks().size === 0, 600_000);
        const residual = await heapAfterGc();
        return {
          value: (after - before) / m,
          extra: {
            submitPerS: m / (ms / 1000),
            residual: (residual - before) / m,
          },
        };
      };
      return {
        warmup: () => once(Math.min(n, 20_000)),
        run: () => once(n),
        [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
      };
    },
  };
}

/** `memory.released`: heap growth after N tasks have passed through. */
export const releasedCase: CaseDef = {
  id: "memory.released",
  title: "heap growth per finished + released task (batches of 10k)",
  unit: "B/task",
  extras: { growth: "B", tasksPerS: "/s", leftInScheduler: "tasks" },
  reps: 3,
  async open(options) {
    const why = gcUnavailable();
    if (why) return { skipped: why };
    const n = size(options);
    const conn = await connect("inproc");
    const tasks = () => conn.cluster!.scheduler.state.tasks;
    const items = Array.from({ length: CHUNK }, (_, i) => i);
    const pass = async (m: number) => {
      for (let i = 0; i < m; i += CHUNK) {
        const futures = conn.client.map(noop, items);
        await conn.client.gather(futures);
        for (const f of futures) f.release();
      }
    };
    return {
      warmup: () => pass(Math.min(n, 100_000)),
      async run() {
        await until(() => tasks().size === 0, 60_000);
        const before = await heapAfterGc();
        const t = performance.now();
        await pass(n);
        const ms = performance.now() - t;
        await until(() => tasks().size === 0, 60_000).catch(() => {});
        const left = tasks().size;
        const after = await heapAfterGc();
        return {
          value: (after - before) / n,
          extra: {
            growth: after - before,
            tasksPerS: n / (ms / 1000),
            leftInScheduler: left,
          },
        };
      },
      [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
    };
  },
};
