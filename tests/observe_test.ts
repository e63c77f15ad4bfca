// Watching a cluster: /health, Prometheus /metrics, /api/info,
// client.schedulerInfo(), the live stream, HTTP on the protocol port.
import assert from "node:assert/strict";
import {
  parsePrometheus,
  type Scrape,
  valueOf,
} from "./fixtures/prometheus.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { runCli } from "./fixtures/processes.ts";
import {
  Client,
  getClient,
  LocalCluster,
  progress,
  registerModule,
} from "../mod.ts";
import * as tasks from "./fixtures/tasks.ts";
import type { LiveSnapshot } from "../actors/dashboard/live.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** Scrapes `/metrics` and parses it strictly. */
async function scrape(base: string): Promise<Scrape> {
  const res = await fetch(new URL("metrics", base));
  assert.equal(res.status, 200);
  assert.match(
    res.headers.get("content-type")!,
    /^text\/plain; version=0\.0\.4/,
  );
  return parsePrometheus(await res.text());
}

clusterTest("/metrics: counters move by exactly the tasks run", async () => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    slots: 1,
    dashboard: { port: 0 },
  });
  const base = cluster.dashboardUrl!;
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  await using client = await Client.connect(cluster);
  assert.equal(await (await fetch(new URL("health", base))).text(), "ok");

  const before = await scrape(base);
  assert.equal(valueOf(before, "tendril_workers"), 2);
  assert.equal(before.types.get("tendril_tasks_completed_total"), "counter");
  assert.equal(before.types.get("tendril_task_duration_seconds"), "histogram");
  const done0 = valueOf(before, "tendril_tasks_completed_total");

  const n = 321;
  const futures = client.map(tasks.inc, Array.from({ length: n }, (_, i) => i));
  await client.gather(futures);
  const failing = client.submit(tasks.failChild, 1);
  await assert.rejects(failing.result());

  const after = await scrape(base);
  assert.equal(valueOf(after, "tendril_tasks_completed_total") - done0, n);
  assert.equal(valueOf(after, "tendril_tasks_erred_total"), 1);
  const inc = { function: "inc" };
  assert.equal(valueOf(after, "tendril_task_duration_seconds_count", inc), n);
  assert.equal(
    valueOf(after, "tendril_task_duration_seconds_bucket", {
      ...inc,
      le: "+Inf",
    }),
    n,
  );
  assert.ok(valueOf(after, "tendril_task_duration_seconds_sum", inc) > 0);
  assert.equal(valueOf(after, "tendril_tasks", { state: "memory" }), n);
  assert.equal(valueOf(after, "tendril_tasks", { state: "erred" }), 1);
  const held = cluster.workerIds.map((id) =>
    valueOf(after, "tendril_worker_memory_bytes", { worker: id })
  );
  assert.ok(held.reduce((a, b) => a + b) > 0, "the results are held somewhere");
  assert.ok(valueOf(after, "tendril_event_loop_lag_seconds") >= 0);

  // The same numbers from /api/info and from the client.
  const api = await (await fetch(new URL("api/info", base))).json();
  const info = await client.schedulerInfo();
  for (const i of [api, info]) {
    assert.equal(i.finished - done0, n);
    assert.equal(i.tasks.memory, n);
    assert.deepEqual(
      i.workers.map((w: { id: string }) => w.id).sort(),
      cluster.workerIds,
    );
    assert.equal(i.dashboard, base);
  }
  const incInfo = info.functions.find((f) => f.name === "inc");
  assert.equal(incInfo?.finished, n);
  assert.equal((await fetch(new URL("nowhere", base))).status, 404);
});

clusterTest("schedulerInfo() inside a task", async () => {
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(cluster);
  const workers = await client.submit(async () => {
    const info = await getClient().schedulerInfo();
    return info.workers.length;
  }).result();
  assert.equal(workers, 2);
});

clusterTest("schedulerInfo() of a closed client rejects", async () => {
  await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
  const client = await Client.connect(cluster);
  await client.close();
  await assert.rejects(client.schedulerInfo(), /client is closed/);
});

