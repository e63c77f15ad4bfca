// Futures that outlive their owner when asked: fireAndForget and named
// datasets, through the public API, on an in-process cluster and over TCP
// with worker processes. Side effects are observed from a second client
// (through datasets, and files in a temporary directory); every wait is
// bounded, none stands in for synchronisation.
import assert from "node:assert/strict";
import { clusterTest, until, within } from "./fixtures/bounded.ts";
import {
  type Actor,
  Client,
  type ClusterLike,
  fireAndForget,
  type Future,
  LocalCluster,
  registerModule,
  SerializationError,
  TimeoutError,
} from "../mod.ts";
import {
  afterGate,
  launchAndForget,
  publishFromTask,
  square,
  sumDataset,
} from "./fixtures/dataset_tasks.ts";
import { runScript, tcpCluster } from "./fixtures/processes.ts";
import { Counter } from "./fixtures/actor_classes.ts";

await registerModule(new URL("./fixtures/dataset_tasks.ts", import.meta.url));
await registerModule(new URL("./fixtures/actor_classes.ts", import.meta.url));

type Target = ClusterLike | string;
type Case = [name: string, body: (target: Target) => Promise<void>];

/** Tasks in the scheduler's graph, whatever their status. */
async function taskCount(client: Client): Promise<number> {
  const { tasks } = await client.schedulerInfo();
  return Object.values(tasks).reduce((a, b) => a + b, 0);
}

/** Resolves once the scheduler's graph is empty (it forgot every key). */
function allForgotten(client: Client): Promise<void> {
  return until(
    "the scheduler to forget every key",
    async () => await taskCount(client) === 0,
    20,
  );
}

