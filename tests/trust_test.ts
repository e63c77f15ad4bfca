// The failure paths of issue 8, through the public API on in-process
// clusters: each test reproduces one reported symptom (and failed on the
// code before the fix). TCP-only symptoms are in failure_tcp_test.ts.
import assert from "node:assert/strict";
import {
  Client,
  compute,
  delayed,
  type Future,
  getClient,
  LocalCluster,
  registerModule,
  SerializationError,
  ShippingError,
  TendrilError,
  TimeoutError,
} from "../mod.ts";
import {
  boom,
  heldUntilBroadcast,
  holdUntilCancelled,
  inc,
  kidsKeepingSlot,
  pinnedKidKeepingSlot,
  submitsAClosure,
  twoWaitsAtOnce,
  unserializableResult,
  whereAmI,
} from "./fixtures/tasks.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

clusterTest(
  "a chain of 10,000 tasks whose root errs: every task errs, no worker is lost",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    const root = client.submit(boom) as Future<number>;
    let last = root;
    const chain = [root];
    for (let i = 0; i < 10_000; i++) {
      last = client.submit(inc, last);
      chain.push(last);
    }
    const error = await within("the last task's error", last.exception());
    assert.equal(error?.name, "RangeError");
    assert.match(error!.message, /boom at the root/);
    assert.ok(chain.every((f) => f.status === "error"));
    assert.equal(
      await within("a task after the chain", client.submit(inc, 1).result()),
      2,
    );
    assert.equal(cluster.workerIds.length, 1);
    assert.equal(
      cluster.scheduler.peers.length,
      2,
      "the worker and this client",
    );
  },
);

clusterTest(
  "waiting with secede: false for children runs them on the idle worker",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const result = client.with({ workers: cluster.workerIds[0] }).submit(
      kidsKeepingSlot,
    ).result();
    assert.equal(await within("kidsKeepingSlot", result), 5);
  },
);

clusterTest(
  "waiting with secede: false for work no slot can run is a DeadlockError",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const error = await within(
      "the deadlock",
      client.submit(pinnedKidKeepingSlot).exception(),
    );
    assert.equal(error?.name, "DeadlockError");
    assert.match(error!.message, /waits for inc-/);
  },
);

clusterTest(
  "closing a client leaves the newest open one as getClient()",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using first = await Client.connect(cluster);
    const second = await Client.connect(cluster);
    assert.equal(getClient(), second);
    await second.close();
    assert.equal(getClient(), first);
    const add = delayed((a: number, b: number) => a + b);
    assert.deepEqual(await within("compute", compute(add(1, 2))), [3]);
  },
);

clusterTest("Tendril's errors keep their class across isolates", async () => {
  await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
  await using client = await Client.connect(cluster);
  const serialization = await within(
    "the unserializable result",
    client.submit(unserializableResult).exception(),
  );
  assert.ok(serialization instanceof SerializationError, String(serialization));
  assert.ok(serialization instanceof TendrilError);
  assert.match(serialization.message, /a function at callback/);
  const shipping = await within(
    "the closure",
    client.submit(submitsAClosure).exception(),
  );
  assert.ok(shipping instanceof ShippingError, String(shipping));
  assert.deepEqual(shipping.variables, ["k"]);
  const never = client.submit(() => new Promise<number>(() => {}));
  await assert.rejects(client.wait([never], { timeout: 1 }), TimeoutError);
  await never.cancel();
});

clusterTest(
  "a cancelled run that keeps running keeps its slot: new work goes elsewhere",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const [w1, w2] = cluster.workerIds;
    const channel = `tendril-test-${crypto.randomUUID()}`;
    const gate = new BroadcastChannel(channel);
    const started = new Promise((r) => (gate.onmessage = r));
    try {
      const slow = client.with({ workers: w1 }).submit(
        heldUntilBroadcast,
        channel,
      );
      await within("the slow task to start", started);
      await slow.cancel();
      // Before, the scheduler counted w1 free and sent this there, behind `slow`.
      assert.equal(
        await within("whereAmI", client.submit(whereAmI).result()),
        w2,
      );
    } finally {
      gate.postMessage("open");
      gate.close();
    }
  },
);

clusterTest(
  "a task that would depend on itself is refused at submit",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    const old = client.with({ key: "k" }).submit(inc, 1);
    assert.equal(await within("k", old.result()), 2);
    old.release();
    assert.throws(
      () => client.with({ key: "k" }).submit(inc, old),
      (e: Error) =>
        e instanceof TendrilError &&
        /task k cannot depend on itself/.test(e.message),
    );
  },
);

clusterTest(
  "a function with the name and source of an entry-script export ships from its own module",
  async () => {
    const script = new URL(
      "./fixtures/shipping_twins/main.ts",
      import.meta.url,
    );
    const out = await within(
      "the shipping_twins script",
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", script.pathname],
        stdout: "piped",
        stderr: "piped",
      }).output(),
    );
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(text), {
      mine: 2,
      theirs: 2000,
      localMine: 2,
      localTheirs: 2000,
    });
  },
);

clusterTest(
  "a wait in progress when the cluster closes is cancelled, not left hanging",
  async () => {
    const cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    const never = client.submit(() => new Promise<number>(() => {}));
    const waiting = never.result();
    await cluster.close();
    await assert.rejects(
      within("the cancelled wait", waiting),
      /was cancelled: the cluster was closed/,
    );
    assert.equal(
      client.submit(inc, 1).status,
      "cancelled",
      "and so is new work",
    );
  },
);

clusterTest(
  "a task cancelled while its function is still loading never starts, and frees its slot",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    // The worker has not loaded this function yet: the cancel arrives (in the
    // same batch as the compute) while it loads.
    const held = client.submit(holdUntilCancelled);
    await held.cancel();
    assert.equal(
      await within(
        "a task after the cancelled one",
        client.submit(inc, 1).result(),
      ),
      2,
    );
  },
);

clusterTest(
  "two waits at once in one task give the slot back until both end",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    // On one slot. Rejoining when the first wait ended took the slot the
    // second wait's child needed: the task waited forever.
    assert.equal(
      await within("twoWaitsAtOnce", client.submit(twoWaitsAtOnce).result()),
      53,
    );
  },
);
