// Graceful retirement through the public API, in-process and over TCP:
// client.retireWorkers lets a worker's running task finish, moves its
// queued work elsewhere and copies the values only it holds to a worker
// that stays, so everything it computed is gathered afterwards without
// being computed again (counted by the scheduler's per-function runs).
// LocalCluster.scale shrinks the same way, without replacing the retired
// workers; a retired worker process exits with code 0 instead of dialling.
import assert from "node:assert/strict";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { Client, LocalCluster, registerModule } from "../mod.ts";
import {
  announceThenHold,
  big,
  nap,
  total,
  whereAmI,
} from "./fixtures/tasks.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** Runs of `name` that returned, over the scheduler's life. */
async function runsOf(client: Client, name: string): Promise<number> {
  const info = await client.schedulerInfo();
  return info.functions.find((f) => f.name === name)?.finished ?? 0;
}

/**
 * Computes values on worker `leaving` (one big enough to stay on the
 * worker, one small, a task running and tasks queued behind it), retires
 * it, and checks that every value comes back computed once.
 */
async function retireKeepsEverything(
  client: Client,
  leaving: string,
  staying: string,
): Promise<void> {
  const there = client.with({ workers: leaving });
  const n = 100_000; // 800 kB: fetched from its holder, never inlined
  const large = there.submit(big, n);
  const small = there.submit(big, 3);
  const where = there.submit(whereAmI);
  await client.wait<unknown>([large, small, where]);
  // One running, two queued behind it (they may move before or after).
  const loose = client.with({ workers: leaving, allowOtherWorkers: true });
  const naps = [1, 2, 3].map((i) => loose.submit(nap, 200 + i));
  assert.deepEqual(await client.retireWorkers([leaving]), [leaving]);
  const info = await client.schedulerInfo();
  assert.deepEqual(info.workers.map((w) => w.id), [staying]);
  assert.equal(await where.result(), leaving, "its value outlived it");
  assert.equal(await client.submit(total, large).result(), n * (n - 1) / 2);
  assert.equal((await large.result()).length, n);
  assert.deepEqual([...await small.result()], [0, 1, 2]);
  assert.deepEqual(await client.gather(naps), [201, 202, 203]);
  assert.equal(await runsOf(client, "big"), 2, "no value was recomputed");
  assert.equal(await runsOf(client, "whereAmI"), 1);
  assert.equal(await runsOf(client, "nap"), 3, "each nap ran once");
  await assert.rejects(
    client.retireWorkers([staying]),
    /would leave no worker to take their values/,
  );
  assert.deepEqual(await client.retireWorkers(["no-such-worker"]), []);
}

clusterTest(
  "retireWorkers, in-process: values move first, nothing recomputed, no replacement",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const [leaving, staying] = cluster.workerIds;
    await retireKeepsEverything(client, leaving, staying);
    assert.deepEqual(
      cluster.workerIds,
      [staying],
      "the retired is not replaced",
    );
  },
);

clusterTest(
  "LocalCluster.scale shrinks by retiring the newest workers; their values stay",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    await cluster.scale(3);
    const [w0, w1, w2] = cluster.workerIds;
    const made = [w1, w2].map((w) =>
      client.with({ workers: w }).submit(big, 50_000 + (w === w1 ? 1 : 2))
    );
    await client.wait(made);
    await cluster.scale(1);
    assert.deepEqual(cluster.workerIds, [w0]);
    const info = await client.schedulerInfo();
    assert.deepEqual(info.workers.map((w) => w.id), [w0]);
    assert.equal(info.workers[0].heldKeys, 2, "both values moved to w0");
    const sizes = (await client.gather(made)).map((xs) => xs.length);
    assert.deepEqual(sizes, [50_001, 50_002]);
    assert.equal(await runsOf(client, "big"), 2);
    await assert.rejects(cluster.scale(0), /positive integer/);
    await cluster.scale(2); // grows again after shrinking
    assert.equal(cluster.workerIds.length, 2);
  },
);

clusterTest(
  "retireWorkers over tcp: values move first, the retired process exits with 0",
  async () => {
    await using cluster = await tcpCluster();
    await using client = await Client.connect(cluster.address);
    await retireKeepsEverything(client, "w1", "w2");
    const status = await within(
      "the retired worker to exit",
      cluster.workers[0].status,
    );
    assert.equal(status.code, 0);
    await cluster.workers[0].stderr.waitFor(
      /w1: retired by the scheduler; exiting/,
    );
  },
);

clusterTest(
  "LocalCluster.scale with processes: a retired worker process exits and is not replaced",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 2,
      slots: 1,
      processes: true,
    });
    await using client = await Client.connect(cluster);
    const [w0, w1] = cluster.workerIds;
    const made = client.with({ workers: w1 }).submit(big, 50_000);
    const where = client.with({ workers: w1 }).submit(whereAmI);
    await client.wait<unknown>([made, where]);
    await cluster.scale(1);
    assert.deepEqual(cluster.workerIds, [w0]);
    assert.equal((await made.result()).length, 50_000);
    assert.equal(await where.result(), w1);
    assert.equal(await runsOf(client, "big"), 1, "not recomputed");
    await cluster.scale(2);
    const info = await client.schedulerInfo();
    assert.equal(info.workers.length, 2, "a new process joined");
    assert.ok(!info.workers.some((w) => w.id === w1), "the retired stays gone");
    assert.equal(cluster.workerIds.length, 2);
  },
);

clusterTest(
  "retireWorkers over tcp: a retiring worker SIGKILLed while its task runs loses nothing and the call resolves",
  async () => {
    await using cluster = await tcpCluster();
    await using client = await Client.connect(cluster.address);
    const there = client.with({ workers: "w1", allowOtherWorkers: true });
    const large = there.submit(big, 100_000);
    await large.result();
    const held = there.submit(announceThenHold, "holding on w1");
    await cluster.workers[0].stdout.waitFor(/holding on w1/);
    const retiring = client.retireWorkers(["w1"]);
    // The retirement waits for the running task; the worker dies first.
    await cluster.workers[0].stop("SIGKILL");
    assert.deepEqual(await within("the retirement", retiring), ["w1"]);
    assert.equal((await large.result()).length, 100_000, "recomputed on w2");
    await cluster.workers[1].stdout.waitFor(/holding on w1/); // the task moved too
    await client.cancel(held);
    const info = await client.schedulerInfo();
    assert.deepEqual(info.workers.map((w) => w.id), ["w2"]);
  },
);
