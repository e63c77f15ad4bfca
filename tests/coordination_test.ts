// Coordination primitives (Queue, Variable, ClusterEvent, Lock, Semaphore,
// Topic) through the public API, between the client and tasks, over the
// in-process cluster and over TCP; leases freed by a SIGKILLed worker and
// by a closed client. No sleeps: every wait is on an answer, bounded.
import assert from "node:assert/strict";
import { BOUND_MS, clusterTest, until, within } from "./fixtures/bounded.ts";
import {
  Client,
  ClusterEvent,
  type Future,
  LocalCluster,
  Lock,
  Queue,
  registerModule,
  Semaphore,
  TimeoutError,
  Topic,
  Variable,
} from "../mod.ts";
import {
  appendUnderLock,
  consume,
  guarded,
  handOver,
  holdLease,
  listen,
  produce,
  publishAll,
  resultFromQueue,
  subscribeAndEnd,
  takeOne,
  waitForEvent,
} from "./fixtures/coordination_tasks.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(
  new URL("./fixtures/coordination_tasks.ts", import.meta.url),
);

let run = 0;
/** A name no other case (or cluster) uses. */
const fresh = (what: string) => `${what} ${++run}`;

const CASES: [string, (client: Client) => Promise<void>][] = [
  ["producer and consumer tasks through a bounded queue", async (client) => {
    const name = fresh("numbers");
    const got = client.submit(consume, name, 20);
    const produced = client.submit(produce, name, 20); // held: it must run
    assert.deepEqual(
      await got.result({ timeout: BOUND_MS }),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await produced.result();
    assert.equal(await new Queue(name, { client }).qsize(), 0);
  }],
  ["a batch get takes its items at once, in order", async (client) => {
    const name = fresh("batch");
    const q = new Queue<number>(name, { client });
    assert.deepEqual(
      await q.getBatch(),
      [],
      "nothing there: nothing waited for",
    );
    const batch = q.getBatch(2, { timeout: BOUND_MS });
    await client.submit(produce, name, 2).result({ timeout: BOUND_MS });
    assert.deepEqual(await batch, [1, 2]);
    await assert.rejects(
      q.getBatch(3),
      /a batch of 3 can never be taken from a queue of maxsize 2/,
    );
    await q.put(6);
    await assert.rejects(q.getBatch(2, { timeout: 1 }), TimeoutError);
    assert.deepEqual(
      await q.getBatch(),
      [6],
      "the withdrawn batch took nothing",
    );
  }],
  ["a put waits while the queue is full", async (client) => {
    const q = new Queue<number>(fresh("full"), { client, maxsize: 1 });
    await q.put(1);
    let second = false;
    const putting = q.put(2).then(() => second = true);
    // Answered after the put was handled (one connection keeps order).
    assert.equal(await q.qsize(), 1);
    assert.equal(second, false, "the second put waits");
    assert.equal(await q.get(), 1);
    await within("the waiting put", putting);
    assert.equal(await q.get(), 2);
  }],
  [
    "a future in a queue item stays alive until a task takes it",
    async (client) => {
      const name = fresh("futures");
      const f = client.submit((x: number) => x * 2, 21);
      await new Queue<Future<number>[]>(name, { client }).put([f]);
      f.release();
      const taken = client.submit(resultFromQueue, name);
      assert.equal(await taken.result({ timeout: BOUND_MS }), 42);
    },
  ],
  ["a cancelled task's wait takes no item", async (client) => {
    const name = fresh("cancelled");
    const task = client.submit(takeOne, name);
    await new Queue(`${name} waiting`, { client }).get({ timeout: BOUND_MS });
    await task.cancel();
    const q = new Queue<string>(name, { client });
    await q.put("for the client");
    assert.equal(await q.get({ timeout: BOUND_MS }), "for the client");
  }],
  ["a variable carries a future its client released", async (client) => {
    const name = fresh("handed");
    await client.submit(handOver, name, 41).result({ timeout: BOUND_MS });
    const f = await new Variable<Future<number>>(name, { client }).get();
    assert.equal(await f.result({ timeout: BOUND_MS }), 42);
  }],
  ["an event wakes the tasks waiting on it", async (client) => {
    const name = fresh("go");
    const futures = client.map(waitForEvent, [name, name, name], [1, 2, 3]);
    const arrived = new Queue<number>(`${name} arrived`, { client });
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await arrived.get());
    assert.deepEqual(seen.sort(), [1, 2, 3]);
    assert.ok(futures.every((f) => f.status === "pending"), "all wait");
    const event = new ClusterEvent(name, { client });
    assert.equal(await event.isSet(), false);
    await event.set();
    assert.equal(await event.isSet(), true);
    assert.deepEqual(await client.gather(futures), [1, 2, 3]);
    await event.clear();
    assert.equal(await event.isSet(), false);
  }],
  ["a lock serialises read-modify-write among tasks", async (client) => {
    const name = fresh("list");
    const list = new Variable<number[]>(name, { client });
    await list.set([]);
    const xs = Array.from({ length: 12 }, (_, i) => i);
    await client.gather(client.map(appendUnderLock, xs.map(() => name), xs));
    assert.deepEqual((await list.get()).sort((a, b) => a - b), xs);
  }],
  [
    "a semaphore of two leases lets two tasks in at once, never more",
    async (client) => {
      const name = fresh("sem");
      await new Variable<number>(`${name} inside`, { client }).set(0);
      const futures = client.map(guarded, Array(6).fill(name));
      const entered = new Queue<number>(`${name} entered`, { client });
      // The first two are in together: neither leaves before `go`.
      const firstTwo = [await entered.get(), await entered.get()].sort();
      assert.deepEqual(firstTwo, [1, 2]);
      await new ClusterEvent(`${name} go`, { client }).set();
      const seen = await client.gather(futures);
      assert.equal(Math.max(...seen), 2, `inside counts seen: ${seen}`);
    },
  ],
  [
    "every wait takes a timeout and a signal, and a wait given up takes nothing",
    async (client) => {
      const q = new Queue<string>(fresh("timeouts"), { client });
      await assert.rejects(q.get({ timeout: 1 }), TimeoutError);
      const stop = new AbortController();
      const getting = q.get({ signal: stop.signal });
      stop.abort(new Error("user gave up"));
      await assert.rejects(getting, /user gave up/);
      await q.put("kept");
      assert.equal(
        await q.get({ timeout: BOUND_MS }),
        "kept",
        "not lost to a withdrawn get",
      );

      const full = new Queue<number>(fresh("full"), { client, maxsize: 1 });
      await full.put(1);
      await assert.rejects(full.put(2, { timeout: 1 }), TimeoutError);
      assert.equal(await full.get(), 1);
      assert.equal(await full.qsize(), 0, "the withdrawn put put nothing");

      const v = new Variable(fresh("unset"), { client });
      await assert.rejects(v.get({ timeout: 1 }), TimeoutError);
      const e = new ClusterEvent(fresh("never"), { client });
      await assert.rejects(e.wait({ timeout: 1 }), TimeoutError);
      const aborted = AbortSignal.abort(new Error("already"));
      await assert.rejects(e.wait({ signal: aborted }), /already/);

      const sem = new Semaphore(fresh("one"), { client });
      const other = new Semaphore(sem.name, { client });
      await sem.acquire();
      await assert.rejects(other.acquire({ timeout: 1 }), TimeoutError);
      const giveUp = new AbortController();
      const acquiring = other.acquire({ signal: giveUp.signal });
      giveUp.abort(new Error("no lease wanted"));
      await assert.rejects(acquiring, /no lease wanted/);
      assert.equal(other.held, 0);
      await sem.release();
      await other.acquire({ timeout: BOUND_MS }); // the lease is free: nobody withdrawn took it
      await other.release();
      await assert.rejects(other.release(), /no lease held here/);

      const lock = new Lock(fresh("lock"), { client });
      await lock.acquire();
      await assert.rejects(
        new Lock(lock.name, { client }).acquire({ timeout: 1 }),
        TimeoutError,
      );
      await lock.release();
      assert.equal(lock.locked, false);

      const stopSub = new AbortController();
      const sub = await new Topic<number>(fresh("t"), { client }).subscribe({
        signal: stopSub.signal,
      });
      const drained = (async () => {
        const got = [];
        for await (const x of sub) got.push(x);
        return got;
      })();
      stopSub.abort();
      assert.deepEqual(await within("the ended subscription", drained), []);
    },
  ],
  ["a topic reaches subscribers in tasks and on the client", async (client) => {
    const name = fresh("news");
    await using mine = await new Topic<string>(name, { client }).subscribe();
    const listening = client.submit(listen, name, 3);
    await new Queue(`${name} ready`, { client }).get({ timeout: BOUND_MS });
    await client.submit(publishAll, name, ["a", "b", "c"]).result();
    assert.deepEqual(await listening.result({ timeout: BOUND_MS }), [
      "a",
      "b",
      "c",
    ]);
    const got: string[] = [];
    for await (const x of mine) {
      got.push(x);
      if (got.length === 3) break;
    }
    assert.deepEqual(got, ["a", "b", "c"]);
  }],
  ["a closed client's lease goes to the next acquire", async (client) => {
    const name = fresh("closing");
    const holder = await Client.connect(
      TARGET!,
    );
    await new Semaphore(name, { client: holder }).acquire();
    const mine = new Semaphore(name, { client });
    const acquiring = mine.acquire();
    await holder.close();
    await within("the lease of the closed client", acquiring);
    assert.equal(mine.held, 1);
    await mine.release();
  }],
];

