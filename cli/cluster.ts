/**
 * `deno task cluster`: starts a scheduler and N workers on this machine as
 * child processes, prints the scheduler's address as the first line of
 * stdout once every worker is connected, restarts a worker or the scheduler
 * when one dies (workers dial a restarted scheduler again by themselves), and
 * on SIGINT or SIGTERM stops them all and exits, leaving no process behind.
 * With no token given it makes a fresh random one, shared with its children
 * through a file only this user can read and printed in the address
 * (`tcp://127.0.0.1:8786?token=...`), so other local users can neither read
 * results nor run code.
 * Children also exit by themselves if the launcher is killed outright (they
 * watch their stdin, a pipe from the launcher, for EOF).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_PORT } from "../actors/scheduler/server.ts";
import { parseAddress } from "../runtime/wire/tcp/address.ts";
import { configArgs } from "../runtime/config_args.ts";
import { DEFAULT_DASHBOARD_PORT } from "../actors/dashboard/server.ts";
import {
  checkTlsFlags,
  EXIT_WITH_PARENT,
  intOption,
  readToken,
  runMain,
} from "./options.ts";

const HELP = `Usage: deno task cluster [options]

Starts a Tendril scheduler and worker processes on this machine. Prints the
scheduler's address (e.g. tcp://127.0.0.1:${DEFAULT_PORT}) as the first line of
stdout once all workers are connected; stop it with Ctrl-C or SIGTERM.

Options:
  --workers N               worker processes (default: the number of CPUs)
  --slots N                 tasks each worker runs at once (default 1)
  --host HOST               interface the scheduler binds (default 127.0.0.1);
                            anything but loopback requires a token
  --port PORT               scheduler port (default ${DEFAULT_PORT}; 0 = any free port)
  --token-file FILE         shared token (default: the TENDRIL_TOKEN variable,
                            else a fresh random token, printed in the address)
  --allowed-failures N      worker deaths a task survives (default 3)
  --tls-cert FILE           PEM certificate: the scheduler and the workers'
                            data ports serve tls://; the workers trust it (or
                            --tls-ca)
  --tls-key FILE            PEM private key of --tls-cert
  --tls-ca FILE             PEM CA the workers trust for tls:// addresses
  --tls-client-ca FILE      mutual TLS on every port: clients and workers must
                            present a certificate signed by this CA (workers
                            present --tls-cert)
  --heartbeat-timeout MS    silence after which a worker is removed
  --code-cache DIR          where the workers keep clients' code packages
  --no-code-upload          workers import clients' modules by URL instead
  --dashboard-port PORT     the scheduler's dashboard port (default ${DEFAULT_DASHBOARD_PORT},
                            or a free one if taken; 0 = any free port)
  --no-dashboard            serve no dashboard
  -h, --help                show this help
`;

const SCHEDULER = new URL("./scheduler.ts", import.meta.url);
const WORKER = new URL("./worker.ts", import.meta.url);

/** A child process of the launcher. */
interface Child {
  /** The running `deno run`. */
  process: Deno.ChildProcess;
  /** Resolves with the first stdout line (null if it exits before one). */
  firstLine: Promise<string | null>;
}

/** Spawns `deno run` of `script`; stdout's first line is kept, the rest forwarded. */
function spawn(permissions: string[], script: URL, args: string[]): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...configArgs(),
      ...permissions,
      script.href,
      ...args,
    ],
    stdin: "piped", // never written: EOF tells the child we are gone
    stdout: "piped",
    stderr: "inherit",
    env: { [EXIT_WITH_PARENT]: "1" },
  }).spawn();
  return { process, firstLine: forward(process.stdout) };
}

/** Reads the first line of `stream`, then copies the rest to our stdout. */
function forward(stream: ReadableStream<Uint8Array>): Promise<string | null> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  return new Promise((resolve) => {
    (async () => {
      let head = "";
      let found = false;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (found) {
            await Deno.stdout.write(value);
            continue;
          }
          head += decoder.decode(value, { stream: true });
          const nl = head.indexOf("\n");
          if (nl >= 0) {
            found = true;
            resolve(head.slice(0, nl));
            const rest = head.slice(nl + 1);
            if (rest) await Deno.stdout.write(new TextEncoder().encode(rest));
          }
        }
      } catch {
        // the child is gone
      } finally {
        if (!found) resolve(null);
      }
    })();
  });
}

