// Actors through the public API, on the in-process cluster and over TCP
// (scheduler and worker processes): calls in order, handles as task
// arguments and results, errors with their class and remote stack,
// concurrency, names, kill; then a hosting worker SIGKILLed (calls reject
// with ActorDiedError, or the actor is constructed again with maxRestarts).
// Every cluster and process a test starts, it stops; waits are bounded.
import assert from "node:assert/strict";
import { type Actor, ActorDiedError, Client, LocalCluster } from "../mod.ts";
import {
  Broken,
  bump,
  bumpNamed,
  Counter,
  counterTree,
  makeCounter,
  mortalAndPhoenix,
  Overlap,
} from "./fixtures/actor_classes.ts";
import { exitWorker } from "./fixtures/tasks.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { tcpCluster } from "./fixtures/processes.ts";

/** The checks every transport must pass, with a client of a two-worker cluster. */
async function actorSuite(t: Deno.TestContext, client: Client, tag: string) {
  await t.step(
    "calls from one caller run in order, one at a time",
    async () => {
      const counter = await client.actor(Counter, 10);
      assert.equal(await counter.increment(), 11);
      assert.equal(await counter.increment(5), 16);
      const many = await Promise.all(
        Array.from({ length: 50 }, () => counter.increment()),
      );
      assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => 17 + i));
      assert.equal(await counter.slowGet(), 66);
      const overlap = await client.actor(Overlap);
      await Promise.all(Array.from({ length: 10 }, () => overlap.step()));
      assert.equal(await overlap.step(), 1, "never two calls at once");
    },
  );

  await t.step("concurrency: n lets n async calls run at once", async () => {
    const overlap = await client.actor(Overlap, { concurrency: 3 });
    const met = await within(
      "three calls that wait for each other",
      Promise.all([overlap.meet(3), overlap.meet(3), overlap.meet(3)]),
    );
    assert.deepEqual(met, [3, 3, 3]);
  });

  await t.step("handles travel as task arguments and results", async () => {
    const counter = await client.actor(Counter, 0);
    const bumps = [1, 2, 3].map((by) => client.submit(bump, counter, by));
    const seen = (await client.gather(bumps)).sort((a, b) => a - b);
    assert.equal(seen[2], 6, "every bump reached the one instance");
    assert.equal(await counter.increment(0), 6);
    const made = await client.submit(makeCounter, 100).result();
    assert.equal(await made.increment(), 102, "made in a task, used here");
    const hosted = await counter.where();
    assert.match(hosted, /./, "getClient() works inside a method");
  });

  await t.step(
    "method errors keep their class name, message and remote stack",
    async () => {
      const overlap = await client.actor(Overlap);
      await assert.rejects(overlap.fail("over quota"), (e: Error) => {
        assert.equal(e.name, "QuotaError");
        assert.equal(e.message, "over quota");
        assert.match(e.stack ?? "", /fail/);
        return true;
      });
      const wrong = overlap as unknown as { nope(): Promise<unknown> };
      await assert.rejects(wrong.nope(), /\(Overlap\) has no method "nope"/);
      await assert.rejects(client.actor(Broken, "no parts"), RangeError);
      assert.equal(await overlap.step(), 1, "the actor lives on after errors");
    },
  );

  await t.step(
    "a named actor is reached by name from clients and tasks, then killed",
    async () => {
      const name = `hits-${tag}`;
      const named = await client.actor(Counter, 0, { name });
      await assert.rejects(
        client.actor(Counter, 5, { name }),
        /an actor named "hits-\w+" exists/,
      );
      assert.equal(await client.submit(bumpNamed, name).result(), 10);
      const same = await client.getActor<Counter>(name);
      assert.equal(await same.increment(), 11);
      await named.kill();
      await assert.rejects(same.increment(), ActorDiedError);
      await assert.rejects(named.increment(), /it was killed/);
      await assert.rejects(client.getActor(name), /no live actor is named/);
      const again = await client.actor(Counter, 7, { name });
      assert.equal(await again.increment(), 8, "the name is free again");
      await again.kill();
    },
  );
}

