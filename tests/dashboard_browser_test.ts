// The dashboard in a real browser: headless Chromium from Debian's packages
// (/usr/bin/chromium; .ci/run installs it) driven by playwright-core, in a
// process of its own (tests/fixtures/dashboard_browser.ts). The page loads,
// shows both workers, its task stream and progress counts change while a
// map of 5,000 tasks runs, and the task page shows a finished task's state
// and an erred task's error. The screenshot goes to tests/artifacts/
// (ignored by git).
import assert from "node:assert/strict";
import { within } from "./fixtures/bounded.ts";
import type { Report } from "./fixtures/dashboard_browser.ts";

/** The Chromium of Debian's package (the script launches the same one). */
const CHROMIUM = "/usr/bin/chromium";
const SCRIPT = new URL("./fixtures/dashboard_browser.ts", import.meta.url);
const CONFIG = new URL("../deno.json", import.meta.url);
const ARTIFACTS = new URL("./artifacts/", import.meta.url);

Deno.test("dashboard: live in Chromium during a map of 5,000 tasks", async () => {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`,
    );
  }
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const screenshot = new URL("dashboard.png", ARTIFACTS).pathname;
  await Deno.remove(screenshot).catch(() => {});
  const { code, stdout, stderr } = await within(
    "the browser run",
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--config",
        CONFIG.pathname,
        "-A",
        SCRIPT.pathname,
        "--screenshot",
        screenshot,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
    120_000,
  );
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `${out}\n${err}`);
  const report = JSON.parse(out.trim().split("\n").at(-1)!) as Report;
  assert.deepEqual(report.workersShown.sort(), report.workers.sort());
  assert.equal(report.workers.length, 2);
  const n = 5000;
  assert.ok(
    report.seen.some((x) => x > 0 && x < n),
    `the page showed the count while it rose: ${report.seen.join(", ")}`,
  );
  assert.equal(report.seen.at(-1), n);
  const rising = report.spansSeen.filter((x, i, a) => i === 0 || x > a[i - 1]);
  assert.ok(
    rising.filter((x) => x > 0).length >= 2,
    `the task stream grew during the map: ${report.spansSeen.join(", ")}`,
  );
  assert.match(report.legend, /pause/);
  assert.equal(report.finishedStatus, "memory");
  assert.match(report.erredError, /RangeError: child failed on 3/);
  assert.deepEqual(report.pageErrors, []);
  assert.ok(Deno.statSync(screenshot).size > 10_000, "a screenshot was saved");
});
