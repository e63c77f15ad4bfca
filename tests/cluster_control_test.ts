// Cluster control through the public API, in-process and over TCP:
// client.run calls a function once on every worker, outside any task;
// runOnScheduler runs one in the scheduler's process only when the
// scheduler allows client code.
import assert from "node:assert/strict";
import { clusterTest } from "./fixtures/bounded.ts";
import { Client, LocalCluster, registerModule } from "../mod.ts";
import { countCalls, processId } from "./fixtures/futures_tasks.ts";
import { runCli } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/futures_tasks.ts", import.meta.url));

async function runEverywhere(client: Client, workers: string[]) {
  const first = await client.run(countCalls);
  assert.deepEqual(Object.keys(first).sort(), [...workers].sort());
  const again = await client.run(countCalls);
  for (const w of workers) assert.equal(again[w], first[w] + 1, w);
  await assert.rejects(
    client.run((why: string) => {
      throw new RangeError(why);
    }, "no"),
    RangeError,
  );
  assert.deepEqual(
    Object.values(await client.run((x: number) => x + 1, 1)),
    workers.map(() => 2),
  );
}

clusterTest("client.run and runOnScheduler, in-process", async () => {
  {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    await runEverywhere(client, cluster.workerIds);
    await assert.rejects(
      client.runOnScheduler(processId),
      /does not run client code; start it with --allow-client-code/,
    );
  }
  await using cluster = await LocalCluster.start({
    workers: 1,
    allowClientCode: true,
  });
  await using client = await Client.connect(cluster);
  assert.equal(await client.runOnScheduler(processId), Deno.pid);
  assert.equal(await client.runOnScheduler((x: number) => x * 3, 14), 42);
});

clusterTest("client.run and runOnScheduler, over tcp", async () => {
  const sched = runCli("scheduler", ["--port", "0", "--allow-client-code"]);
  const workers = [];
  try {
    const address = await sched.stdout.waitFor(/^tcp:\/\//);
    for (const name of ["w1", "w2"]) {
      const w = runCli("worker", [address, "--name", name]);
      workers.push(w);
      await w.stdout.waitFor(/^tendril worker /);
    }
    await using client = await Client.connect(address);
    await runEverywhere(client, ["w1", "w2"]);
    const pids = await client.run(processId);
    assert.deepEqual(
      new Set(Object.values(pids)),
      new Set(workers.map((w) => w.pid)),
      "each worker process answered",
    );
    assert.equal(await client.runOnScheduler(processId), sched.pid);
  } finally {
    await Promise.all([...workers, sched].map((p) => p.stop()));
  }
});