/** Where the cluster of the running case is (for a second client). */
let TARGET: string | LocalCluster | undefined;

clusterTest("coordination primitives on an in-process cluster", async (t) => {
  await using cluster = await LocalCluster.start({ workers: 2, slots: 2 });
  await using client = await Client.connect(cluster);
  TARGET = cluster;
  for (const [name, body] of CASES) await t.step(name, () => body(client));
});

clusterTest(
  "coordination primitives over tcp, two worker processes",
  async (t) => {
    await using cluster = await tcpCluster(["w1", "w2"], {
      workerArgs: ["--slots", "2"],
    });
    await using client = await Client.connect(cluster.address);
    TARGET = cluster.address;
    for (const [name, body] of CASES) await t.step(name, () => body(client));
  },
);

clusterTest(
  "a lease held by a task is freed when its worker process is SIGKILLed",
  async () => {
    await using cluster = await tcpCluster(["w1", "w2"]);
    await using client = await Client.connect(cluster.address);
    const name = "killed";
    const task = client.submit(holdLease, name);
    const pid = await new Queue<number>(`${name} held`, { client }).get({
      timeout: BOUND_MS,
    });
    const mine = new Semaphore(name, { client });
    const acquiring = mine.acquire();
    await new Queue(name, { client }).qsize(); // the acquire is filed: it is first in line
    const worker = cluster.workers.find((w) => w.pid === pid)!;
    assert.ok(worker, `the task ran in worker process ${pid}`);
    await worker.stop("SIGKILL");
    await within("the dead worker's lease", acquiring);
    assert.equal(mine.held, 1);
    await task.cancel();
    await mine.release();
  },
);

