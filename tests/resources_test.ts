// Worker resources and restrictions through the public API, in-process and
// over TCP: a task holding { GPU: 1 } runs one at a time per one-GPU
// worker whatever its slots; resources no worker offers err at once naming
// the resource; a restriction to a worker that never connects errs after
// the grace period (NoWorkerError) unless allowOtherWorkers.
import assert from "node:assert/strict";
import { clusterTest } from "./fixtures/bounded.ts";
import {
  Client,
  LocalCluster,
  NoWorkerError,
  registerModule,
  ResourceError,
} from "../mod.ts";
import { gpuJob, gpuParent, killIfOn } from "./fixtures/futures_tasks.ts";
import { whereAmI } from "./fixtures/tasks.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));
await registerModule(new URL("./fixtures/futures_tasks.ts", import.meta.url));

async function resourcesHold(client: Client): Promise<void> {
  const gpu = client.with({ resources: { GPU: 1 } });
  const jobs = Array.from({ length: 6 }, () => gpu.submit(gpuJob));
  const most = await client.gather(jobs);
  assert.deepEqual(most, most.map(() => 1), "one GPU job at a time per worker");
  const where = await client.gather(
    Array.from({ length: 4 }, () => gpu.submit(whereAmI)),
  );
  assert.ok(where.length === 4);
  const e = await client.with({ resources: { GPU: 2 } }).submit(whereAmI)
    .result().catch((e) => e);
  assert.ok(e instanceof ResourceError, String(e));
  assert.equal(e.resource, "GPU");
  assert.equal(e.needed, 2);
  assert.equal(e.available, 1);
  await assert.rejects(
    client.with({ resources: { TPU: 1 } }).submit(whereAmI).result(),
    /needs TPU=1, but no worker offers that much/,
  );
  // A GPU task waiting on GPU children: it gives its GPU back at secession.
  const parents = Array.from(
    { length: 3 },
    (_, i) =>
      client.with({ resources: { GPU: 1 }, releaseResourcesOnSecede: true })
        .submit(gpuParent, i),
  );
  assert.deepEqual(await client.gather(parents), [1, 2, 3]);
}

async function unknownWorker(client: Client): Promise<void> {
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.join(" "));
  let e: unknown;
  try {
    const lost = client.with({ workers: "no-such-worker" }).submit(whereAmI);
    e = await lost.result().catch((e) => e);
  } finally {
    console.warn = warn;
  }
  assert.match(
    warned.join("\n"),
    /may run only on no-such-worker, which is not connected/,
    "the client warned at submit",
  );
  assert.ok(e instanceof NoWorkerError, String(e));
  assert.deepEqual(e.workers, ["no-such-worker"]);
  const loose = client.with({
    workers: "no-such-worker",
    allowOtherWorkers: true,
  }).submit(whereAmI);
  assert.equal(typeof await loose.result(), "string");
}

clusterTest("resources and restrictions, in-process", async () => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    slots: 3,
    resources: { GPU: 1 },
    unknownWorkerGraceMs: 50,
  });
  await using client = await Client.connect(cluster);
  await resourcesHold(client);
  await unknownWorker(client);
});

clusterTest("resources and restrictions, over tcp", async () => {
  await using cluster = await tcpCluster(["w1", "w2"], {
    schedulerArgs: ["--unknown-worker-grace", "50"],
    workerArgs: ["--slots", "3", "--resources", "GPU=1,MEM=8e9"],
  });
  await using client = await Client.connect(cluster.address);
  await resourcesHold(client);
  await unknownWorker(client);
  assert.match(
    cluster.scheduler.stderr.lines.join("\n"),
    /may run only on no-such-worker, which is not connected/,
    "the scheduler warned at submit",
  );
  // w1 dies running a GPU task: the task runs again on w2's GPU.
  const survivor = client.with({
    resources: { GPU: 1 },
    workers: ["w1"],
    allowOtherWorkers: true,
  }).submit(killIfOn, "w1");
  assert.equal(await survivor.result(), "w2");
  await cluster.scheduler.stderr.waitFor(/worker w1 left/);
});
