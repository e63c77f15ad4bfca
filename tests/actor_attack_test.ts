// Actors attacked where the main actor tests do not go: handles on the
// worker that hosts the actor, handles nested in Maps and Sets and in
// results of results, actors made and dropped inside tasks, kill racing
// another client's calls, getActor during a restart, a restart whose
// constructor throws, retiring the host, methods that throw under
// concurrency or return futures and handles, bad frames on the data
// connection. Every cluster a test starts, it stops; waits are bounded.
import assert from "node:assert/strict";
import {
  type Actor,
  ActorDiedError,
  CancelledError,
  Client,
  ClientClosedError,
  LocalCluster,
  Queue,
  SerializationError,
  Variable,
} from "../mod.ts";
import { bump, Counter, mortalAndPhoenix } from "./fixtures/actor_classes.ts";
import {
  AsksWorker,
  bumpNested,
  Echo,
  Flaky,
  HomeOnly,
  makeAndDrop,
  makeViaChild,
  makeWrapped,
  outlive,
  Spawner,
} from "./fixtures/actor_attack_classes.ts";
import { exitHost } from "./fixtures/actor_deaths.ts";
import { SchedulerServer } from "../actors/scheduler/server.ts";
import { WorkerServer } from "../actors/worker/server.ts";
import type { ActorReply } from "../actors/protocol.ts";
import { pack, unpack } from "../runtime/codec/packed.ts";
import {
  ActorReference,
  encode,
  KeyReference,
} from "../runtime/codec/codec.ts";
import { connect } from "../runtime/wire/tcp/listen.ts";
import type { TcpConnection } from "../runtime/wire/tcp/connection.ts";
import { greet } from "../runtime/wire/handshake.ts";
import { clusterTest, until, within } from "./fixtures/bounded.ts";

/**
 * A test given a client of a new in-process cluster of `workers` workers
 * (one slot each), both stopped at its end.
 */
function inProcess(
  name: string,
  workers: number,
  fn: (client: Client, cluster: LocalCluster) => Promise<void>,
): void {
  clusterTest(name, async () => {
    await using cluster = await LocalCluster.start({ workers, slots: 1 });
    await using client = await Client.connect(cluster);
    await fn(client, cluster);
  });
}

/**
 * A test given a client of a new scheduler and worker on loopback TCP
 * (all three with `maxMessageSize`, when given), stopped at its end.
 */
function overTcp(
  name: string,
  fn: (client: Client, worker: WorkerServer) => Promise<void>,
  maxMessageSize?: number,
): void {
  clusterTest(name, async () => {
    await using scheduler = await SchedulerServer.start({
      port: 0,
      maxMessageSize,
    });
    await using worker = await WorkerServer.start({
      scheduler: scheduler.address,
      slots: 1,
      maxMessageSize,
    });
    await using client = await Client.connect(scheduler.address, {
      maxMessageSize,
    });
    await fn(client, worker);
  });
}

inProcess("a task on the actor's own worker calls it", 1, async (client) => {
  const counter = await client.actor(Counter, 0);
  const seen = await within(
    "bumps from tasks on the host",
    client.gather([1, 2, 3].map((by) => client.submit(bump, counter, by))),
  );
  assert.deepEqual(seen.sort((a, b) => a - b).at(-1), 6);
  assert.equal(await counter.increment(0), 6);
});

inProcess(
  "handles nested in Maps, Sets and results of results",
  2,
  async (client) => {
    const a = await client.actor(Counter, 0);
    const b = await client.actor(Counter, 0);
    const box = { map: new Map([["a", a]]), set: new Set([b]) };
    assert.deepEqual(await client.submit(bumpNested, box).result(), [1, 100]);
    const made = await within(
      "a handle made in a grandchild task",
      client.submit(makeViaChild, 40).result(),
    );
    assert.equal(await made.increment(2), 42);
  },
);

inProcess(
  "an actor made and dropped in a task is forgotten once the task ends",
  1,
  async (client, cluster) => {
    const [count, key] = await client.submit(makeAndDrop, 5).result();
    assert.equal(count, 6);
    await until(
      "the scheduler forgets the task's actor",
      () => !cluster.scheduler.state.tasks.has(key),
    );
  },
);

