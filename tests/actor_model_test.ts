// Randomized sequences of actor operations (calls, kills, a call raced by a
// kill, deaths of the hosting worker) on the in-process cluster, checked
// against a small model: a live actor counts from its start (again from its
// start after each restart), a dead or killed one refuses every call with
// ActorDiedError, and nothing hangs. fast-check prints the seed and the
// shrunk sequence of a failure: keep such a case below as a regular test.
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Actor, ActorDiedError, Client, LocalCluster } from "../mod.ts";
import { bump, Counter } from "./fixtures/actor_classes.ts";
import { exitHost } from "./fixtures/actor_deaths.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";

/** One step of a sequence. */
type Op =
  | "call"
  | "burst"
  | "task-call"
  | "get-actor"
  | "kill"
  | "call+kill"
  | "death";

/** What the model expects of the actor. */
interface Model {
  alive: boolean;
  n: number;
  restartsLeft: number;
}

const START = 100;
let played = 0;

/** Runs `ops` on a new actor with `restarts`, checking each step against the model. */
async function play(
  client: Client,
  other: Client,
  restarts: number,
  ops: Op[],
): Promise<void> {
  const name = `model-${++played}`;
  const actor: Actor<Counter> = await client.actor(Counter, START, {
    maxRestarts: restarts,
    name,
  });
  const model: Model = { alive: true, n: START, restartsLeft: restarts };
  const died = (what: string, p: Promise<unknown>) =>
    assert.rejects(within(what, p), ActorDiedError, what);
  for (const [i, op] of ops.entries()) {
    const what = `step ${i} (${op}) of ${JSON.stringify(ops)}`;
    switch (op) {
      case "call":
        if (model.alive) {
          assert.equal(await within(what, actor.increment()), ++model.n, what);
        } else await died(what, actor.increment());
        break;
      case "burst": {
        const calls = Array.from({ length: 5 }, () => actor.increment());
        if (model.alive) {
          const seen = await within(what, Promise.all(calls));
          const want = Array.from({ length: 5 }, () => ++model.n);
          assert.deepEqual(seen, want, what);
        } else await Promise.all(calls.map((c) => died(what, c)));
        break;
      }
      case "task-call": {
        const done = client.submit(bump, actor, 1).result();
        if (model.alive) {
          assert.equal(await within(what, done), ++model.n, what);
        } else await died(what, done);
        break;
      }
      case "get-actor": {
        if (model.alive) {
          const same = await within(what, other.getActor<Counter>(name));
          assert.equal(await within(what, same.increment()), ++model.n, what);
        } else {
          // Killed: the name is gone; died with its worker: its death.
          await assert.rejects(
            within(what, other.getActor<Counter>(name)),
            (e) =>
              e instanceof ActorDiedError ||
              /no live actor is named/.test(String(e)),
            what,
          );
        }
        break;
      }
      case "kill":
        await within(what, actor.kill());
        model.alive = false;
        break;
      case "call+kill": {
        // The call may run before the kill or be refused: either, never a hang.
        const call = actor.increment().then(
          (n) => ({ n }),
          (e) => ({ e }),
        );
        await within(what, actor.kill());
        const outcome = await within(what, call);
        if ("e" in outcome) {
          assert.ok(outcome.e instanceof ActorDiedError, what);
        } else {
          assert.ok(model.alive, what);
          assert.equal(outcome.n, model.n + 1, what);
        }
        model.alive = false;
        break;
      }
      case "death": {
        if (!model.alive) break;
        await exitHost(client, await within(what, actor.where()), actor);
        if (model.restartsLeft > 0) {
          model.restartsLeft--;
          model.n = START;
        } else model.alive = false;
        break;
      }
    }
  }
  if (model.alive) await actor.kill();
}

const op = fc.constantFrom<Op>(
  "call",
  "burst",
  "task-call",
  "get-actor",
  "kill",
  "call+kill",
  "death",
  "death",
);

clusterTest(
  "actor operations in random orders agree with the model",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 3, slots: 1 });
    await using client = await Client.connect(cluster);
    await using other = await Client.connect(cluster);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 2 }),
        fc.array(op, { minLength: 1, maxLength: 8 }),
        (restarts, ops) => play(client, other, restarts, ops),
      ),
      { numRuns: 40 },
    );
  },
);

// Shrunk failures found by the property above, kept as regular cases.
clusterTest("model cases: a first burst of calls runs in order", async () => {
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(cluster);
  await using other = await Client.connect(cluster);
  // Found as [0, ["burst"]]: the first call looked its actor up (an await)
  // and the second, not needing to, overtook it.
  await play(client, other, 0, ["burst"]);
  // Found as [0, ["death", "get-actor"]]: getActor of a name whose actor
  // died with its worker rejects with its death.
  await play(client, other, 0, ["death", "get-actor", "call"]);
});
