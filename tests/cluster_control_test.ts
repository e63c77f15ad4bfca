// Cluster control through the public API, in-process and over TCP:
// client.run calls a function once on every worker, outside any task;
// runOnScheduler runs one in the scheduler's process only when the
// scheduler allows client code; LocalCluster.scale grows a running cluster
// (over TCP, growing is starting another worker process).
import assert from "node:assert/strict";
import { clusterTest } from "./fixtures/bounded.ts";
import { Client, LocalCluster, registerModule } from "../mod.ts";
import { countCalls, processId } from "./fixtures/futures_tasks.ts";
import { big, total } from "./fixtures/tasks.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/futures_tasks.ts", import.meta.url));
await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

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
  await using cluster = await tcpCluster(["w1", "w2"], {
    schedulerArgs: ["--allow-client-code"],
  });
  await using client = await Client.connect(cluster.address);
  await runEverywhere(client, ["w1", "w2"]);
  const pids = await client.run(processId);
  assert.deepEqual(
    new Set(Object.values(pids)),
    new Set(cluster.workers.map((w) => w.pid)),
    "each worker process answered",
  );
  assert.equal(await client.runOnScheduler(processId), cluster.scheduler.pid);
});

clusterTest(
  "LocalCluster.scale: new workers take work and exchange values both ways with the old",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    const [w0] = cluster.workerIds;
    const n = 100_000; // 800 kB: held by its worker, fetched by the others
    const onOld = client.with({ workers: w0 }).submit(big, n);
    await client.wait([onOld]);
    await cluster.scale(3);
    assert.equal(cluster.workerIds.length, 3);
    const [, w1, w2] = cluster.workerIds;
    const onNew = client.with({ workers: w1 }).submit(big, n);
    const sums = await client.gather([
      client.with({ workers: w2 }).submit(total, onOld), // new reads old
      client.with({ workers: w0 }).submit(total, onNew), // old reads new
      client.with({ workers: w2 }).submit(total, onNew), // new reads new
    ]);
    const expected = (n * (n - 1)) / 2;
    assert.deepEqual(sums, [expected, expected, expected]);
    assert.equal(
      (await onNew.result()).length,
      n,
      "the client fetches from new",
    );
    await cluster.scale(3); // no change
    assert.equal(cluster.workerIds.length, 3);
  },
);
