/**
 * `map(noop, 10k)` + gather on an in-process cluster whose dashboard is
 * closed, then open in headless Chromium (the live page, its server-sent
 * events twice a second), alternating, in one process. Prints the median
 * throughput of each. Needs /usr/bin/chromium.
 *
 *     deno run -A bench/dashboard_bench.ts [--rounds 4] [--reps 5] [--workers 2] [--page blank]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { Client, LocalCluster, registerModule } from "../mod.ts";
import { noop } from "./tasks.ts";
import {
  CHROMIUM,
  CHROMIUM_ARGS,
} from "../tests/fixtures/dashboard_browser.ts";

/** Runs the comparison and prints its JSON line. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "4" },
      reps: { type: "string", default: "5" },
      workers: { type: "string", default: "2" },
      // "blank": the browser shows about:blank (the browser's own cost);
      // "events": only the page's event stream, nothing drawn.
      page: { type: "string", default: "dashboard" },
      // Pause after opening or closing the page, so its renderer's start and
      // end are not measured.
      "settle-ms": { type: "string", default: "2000" },
    },
  });
  const N = 10_000;
  await registerModule(new URL("./tasks.ts", import.meta.url));
  await using cluster = await LocalCluster.start({
    workers: Number(values.workers),
    slots: 1,
    dashboard: { port: 0 },
  });
  await using client = await Client.connect(cluster);
  const items = Array.from({ length: N }, (_, i) => i);

  /** Tasks per second of one map + gather. */
  async function once(): Promise<number> {
    const t = performance.now();
    const futures = client.map(noop, items);
    await client.gather(futures);
    const ms = performance.now() - t;
    for (const f of futures) f.release();
    return N / (ms / 1000);
  }

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  };

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  const closed: number[] = [], open: number[] = [];
  const settle = () =>
    new Promise((r) => setTimeout(r, Number(values["settle-ms"])));
  /** Opens the page to measure with (its renderer starting is not measured). */
  const openPage = async () => {
    const page = await browser.newPage();
    if (values.page === "blank") await page.goto("about:blank");
    else if (values.page === "events") {
      // Only the event stream, nothing drawn: the scheduler's own cost.
      await page.goto(new URL("health", cluster.dashboardUrl).href);
      await page.evaluate(
        `new Promise((r) => { new EventSource("/api/stream").onmessage = r; })`,
      );
    } else {
      await page.goto(cluster.dashboardUrl!);
      await page.waitForFunction("Number(document.body.dataset.updates) > 0");
    }
    await settle();
    return page;
  };
  const measure = async (into: number[]) => {
    for (let r = 0; r < Number(values.reps); r++) into.push(await once());
  };
  for (let i = 0; i < 3; i++) await once(); // warm-up
  for (let round = 0; round < Number(values.rounds); round++) {
    // Alternate which comes first, so drift over the run favours neither.
    if (round % 2 === 0) {
      await measure(closed);
      const page = await openPage();
      await measure(open);
      await page.close();
      await settle();
    } else {
      const page = await openPage();
      await measure(open);
      await page.close();
      await settle();
      await measure(closed);
    }
  }
  await browser.close();
  const c = median(closed), o = median(open);
  console.log(
    JSON.stringify({
      case:
        `map(noop, 10k) + gather, in-process, browser closed vs open on: ${values.page}`,
      closedTasksPerS: Math.round(c),
      openTasksPerS: Math.round(o),
      openVsClosed: Number((o / c).toFixed(3)),
      samples: { closed: closed.map(Math.round), open: open.map(Math.round) },
    }),
  );
}

if (import.meta.main) await main();