clusterTest("kill() from one client while another calls", async () => {
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using a = await Client.connect(cluster);
  await using b = await Client.connect(cluster);
  const mine = await a.actor(Counter, 0, { name: "raced" });
  const theirs = await b.getActor<Counter>("raced");
  assert.equal(await theirs.increment(), 1);
  const hanging = theirs.hang();
  const queued = theirs.increment();
  await mine.kill();
  await assert.rejects(within("a queued call", queued), ActorDiedError);
  await assert.rejects(
    within("a later call", theirs.increment()),
    ActorDiedError,
  );
  // The hanging call keeps running on the worker: the caller is told.
  await assert.rejects(within("the running call", hanging), ActorDiedError);
});

inProcess(
  "getActor while the actor is being constructed again",
  2,
  async (client, cluster) => {
    const [first] = cluster.workerIds;
    const named = await client.actor(Counter, 10, {
      name: "phoenix",
      workers: first,
      allowOtherWorkers: true,
      maxRestarts: 1,
    });
    assert.equal(await named.increment(), 11);
    await exitHost(client, first, named);
    const got = await within(
      "getActor during the restart",
      client.getActor<Counter>("phoenix"),
    );
    assert.equal(await within("a call", got.increment()), 11);
    await named.kill();
  },
);

inProcess(
  "a restart whose constructor throws: calls get its error",
  2,
  async (client, cluster) => {
    const [first] = cluster.workerIds;
    const homebody = await client.actor(HomeOnly, first, {
      workers: first,
      allowOtherWorkers: true,
      maxRestarts: 2,
      name: "homebody",
    });
    assert.equal(await homebody.ping(), 1);
    await exitHost(client, first, homebody);
    await assert.rejects(
      within("a call after the failed restart", homebody.ping()),
      /not at home/,
    );
    // The name is free again.
    const other = await client.actor(Counter, 1, { name: "homebody" });
    assert.equal(await other.increment(), 2);
    await other.kill();
  },
);

inProcess(
  "retiring the host: its actor restarts, or dies, and nothing hangs",
  3,
  async (client, cluster) => {
    const [first] = cluster.workerIds;
    const { mortal, phoenix } = await mortalAndPhoenix(client, first);
    await within("the retirement", client.retireWorkers([first]));
    await assert.rejects(
      within("a call of the mortal", mortal.increment()),
      ActorDiedError,
    );
    assert.equal(await within("the restarted actor", phoenix.increment()), 11);
    assert.notEqual(await phoenix.where(), first);
  },
);

inProcess(
  "concurrency 2 with a method that throws keeps both places",
  1,
  async (client) => {
    const flaky = await client.actor(Flaky, { concurrency: 2 });
    const results = await Promise.allSettled(
      Array.from(
        { length: 20 },
        (_, i) => i % 2 ? flaky.fail() : flaky.count(),
      ),
    );
    assert.equal(
      results.filter((r) => r.status === "rejected").length,
      10,
    );
    assert.equal(await within("a call after", flaky.count()), 21);
  },
);

inProcess("methods that return a future and a handle", 2, async (client) => {
  const spawner = await client.actor(Spawner);
  const future = await spawner.spawn(21);
  assert.equal(await within("the spawned future", future.result()), 42);
  const made: Actor<Counter> = await spawner.make(3);
  assert.equal(await within("the made counter", made.increment()), 4);
});

