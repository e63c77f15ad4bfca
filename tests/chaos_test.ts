// Chaos over the TCP cluster (`deno task cluster`, 3 workers): 600
// producers of 16 KiB feeding 600 consumers, and fib(20) with getClient,
// each run 10 times while one or two workers are killed with SIGKILL at
// random moments (the launcher restarts them). Every result must be correct,
// only killed workers may leave, and the scheduler must live on. The kill
// times come from a seeded generator; a failure prints the seed
// (TENDRIL_CHAOS_SEED replays it).
import assert from "node:assert/strict";
import { Client, registerModule } from "../mod.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";
import {
  alive,
  descendants,
  runTask,
  workerPids,
} from "./fixtures/processes.ts";
import { consume, fib, produce } from "./fixtures/tasks.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

const ROUNDS = Number(Deno.env.get("TENDRIL_CHAOS_ROUNDS") ?? 10);
const SEED = Number(
  Deno.env.get("TENDRIL_CHAOS_SEED") ?? Math.floor(Math.random() * 2 ** 31),
);

/** A small seeded generator (mulberry32): the same seed, the same kills. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIB20 = 6765;

clusterTest(
  `chaos: ${ROUNDS} rounds of producers/consumers and fib(20) over TCP while workers are killed (seed ${SEED})`,
  async () => {
    const rand = random(SEED);
    const launcher = runTask("cluster", [
      "--workers",
      "3",
      "--slots",
      "1",
      "--port",
      "0",
    ]);
    const tree = new Set<number>();
    const killed = new Set<number>();
    try {
      const address = await within(
        "the cluster's address",
        launcher.stdout.waitFor(/^tcp:\/\//),
      );
      await using client = await Client.connect(address);
      const joined = () =>
        launcher.stderr.lines.filter((l) =>
          /^tendril: worker \S+ joined/.test(l)
        )
          .length;
      const left = () =>
        launcher.stderr.lines.filter((l) =>
          /^tendril: worker \S+ left/.test(l)
        );
      /** Waits until 3 workers are connected (restarted ones included). */
      const threeWorkers = () =>
        within(
          "3 workers connected",
          launcher.stderr.until(
            () => joined() - left().length >= 3,
            "3 workers",
          ),
        );
      /** Kills 1 or 2 workers at random moments within `spanMs`. */
      const chaos = (spanMs: number): Promise<void>[] => {
        const n = rand() < 0.5 ? 1 : 2;
        return Array.from({ length: n }, () =>
          new Promise<void>((resolve) => {
            setTimeout(() => {
              const pids = workerPids(launcher.pid);
              for (const p of pids) tree.add(p);
              // Always leave one worker alive.
              if (pids.length > 1) {
                const victim = pids[Math.floor(rand() * pids.length)];
                try {
                  Deno.kill(victim, "SIGKILL");
                  killed.add(victim);
                } catch {
                  // it exited meanwhile
                }
              }
              resolve();
            }, Math.floor(rand() * spanMs));
          }));
      };
      for (let round = 0; round < ROUNDS; round++) {
        await threeWorkers();
        // Producers and consumers: every consumer's sum must be exact.
        let killing = chaos(400);
        const producers = client.map(
          produce,
          Array.from({ length: 600 }, (_, i) => i),
        );
        const consumers = client.map(consume, producers);
        const sums = await within(
          `round ${round}: 600 consumers (seed ${SEED})`,
          client.gather(consumers),
        );
        for (let i = 0; i < 600; i++) {
          assert.equal(sums[i], i * 2048, `round ${round}, consumer ${i}`);
        }
        for (const f of [...producers, ...consumers]) f.release();
        await Promise.all(killing);
        await threeWorkers();
        // fib(20) launched from tasks, with getClient + secede + rejoin.
        killing = chaos(600);
        const value = await within(
          `round ${round}: fib(20) (seed ${SEED})`,
          client.submit(fib, 20).result(),
        );
        assert.equal(value, FIB20, `round ${round}: fib(20)`);
        await Promise.all(killing);
      }
      // Only killed workers left, each once; nothing was blamed on a healthy
      // peer. (Worker ids carry their pid: worker-PID-RANDOM.)
      const pidOf = (line: string) =>
        Number(
          line.match(/^tendril: worker worker-(\d+)-\S+ (?:joined|left)/)?.[1],
        );
      const joinedPids = () =>
        launcher.stderr.lines.filter((l) => / joined /.test(l)).map(pidOf);
      const leftPids = () => left().map(pidOf);
      await within(
        "every killed worker that had joined to be seen leaving",
        launcher.stderr.until(
          () =>
            joinedPids().filter((p) => killed.has(p)).every((p) =>
              leftPids().includes(p)
            ),
          "the kills noticed",
        ),
      );
      const healthy = leftPids().filter((p) => !killed.has(p));
      assert.deepEqual(healthy, [], `seed ${SEED}: healthy workers left`);
      assert.equal(
        new Set(leftPids()).size,
        leftPids().length,
        `seed ${SEED}: a worker left twice`,
      );
      const exits = launcher.stderr.lines.filter((l) =>
        /worker pid \d+ exited/.test(l)
      );
      assert.ok(
        exits.every((l) => /exited \(SIGKILL\)/.test(l)),
        `seed ${SEED}: a worker exited by itself:\n${exits.join("\n")}`,
      );
      assert.ok(
        !launcher.stderr.lines.some((l) =>
          /internal error|closing connection/.test(l)
        ),
        `seed ${SEED}: the scheduler blamed or dropped a peer`,
      );
      assert.ok(
        killed.size >= ROUNDS * 2,
        `seed ${SEED}: ${killed.size} kills`,
      );
      console.log(
        `chaos: ${ROUNDS} rounds, ${killed.size} workers killed, seed ${SEED}`,
      );
    } finally {
      for (const p of descendants(launcher.pid)) tree.add(p);
      await launcher.stop("SIGTERM");
      const orphans = [...tree].filter(alive);
      assert.deepEqual(
        orphans,
        [],
        `processes left behind: ${orphans.join(", ")}`,
      );
    }
  },
);