async function withTempDir(body: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "tendril-datasets-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * From a new client: opens gate `gate-N` of an `afterGate` task, sees it
 * write `path` and publish `done-N`, then cleans up and checks that the
 * scheduler let the task go once it finished.
 */
async function openGateAndSeeItDone(target: Target, n: string, path: string) {
  await using other = await Client.connect(target);
  await other.publish(`gate-${n}`, true);
  const done = other.getDataset(`done-${n}`, { wait: true, timeout: 60_000 });
  assert.equal(await done, "done");
  assert.equal(await Deno.readTextFile(path), "done");
  await other.unpublish(`gate-${n}`);
  await other.unpublish(`done-${n}`);
  await allForgotten(other);
}

const CASES: Case[] = [
  [
    "a fire-and-forget task runs to its end after its client closed",
    (target) =>
      withTempDir(async (dir) => {
        {
          await using owner = await Client.connect(target);
          const job = owner.submit(afterGate, "gate-1", `${dir}/a`, "done-1");
          fireAndForget([{ job }]);
        } // closed: without fireAndForget the job would be cancelled here
        await openGateAndSeeItDone(target, "1", `${dir}/a`);
      }),
  ],
  [
    "fireAndForget from inside a task: the child outlives its parent and client",
    (target) =>
      withTempDir(async (dir) => {
        {
          await using owner = await Client.connect(target);
          const parent = owner.submit(
            launchAndForget,
            "gate-2",
            `${dir}/b`,
            "done-2",
          );
          assert.match(await parent.result(), /^afterGate-/);
        }
        await openGateAndSeeItDone(target, "2", `${dir}/b`);
      }),
  ],
  [
    "published futures survive their publisher, reach another client, go with unpublish",
    async (target) => {
      {
        await using publisher = await Client.connect(target);
        const squares = publisher.map(square, [1, 2, 3]);
        await publisher.publish("squares", { squares, note: "n" });
      }
      await using reader = await Client.connect(target);
      assert.deepEqual(await reader.listDatasets(), ["squares"]);
      const got = await reader.getDataset<
        { squares: Future<number>[]; note: string }
      >("squares");
      assert.equal(got.note, "n");
      assert.deepEqual(await reader.gather(got.squares), [1, 4, 9]);
      for (const f of got.squares) f.release();
      // Released by every client, still held for the dataset.
      assert.equal(await taskCount(reader), 3);
      const again = await reader.getDataset<{ squares: Future<number>[] }>(
        "squares",
      );
      assert.deepEqual(await reader.gather(again.squares), [1, 4, 9]);
      await reader.unpublish("squares");
      assert.equal(await taskCount(reader), 3, "the reader still holds them");
      for (const f of again.squares) f.release();
      await allForgotten(reader);
      assert.deepEqual(await reader.listDatasets(), []);
    },
  ],
  [
    "an actor handle in a dataset keeps its actor alive past its creator",
    async (target) => {
      {
        await using creator = await Client.connect(target);
        const counter = await creator.actor(Counter, 10);
        await creator.publish("counter", { counter });
      }
      await using user = await Client.connect(target);
      const { counter } = await user.getDataset<
        { counter: Actor<Counter> }
      >("counter");
      assert.equal(await counter.increment(), 11, "the same instance");
      await counter.kill();
      await user.unpublish("counter");
    },
  ],
  [
    "datasets published and read from inside tasks",
    async (target) => {
      await using client = await Client.connect(target);
      using publishing = client.submit(publishFromTask, "inner", [2, 3]);
      assert.equal((await publishing.result()).length, 2);
      using summing = client.submit(sumDataset, "inner");
      assert.equal(await summing.result(), 13);
      publishing.release();
      summing.release();
      // Only the dataset holds the squares now (the tasks that held
      // their futures ended, and this client let go of the tasks).
      await until(
        "the tasks to be forgotten",
        async () => await taskCount(client) === 2,
        20,
      );
      const { squares } = await client.getDataset<
        { squares: Future<number>[] }
      >("inner");
      assert.deepEqual(await client.gather(squares), [4, 9]);
      for (const f of squares) f.release();
      await client.unpublish("inner");
      await allForgotten(client);
    },
  ],
  [
    "collisions, unknown names, released futures and bad values are refused clearly",
    async (target) => {
      await using client = await Client.connect(target);
      const f = client.submit(square, 4);
      await client.publish("taken", f);
      await assert.rejects(
        client.publish("taken", 1),
        /a dataset named "taken" is already published; unpublish it first, or publish with \{ override: true \}/,
      );
      await client.publish("taken", 7, { override: true });
      f.release();
      assert.equal(await client.getDataset("taken"), 7);
      await assert.rejects(
        client.getDataset("missing"),
        /getDataset: no dataset named "missing" is published/,
      );
      await assert.rejects(
        client.unpublish("missing"),
        /unpublish: no dataset named "missing"/,
      );
      await withAbandonedWait(target, client);
      await assert.rejects(client.publish("", 1), RangeError);
      await assert.rejects(client.publish("x".repeat(5000), 1), RangeError);
      await assert.rejects(
        client.publish("fn", { f: () => 1 }),
        SerializationError,
      );
      const gone = client.submit(square, 5);
      await gone.result();
      gone.release();
      await until(
        "the released key to go",
        async () => (await taskCount(client)) === 0,
        20,
      );
      await assert.rejects(
        client.publish("gone", gone),
        /publish "gone": the scheduler no longer has square-/,
      );
      // The connection is intact and nothing else changed.
      assert.deepEqual(await client.listDatasets(), ["taken"]);
      await client.unpublish("taken");
      assert.equal(await client.submit(square, 6).result(), 36);
    },
  ],
];

/**
 * A client gives up waiting for a dataset; when it is published later, the
 * scheduler's answer to the abandoned wait holds nothing for long: the
 * keys go once their publisher lets go.
 */
async function withAbandonedWait(target: Target, client: Client) {
  await using waiter = await Client.connect(target);
  const e = await waiter.getDataset("late", { wait: true, timeout: 5 })
    .catch((e) => e);
  assert.ok(e instanceof TimeoutError, String(e));
  const late = client.submit(square, 3);
  await client.publish("late", [late]);
  await waiter.schedulerInfo(); // a round trip: the answer has arrived
  await client.unpublish("late");
  late.release();
  await until(
    "the scheduler to forget the late key",
    async () => await taskCount(client) === 0,
    20,
  );
}

/** Runs every case on a cluster `target`, each step with its own clients. */
async function runCases(t: Deno.TestContext, target: Target) {
  for (const [name, body] of CASES) {
    await t.step(name, () => within(name, body(target)));
  }
}

clusterTest(
  "datasets and fireAndForget on an in-process cluster",
  async (t) => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await runCases(t, cluster);
  },
);

clusterTest(
  "datasets and fireAndForget over tcp, two worker processes",
  async (t) => {
    await using cluster = await tcpCluster(["w1", "w2"], {
      workerArgs: ["--slots", "1"],
    });
    await runCases(t, cluster.address);
  },
);

clusterTest(
  "a client process killed with SIGKILL: its datasets and fire-and-forget tasks live on",
  async () => {
    await using cluster = await tcpCluster(["w1"], {
      workerArgs: ["--slots", "1"],
    });
    await withTempDir(async (dir) => {
      await using publisher = runScript(
        new URL("./fixtures/dataset_publisher.ts", import.meta.url),
        [cluster.address, `${dir}/dead`],
        "publisher",
      );
      await publisher.stdout.waitFor(/^ready$/);
      const status = await publisher.stop("SIGKILL");
      assert.equal(status.signal, "SIGKILL");
      await using reader = await Client.connect(cluster.address);
      // The scheduler saw the client go (its own futures are released).
      await until(
        "the scheduler to count the dead client out",
        async () => (await reader.schedulerInfo()).clients === 1,
        20,
      );
      const squares = await reader.getDataset<Future<number>[]>(
        "squares-of-a-dead-client",
      );
      assert.deepEqual(await reader.gather(squares), [1, 4, 9]);
      await reader.publish("gate-dead", true);
      const done = reader.getDataset("done-dead", {
        wait: true,
        timeout: 60_000,
      });
      assert.equal(await done, "done");
      assert.equal(await Deno.readTextFile(`${dir}/dead`), "done");
    });
  },
);
