// Issue 13: workers on other hosts that lack the client's files. Four network
// namespaces joined by veth pairs to a bridge (in a fifth, so the machine's
// own network is untouched): the scheduler on one, two workers on two more,
// started from another folder (with their own copy of Tendril, at another
// path than the client's) in private mount namespaces where a tmpfs hides
// the client's folder, and the client on the fourth. Needs root (or
// CAP_NET_ADMIN and CAP_SYS_ADMIN), iproute2 and util-linux's unshare; when
// namespaces cannot be made the test is ignored and its name says why.
import assert from "node:assert/strict";
import { CONFIG, makeApp, ROOT, runScript } from "./fixtures/apps.ts";
import { within } from "./fixtures/bounded.ts";
import { MULTI_HOST_APP, multiHostResult } from "./fixtures/multi_host_app.ts";
import { Proc } from "./fixtures/processes.ts";

const TAG = `t${Deno.pid % 100000}`; // short: interface names are at most 15 bytes
const SUBNET = "10.213.0";
const HOSTS = { sched: 1, w1: 2, w2: 3, client: 4 } as const;
type Host = keyof typeof HOSTS;
const SWITCH = `${TAG}sw`;
const ns = (h: Host) => `${TAG}${h}`;

async function sh(cmd: string[]): Promise<void> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Why namespaces cannot be used here, or undefined when they can. */
async function netnsProblem(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "network namespaces need Linux";
  const probe = `${TAG}probe`;
  try {
    await sh(["ip", "netns", "add", probe]);
  } catch (e) {
    return `cannot create a network namespace (${(e as Error).message}); ` +
      "run as root with iproute2 installed";
  }
  try {
    await sh(["ip", "netns", "exec", probe, "unshare", "--mount", "true"]);
  } catch (e) {
    return `cannot create a mount namespace (${(e as Error).message})`;
  } finally {
    await sh(["ip", "netns", "del", probe]).catch(() => {});
  }
  return undefined;
}

