/**
 * What code packages cost (issue 13): the first call of a function from the
 * client's `tasks.ts` on a TCP cluster of one worker, when the worker has
 * to fetch the package through the scheduler, write it and import it
 * (cold), when a fresh worker process finds the package in its cache folder
 * (warm disk), and when the worker imports the client's file by URL
 * (--no-code-upload); next to the steady submit+result latency of that
 * function and of an inline one. Each cold case runs on a fresh cluster.
 *
 *     deno run -A bench/code_package.ts [--reps N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { makeApp, runScript } from "../tests/fixtures/apps.ts";
import { LAYOUT_APP } from "../tests/fixtures/layout_app.ts";
import { runCli } from "../tests/fixtures/processes.ts";

const CLIENT = `
import { Client } from "{{ROOT}}mod.ts";
import { scaled } from "./tasks.ts";
await using client = await Client.connect(Deno.args[0]);
const time = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
const first = await time(() => client.submit(scaled, 1).result());
const warm: number[] = [], inline: number[] = [];
for (let i = 0; i < 30; i++) {
  warm.push(await time(() => client.submit(scaled, i).result()));
  inline.push(await time(() => client.submit((x: number) => x + 1, i).result()));
}
console.log(JSON.stringify({ first, warm: median(warm), inline: median(inline) }));
`;

interface Sample {
  first: number;
  warm: number;
  inline: number;
}

async function once(
  app: string,
  args: string[],
  log: string[],
): Promise<Sample> {
  await using launcher = runCli("cluster", [
    "--workers",
    "1",
    "--port",
    "0",
    ...args,
  ]);
  const address = await launcher.stdout.waitFor(/^tcp:\/\//);
  const out = await runScript(app, "bench_client.ts", [address]);
  if (out.code !== 0) throw new Error(out.stderr);
  await launcher.stop();
  log.push(...launcher.stderr.lines.filter((l) => l.includes("code package")));
  return JSON.parse(out.stdout);
}

const { values } = parseArgs({
  args: Deno.args,
  options: { reps: { type: "string", default: "5" } },
});
const reps = Number(values.reps);
await using app = await makeApp({ ...LAYOUT_APP, "bench_client.ts": CLIENT });
const results: Record<string, Sample[]> = { cold: [], disk: [], url: [] };
const log: string[] = [];
for (let i = 0; i < reps; i++) {
  const cache = await Deno.makeTempDir({ prefix: "tendril-bench-code-" });
  try {
    results.cold.push(await once(app, ["--code-cache", cache], log));
    results.disk.push(await once(app, ["--code-cache", cache], log));
    results.url.push(await once(app, ["--no-code-upload"], log));
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
}
const med = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
const ms = (x: number) => `${x.toFixed(1)} ms`;
console.log(`medians of ${reps} fresh clusters (1 worker):`);
for (
  const [name, what] of [
    ["cold", "first call, package fetched + written + imported"],
    ["disk", "first call, fresh worker, package found in its cache"],
    ["url", "first call, --no-code-upload (import by URL)"],
  ] as const
) {
  const s = results[name];
  console.log(
    `  ${what.padEnd(54)} ${ms(med(s.map((x) => x.first)))}` +
      `   (then: module fn ${ms(med(s.map((x) => x.warm)))}, inline ${
        ms(med(s.map((x) => x.inline)))
      })`,
  );
}
const fetched = log.filter((l) => l.includes("fetched")).map((l) =>
  /fetched in ([\d.]+) ms, written in ([\d.]+) ms/.exec(l)!
);
console.log(
  `  worker side of a cold install: fetch ${
    ms(med(fetched.map((m) => Number(m[1]))))
  }, write ${ms(med(fetched.map((m) => Number(m[2]))))} (median)`,
);
