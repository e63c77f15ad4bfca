// The coordination sub-machine driven through SchedulerState.handle, with
// every invariant (the graph's and the primitives') checked after each event.
import assert from "node:assert/strict";
import { pack } from "../../../runtime/codec/packed.ts";
import type {
  CoordinationRequest,
  SchedulerToClient,
  ToScheduler,
} from "../../protocol.ts";
import { validateToScheduler } from "../../protocol.ts";
import type { SchedulerEffect } from "../state.ts";
import { Sim } from "../../../tests/fixtures/scheduler_sim.ts";

const one = { kind: "source" as const, source: "() => 1", name: "one" };

/**
 * The shared scheduler driver with clients a and b too; `ask` and `part`
 * return the coordination answers their event sent, as [to, msg].
 */
class CoordinationSim extends Sim {
  constructor() {
    super([["w1", 1]]);
    for (const id of ["a", "b"]) this.event({ type: "client-joined", id });
  }

  /** Sends `msg` from `from`. */
  ask(from: string, msg: ToScheduler): [string, SchedulerToClient][] {
    return answers(this.msg(from, msg));
  }

  /** Client or worker `id` leaves. */
  part(type: "client-left" | "worker-left", id: string) {
    return answers(this.event({ type, id }));
  }

  /** Client a submits key `k`, which finishes in memory on w1. */
  computed(k: string): void {
    this.ask("a", {
      op: "submit",
      tasks: [{ key: k, fn: "s:one", fnRef: one, args: pack([]) }],
    });
    const run = this.s.tasks.get(k)!.run;
    this.ask("w1", {
      op: "task-finished",
      key: k,
      run,
      value: pack(1),
      nbytes: 1,
    });
  }
}

/** The coordination answers among effects, as [to, msg]. */
function answers(fx: SchedulerEffect[]): [string, SchedulerToClient][] {
  const out: [string, SchedulerToClient][] = [];
  for (const e of fx) {
    if (
      e.type === "send" &&
      (e.msg.op === "coordinated" || e.msg.op === "topic-message")
    ) out.push([e.to, e.msg as SchedulerToClient]);
  }
  return out;
}

/** The error of the first answer in `replies`. */
function errorOf(replies: [string, SchedulerToClient][]): string {
  const [, msg] = replies[0];
  return String(msg.op === "coordinated" && msg.error);
}

const put = (
  id: number,
  value: number,
  extra: Partial<Extract<CoordinationRequest, { op: "queue-put" }>> = {},
): CoordinationRequest => ({
  op: "queue-put",
  id,
  name: "q",
  value: pack(value),
  ...extra,
});

Deno.test("queue: a bounded put waits while full, gets are FIFO and admit it", () => {
  const sim = new CoordinationSim();
  assert.deepEqual(sim.ask("a", put(1, 10, { maxsize: 1 })), [
    ["a", { op: "coordinated", id: 1 }],
  ]);
  assert.deepEqual(sim.ask("a", put(2, 20)), [], "full: the put waits");
  assert.deepEqual(sim.ask("b", { op: "queue-size", id: 1, name: "q" }), [
    ["b", { op: "coordinated", id: 1, count: 1 }],
  ]);
  assert.deepEqual(sim.ask("b", { op: "queue-get", id: 2, name: "q" }), [
    ["b", { op: "coordinated", id: 2, value: pack(10) }],
    ["a", { op: "coordinated", id: 2 }],
  ]);
  assert.deepEqual(sim.ask("b", { op: "queue-get", id: 3, name: "q" }), [
    ["b", { op: "coordinated", id: 3, value: pack(20) }],
  ]);
  const refused = sim.ask("a", put(3, 30, { maxsize: 2 }));
  assert.match(
    errorOf(refused),
    /queue q has maxsize 1, not 2/,
  );
});

Deno.test("queue: a withdrawn get is answered withdrawn and takes nothing later; an item given back goes first", () => {
  const sim = new CoordinationSim();
  sim.ask("b", { op: "queue-get", id: 1, name: "q" });
  assert.deepEqual(sim.ask("b", { op: "withdraw", id: 1 }), [
    ["b", { op: "coordinated", id: 1, withdrawn: true }],
  ]);
  sim.ask("a", put(1, 1));
  sim.ask("a", put(2, 2, { front: true }));
  assert.deepEqual(sim.ask("b", { op: "queue-get", id: 2, name: "q" }), [
    ["b", { op: "coordinated", id: 2, value: pack(2) }],
  ]);
  assert.deepEqual(
    sim.ask("b", { op: "withdraw", id: 2 }),
    [],
    "already answered",
  );
});