/** Makes the namespaces and links; returns the teardown. */
async function makeHosts(): Promise<() => Promise<void>> {
  const made: string[] = [];
  const teardown = async () => {
    // Deleting a namespace deletes the veth ends in it, and with them their peers.
    for (const n of made.reverse()) {
      await sh(["ip", "netns", "del", n]).catch(() => {});
    }
  };
  try {
    await sh(["ip", "netns", "add", SWITCH]);
    made.push(SWITCH);
    await sh(["ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge"]);
    await sh(["ip", "-n", SWITCH, "link", "set", "br0", "up"]);
    for (const [host, n] of Object.entries(HOSTS) as [Host, number][]) {
      const name = ns(host), a = `${TAG}h${n}`, b = `${TAG}b${n}`;
      await sh(["ip", "netns", "add", name]);
      made.push(name);
      await sh(["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
      await sh(["ip", "link", "set", a, "netns", name]);
      await sh(["ip", "link", "set", b, "netns", SWITCH]);
      await sh(["ip", "-n", SWITCH, "link", "set", b, "master", "br0", "up"]);
      await sh([
        "ip",
        "-n",
        name,
        "addr",
        "add",
        `${SUBNET}.${n}/24`,
        "dev",
        a,
      ]);
      await sh(["ip", "-n", name, "link", "set", a, "up"]);
      await sh(["ip", "-n", name, "link", "set", "lo", "up"]);
    }
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}

/** A process in host `host`'s network namespace (the pid is the command's: both exec). */
function inHost(
  host: Host,
  name: string,
  cmd: string[],
  cwd: string,
): Proc {
  return new Proc(
    new Deno.Command("ip", {
      args: ["netns", "exec", ns(host), ...cmd],
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
    name,
  );
}

const problem = await netnsProblem();

Deno.test({
  name: problem
    ? `multi-host: seed flows with the client's folder hidden from workers (ignored: ${problem})`
    : "multi-host: seed flows with the client's folder hidden from workers",
  ignore: problem !== undefined,
  async fn() {
    await using app = await makeApp(MULTI_HOST_APP);
    // The app's own import map: the runtime's entries, plus entries only it has.
    const rootConfig = JSON.parse(await Deno.readTextFile(CONFIG));
    await Deno.writeTextFile(
      `${app}/deno.json`,
      JSON.stringify({
        nodeModulesDir: "none",
        imports: {
          ...rootConfig.imports,
          "@tendril/tendril": `${ROOT.href}mod.ts`,
          "@app/lib/": "./lib/",
          "queue": "npm:tinyqueue@3.0.0",
        },
      }),
    );
    // The namespaces have no internet: the runtime's lockfile keeps Deno to
    // the npm packages already in its cache.
    await Deno.copyFile(new URL("deno.lock", ROOT), `${app}/deno.lock`);
    const elsewhere = await Deno.makeTempDir({ prefix: "tendril-hosts-" });
    const token = `${elsewhere}/token`;
    await Deno.writeTextFile(token, crypto.randomUUID());
    const teardown = await makeHosts();
    const procs: Proc[] = [];
    try {
      const deno = [Deno.execPath(), "run", "--config", CONFIG, "-A"];
      const scheduler = inHost("sched", "scheduler", [
        ...deno,
        new URL("cli/scheduler.ts", ROOT).pathname,
        "--host",
        `${SUBNET}.1`,
        "--port",
        "8786",
        "--token-file",
        token,
      ], elsewhere);
      procs.push(scheduler);
      await scheduler.stdout.waitFor(/tcp:\/\//);
      const address = `tcp://${SUBNET}.1:8786`;
      // The workers run their own copy of Tendril, at another path than the client's.
      const theirs = `${elsewhere}/tendril`;
      await Deno.mkdir(theirs);
      for (
        const part of [
          "mod.ts",
          "actors",
          "runtime",
          "cli",
          "deno.json",
          "deno.lock",
        ]
      ) {
        await sh(["cp", "-r", new URL(part, ROOT).pathname, theirs]);
      }
      const workerDeno = [
        Deno.execPath(),
        "run",
        "--config",
        `${theirs}/deno.json`,
        "-A",
      ];
      for (const w of ["w1", "w2"] as const) {
        // A private mount namespace with an empty tmpfs over the client's folder.
        const start = [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          `mount -t tmpfs tmpfs "$0" && test ! -e "$0/main.ts" && exec "$@"`,
          `${app}`,
          ...workerDeno,
          `${theirs}/cli/worker.ts`,
          address,
          "--name",
          w,
          "--host",
          `${SUBNET}.${HOSTS[w]}`,
          "--token-file",
          token,
          "--code-cache",
          `${elsewhere}/cache-${w}`,
        ];
        const worker = inHost(w, w, start, elsewhere);
        procs.push(worker);
        await worker.stdout.waitFor(/tendril worker w\d at/);
      }
      const tokenText = (await Deno.readTextFile(token)).trim();
      const client = await within(
        "the client on the fourth host",
        runScriptIn("client", app, [`${address}?token=${tokenText}`]),
      );
      assert.equal(client.code, 0, client.stderr);
      assert.deepEqual(JSON.parse(client.stdout), multiHostResult());
      // Each worker fetched the packages it needed into its own cache, with
      // the client's imports of Tendril turned into its own copy.
      for (const w of ["w1", "w2"]) {
        const entries = [...Deno.readDirSync(`${elsewhere}/cache-${w}`)]
          .filter((e) => e.isDirectory && !e.name.startsWith("."));
        assert.ok(entries.length >= 1, `${w} cached no package`);
        for (const e of entries) {
          const tasks = `${elsewhere}/cache-${w}/${e.name}/tasks.ts`;
          const text = await Deno.readTextFile(tasks).catch(() => undefined);
          if (text === undefined) continue;
          assert.match(text, new RegExp(`from "file://${theirs}/mod\\.ts"`));
          assert.match(text, /from "npm:tinyqueue@3\.0\.0"/);
        }
      }
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await teardown();
      await Deno.remove(elsewhere, { recursive: true });
    }
  },
});

/** Runs `main.ts ARGS` of `app` in `host`'s namespace to its end. */
function runScriptIn(host: Host, app: string, args: string[]) {
  return runScript(app, "main.ts", args, {
    config: `${app}/deno.json`,
    prefix: ["ip", "netns", "exec", ns(host)],
  });
}
