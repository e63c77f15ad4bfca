/**
 * Chaos over `deno task cluster`, the way a user runs it: while a fib(20)
 * and a 600 × 16 KiB producer/consumer job run round after round, workers
 * are killed with SIGKILL, one is frozen with SIGSTOP until the scheduler
 * removes it, and then the scheduler itself is killed and restarted by the
 * launcher. Every round must end correct or with a named Tendril error,
 * nothing may hang (every wait is bounded), the cluster must serve the job
 * again after the scheduler's restart, and no process may be left behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  Client,
  registerModule,
  SchedulerLostError,
  TendrilError,
} from "../mod.ts";
import { consume, fib, produce } from "./fixtures/tasks.ts";
import { clusterTest, until, within } from "./fixtures/bounded.ts";
import {
  pidsRunning,
  runCli,
  withoutOrphans,
  workerPids,
} from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

const WORKERS = 3;
const ITEMS = 600;

/** One round of the job; throws if a result is wrong. */
async function job(client: Client): Promise<void> {
  const f = client.submit(fib, 20);
  const made = client.map(produce, Array.from({ length: ITEMS }, (_, i) => i));
  const sums = client.map(consume, made);
  const [x, got] = await Promise.all([f.result(), client.gather(sums)]);
  assert.equal(x, 6765);
  assert.deepEqual(got, Array.from({ length: ITEMS }, (_, i) => i * 2048));
}

clusterTest(
  "chaos over deno task cluster: SIGKILLed workers, a frozen worker, a restarted scheduler",
  async () => {
    const launcher = runCli("cluster", [
      "--workers",
      String(WORKERS),
      "--port",
      "0",
    ]);
    await withoutOrphans(launcher, async () => {
      const address = await launcher.stdout.waitFor(/^tcp:\/\//);
      const outcomes = { correct: 0, named: [] as string[] };
      {
        await using client = await Client.connect(address);
        let chaosOver = false;
        // Rounds go on until the chaos is over; each is correct or fails
        // with a named error, and none hangs.
        const rounds = (async () => {
          do {
            try {
              await within("a round of the job", job(client));
              outcomes.correct++;
            } catch (e) {
              assert.ok(e instanceof TendrilError, `unnamed failure: ${e}`);
              outcomes.named.push(e.name);
            }
          } while (!chaosOver);
        })();
        for (let i = 0; i < 2; i++) {
          const pids = workerPids(launcher.pid);
          Deno.kill(pids[Math.floor(Math.random() * pids.length)], "SIGKILL");
          await until(
            "the launcher to replace the worker",
            () => workerPids(launcher.pid).length === WORKERS,
            50, // each check reads the process table
          );
        }
        const frozen = workerPids(launcher.pid)[0];
        const from = launcher.stderr.lines.length;
        Deno.kill(frozen, "SIGSTOP");
        try {
          await launcher.stderr.waitFor(
            /removing worker .* sent nothing/,
            from,
          );
        } finally {
          Deno.kill(frozen, "SIGCONT");
        }
        chaosOver = true;
        await rounds;
        // The round after the chaos ran on a healed cluster.
        await within("a round after the chaos", job(client));
      }
      console.log(
        `rounds during chaos: ${outcomes.correct} correct, failed with: ${
          outcomes.named.join(", ") || "none"
        }`,
      );

      // The scheduler dies mid-job: the client hears it by name, the
      // launcher restarts it, the workers dial it again, the job runs.
      {
        await using client = await Client.connect(address);
        const pending = job(client);
        const [scheduler] = pidsRunning(launcher.pid, "cli/scheduler.ts");
        Deno.kill(scheduler, "SIGKILL");
        await assert.rejects(
          within("the interrupted job", pending),
          SchedulerLostError,
        );
      }
      const client = await within(
        "a client of the restarted scheduler",
        (async () => {
          for (;;) {
            try {
              return await Client.connect(address);
            } catch {
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        })(),
      );
      try {
        await until(
          "every worker to dial the new scheduler",
          async () => (await client.schedulerInfo()).workers.length === WORKERS,
          50,
        );
        await within("the job on the restarted scheduler", job(client));
      } finally {
        await client.close();
      }
    });
  },
);