clusterTest(
  "futures a task received through a queue or a variable are let go once it ends and the primitive lets go; its subscriptions end with it",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    const graph = cluster.scheduler.state;
    const f = client.submit((x: number) => x * 2, 21);
    const key = f.key;
    await new Queue<Future<number>[]>("handover", { client }).put([f]);
    const variable = new Variable<Future<number>>("handover", { client });
    await variable.set(f);
    f.release();
    const taken = client.submit(resultFromQueue, "handover");
    assert.equal(await taken.result({ timeout: BOUND_MS }), 42);
    taken.release();
    assert.ok(graph.tasks.has(key), "the variable still holds it");
    await variable.delete();
    await until("the key to be forgotten", () => !graph.tasks.has(key));
    assert.equal(graph.coordination.queues.size, 0, "the empty queue is gone");
    assert.equal(graph.coordination.variables.size, 0);
    await client.submit(subscribeAndEnd, "left open").result();
    await until(
      "the subscription of the ended task to end",
      () => !graph.coordination.topics.has("left open"),
    );
  },
);

clusterTest(
  "a value over the message limit is refused; the queue and the connection are unharmed",
  async () => {
    await using cluster = await tcpCluster(["w1"]);
    await using client = await Client.connect(cluster.address, {
      maxMessageSize: 1 << 20,
    });
    const q = new Queue<Uint8Array>("big", { client });
    await assert.rejects(
      q.put(new Uint8Array(2 << 20)),
      /put\(\) of queue big: the value was not sent: its message is \d+ bytes, over the 1048576-byte message limit/,
    );
    await assert.rejects(
      new Variable("big", { client }).set(new Uint8Array(2 << 20)),
      /set\(\) of variable big: the value was not sent/,
    );
    assert.equal(await q.qsize(), 0);
    await q.put(new Uint8Array(8));
    assert.deepEqual(await q.get(), new Uint8Array(8));
  },
);
