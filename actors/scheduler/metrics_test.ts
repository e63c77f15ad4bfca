// The scheduler's counters, driven through its state machine: only current
// runs count, late results of cancelled runs do not, retries count as erred
// runs, and the task stream keeps the newest spans.
import assert from "node:assert/strict";
import { pack } from "../../runtime/codec/packed.ts";
import { RECENT_SPANS, SchedulerMetrics } from "./metrics.ts";
import { SchedulerState } from "./state.ts";

const fnRef = { kind: "source" as const, source: "(x) => x", name: "id" };

function scheduler(): SchedulerState {
  const s = new SchedulerState({ validate: true });
  s.handle({
    type: "worker-joined",
    id: "w1",
    slots: 1,
    address: "inproc://w1",
  });
  s.handle({ type: "client-joined", id: "c" });
  return s;
}

function submit(s: SchedulerState, key: string, retries = 0): void {
  s.handle({
    type: "message",
    from: "c",
    msg: {
      op: "submit",
      tasks: [{ key, fn: "s:id", fnRef, args: pack([1]), retries }],
    },
  });
}

Deno.test("metrics: a finished run counts once, with its time", () => {
  const s = scheduler();
  submit(s, "a");
  s.handle({
    type: "message",
    from: "w1",
    msg: {
      op: "task-finished",
      key: "a",
      run: 1,
      nbytes: 1,
      value: pack(1),
      start: 1000,
      stop: 1000.2,
    },
  });
  assert.equal(s.metrics.finished, 1);
  const stats = s.metrics.byFunction.get("s:id")!;
  assert.equal(stats.name, "id");
  assert.equal(stats.timed, 1);
  assert.ok(Math.abs(stats.seconds - 0.0002) < 1e-9);
  assert.deepEqual(
    s.metrics.spansSince(0).map((x) => [x.key, x.worker, x.erred]),
    [["a", "w1", false]],
  );
});

Deno.test("metrics: a late result of a cancelled run is not counted", () => {
  const s = scheduler();
  submit(s, "a");
  s.handle({ type: "message", from: "c", msg: { op: "cancel", keys: ["a"] } });
  s.handle({
    type: "message",
    from: "w1",
    msg: { op: "task-finished", key: "a", run: 1, nbytes: 1 },
  });
  assert.equal(s.metrics.finished, 0);
  assert.equal(s.metrics.spans, 0);
});

Deno.test("metrics: a retried run counts as erred, its rerun as finished", () => {
  const s = scheduler();
  submit(s, "a", 1);
  s.handle({
    type: "message",
    from: "w1",
    msg: { op: "task-erred", key: "a", run: 1, error: pack(new Error("x")) },
  });
  assert.equal(s.metrics.erred, 1);
  const rerun = s.tasks.get("a")!.run;
  s.handle({
    type: "message",
    from: "w1",
    msg: { op: "task-finished", key: "a", run: rerun, nbytes: 1 },
  });
  assert.equal(s.metrics.finished, 1);
  assert.equal(s.metrics.spans, 0, "runs without times make no spans");
});

Deno.test("metrics: the ring keeps the newest spans", () => {
  const m = new SchedulerMetrics();
  for (let i = 0; i < RECENT_SPANS + 5; i++) {
    m.ended("f", "f", `k${i}`, "w", i, i + 1, false);
  }
  const spans = m.spansSince(0);
  assert.equal(spans.length, RECENT_SPANS);
  assert.equal(spans[0].key, "k5");
  assert.equal(spans.at(-1)!.key, `k${RECENT_SPANS + 4}`);
  assert.deepEqual(m.spansSince(m.spans - 2).map((s) => s.key), [
    `k${RECENT_SPANS + 3}`,
    `k${RECENT_SPANS + 4}`,
  ]);
});

Deno.test("tree-progress: a root counts its tree's tasks, grandchildren included", () => {
  const s = scheduler();
  submit(s, "root");
  const fromWorker = (key: string, parent: string) =>
    s.handle({
      type: "message",
      from: "w1",
      msg: {
        op: "submit",
        tasks: [{ key, fn: "s:id", args: pack([1]), parent }],
      },
    });
  fromWorker("child", "root");
  s.handle({
    type: "message",
    from: "w1",
    msg: { op: "seceded", key: "root", run: 1 },
  });
  const ask = () => {
    const [answer] = s.handle({
      type: "message",
      from: "c",
      msg: { op: "tree-progress", id: 7, keys: ["root", "nope"] },
    });
    assert.equal(answer.type, "send");
    return answer.type === "send" ? answer.msg : undefined;
  };
  assert.deepEqual(ask(), {
    op: "tree-progress",
    id: 7,
    launched: [1, 0],
    done: [0, 0],
  });
  const run = (key: string) => s.tasks.get(key)!.run;
  const child = s.tasks.get("child")!;
  assert.equal(child.root?.key, "root");
  // The child launches a grandchild, then both finish.
  s.handle({
    type: "message",
    from: "w1",
    msg: { op: "seceded", key: "child", run: run("child") },
  });
  fromWorker("grandchild", "child");
  assert.equal(s.tasks.get("grandchild")!.root?.key, "root");
  for (const key of ["grandchild", "child"]) {
    s.handle({
      type: "message",
      from: "w1",
      msg: {
        op: "task-finished",
        key,
        run: run(key),
        nbytes: 1,
        value: pack(1),
      },
    });
  }
  assert.deepEqual(ask(), {
    op: "tree-progress",
    id: 7,
    launched: [2, 0],
    done: [2, 0],
  });
});

Deno.test("worker-usage: the last report shows in the description, and goes with the worker", () => {
  const s = scheduler();
  s.handle({
    type: "message",
    from: "w1",
    msg: { op: "worker-usage", rss: 1000, heap: 500, cpu: 0.25 },
  });
  const [w] = s.describe().workers;
  assert.deepEqual([w.rss, w.heap, w.cpu], [1000, 500, 0.25]);
  s.handle({ type: "worker-left", id: "w1" });
  assert.equal(s.usage.size, 0);
});
