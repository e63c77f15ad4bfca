// The client's coordination link driven directly: answers matched by id,
// and what an answer that crossed a withdrawal gave is undone.
import assert from "node:assert/strict";
import { pack } from "../../../runtime/codec/packed.ts";
import { ClientClosedError } from "../../../runtime/errors.ts";
import { CoordinationLink } from "./link.ts";

function link() {
  const log: unknown[] = [];
  const l = new CoordinationLink({
    send: (msg) => log.push(msg),
    decode: (bytes) => bytes,
    holdWhile: (keys, owner, then) => {
      log.push(["hold", keys, owner]);
      then();
      log.push(["drop", keys, owner]);
    },
  });
  return { l, log };
}

Deno.test("link: an abandoned pending wait is withdrawn; its late withdrawn answer does nothing", () => {
  const { l, log } = link();
  const r = l.request({ op: "queue-get", name: "q" }, "task-1");
  assert.deepEqual(log[0], {
    op: "queue-get",
    name: "q",
    id: 1,
    owner: "task-1",
  });
  l.abandon(r);
  l.abandon(r);
  assert.deepEqual(log.slice(1), [{ op: "withdraw", id: 1 }], "withdrawn once");
  l.receive({ op: "coordinated", id: 1, withdrawn: true });
  assert.equal(log.length, 2);
});

Deno.test("link: an item that crossed the withdrawal goes back to the head of its queue, its futures held meanwhile", () => {
  const { l, log } = link();
  const r = l.request({ op: "queue-get", name: "q" }, "task-1");
  l.abandon(r);
  l.receive({ op: "coordinated", id: 1, value: "\x01", refs: ["k"] });
  assert.deepEqual(log.slice(2), [
    ["hold", ["k"], "task-1"],
    {
      op: "queue-put",
      id: 2,
      name: "q",
      value: "\x01",
      refs: ["k"],
      front: true,
    },
    ["drop", ["k"], "task-1"],
  ]);
});

Deno.test("link: a lease that crossed the withdrawal is released; a variable's futures are let go", () => {
  const { l, log } = link();
  const acquire = l.request({
    op: "semaphore-acquire",
    name: "s",
    maxLeases: 1,
  }, "");
  l.abandon(acquire);
  l.receive({ op: "coordinated", id: acquire.id, count: 7 });
  assert.deepEqual(log.at(-1), {
    op: "semaphore-release",
    id: 2,
    name: "s",
    lease: 7,
  });
  const get = l.request({ op: "variable-get", name: "v" }, "");
  l.receive({ op: "coordinated", id: get.id, value: "\x01", refs: ["k"] });
  l.abandon(get); // answered, then given up (a timeout that fired at once)
  assert.deepEqual(log.slice(-2), [["hold", ["k"], ""], ["drop", ["k"], ""]]);
});

Deno.test("link: topic messages go to their subscription; after it ended their futures are let go", () => {
  const { l, log } = link();
  const got: unknown[] = [];
  const sub = l.subscribe("t", "", {
    owner: "",
    message: (value) => got.push(value),
    end: () => got.push("end"),
  });
  l.receive({ op: "coordinated", id: sub.id });
  l.receive({ op: "topic-message", id: sub.id, value: "\x01" });
  l.unsubscribe(sub.id);
  assert.deepEqual(log.at(-1), { op: "withdraw", id: sub.id });
  l.receive({ op: "topic-message", id: sub.id, value: "\x02", refs: ["k"] });
  assert.deepEqual(got, ["\x01"]);
  assert.deepEqual(log.slice(-2), [["hold", ["k"], ""], ["drop", ["k"], ""]]);
});

Deno.test("link: a closed client rejects its waits, ends its subscriptions and refuses new requests", async () => {
  const { l } = link();
  const r = l.request({ op: "event-wait", name: "e" }, "");
  const ended: unknown[] = [];
  l.subscribe("t", "", { owner: "", message() {}, end: (e) => ended.push(e) });
  l.fail();
  await assert.rejects(r.answered, ClientClosedError);
  assert.ok(ended[0] instanceof ClientClosedError);
  await assert.rejects(
    l.request({ op: "queue-size", name: "q" }, "").answered,
    ClientClosedError,
  );
  assert.throws(() => l.publish("t", "\x01", undefined), ClientClosedError);
});

Deno.test("link: a task's subscriptions end with it, others stay", () => {
  const { l, log } = link();
  const ended: string[] = [];
  const sub = (owner: string) =>
    l.subscribe("t", owner, {
      owner,
      message() {},
      end: () => ended.push(owner),
    });
  const mine = sub("task-1");
  sub("task-2");
  l.taskEnded("task-1");
  assert.deepEqual(ended, ["task-1"]);
  assert.deepEqual(log.at(-1), { op: "withdraw", id: mine.id });
});

Deno.test("link: a batch that crossed the withdrawal goes back in order, each item with its own futures", () => {
  const { l, log } = link();
  const r = l.request({ op: "queue-get", name: "q", batch: 2 }, "");
  l.abandon(r);
  const one = pack(1);
  const two = pack(2);
  l.receive({ op: "coordinated", id: r.id, values: [one, two] });
  assert.deepEqual(log.slice(2), [
    {
      op: "queue-put",
      id: 2,
      name: "q",
      value: two,
      refs: undefined,
      front: true,
    },
    {
      op: "queue-put",
      id: 3,
      name: "q",
      value: one,
      refs: undefined,
      front: true,
    },
  ]);
});