Deno.test("queue: futures inside a stored item stay while stored and pass to the getter", () => {
  const sim = new CoordinationSim();
  sim.computed("k");
  sim.ask("a", put(1, 0, { refs: ["k"] }));
  sim.ask("a", { op: "release", keys: ["k"] });
  assert.equal(sim.s.tasks.get("k")?.status, "memory", "held by the queue");
  sim.ask("b", { op: "queue-get", id: 1, name: "q" });
  assert.equal(sim.s.tasks.get("k")?.status, "memory", "held for b now");
  sim.ask("b", { op: "release", keys: ["k"] });
  assert.equal(sim.s.tasks.has("k"), false, "b let go: forgotten");
});

Deno.test("queue: the item of a withdrawn put, and of a client that left while putting, is let go", () => {
  const sim = new CoordinationSim();
  sim.computed("k");
  sim.ask("a", put(1, 0, { maxsize: 1 }));
  sim.ask("a", put(2, 0, { refs: ["k"] }));
  sim.ask("a", { op: "release", keys: ["k"] });
  assert.equal(sim.s.tasks.has("k"), true);
  sim.ask("a", { op: "withdraw", id: 2 });
  assert.equal(sim.s.tasks.has("k"), false);
  sim.computed("j");
  sim.ask("a", put(3, 0, { refs: ["j"] }));
  sim.part("client-left", "a");
  assert.equal(sim.s.tasks.has("j"), false);
  assert.deepEqual(sim.ask("b", { op: "queue-size", id: 1, name: "q" }), [
    ["b", { op: "coordinated", id: 1, count: 1 }],
  ]);
});

Deno.test("queue: a batch get waits for its whole batch, in line; batch 0 takes what there is; a withdrawn batch lets the next get in", () => {
  const sim = new CoordinationSim();
  const get = (id: number, batch?: number): CoordinationRequest => ({
    op: "queue-get",
    id,
    name: "q",
    batch,
  });
  assert.deepEqual(sim.ask("b", get(1, 0)), [
    ["b", { op: "coordinated", id: 1, values: [] }],
  ]);
  sim.ask("a", put(1, 1));
  assert.deepEqual(sim.ask("b", get(2, 2)), [], "one item of two");
  assert.deepEqual(sim.ask("a", get(3)), [], "a single get waits behind");
  assert.deepEqual(sim.ask("a", put(2, 2)), [
    ["a", { op: "coordinated", id: 2 }],
    ["b", { op: "coordinated", id: 2, values: [pack(1), pack(2)] }],
  ]);
  sim.ask("a", put(3, 3));
  assert.equal(sim.s.coordination.queues.get("q"), undefined, "a took it");
  sim.ask("a", put(4, 4));
  sim.ask("b", get(4, 5));
  assert.deepEqual(sim.ask("a", get(5)), []);
  assert.deepEqual(sim.ask("b", { op: "withdraw", id: 4 }), [
    ["b", { op: "coordinated", id: 4, withdrawn: true }],
    ["a", { op: "coordinated", id: 5, value: pack(4) }],
  ]);
  sim.ask("a", put(6, 6, { maxsize: 2 }));
  assert.match(
    errorOf(sim.ask("b", get(6, 3))),
    /a batch of 3 can never be taken from a queue of maxsize 2/,
  );
});

Deno.test("variable: a get waits until set; set replaces and lets the old value go; delete", () => {
  const sim = new CoordinationSim();
  sim.computed("k");
  assert.deepEqual(sim.ask("b", { op: "variable-get", id: 1, name: "v" }), []);
  const set = { op: "variable-set", name: "v" } as const;
  assert.deepEqual(
    sim.ask("a", { ...set, id: 1, value: pack("x"), refs: ["k"] }),
    [
      ["b", { op: "coordinated", id: 1, value: pack("x"), refs: ["k"] }],
      ["a", { op: "coordinated", id: 1 }],
    ],
  );
  sim.ask("a", { op: "release", keys: ["k"] });
  sim.ask("b", { op: "release", keys: ["k"] });
  assert.equal(sim.s.tasks.has("k"), true, "the variable holds it");
  sim.ask("a", { ...set, id: 2, value: pack("y") });
  assert.equal(sim.s.tasks.has("k"), false, "replaced: let go");
  sim.ask("a", { op: "variable-delete", id: 3, name: "v" });
  assert.deepEqual(sim.ask("b", { op: "variable-get", id: 2, name: "v" }), []);
  sim.part("client-left", "b");
  assert.equal(sim.s.coordination.variables.size, 0);
});

Deno.test("event: waits end on set, at once while set, not on clear; poll", () => {
  const sim = new CoordinationSim();
  assert.deepEqual(sim.ask("b", { op: "event-wait", id: 1, name: "e" }), []);
  assert.deepEqual(
    sim.ask("b", { op: "event-wait", id: 2, name: "e", poll: true }),
    [["b", { op: "coordinated", id: 2, count: 0 }]],
  );
  assert.deepEqual(
    sim.ask("a", { op: "event-set", id: 1, name: "e", on: true }),
    [
      ["b", { op: "coordinated", id: 1 }],
      ["a", { op: "coordinated", id: 1 }],
    ],
  );
  assert.deepEqual(sim.ask("b", { op: "event-wait", id: 3, name: "e" }), [
    ["b", { op: "coordinated", id: 3 }],
  ]);
  sim.ask("a", { op: "event-set", id: 2, name: "e", on: false });
  assert.deepEqual(sim.ask("b", { op: "event-wait", id: 4, name: "e" }), []);
  assert.equal(sim.s.coordination.events.get("e")?.isSet, false);
});

