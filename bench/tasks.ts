/**
 * Task functions of the benchmarks. They are exported so workers import them
 * by reference (the cases call `registerModule` on this module); the same
 * shapes as the Dask side in `bench/bench_dask.py`.
 *
 * @module
 */

import {
  type Actor,
  compute,
  delayed,
  getClient,
  getWorker,
  rejoin,
  secede,
  taskSignal,
  workerClient,
} from "../mod.ts";

/** Returns its argument (Dask's `noop`). */
export function noop<T>(x: T): T {
  return x;
}

/** fib(n) as a tree of tasks with getClient + secede + rejoin. */
export async function fibSecede(n: number): Promise<number> {
  if (n < 2) return n;
  const client = getClient();
  const a = client.submit(fibSecede, n - 1);
  const b = client.submit(fibSecede, n - 2);
  secede();
  const [x, y] = await client.gather([a, b]);
  await rejoin();
  return x + y;
}

/** fib(n) as a tree of tasks with `await using workerClient()`. */
export async function fibWorkerClient(n: number): Promise<number> {
  if (n < 2) return n;
  await using client = await workerClient();
  const a = client.submit(fibWorkerClient, n - 1);
  const b = client.submit(fibWorkerClient, n - 2);
  const [x, y] = await client.gather([a, b]);
  return x + y;
}

/**
 * fib(n) that waits without an explicit secede (bench_dask.py's
 * `fib_nosecede`, which deadlocks Dask); Tendril secedes for the wait.
 */
export async function fibNoSecede(n: number): Promise<number> {
  if (n < 2) return n;
  const client = getClient();
  const a = client.submit(fibNoSecede, n - 1);
  const b = client.submit(fibNoSecede, n - 2);
  const [x, y] = await client.gather([a, b]);
  return x + y;
}

/** fib(n) as delayed calls computed from inside tasks. */
export const fibDelayed = delayed(
  async function fibDelayed(n: number): Promise<number> {
    if (n < 2) return n;
    const [x, y] = await compute(fibDelayed(n - 1), fibDelayed(n - 2));
    return x + y;
  },
);

/** Number of tasks of a fib(n) tree (Dask's `ntasks`). */
export function fibTasks(n: number): number {
  let a = 1, b = 1;
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return 2 * a - 1;
}

/**
 * `k` sequential `submit(noop).result()` round trips from inside a task;
 * returns each one's duration in µs. With `keepSlot` the waits do not
 * secede (the task keeps its slot; the noop runs on another worker).
 */
export async function submitLatency(
  k: number,
  keepSlot = false,
): Promise<number[]> {
  const client = getClient();
  const options = keepSlot ? { secede: false } : undefined;
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const t = performance.now();
    await client.submit(noop, i).result(options);
    out.push((performance.now() - t) * 1000);
  }
  return out;
}

/** `k` times: enter and leave `workerClient()`; returns each enter in µs. */
export async function workerClientEnter(k: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const t = performance.now();
    await using _client = await workerClient();
    out.push((performance.now() - t) * 1000);
  }
  return out;
}

/** Never finishes: waits (seceded, holding no slot) until cancelled. */
export function gate(): Promise<never> {
  secede();
  const signal = taskSignal();
  return new Promise<never>((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), {
      once: true,
    });
  });
}

/**
 * Submits `n` tasks that all depend on a gate that never opens, so they stay
 * pending in the scheduler while this task's futures live on the worker.
 * Waits (seceded) until cancelled; cancelling it cancels all of them.
 */
export async function holdPending(n: number, chunk = 10_000): Promise<void> {
  const client = getClient();
  const g = client.submit(gate);
  const held = new Array(n);
  for (let i = 0; i < n; i += chunk) {
    for (let j = i; j < Math.min(n, i + chunk); j++) {
      held[j] = client.submit(noop, g);
    }
    await new Promise((r) => setTimeout(r, 0)); // let the batch go out
  }
  await g.result();
}

/**
 * Sleeps `ms` holding its slot (Dask's `time.sleep` holding its thread) and
 * says where it ran; `ms <= 0` returns at once.
 */
export async function sleepMs(ms: number): Promise<string> {
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  return getWorker().id;
}

/** The actor of the actor cases (`Counter` in `bench/dask_extra.py`). */
export class Counter {
  constructor(public n = 0) {}
  increment(by = 1): number {
    return (this.n += by);
  }
  /** The id of the worker hosting it. */
  where(): string {
    return getClient().id;
  }
}

/**
 * `k` sequential awaited calls to `counter`, in µs each: from inside a task,
 * or from the client.
 */
export async function actorCallsInTask(
  counter: Actor<Counter>,
  k: number,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const t = performance.now();
    await counter.increment();
    out.push((performance.now() - t) * 1000);
  }
  return out;
}
