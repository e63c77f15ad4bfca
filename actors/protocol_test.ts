// Shape checks of messages from untrusted peers (the tables in protocol.ts):
// every valid message passes; a wrong one is refused with the op and field
// named.
import assert from "node:assert/strict";
import { ProtocolError } from "../runtime/errors.ts";
import { validateDataMessage, validateToScheduler } from "./protocol.ts";

const bytes = new Uint8Array([1, 2, 3]);
const task = { key: "inc-1", fn: "m:inc", args: bytes, deps: ["a"] };

Deno.test("validate: every valid scheduler message passes", () => {
  const client = [
    { op: "submit", tasks: [task] },
    {
      op: "submit",
      tasks: [{
        ...task,
        args: "\x91\x01", // small values travel as one-byte strings
        deps: undefined,
        fnRef: { kind: "module", url: "file:///t.ts", name: "inc" },
        parent: "p-1",
        priority: -2,
        retries: 3,
        workers: ["w1"],
        allowOtherWorkers: true,
      }],
    },
    {
      op: "submit",
      tasks: [{
        ...task,
        fnRef: { kind: "source", source: "(x) => x", name: "", wrapped: true },
      }],
    },
    { op: "want", keys: ["a", "b"] },
    { op: "want", keys: ["a"], owner: "task-1" },
    { op: "release", keys: [] },
    { op: "cancel", keys: ["a"] },
    {
      op: "missing-data",
      key: "k",
      notHeld: [],
      unreachable: ["tcp://127.0.0.1:1"],
      reason: "refused",
    },
    {
      op: "submit",
      tasks: [{
        ...task,
        fnRef: {
          kind: "module",
          url: "file:///app/tasks.ts",
          name: "inc",
          pkg: { id: "P1", path: "tasks.ts" },
        },
      }],
    },
    {
      op: "code-package",
      package: { id: "P1", files: [{ path: "tasks.ts", text: "export {};" }] },
    },
  ];
  const worker = [
    {
      op: "task-finished",
      key: "k",
      run: 1,
      value: bytes,
      nbytes: 3,
      refs: ["x"],
    },
    { op: "task-finished", key: "k", run: 1, nbytes: 100000 },
    { op: "task-erred", key: "k", run: 1, error: bytes },
    { op: "task-stopped", key: "k", run: 1 },
    { op: "seceded", key: "k", run: 1 },
    { op: "rejoined", key: "k", run: 1 },
    { op: "blocked", key: "k", run: 1, on: ["a"] },
    { op: "unblocked", key: "k", run: 1 },
    {
      op: "missing-data",
      key: "d",
      task: "k",
      run: 1,
      notHeld: ["tcp://127.0.0.1:1"],
      unreachable: [],
      reason: "not held",
    },
    { op: "heartbeat" },
    { op: "code-request", id: "P1" },
  ];
  for (const msg of client) {
    validateToScheduler(msg, "client");
    validateToScheduler(msg, "worker");
  }
  for (const msg of worker) validateToScheduler(msg, "worker");
});

Deno.test("validate: bad scheduler messages name the operation and field", () => {
  const cases: [unknown, RegExp][] = [
    [42, /expected a map, got a number/],
    [[{ op: "want" }], /expected a map, got an array/],
    [{ keys: [] }, /field op must be a string, got nothing/],
    [{ op: "launch-missiles" }, /unknown operation "launch-missiles"/],
    [
      { op: "task-finished", key: "k", nbytes: 1 },
      /"task-finished" is for workers, not clients/,
    ],
    [
      { op: "code-request", id: "P1" },
      /"code-request" is for workers, not clients/,
    ],
    [
      { op: "code-package", package: { id: "P1", files: [{ path: "a.ts" }] } },
      /bad "code-package" message: field package\.files\[0\]\.text must be a string, got nothing/,
    ],
    [
      {
        op: "submit",
        tasks: [{
          ...task,
          fnRef: { kind: "module", url: "file:///a.ts", name: "f", pkg: "P1" },
        }],
      },
      /field tasks\[0\]\.fnRef\.pkg must be a map/,
    ],
    [
      { op: "submit", tasks: {} },
      /bad "submit" message: field tasks must be an array, got a map/,
    ],
    [
      { op: "submit", tasks: [{ ...task, key: 7 }] },
      /field tasks\[0\]\.key must be a string, got a number/,
    ],
    [
      { op: "submit", tasks: [{ ...task, args: 5 }] },
      /field tasks\[0\]\.args must be bytes, got a number/,
    ],
    [
      { op: "submit", tasks: [{ ...task, deps: [null] }] },
      /field tasks\[0\]\.deps\[0\] must be a string, got null/,
    ],
    [
      { op: "submit", tasks: [{ ...task, retries: -1 }] },
      /field tasks\[0\]\.retries must be a non-negative integer/,
    ],
    [
      { op: "submit", tasks: [{ ...task, priority: Infinity }] },
      /field tasks\[0\]\.priority must be a finite number/,
    ],
    [
      { op: "submit", tasks: [{ ...task, fnRef: { kind: "eval" } }] },
      /field tasks\[0\]\.fnRef\.kind must be "module" or "source"/,
    ],
    [
      { op: "submit", tasks: [task, { ...task, allowOtherWorkers: "yes" }] },
      /field tasks\[1\]\.allowOtherWorkers must be a boolean/,
    ],
    [
      { op: "want", keys: "a" },
      /bad "want" message: field keys must be an array, got a string/,
    ],
    [
      { op: "release", keys: ["a"], owner: 3 },
      /bad "release" message: field owner must be a string/,
    ],
    [
      { op: "cancel", keys: ["x".repeat(5000)] },
      /field keys\[0\] must be a string of at most 4096 characters/,
    ],
  ];
  for (const [msg, error] of cases) {
    assert.throws(() => validateToScheduler(msg, "client"), (e: Error) => {
      assert.ok(e instanceof ProtocolError);
      assert.match(e.message, error);
      return true;
    });
  }
  const workerCases: [unknown, RegExp][] = [
    [
      { op: "task-finished", key: "k", run: 1, nbytes: -1 },
      /field nbytes must be a non-negative integer/,
    ],
    [
      { op: "task-erred", key: "k", run: 1 },
      /bad "task-erred" message: field error must be bytes, got nothing/,
    ],
    [
      { op: "blocked", key: "k", run: 1, on: [1] },
      /field on\[0\] must be a string/,
    ],
    [{ op: "seceded", key: "k" }, /field run must be a non-negative integer/],
    [
      { op: "missing-data", key: "k", notHeld: [] },
      /field unreachable must be an array, got nothing/,
    ],
  ];
  for (const [msg, error] of workerCases) {
    assert.throws(() => validateToScheduler(msg, "worker"), error);
  }
});