Deno.test("semaphore: leases up to the bound; a leaving client's and a dead worker's leases go to the waiters", () => {
  const sim = new CoordinationSim();
  const acquire = (id: number) =>
    ({ op: "semaphore-acquire", id, name: "s", maxLeases: 2 }) as const;
  assert.deepEqual(sim.ask("a", acquire(1)), [["a", {
    op: "coordinated",
    id: 1,
    count: 1,
  }]]);
  assert.deepEqual(sim.ask("w1", acquire(1)), [["w1", {
    op: "coordinated",
    id: 1,
    count: 2,
  }]]);
  assert.deepEqual(sim.ask("b", acquire(1)), [], "both leases taken");
  assert.deepEqual(sim.ask("b", acquire(2)), []);
  assert.deepEqual(sim.part("client-left", "a"), [
    ["b", { op: "coordinated", id: 1, count: 3 }],
  ]);
  assert.deepEqual(sim.part("worker-left", "w1"), [
    ["b", { op: "coordinated", id: 2, count: 4 }],
  ]);
  const release = {
    op: "semaphore-release",
    id: 9,
    name: "s",
    lease: 1,
  } as const;
  assert.match(errorOf(sim.ask("a", release)), /lease 1 is not held/);
  assert.match(
    errorOf(sim.ask("a", { ...acquire(10), maxLeases: 3 })),
    /semaphore s has 2 leases, not 3/,
  );
  assert.deepEqual(
    sim.ask("b", { op: "semaphore-release", id: 3, name: "s", lease: 3 }),
    [
      ["b", { op: "coordinated", id: 3 }],
    ],
  );
  sim.ask("b", { op: "semaphore-release", id: 4, name: "s", lease: 4 });
  assert.equal(
    sim.s.coordination.semaphores.size,
    0,
    "an unused semaphore is forgotten",
  );
});

Deno.test("semaphore: a withdrawn acquire gets no lease", () => {
  const sim = new CoordinationSim();
  sim.ask("a", { op: "semaphore-acquire", id: 1, name: "s", maxLeases: 1 });
  sim.ask("b", { op: "semaphore-acquire", id: 1, name: "s", maxLeases: 1 });
  assert.deepEqual(sim.ask("b", { op: "withdraw", id: 1 }), [
    ["b", { op: "coordinated", id: 1, withdrawn: true }],
  ]);
  assert.deepEqual(
    sim.ask("a", { op: "semaphore-release", id: 2, name: "s", lease: 1 }),
    [
      ["a", { op: "coordinated", id: 2 }],
    ],
  );
});

Deno.test("topic: subscribers get what is published after they subscribed, until withdrawn", () => {
  const sim = new CoordinationSim();
  const publish = (n: number) =>
    ({ op: "topic-publish", name: "t", value: pack(n) }) as const;
  assert.deepEqual(sim.ask("a", publish(0)), [], "nobody subscribed: dropped");
  sim.ask("a", { op: "topic-subscribe", id: 1, name: "t" });
  sim.ask("b", { op: "topic-subscribe", id: 5, name: "t" });
  assert.deepEqual(sim.ask("a", publish(1)), [
    ["a", { op: "topic-message", id: 1, value: pack(1) }],
    ["b", { op: "topic-message", id: 5, value: pack(1) }],
  ]);
  sim.ask("b", { op: "withdraw", id: 5 });
  assert.deepEqual(sim.ask("a", publish(2)), [
    ["a", { op: "topic-message", id: 1, value: pack(2) }],
  ]);
  sim.part("client-left", "a");
  assert.equal(sim.s.coordination.topics.size, 0);
});

Deno.test("coordination messages with bad fields are refused with a named error", () => {
  validateToScheduler({ op: "queue-get", id: 1, name: "q" }, "client");
  assert.throws(
    () => validateToScheduler({ op: "queue-put", id: 1, name: "q" }, "client"),
    /field value/,
  );
  assert.throws(
    () =>
      validateToScheduler(
        { op: "semaphore-acquire", id: 1, name: "s", maxLeases: 0 },
        "client",
      ),
    /field maxLeases must be a positive integer/,
  );
  assert.throws(
    () => validateToScheduler({ op: "withdraw", id: -1 }, "client"),
    /field id must be a non-negative integer/,
  );
  assert.throws(
    () =>
      validateToScheduler(
        { op: "event-set", id: 1, name: 3, on: true },
        "client",
      ),
    /field name must be a string/,
  );
});
