// progress(): the bar's text on a stream that is not a terminal, under a
// pseudo-terminal (`script`), tasks launched by tasks counted as they
// appear, and errors.
import assert from "node:assert/strict";
import { clusterTest, within } from "./fixtures/bounded.ts";
import {
  Client,
  getClient,
  LocalCluster,
  progress,
  registerModule,
} from "../mod.ts";
import * as tasks from "./fixtures/tasks.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** A stream that is not a terminal, keeping what is written. */
function buffer(): { write(s: string): void; isTTY: false; text: string } {
  const b = {
    text: "",
    isTTY: false as const,
    write(s: string) {
      b.text += s;
    },
  };
  return b;
}

/** The terminal escape character. */
const ESC = "\x1b";

const LINE = /^[█░]+ \d+% \| (\d+)\/(\d+) tasks \| \d+\/s \| ETA \S+$/;

clusterTest(
  "progress() counts launched tasks and ends at total/total (not a TTY)",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const out = buffer();
    const futures = [
      ...client.map(tasks.inc, [1, 2, 3]),
      client.submit(tasks.spread, 7), // launches 7 children
    ];
    await within(
      "progress()",
      progress(futures, { stream: out, lineInterval: 50 }),
    );
    const lines = out.text.split("\n").filter((l) => l.length > 0);
    assert.ok(lines.length >= 1, out.text);
    for (const line of lines) assert.match(line, LINE);
    assert.ok(
      !out.text.includes(`${ESC}[`),
      "no terminal escapes off a terminal",
    );
    const [, done, total] = lines.at(-1)!.match(LINE)!;
    assert.equal(total, "11", "4 futures + 7 launched tasks");
    assert.equal(done, "11");
  },
);

clusterTest(
  "progress() rejects with the first error, unless told not to",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    const futures = [
      client.submit(tasks.failChild, 1),
      client.submit(tasks.inc, 1),
    ];
    await assert.rejects(
      within("progress()", progress(futures, { stream: buffer() })),
      { name: "RangeError", message: "child failed on 1" },
    );
    const out = buffer();
    await within(
      "progress() without rejecting",
      progress(futures, { stream: out, rejectOnError: false }),
    );
    assert.match(out.text, /2\/2 tasks/);
    await assert.rejects(
      progress([getClient as never]),
      /progress\(\) takes futures made by a Client/,
    );
  },
);

Deno.test("progress() on a terminal redraws one line in place", async () => {
  const script = new URL("./fixtures/progress_script.ts", import.meta.url)
    .pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const command = `${Deno.execPath()} run --config ${config} -A ${script}`;
  // `script` runs the command under a pseudo-terminal and copies its output.
  const { code, stdout } = await within(
    "the script under a pseudo-terminal",
    new Deno.Command("script", {
      args: ["-qefc", command, "/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
  );
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, text);
  assert.match(text, /progress resolved/);
  assert.ok(text.includes(`${ESC}[1G`), "the cursor goes back to redraw");
  assert.ok(text.includes(`${ESC}[0K`), "the rest of the line is cleared");
  assert.match(text, /46\/46 tasks/, "41 futures + 5 launched tasks");
});