clusterTest(
  "over TCP: the dashboard needs the token, a remote client gets the info",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const tokenFile = `${dir}/token`;
      await Deno.writeTextFile(tokenFile, "s3cret");
      await using cluster = runCli("cluster", [
        "--workers",
        "2",
        "--port",
        "0",
        "--dashboard-port",
        "0",
        "--token-file",
        tokenFile,
      ]);
      const address = await within(
        "the cluster's address",
        cluster.stdout.waitFor(/^tcp:\/\//),
      );
      const line = await within(
        "the dashboard's address",
        cluster.stderr.waitFor(/dashboard at http:\/\//),
      );
      const base = line.match(/(http:\/\/\S+)/)![1];
      const refused = await fetch(new URL("metrics", base));
      assert.equal(refused.status, 401);
      assert.match(await refused.text(), /token/);
      const wrong = await fetch(new URL("metrics", base), {
        headers: { authorization: "Bearer guess" },
      });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
      const ok = await fetch(new URL("metrics?token=s3cret", base));
      assert.equal(ok.status, 200);
      const cookie = ok.headers.get("set-cookie")!.split(";")[0];
      assert.match(await ok.text(), /^tendril_workers 2$/m);
      const withCookie = await fetch(new URL("health", base), {
        headers: { cookie },
      });
      assert.equal(await withCookie.text(), "ok");

      // Each worker reports its process's memory and CPU every few seconds.
      const reported = async () => {
        for (;;) {
          const res = await fetch(new URL("api/info", base), {
            headers: { authorization: "Bearer s3cret" },
          });
          const info = await res.json();
          if (
            info.workers.every((w: { rss?: number }) => w.rss !== undefined)
          ) {
            return info;
          }
          await new Promise((r) => setTimeout(r, 100)); // poll again
        }
      };
      const withUsage = await within("the workers' usage reports", reported());
      for (const w of withUsage.workers) {
        assert.ok(w.rss > 0 && w.heap > 0 && w.cpu >= 0, JSON.stringify(w));
      }
      assert.match(
        await (await fetch(new URL("metrics?token=s3cret", base))).text(),
        /^tendril_worker_rss_bytes\{worker="worker-[^"]+"\} \d+$/m,
      );

      await using client = await Client.connect(`${address}?token=s3cret`);
      await client.gather(client.map(tasks.noop, [1, 2, 3]));
      const info = await client.schedulerInfo();
      assert.equal(info.workers.length, 2);
      assert.equal(info.finished, 3);
      assert.equal(info.address, address);
      assert.equal(info.dashboard, base);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("the strict Prometheus reader refuses what the format does not allow", () => {
  const ok = "# TYPE a counter\na 1\n";
  assert.equal(valueOf(parsePrometheus(ok), "a"), 1);
  assert.throws(() => parsePrometheus("a 1\n"), /no # TYPE/);
  assert.throws(
    () => parsePrometheus("# TYPE a counter\na{b=1} 1\n"),
    /bad label/,
  );
  assert.throws(
    () =>
      parsePrometheus(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
      ),
    /not cumulative/,
  );
});

Deno.test("a taken dashboard port fails, unless told to take any", async () => {
  const { Scheduler } = await import("../actors/scheduler/actor.ts");
  const { Dashboard } = await import("../actors/dashboard/server.ts");
  const scheduler = new Scheduler();
  await using first = await Dashboard.start(scheduler, { port: 0 });
  const port = Number(new URL(first.url).port);
  await assert.rejects(
    Dashboard.start(scheduler, { port }),
    /cannot serve the dashboard on 127\.0\.0\.1:\d+/,
  );
  await using second = await Dashboard.start(scheduler, {
    port,
    anyPortIfTaken: true,
  });
  assert.notEqual(second.url, first.url);
  await assert.rejects(
    Dashboard.start(scheduler, { host: "0.0.0.0", port: 0 }),
    /without a token/,
  );
});

clusterTest(
  "HTTP on the scheduler port is answered with the dashboard's URL; the scheduler keeps serving",
  async () => {
    const { SchedulerServer } = await import("../actors/scheduler/server.ts");
    await using server = await SchedulerServer.start({
      port: 0,
      dashboard: { port: 0 },
    });
    await using client = await Client.connect(server.address);
    const port = new URL(server.address.replace("tcp:", "http:")).port;
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 400);
    const body = await res.text();
    assert.match(body, /Tendril scheduler protocol port/);
    assert.ok(body.includes(`dashboard is at ${server.dashboardUrl}`), body);

    // The client connected before is unharmed.
    const info = await client.schedulerInfo();
    assert.equal(info.clients, 1);
    assert.equal(info.address, server.address);
  },
);

/** The first snapshot of `/api/stream`. */
async function firstSnapshot(base: string): Promise<LiveSnapshot> {
  const res = await fetch(new URL("api/stream", base));
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  return JSON.parse(text.slice("data: ".length, text.indexOf("\n\n")));
}

clusterTest(
  "the task stream keeps the time a task spent seceded apart",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 1,
      slots: 1,
      dashboard: { port: 0 },
    });
    await using client = await Client.connect(cluster);
    const seceding = client.submit(tasks.napSeceded, 30);
    const plain = client.submit(tasks.inc, 1);
    await client.gather([seceding, plain]);
    const snap = await firstSnapshot(cluster.dashboardUrl!);
    const span = (key: string) => snap.spans.find((s) => s[5] === key)!;
    const [worker, start, stop, name, erred, , seceded] = span(seceding.key);
    assert.deepEqual([worker, name, erred], [
      cluster.workerIds[0],
      "napSeceded",
      false,
    ]);
    assert.equal(seceded?.length, 2);
    const [from, to] = seceded!;
    assert.ok(
      start <= from && from <= to && to <= stop,
      `${start} ${from} ${to} ${stop}`,
    );
    assert.ok(to > from, "it slept while seceded");
    assert.equal(span(plain.key)[6], null);
    assert.equal(snap.groups.find((g) => g.name === "napSeceded")?.memory, 1);
  },
);

