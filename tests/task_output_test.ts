// What tasks print reaches the client that submitted the root of their
// tree, over TCP, prefixed with the task's key and worker; a client can
// turn it off; getWorkerLogs() returns the recent lines.
import assert from "node:assert/strict";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { runCli } from "./fixtures/processes.ts";
import { Client, type Future, LocalCluster, registerModule } from "../mod.ts";
import * as tasks from "./fixtures/tasks.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** Runs `fn` with console.log and console.error caught; returns what they printed. */
async function printed(
  fn: () => Promise<unknown>,
): Promise<{ out: string[]; err: string[] }> {
  const got = { out: [] as string[], err: [] as string[] };
  const { log, error } = console;
  console.log = (...a: unknown[]) => void got.out.push(a.join(" "));
  console.error = (...a: unknown[]) => void got.err.push(a.join(" "));
  try {
    await fn();
  } finally {
    console.log = log;
    console.error = error;
  }
  return got;
}

clusterTest(
  "over TCP: task output reaches the root's client with the key prefix",
  async () => {
    await using cluster = runCli("cluster", [
      "--workers",
      "2",
      "--port",
      "0",
      "--no-dashboard",
    ]);
    const address = await within(
      "the cluster's address",
      cluster.stdout.waitFor(/^tcp:\/\//),
    );
    await using client = await Client.connect(address);
    await using quiet = await Client.connect(address, { taskOutput: false });
    let direct!: Future<number>;
    let nested!: Future<number>;
    let silent!: Future<number>;
    const got = await printed(async () => {
      direct = client.submit(tasks.chatty, 1);
      nested = client.submit(tasks.chattyParent, 2);
      silent = quiet.submit(tasks.chatty, 3);
      // Lines travel ahead of the results on each connection.
      assert.deepEqual(
        await Promise.all([direct.result(), nested.result(), silent.result()]),
        [1, 2, 3],
      );
    });
    const prefix = /^\((\S+) on (worker-\S+)\) /;
    const hello1 = got.out.find((l) => l.endsWith("hello 1"));
    assert.ok(hello1, got.out.join("\n"));
    assert.equal(hello1.match(prefix)?.[1], direct.key);
    // A multi-line print keeps the prefix on each line, on stderr.
    const oops1 = got.err.find((l) => l.includes("oops 1"))!;
    assert.match(
      oops1,
      /^\(chatty-\S+ on worker-\S+\) oops 1\n\(chatty-\S+ on worker-\S+\) second line$/,
    );
    // The child's lines reach the client that submitted its parent.
    const hello2 = got.out.find((l) => l.endsWith("hello 2"));
    assert.ok(hello2, got.out.join("\n"));
    assert.match(hello2, /^\(chatty-\S+ on worker-\S+\) hello 2$/);
    assert.notEqual(
      hello2.match(prefix)?.[1],
      nested.key,
      "the child's own key",
    );
    // The quiet client got nothing.
    assert.ok(!got.out.some((l) => l.includes("hello 3")), got.out.join("\n"));
    assert.ok(!got.err.some((l) => l.includes("oops 3")));

    const logs = await client.getWorkerLogs();
    const all = Object.values(logs).flat();
    for (
      const text of ["hello 1", "hello 2", "hello 3", "oops 3\nsecond line"]
    ) {
      assert.ok(
        all.some((l) => l.endsWith(text)),
        `${text} in ${all.join("\n")}`,
      );
    }
    assert.ok(all.includes(`[${silent.key}] hello 3`));
  },
);

clusterTest(
  "in process: task output is printed once, by the client",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    let key = "";
    const got = await printed(async () => {
      const f = client.submit(tasks.chatty, 5);
      key = f.key;
      await f.result();
    });
    assert.deepEqual(
      got.out.filter((l) => l.includes("hello 5")),
      [`(${key} on ${cluster.workerIds[0]}) hello 5`],
    );
  },
);