Deno.test("handles called then dropped are collected, and their actors freed", async () => {
  const script = new URL("./fixtures/actor_gc_script.ts", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script.pathname, "20"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.output();
  let done: Deno.CommandOutput;
  try {
    done = await within("the gc script", out);
  } catch (e) {
    child.kill("SIGKILL");
    await out;
    throw e;
  }
  const text = new TextDecoder();
  assert.equal(done.code, 0, text.decode(done.stderr));
  assert.match(text.decode(done.stdout), /freed 20/);
});

overTcp(
  "bad actor calls from a raw TCP peer: a malformed one closes only that connection",
  async (client, worker) => {
    const counter = await client.actor(Counter, 0);
    const key = (counter as unknown as Record<symbol, string>)[
      Symbol.for("tendril.actorRef")
    ];
    assert.equal(await counter.increment(), 1);

    /** A raw, greeted data connection to the worker, and its replies. */
    const open = async () => {
      const conn = await connect<unknown, unknown>(worker.address, {});
      const closed = new Promise<void>((r) => conn.onClose(() => r()));
      await within(
        "the hello",
        greet(conn as TcpConnection<unknown, unknown>, { role: "client" }),
      );
      const replies = new Map<number, PromiseWithResolvers<ActorReply>>();
      conn.onMessages((batch) => {
        for (const m of batch as ActorReply[]) replies.get(m.id)?.resolve(m);
      });
      const ask = (msg: Record<string, unknown>) => {
        const id = msg.id as number;
        const reply = Promise.withResolvers<ActorReply>();
        replies.set(id, reply);
        conn.send({ op: "actor-call", ...msg });
        conn.flush();
        return within(`the reply to call ${id}`, reply.promise);
      };
      return { conn, closed, ask };
    };

    const good = await open();
    try {
      // Well formed, but wrong: answered, the connection stays.
      assert.equal(
        (await good.ask({
          id: 1,
          key: "nope",
          method: "increment",
          args: pack([]),
        })).gone,
        true,
      );
      for (
        const [id, method] of [[2, "constructor"], [3, "__proto__"], [
          4,
          "toString",
        ], [5, "n"]] as const
      ) {
        const reply = await good.ask({ id, key, method, args: pack([]) });
        assert.match(
          String((unpack(reply.error!) as Error).message),
          /has no method/,
          method,
        );
      }
      const notArray = await good.ask({
        id: 6,
        key,
        method: "increment",
        args: pack(5),
      });
      assert.ok(
        notArray.error !== undefined,
        "arguments that are not an array",
      );
      const garbage = await good.ask({
        id: 7,
        key,
        method: "increment",
        args: new Uint8Array([0xc1, 0xff, 0x00]),
      });
      assert.ok(garbage.error !== undefined, "arguments that do not decode");
      // References to keys nobody has: revived (as futures and handles
      // that fail when used), and the call answered.
      for (
        const [id, ref] of [
          [12, new KeyReference("no-such-key")],
          [13, new ActorReference("no-such-actor")],
        ] as const
      ) {
        const reply = await good.ask({
          id,
          key,
          method: "where",
          args: encode([ref]),
        });
        assert.ok(reply.value !== undefined, "the arguments were revived");
      }
      assert.ok(!good.conn.closed);

      // Malformed: that connection closes; the worker and others go on.
      for (
        const bad of [
          { id: 8, key: 5, method: "increment", args: pack([]) },
          { id: 9, key, method: { toString: 1 }, args: pack([]) },
          { id: -1, key, method: "increment", args: pack([]) },
          { id: 10, key, method: "increment" },
        ]
      ) {
        const raw = await open();
        raw.conn.send({ op: "actor-call", ...bad });
        raw.conn.flush();
        await within(
          `the worker to close on ${JSON.stringify(bad)}`,
          raw.closed,
        );
      }
      const stray = await open();
      stray.conn.send({ op: "actor-reply", id: 99, value: pack(1) });
      stray.conn.flush();
      await within("the worker to close on a stray reply", stray.closed);

      assert.equal(await within("a call after", counter.increment()), 2);
      const after = await good.ask({
        id: 11,
        key,
        method: "increment",
        args: pack([1]),
      });
      assert.equal(unpack(after.value!), 3);
    } finally {
      good.conn.close();
    }
  },
);

inProcess(
  "a handle coerced to a primitive makes no call",
  1,
  async (client) => {
    const counter = await client.actor(Counter, 0);
    // `+` asks valueOf first: were it a method call, its rejection (no such
    // method) would go unhandled.
    assert.match(counter + "", /^Actor\(Counter-/);
    assert.match(`${counter}`, /^Actor\(Counter-/);
    const loose = counter as unknown as Record<string, unknown>;
    for (const name of ["valueOf", "hasOwnProperty", "constructor"]) {
      assert.equal(loose[name], undefined, name);
    }
    assert.equal(await counter.increment(), 1, "no call reached the actor");
  },
);

inProcess(
  "a worker that only used a handle leaves: the actor lives on",
  2,
  async (client, cluster) => {
    const [home, user] = cluster.workerIds;
    const counter = await client.actor(Counter, 0, { workers: home });
    const bumped = client.with({ workers: user }).submit(bump, counter, 1);
    assert.equal(await bumped.result(), 1);
    const ts = cluster.scheduler.state.tasks.get(
      (counter as unknown as Record<symbol, string>)[
        Symbol.for("tendril.actorRef")
      ],
    )!;
    const holders = () => (ts.whoHas ?? []).map((w) => w.id);
    assert.deepEqual(holders(), [home], "only its host holds the actor");
    await within("the retirement", client.retireWorkers([user]));
    assert.equal(await within("a call after", counter.increment()), 2);
    assert.equal(await counter.where(), home);
  },
);

clusterTest(
  "calls from a client that lost its scheduler end, never hang",
  async () => {
    const scheduler = await SchedulerServer.start({ port: 0 });
    await using worker = await WorkerServer.start({
      scheduler: scheduler.address,
      slots: 1,
    });
    await using client = await Client.connect(scheduler.address);
    const counter = await client.actor(Counter, 0);
    assert.equal(await counter.increment(), 1);
    const hanging = assert.rejects(within("a call under way", counter.hang()));
    await scheduler.close();
    await hanging;
    const later = await within(
      "a later call",
      counter.increment().then((n) => ({ n }), (e) => ({ e })),
    );
    console.log("LATER", later);
    assert.ok("e" in later || later.n === 2, JSON.stringify(later));
    assert.ok(worker);
  },
);

inProcess(
  "an actor keeps the handles and futures its constructor got and made",
  2,
  async (client) => {
    const outer = await client.submit(makeWrapped).result();
    // The task that made both ended: only the wrapper holds the counter.
    await within("the task's end", client.submit(() => 0).result());
    assert.equal(await within("a call through the wrapper", outer.bump()), 1);
    assert.equal(await within("the constructor's task", outer.launched()), 42);
    // It runs outside any task, as a method does.
    await assert.rejects(client.actor(AsksWorker), /getWorker/);
  },
);

overTcp(
  "an actor or method name the wire refuses is refused before it travels, the client unharmed",
  async (client, worker) => {
    const long = "x".repeat(2000);
    await assert.rejects(
      client.actor(Counter, 0, { name: long }),
      (e) => e instanceof RangeError && /name .*1024/.test(e.message),
    );
    await assert.rejects(
      client.actor(Counter, 0, { name: 5 as unknown as string }),
      TypeError,
    );
    await assert.rejects(
      client.getActor(long),
      (e) => e instanceof RangeError && /name .*1024/.test(e.message),
    );
    const counter = await within(
      "an actor",
      client.actor(Counter, 0, { concurrency: 2 }),
    );
    const loose = counter as unknown as Record<string, () => Promise<unknown>>;
    let hanging = "under way";
    counter.hang().catch(() => hanging = "ended");
    await assert.rejects(
      loose[long](),
      (e) => e instanceof RangeError && /method name .*1024/.test(e.message),
    );
    assert.equal(await within("a call after", counter.increment()), 1);
    assert.equal(
      await within(
        "a task after",
        client.submit((x: number) => x + 1, 1).result(),
      ),
      2,
    );
    // The data connection stayed: the call under way is still under way.
    assert.equal(hanging, "under way");
    assert.ok(worker);
  },
);

overTcp(
  "an argument or result over the message limit fails that call only",
  async (client, worker) => {
    const echo = await within(
      "an actor",
      client.actor(Echo, { concurrency: 2 }),
    );
    let hanging = "under way";
    echo.hang().catch(() => hanging = "ended");
    await assert.rejects(
      within("a call with a large argument", echo.echo("x".repeat(200_000))),
      (e) => e instanceof SerializationError && /message limit/.test(e.message),
    );
    await assert.rejects(
      within("a call with a large result", echo.make(200_000)),
      (e) => e instanceof SerializationError && /message limit/.test(e.message),
    );
    await assert.rejects(
      within("a call throwing a large error", echo.fail(200_000)),
      (e) =>
        e instanceof SerializationError &&
        /RangeError: z+\.\.\./.test(e.message),
    );
    assert.equal(await within("a call after", echo.echo("abc")), 3);
    assert.equal(hanging, "under way", "the data connection stayed open");
    assert.ok(worker);
  },
  100_000, // leaves the value MESSAGE_SLACK (64 KiB) less: about 34 KB
);

clusterTest(
  "handles handed over through a dataset, a Variable and a Queue outlive their maker",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using taker = await Client.connect(cluster);
    const key = Symbol.for("tendril.actorRef");
    const keys: string[] = [];
    {
      await using maker = await Client.connect(cluster);
      for (const start of [10, 20, 30]) {
        const counter = await maker.actor(Counter, start);
        keys.push((counter as unknown as Record<symbol, string>)[key]);
        if (start === 10) await maker.publish("counters", { counter });
        if (start === 20) {
          await new Variable<Actor<Counter>>("counter", { client: maker }).set(
            counter,
          );
        }
        if (start === 30) {
          await new Queue<Actor<Counter>>("counters", { client: maker }).put(
            counter,
          );
        }
      }
    } // the maker leaves: only the dataset, variable and queue hold them
    const published = await within(
      "the dataset",
      taker.getDataset<{ counter: Actor<Counter> }>("counters"),
    );
    assert.equal(await within("a call", published.counter.increment()), 11);
    const variable = new Variable<Actor<Counter>>("counter", { client: taker });
    const held = await within(
      "the variable",
      variable.get({ timeout: 60_000 }),
    );
    assert.equal(await within("a call", held.increment()), 21);
    const queue = new Queue<Actor<Counter>>("counters", { client: taker });
    const queued = await within("the queue", queue.get({ timeout: 60_000 }));
    assert.equal(await within("a call", queued.increment()), 31);
    assert.ok(keys.every((k) => cluster.scheduler.state.tasks.has(k)));
  },
);

inProcess(
  "gather leaves handles in a structure as they are",
  1,
  async (client) => {
    const counter = await client.actor(Counter, 0);
    const f = client.submit((x: number) => x + 1, 1);
    const got = await within(
      "the gather",
      client.gather({ counter, f, list: [counter] }),
    );
    assert.equal(got.f, 2);
    assert.equal(got.counter, counter, "the handle itself, not a copy");
    assert.equal(got.list[0], counter);
    assert.equal(await within("a call", got.counter.increment()), 1);
  },
);

inProcess("scatter takes a handle as one value", 1, async (client) => {
  const counter = await client.actor(Counter, 0);
  const scattered = await within("the scatter", client.scatter(counter));
  const back = await within("its value", scattered.result());
  assert.equal(await within("a call", back.increment()), 1);
});

clusterTest(
  "a handle of a closed client: calls reject with ClientClosedError",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using keeper = await Client.connect(cluster);
    const client = await Client.connect(cluster);
    const counter = await client.actor(Counter, 0, { name: "kept" });
    assert.equal(await counter.increment(), 1);
    await client.close();
    // The actor lives on (named): its death is not what the caller is told.
    await assert.rejects(
      within("a call after close", counter.increment()),
      ClientClosedError,
    );
    await assert.rejects(
      within("a kill after close", counter.kill()),
      ClientClosedError,
    );
    const same = await within("the actor", keeper.getActor<Counter>("kept"));
    assert.equal(await within("a call", same.increment()), 2);
    await same.kill();
  },
);

inProcess(
  "cancelling a future the constructor waits for fails the construction",
  2,
  async (client) => {
    const never = client.submit((): Promise<number> => new Promise(() => {}));
    const making = client.actor(Counter, never);
    await client.cancel(never);
    await assert.rejects(within("the construction", making), CancelledError);
    const counter = await within("another", client.actor(Counter, 1));
    assert.equal(await counter.increment(), 2);
  },
);

inProcess(
  "a running task whose actor is killed keeps running and sees ActorDiedError",
  2,
  async (client) => {
    const counter = await client.actor(Counter, 0, { concurrency: 2 });
    const task = client.submit(outlive, counter);
    await until(
      "the task's first call",
      async () => (await counter.increment(0)) >= 1,
    );
    await counter.kill();
    assert.equal(await within("the task", task.result()), "fell back");
    // A task given the dead actor afterwards errs without running.
    await assert.rejects(
      within("a later task", client.submit(outlive, counter).result()),
      ActorDiedError,
    );
  },
);
