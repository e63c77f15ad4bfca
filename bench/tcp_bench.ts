/**
 * Tendril over TCP: a scheduler and 2 worker processes (1 slot each) on
 * loopback, started with the cluster CLI, and a client in this process.
 * Prints one JSON line per case:
 *
 * - `tcp.map_10k`: `map(noop, 10_000)` + gather, tasks/s (median of 5 runs
 *   after a warm-up run);
 * - `tcp.submit_latency_task`: `submit(noop).result()` inside a task (auto
 *   secede/rejoin around the wait), µs per call (median of 5 runs, each the
 *   median of 1000 sequential calls);
 * - `tcp.submit_latency_client`: the same from the client, for reference.
 *
 * Run: `deno run -A bench/tcp_bench.ts` (Dask on the same machine:
 * 944 tasks/s and 29 ms, see bench/FLOORS.md).
 *
 * @module
 */

import { Client, registerModule } from "../mod.ts";
import { noop, submitLatency } from "./tasks.ts";

const ROOT = new URL("../", import.meta.url);
const RUNS = 5;
const N = 10_000;
const CALLS = 1000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(): Promise<void> {
  await registerModule(new URL("./tasks.ts", import.meta.url));
  const cluster = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      new URL("deno.json", ROOT).pathname,
      "-A",
      new URL("cli/cluster.ts", ROOT).pathname,
      "--workers",
      "2",
      "--slots",
      "1",
      "--port",
      "0",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = cluster.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let head = "";
  while (!head.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the cluster exited before printing its address");
    head += value;
  }
  const address = head.slice(0, head.indexOf("\n")).trim();
  const drain = (async () => {
    while (!(await reader.read()).done) { /* forward nothing */ }
  })();
  try {
    await using client = await Client.connect(address);
    const items = Array.from({ length: N }, (_, i) => i);

    const rates: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      const t = performance.now();
      const futures = client.map(noop, items);
      const values = await client.gather(futures);
      const ms = performance.now() - t;
      if (values[N - 1] !== N - 1) throw new Error("wrong map result");
      for (const f of futures) f.release();
      if (run > 0) rates.push(N / (ms / 1000)); // run 0 warms up
    }
    console.log(JSON.stringify({
      case: "tcp.map_10k",
      unit: "tasks/s",
      median: Math.round(median(rates)),
      runs: rates.map(Math.round),
      workers: 2,
      slots: 1,
    }));

    const inTask: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      const samples = await client.submit(submitLatency, CALLS).result();
      if (run > 0) inTask.push(median(samples));
    }
    console.log(JSON.stringify({
      case: "tcp.submit_latency_task",
      unit: "µs",
      median: Math.round(median(inTask)),
      runs: inTask.map(Math.round),
      calls: CALLS,
    }));

    const fromClient: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      const samples: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        const t = performance.now();
        await client.submit(noop, i).result();
        samples.push((performance.now() - t) * 1000);
      }
      if (run > 0) fromClient.push(median(samples));
    }
    console.log(JSON.stringify({
      case: "tcp.submit_latency_client",
      unit: "µs",
      median: Math.round(median(fromClient)),
      runs: fromClient.map(Math.round),
      calls: CALLS,
    }));
  } finally {
    cluster.kill("SIGTERM");
    await cluster.status;
    await drain;
  }
}

if (import.meta.main) await main();