clusterTest("actors on the in-process cluster", async (t) => {
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(cluster);
  await actorSuite(t, client, "inproc");
});

clusterTest("actors over TCP (scheduler and worker processes)", async (t) => {
  await using cluster = await tcpCluster(["w1", "w2"]);
  await using client = await Client.connect(cluster.address);
  await actorSuite(t, client, "tcp");
});

clusterTest(
  "a SIGKILLed host: calls reject with ActorDiedError, or the actor is constructed again with maxRestarts",
  async (t) => {
    await using cluster = await tcpCluster(["w1", "w2"]);
    await using client = await Client.connect(cluster.address);
    const { mortal, phoenix } = await mortalAndPhoenix(client, "w1");
    assert.equal(await phoenix.increment(), 11);
    // Both rejections are expected before the kill returns: caught at once.
    const inFlight = assert.rejects(
      within("the call in flight", mortal.hang()),
      // Whichever comes first: the connection's reset or the scheduler's word.
      (e) => e instanceof ActorDiedError && /went away|w1 left/.test(e.message),
    );
    const fromTask = client.submit(
      async (c: Actor<Counter>) => {
        await c.increment();
        return await c.hang();
      },
      mortal,
    );
    const taskFailed = assert.rejects(
      within("the task's call", fromTask.result()),
      ActorDiedError,
    );
    await cluster.workers[0].stop("SIGKILL");

    await t.step("a call under way when the worker died", async () => {
      await inFlight;
      await taskFailed;
    });
    await t.step("later calls of an actor without restarts", async () => {
      await assert.rejects(
        within("a later call", mortal.increment()),
        (e) => e instanceof ActorDiedError && e.key.startsWith("Counter"),
      );
    });
    await t.step(
      "an actor with a restart is constructed again elsewhere",
      async () => {
        assert.equal(
          await within("the restarted actor", phoenix.increment()),
          11,
        );
        assert.equal(await phoenix.where(), "w2");
      },
    );
    await t.step(
      "no restart left: it dies with its second worker",
      async () => {
        await cluster.workers[1].stop("SIGKILL");
        await assert.rejects(
          within("a call after the second death", phoenix.increment()),
          ActorDiedError,
        );
      },
    );
  },
);

clusterTest(
  "inside a task, getClient().actor makes an actor its children use",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    assert.equal(await client.submit(counterTree).result(), 10);
  },
);

clusterTest(
  "a SIGSTOPped host: once the scheduler removes it, calls under way reject with ActorDiedError",
  async () => {
    await using cluster = await tcpCluster(["w1", "w2"], {
      schedulerArgs: ["--heartbeat-timeout", "3000"],
    });
    await using client = await Client.connect(cluster.address);
    const frozen = await client.actor(Counter, 1, { workers: "w1" });
    assert.equal(await frozen.increment(), 2);
    const underWay = assert.rejects(
      within("the call to a frozen worker", frozen.hang()),
      (e) => e instanceof ActorDiedError && /w1 left/.test(e.message),
    );
    cluster.workers[0].process.kill("SIGSTOP");
    try {
      await underWay;
      await assert.rejects(frozen.increment(), ActorDiedError);
    } finally {
      await cluster.workers[0].stop("SIGKILL");
    }
  },
);

clusterTest(
  "in-process: a host whose worker exits loses its actor; one with maxRestarts is constructed again",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const [first] = cluster.workerIds;
    const { mortal, phoenix } = await mortalAndPhoenix(client, first);
    assert.equal(await phoenix.increment(), 11);
    const underWay = assert.rejects(
      within("the call in flight", mortal.hang()),
      ActorDiedError,
    );
    // The worker's isolate exits (the in-process kill): it is replaced. The
    // task, retried, would wait for its worker, which never comes back.
    const exiting = client.with({ workers: first }).submit(exitWorker, 1);
    await underWay;
    await exiting.cancel();
    await assert.rejects(
      within("a later call", mortal.increment()),
      ActorDiedError,
    );
    assert.equal(await within("the restarted actor", phoenix.increment()), 11);
    assert.notEqual(await phoenix.where(), first);
  },
);