Deno.test("validate: data messages", () => {
  validateDataMessage({ op: "get-data", id: 1, keys: ["a"] });
  validateDataMessage({
    op: "data",
    id: 1,
    values: { a: bytes, b: "\x01" },
    missing: ["c"],
  });
  assert.throws(
    () => validateDataMessage({ op: "get-data", id: 1.5, keys: [] }),
    /field id must be a non-negative integer/,
  );
  assert.throws(
    () =>
      validateDataMessage({ op: "data", id: 1, values: { a: 1 }, missing: [] }),
    /field values\["a"\] must be bytes/,
  );
  assert.throws(
    () => validateDataMessage({ op: "data", id: 1, values: [], missing: [] }),
    /field values must be a map, got an array/,
  );
  assert.throws(
    () => validateDataMessage({ op: "submit", tasks: [] }),
    /unknown operation "submit" on a data connection/,
  );
});

Deno.test("validate: observation messages (info, progress, output, usage, stream)", () => {
  for (
    const msg of [
      { op: "scheduler-info", id: 1 },
      { op: "tree-progress", id: 2, keys: ["a"] },
      { op: "forward-output", on: false },
      { op: "worker-logs", id: 3 },
      { op: "task-stream", id: 4 },
      { op: "task-stream", id: 5, since: 10 },
    ]
  ) {
    validateToScheduler(msg, "client");
  }
  validateToScheduler({
    op: "task-output",
    lines: [{ key: "a", stream: "err", text: "x" }],
  }, "worker");
  validateToScheduler(
    { op: "worker-usage", rss: 1, heap: 1, cpu: 0.5 },
    "worker",
  );
  validateToScheduler({
    op: "task-finished",
    key: "a",
    run: 1,
    nbytes: 1,
    start: 1.5,
    stop: 2.5,
    seceded: [1.75, 2],
  }, "worker");
  const refused: [unknown, RegExp][] = [
    [
      { op: "tree-progress", id: 1, keys: [1] },
      /field keys\[0\] must be a string/,
    ],
    [{ op: "forward-output", on: "no" }, /field on/],
    [{ op: "task-stream", id: 1, since: -1 }, /field since/],
    [
      { op: "task-output", lines: [{ key: "a", stream: "tty", text: "x" }] },
      /field lines\[0\]\.stream must be "out" or "err"/,
    ],
    [
      {
        op: "task-output",
        lines: [{ key: "a", stream: "out", text: "x".repeat(70_000) }],
      },
      /field lines\[0\]\.text/,
    ],
    [{ op: "worker-usage", rss: -1, heap: 1, cpu: 0 }, /field rss/],
    [
      { op: "task-finished", key: "a", run: 1, nbytes: 1, seceded: ["x"] },
      /field seceded\[0\]/,
    ],
  ];
  for (const [msg, error] of refused) {
    assert.throws(() => validateToScheduler(msg, "worker"), error);
  }
  // What only workers send is refused from clients.
  assert.throws(
    () =>
      validateToScheduler(
        { op: "worker-usage", rss: 1, heap: 1, cpu: 0 },
        "client",
      ),
    /is for workers, not clients/,
  );
  assert.throws(
    () => validateToScheduler({ op: "task-output", lines: [] }, "client"),
    /is for workers, not clients/,
  );
});

Deno.test("protocol: scattered values and data puts pass; malformed ones name their field", () => {
  validateToScheduler({
    op: "scattered",
    values: [{ key: "scatter-1", nbytes: 8, workers: ["w1"] }],
  }, "client");
  assert.throws(
    () =>
      validateToScheduler({
        op: "scattered",
        values: [{ key: "x", nbytes: -1, workers: [] }],
      }, "client"),
    /field values\[0\]\.nbytes/,
  );
  validateDataMessage({ op: "put-data", id: 1, values: { x: "\x01" } });
  validateDataMessage({ op: "stored", id: 1, keys: ["x"] });
  assert.throws(
    () => validateDataMessage({ op: "put-data", id: 1, values: { x: 3 } }),
    /field values\["x"\] must be bytes/,
  );
  assert.throws(
    () => validateDataMessage({ op: "stored", id: 1, keys: [], error: 5 }),
    /field error/,
  );
});