clusterTest(
  "performanceReport() writes one self-contained HTML file of the runs meanwhile",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    await client.gather(client.map(tasks.noop, [1, 2, 3])); // before: not reported
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/report.html`;
      const n = 40;
      const total = await client.performanceReport(path, async () => {
        const xs = await client.gather(
          client.map(tasks.inc, Array.from({ length: n }, (_, i) => i)),
        );
        await client.submit(tasks.napSeceded, 5).result();
        return xs.reduce((a, b) => a + b);
      });
      assert.equal(total, (n * (n + 1)) / 2);
      const html = await Deno.readTextFile(path);
      assert.match(html, /^<!doctype html>/);
      assert.doesNotMatch(
        html,
        /<script|<link|src=|https?:\/\/(?!www\.w3\.org)/,
      );
      assert.match(
        html,
        new RegExp(
          `<tr data-function="inc"><td>.*?</td><td class="runs">${n}</td>`,
        ),
      );
      assert.match(
        html,
        /<tr data-function="napSeceded"><td>.*?<\/td><td class="runs">1<\/td>/,
      );
      assert.doesNotMatch(
        html,
        /data-function="noop"/,
        "runs before the call are left out",
      );
      assert.equal(html.match(/<rect x=/g)?.length, n + 1);
      assert.equal(html.match(/class="seceded"/g)?.length, 1);

      // A failing call still writes its report, then rethrows.
      const failing = `${dir}/failing.html`;
      await assert.rejects(
        client.performanceReport(
          failing,
          () => client.submit(tasks.failChild, 4).result(),
        ),
        { name: "RangeError", message: "child failed on 4" },
      );
      assert.match(
        await Deno.readTextFile(failing),
        /<td class="runs">1<\/td><td>1<\/td>/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

clusterTest(
  "closing the cluster ends an open event stream (and does not wait for it)",
  async () => {
    const cluster = await LocalCluster.start({
      workers: 1,
      slots: 1,
      dashboard: { port: 0 },
    });
    try {
      // A reader that reads one snapshot and goes away first.
      await firstSnapshot(cluster.dashboardUrl!);
      // A reader still reading when the cluster closes.
      const res = await fetch(new URL("api/stream", cluster.dashboardUrl!));
      const reader = res.body!.getReader();
      await reader.read();
      const rest = (async () => {
        for (;;) if ((await reader.read()).done) return "ended";
      })();
      await within("the cluster to close", cluster.close());
      assert.equal(await within("the stream to end", rest), "ended");
    } finally {
      await cluster.close();
    }
  },
);

clusterTest("progress() over TCP counts launched tasks too", async () => {
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
  let text = "";
  const stream = { write: (s: string) => void (text += s), isTTY: false };
  await within(
    "progress()",
    progress([client.submit(tasks.spread, 4), client.submit(tasks.inc, 1)], {
      stream,
    }),
  );
  assert.match(text.trim().split("\n").at(-1)!, / 6\/6 tasks /);
});
