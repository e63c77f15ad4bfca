// A value over the message limit fails only its task or call, with a
// SerializationError naming it and its size; the connection stays up and
// the client keeps working. The limit is made small (1 MiB) on the
// scheduler, the worker and the client, rather than 2 GiB of memory.
import assert from "node:assert/strict";
import { Client, getClient, SerializationError } from "../mod.ts";
import { SchedulerServer } from "../actors/scheduler/server.ts";
import { WorkerServer } from "../actors/worker/server.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";

const LIMIT = 1 << 20;

async function limitedCluster() {
  const scheduler = await SchedulerServer.start({
    port: 0,
    maxMessageSize: LIMIT,
  });
  const worker = await WorkerServer.start({
    scheduler: scheduler.address,
    slots: 2,
    maxMessageSize: LIMIT,
  });
  const client = await Client.connect(scheduler.address, {
    maxMessageSize: LIMIT,
  });
  return {
    client,
    worker,
    async [Symbol.asyncDispose]() {
      await client.close();
      await worker.close();
      await scheduler.close();
    },
  };
}

const length = (v: Uint8Array) => v.length;

clusterTest(
  "an argument over the message limit errs its task alone; the client stays usable",
  async () => {
    await using c = await limitedCluster();
    const { client } = c;
    const small = client.submit(length, new Uint8Array(1000));
    const huge = client.submit(length, new Uint8Array(2 * LIMIT));
    const after = client.submit(length, new Uint8Array(10));
    const error = await within("the huge task's error", huge.exception());
    assert.ok(error instanceof SerializationError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `task ${huge.key}: its arguments are \\d{7} bytes encoded, over the ${LIMIT}-byte message limit`,
      ),
    );
    assert.equal(await within("the small task", small.result()), 1000);
    assert.equal(await within("the next task", after.result()), 10);
    // Many tasks whose submission together exceeds the limit all run: the
    // submission is split, nothing is refused.
    const many = client.map(
      length,
      Array.from({ length: 8 }, () => new Uint8Array(LIMIT / 4)),
    );
    assert.deepEqual(
      await within("8 quarter-limit tasks", client.gather(many)),
      Array(8).fill(LIMIT / 4),
    );
  },
);

clusterTest(
  "a result over the message limit errs its task; the worker keeps serving",
  async () => {
    await using c = await limitedCluster();
    const { client, worker } = c;
    const huge = client.submit((n: number) => new Uint8Array(n), 2 * LIMIT);
    const error = await within("the result's error", huge.exception());
    assert.ok(error instanceof SerializationError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `the result of task ${huge.key} is \\d{7} bytes encoded, over the ${LIMIT}-byte message limit`,
      ),
    );
    const ok = client.submit((n: number) => new Uint8Array(n), LIMIT / 2);
    assert.equal(
      (await within("a fitting result", ok.result())).length,
      LIMIT / 2,
    );
    assert.deepEqual(
      (await client.schedulerInfo()).workers.map((w) => w.id),
      [worker.id],
    );
  },
);

clusterTest(
  "scattering a value over the message limit rejects naming it; nothing is put",
  async () => {
    await using c = await limitedCluster();
    const { client } = c;
    await assert.rejects(
      client.scatter(new Uint8Array(2 * LIMIT), { key: "too-big" }),
      (e) =>
        e instanceof SerializationError &&
        /cannot scatter too-big: it is \d{7} bytes encoded/.test(e.message),
    );
    const x = await within("a fitting scatter", client.scatter([1, 2]));
    assert.equal(await x[1].result(), 2);
  },
);

clusterTest(
  "a worker's answer or task's submission over the message limit fails alone; the worker stays connected",
  async () => {
    await using c = await limitedCluster();
    const { client, worker } = c;
    // client.run's value on the worker is too big to send back: the call
    // rejects saying so, and the worker is still there.
    await assert.rejects(
      client.run(() => new Uint8Array(2 << 20)),
      (e) =>
        e instanceof SerializationError &&
        /the value of call \d+: its message is \d{7} bytes, over the 1048576-byte message limit/
          .test(e.message),
    );
    // A task submits 8 children whose submission together is over the limit
    // (split), and one child whose argument alone is (errs alone).
    const parent = client.submit(async (quarter: number) => {
      const c = getClient();
      const kids = c.map(
        (v: Uint8Array) => v.length,
        Array.from({ length: 8 }, () => new Uint8Array(quarter)),
      );
      const big = c.submit(
        (v: Uint8Array) => v.length,
        new Uint8Array(quarter * 8),
      );
      const error = await big.exception();
      return [await c.gather(kids), (error as Error).name];
    }, LIMIT / 4);
    const [lengths, name] = await within("the parent", parent.result());
    assert.deepEqual(lengths, Array(8).fill(LIMIT / 4));
    assert.equal(name, "SerializationError");
    assert.deepEqual(
      (await client.schedulerInfo()).workers.map((w) => w.id),
      [worker.id],
    );
  },
);
