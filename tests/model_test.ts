// Randomized model tests: random sequences of steps against the real
// scheduler, worker and client state machines wired as a cluster (see
// fixtures/cluster_model.ts). After every step every machine's invariants
// hold (validate is on); driven to quiescence with a worker alive, every key
// the client holds is settled with the right value, or a named error.
// Failures shrink to a minimal sequence; shrunk failures found while
// building this are kept below as regular tests.
import assert from "node:assert/strict";
import fc from "fast-check";
import { ClusterModel } from "./fixtures/cluster_model.ts";

/** One step, as small integers fast-check can shrink. */
type Step = [kind: number, a: number, b: number, c: number];

const ACTS = [
  "return",
  "return-big",
  "throw",
  "secede",
  "rejoin",
  "child",
  "block",
  "unblock",
  "drop-child",
] as const;

/** Plays one step on `m` (indices wrap around what exists). */
function play(m: ClusterModel, [kind, a, b, c]: Step): void {
  m.stats.steps++;
  switch (kind) {
    case 0:
    case 1:
      return void m.submit(
        a % 3,
        b,
        c,
        c % 7 === 0
          ? { retries: 1 }
          : c % 11 === 0
          ? { workers: [`w${b % 3}`], allowOtherWorkers: b % 2 === 0 }
          : c % 5 === 0
          ? { resources: { GPU: 1 }, releaseResourcesOnSecede: b % 2 === 0 }
          : {},
      );
    case 2:
      return void m.release(a);
    case 3:
      return void m.cancel(a);
    case 4:
    case 5:
    case 6:
      return void m.deliver(a);
    case 7:
    case 8:
      return void m.act(a, ACTS[b % ACTS.length]);
    case 9:
      return void m.answerFetch(a, b % 5 === 0);
    case 10:
      return void m.kill(a);
    case 11:
      return void m.addWorker();
    case 12:
      return void (a % 4 === 0 ? m.reconnect() : m.resubmit(b));
    case 13:
      return void (b % 6 === 0 ? m.restart() : m.retire(a));
  }
}

const step: fc.Arbitrary<Step> = fc.tuple(
  fc.nat(13),
  fc.nat(50),
  fc.nat(50),
  fc.nat(50),
);

function runSequence(steps: Step[]): ClusterModel {
  const m = new ClusterModel(2);
  for (const s of steps) play(m, s);
  m.settle();
  m.checkOutcome();
  return m;
}

const RUNS = Number(Deno.env.get("TENDRIL_MODEL_RUNS") ?? 2000);

Deno.test(`model: ${RUNS} random sequences keep every invariant and settle every held key`, () => {
  let steps = 0;
  let tasks = 0;
  let kills = 0;
  let steals = 0;
  let closes = 0;
  fc.assert(
    fc.property(
      fc.array(step, { minLength: 20, maxLength: 200, size: "max" }),
      (seq) => {
        const m = runSequence(seq);
        steps += m.stats.steps;
        tasks += m.stats.tasks;
        kills += m.stats.kills;
        steals += m.stats.steals;
        closes += m.stats.closes;
      },
    ),
    { numRuns: RUNS },
  );
  console.log(
    `model: ran ${RUNS} sequences, ${steps} steps, ${tasks} tasks, ` +
      `${kills} worker kills, ${steals} steals, ${closes} workers retired or restarted`,
  );
  assert.ok(tasks > RUNS, "the sequences did submit work");
});

// ---- shrunk failures, kept ----------------------------------------------------

/** Counterexamples fast-check found, each a bug fixed since; replayed as they were. */
const FOUND: Record<string, Step[]> = {
  // Leaving failed a task with KilledWorkerError (freeing its slot on the
  // worker that left); stopping its child's run there then refilled that
  // dead worker with queued work.
  "queued work assigned to a worker that had left": [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [4, 0, 0, 0],
    [11, 0, 0, 0],
    [4, 0, 0, 0],
    [0, 0, 0, 0],
    [4, 0, 0, 0],
    [11, 0, 0, 0],
    [4, 0, 0, 0],
    [10, 0, 0, 0],
    [0, 0, 0, 0],
    [4, 14, 0, 0],
    [11, 0, 0, 0],
    [7, 0, 5, 0],
    [4, 0, 0, 0],
    [4, 0, 0, 0],
    [10, 0, 0, 0],
    [10, 0, 0, 0],
    [0, 0, 0, 0],
    [4, 9, 0, 0],
    [0, 0, 0, 0],
    [4, 5, 0, 0],
    [4, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [9, 0, 0, 0],
    [0, 0, 0, 0],
    [4, 0, 0, 0],
    [0, 0, 0, 0],
    [7, 0, 27, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [10, 0, 0, 0],
    [0, 0, 0, 0],
    [4, 2, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ],
};

for (const [name, steps] of Object.entries(FOUND)) {
  Deno.test(`model: found sequence: ${name}`, () => {
    runSequence(steps);
  });
}