/**
 * Parses the command line, starts the scheduler, then the workers, and
 * prints the scheduler's address once every worker is connected.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      workers: { type: "string" },
      slots: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "token-file": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-ca": { type: "string" },
      "tls-client-ca": { type: "string" },
      "heartbeat-timeout": { type: "string" },
      "allowed-failures": { type: "string" },
      "code-cache": { type: "string" },
      "no-code-upload": { type: "boolean" },
      "dashboard-port": { type: "string" },
      "no-dashboard": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const n = intOption(
    "workers",
    values.workers,
    navigator.hardwareConcurrency ?? 1,
    1,
  );
  const slots = intOption("slots", values.slots, 1, 1);
  const port = intOption("port", values.port, DEFAULT_PORT);
  checkTlsFlags(values);
  let tokenFile = values["token-file"];
  // Fails early on a bad token file.
  const freshToken = readToken(tokenFile) === undefined
    ? crypto.getRandomValues(new Uint8Array(24)).reduce(
      (hex, b) => hex + b.toString(16).padStart(2, "0"),
      "",
    )
    : undefined;
  if (freshToken) {
    // A file, not an argument: other users can read a process's arguments.
    tokenFile = await Deno.makeTempFile({ prefix: "tendril-token-" });
    await Deno.chmod(tokenFile, 0o600);
    await Deno.writeTextFile(tokenFile, freshToken);
  }
  const shared: string[] = [];
  if (tokenFile) shared.push("--token-file", tokenFile);
  const schedulerArgs = [...shared];
  if (values.host) schedulerArgs.push("--host", values.host);
  if (values["tls-cert"]) {
    schedulerArgs.push(
      "--tls-cert",
      values["tls-cert"],
      "--tls-key",
      values["tls-key"]!,
    );
  }
  if (values["heartbeat-timeout"]) {
    schedulerArgs.push("--heartbeat-timeout", values["heartbeat-timeout"]);
  }
  if (values["allowed-failures"]) {
    intOption("allowed-failures", values["allowed-failures"], 3, 0);
    schedulerArgs.push("--allowed-failures", values["allowed-failures"]);
  }
  if (values["dashboard-port"] !== undefined) {
    intOption("dashboard-port", values["dashboard-port"], 0);
    schedulerArgs.push("--dashboard-port", values["dashboard-port"]);
  }
  if (values["no-dashboard"]) schedulerArgs.push("--no-dashboard");
  const workerArgs = [...shared, "--slots", String(slots)];
  const ca = values["tls-ca"] ?? values["tls-cert"];
  if (ca) workerArgs.push("--tls-ca", ca);
  // With TLS, every port is TLS: the workers' data ports too.
  if (values["tls-cert"]) {
    workerArgs.push(
      "--tls-cert",
      values["tls-cert"],
      "--tls-key",
      values["tls-key"]!,
    );
  }
  if (values["tls-client-ca"]) {
    schedulerArgs.push("--tls-client-ca", values["tls-client-ca"]);
    workerArgs.push("--tls-client-ca", values["tls-client-ca"]);
  }
  if (values["code-cache"]) {
    workerArgs.push("--code-cache", values["code-cache"]);
  }
  if (values["no-code-upload"]) workerArgs.push("--no-code-upload");

  let stopping = false;
  const workers = new Set<Child>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const startScheduler = (port: number) =>
    spawn(
      ["--allow-net", "--allow-read", "--allow-env"],
      SCHEDULER,
      [...schedulerArgs, "--port", String(port)],
    );
  let scheduler = startScheduler(port);
  const stopAll = async (code: number): Promise<never> => {
    stopping = true;
    for (const t of timers) clearTimeout(t);
    const kill = (c: Child, signal: Deno.Signal) => {
      try {
        c.process.kill(signal);
      } catch {
        // already exited
      }
    };
    const stop = async (children: Child[]) => {
      for (const c of children) kill(c, "SIGTERM");
      const force = setTimeout(
        () => children.forEach((c) => kill(c, "SIGKILL")),
        5000,
      );
      await Promise.all(children.map((c) => c.process.status));
      clearTimeout(force);
    };
    await stop([...workers]);
    await stop([scheduler]);
    if (freshToken) await Deno.remove(tokenFile!).catch(() => {});
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", () => void stopAll(130));
  Deno.addSignalListener("SIGTERM", () => void stopAll(143));

  const address = await scheduler.firstLine;
  if (address === null) {
    const status = await scheduler.process.status;
    console.error(
      `tendril cluster: the scheduler exited (code ${status.code}) before listening`,
    );
    return void await stopAll(1);
  }
  // A scheduler that dies is started again on the port it had; the
  // workers dial it again by themselves. One that cannot start ends it all.
  const { port: bound } = parseAddress(address);
  const supervise = (child: Child): void => {
    child.process.status.then(async (status) => {
      if (stopping) return;
      console.error(
        `tendril cluster: the scheduler exited (${
          status.signal ?? `code ${status.code}`
        }); restarting it on port ${bound}`,
      );
      scheduler = startScheduler(bound);
      if ((await scheduler.firstLine) === null) {
        console.error("tendril cluster: the scheduler failed to restart");
        return void stopAll(1);
      }
      supervise(scheduler);
    });
  };
  supervise(scheduler);

  /** Starts a worker; restarts it whenever it dies, backing off if it cannot even start. */
  const startWorker = (failures: number): Promise<boolean> => {
    const w = spawn(["-A"], WORKER, [address, ...workerArgs]);
    workers.add(w);
    const ready = w.firstLine.then((line) => line !== null);
    w.process.status.then(async (status) => {
      workers.delete(w);
      if (stopping) return;
      const wasReady = await ready;
      const interrupted = status.signal === "SIGINT" || status.code === 130;
      const fails = wasReady ? 0 : failures + 1;
      // Ctrl-C reaches every process of the terminal: give our own handler
      // the time to start stopping before restarting anything.
      const delay = interrupted
        ? 500
        : wasReady
        ? 0
        : Math.min(10_000, 250 * 2 ** fails);
      console.error(
        `tendril cluster: worker pid ${w.process.pid} exited (${
          status.signal ?? `code ${status.code}`
        }); restarting${delay ? ` in ${delay} ms` : ""}`,
      );
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopping) startWorker(fails);
      }, delay);
      timers.add(t);
    });
    return ready;
  };

  const started = await Promise.all(
    Array.from({ length: n }, () => startWorker(0)),
  );
  if (started.some((ok) => !ok)) {
    console.error("tendril cluster: a worker failed to start");
    return void await stopAll(1);
  }
  console.log(freshToken ? `${address}?token=${freshToken}` : address);
}

if (import.meta.main) await runMain(main);
