/**
 * The processes mode of `LocalCluster`: a scheduler served on a loopback
 * port of this process, with a fresh random token, and each worker a child
 * process (`cli/worker.ts`) that dials it. A worker process that dies (an
 * out-of-memory abort, a crash, `kill -9`) is replaced; one whose cancelled
 * task does not stop is killed and replaced. The children also exit when
 * this process dies (they watch their stdin, a pipe from it, for EOF).
 *
 * @module
 */

import { configArgs } from "../runtime/config_args.ts";
import { EXIT_WITH_PARENT } from "../cli/options.ts";
import type { ClientHost } from "./client/types.ts";
import { connectRemote } from "./client/remote.ts";
import type { Scheduler } from "./scheduler/actor.ts";
import { SchedulerServer } from "./scheduler/server.ts";

/** Options of {@linkcode WorkerProcesses.start}. */
export interface WorkerProcessesOptions {
  /** Prefix of the workers' ids (`<name>-w0`, `<name>-w1`, ...). */
  name: string;
  /** Number of worker processes. */
  workers: number;
  /** Slots per worker. */
  slots: number;
  /** Tasks a worker may hold queued per slot. */
  saturation?: number;
  /** Worker deaths a task may be part of and still be retried. */
  allowedFailures?: number;
  /** Milliseconds a cancelled task has to stop before its worker is killed. */
  cancelGrace: number;
  /** Each worker's JavaScript heap limit in bytes (V8's `--max-old-space-size`). */
  memoryLimit?: number;
  /** Workers in a row that may die before registering before no more are started. */
  startFailuresAllowed: number;
  /** Amounts of resources each worker offers. */
  resources?: Record<string, number>;
  /** Grace of tasks restricted to workers not connected. */
  unknownWorkerGraceMs?: number;
  /** Let clients run functions in the scheduler. */
  allowClientCode?: boolean;
}

/** Milliseconds a worker has to exit after SIGTERM before it gets SIGKILL. */
const STOP_GRACE = 5000;

const WORKER_SCRIPT = new URL("../cli/worker.ts", import.meta.url);

/** The line a worker prints once it registered with the scheduler. */
const REGISTERED = /^tendril worker \S+ at /;

/** One worker process as the supervisor keeps it. */
interface WorkerChild {
  /** The worker's id (its `--name`). */
  id: string;
  /** The running `deno run cli/worker.ts`. */
  process: Deno.ChildProcess;
  /** True once it printed that it registered. */
  registered: boolean;
  /** Resolves once it exited and its output is read. */
  done: Promise<void>;
  /** True once the scheduler retired it: it exits on its own, not replaced. */
  retired?: boolean;
}

/** `deno run` arguments for a worker: this repository's config when running from files, the heap limit. */
function denoRunArgs(memoryLimit: number | undefined): string[] {
  const args = ["run", "-A", ...configArgs()];
  if (memoryLimit !== undefined) {
    const mb = Math.max(1, Math.floor(memoryLimit / 2 ** 20));
    args.push(`--v8-flags=--max-old-space-size=${mb}`);
  }
  return args;
}

/** How a process ended, for logs: its signal or exit code. */
function howItEnded(status: Deno.CommandStatus): string {
  return status.signal
    ? `killed by ${status.signal}`
    : `exit code ${status.code}`;
}

/**
 * Reads a worker's stdout: `registered` is called once with whether its
 * registration line came before the end; every other line is copied to
 * this process's stdout (what its tasks print).
 */
async function readOutput(
  stream: ReadableStream<Uint8Array>,
  registered: (ok: boolean) => void,
): Promise<void> {
  const encoder = new TextEncoder();
  const copy = async (text: string) => {
    let bytes = encoder.encode(text);
    while (bytes.length > 0) {
      bytes = bytes.subarray(await Deno.stdout.write(bytes));
    }
  };
  let pending = "";
  let waiting = true;
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      if (!waiting) {
        await copy(text);
        continue;
      }
      pending += text;
      let nl: number;
      while (waiting && (nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (REGISTERED.test(line)) waiting = false;
        else await copy(`${line}\n`);
      }
      if (!waiting) {
        registered(true);
        if (pending) await copy(pending);
      }
    }
  } catch {
    // the process is gone
  }
  if (waiting) registered(false);
}

/**
 * A scheduler on a loopback port of this process and supervised worker
 * processes dialling it with a token of their own (passed in a file only
 * this user can read, never on a command line).
 *
 * @example One worker process
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerProcesses } from "./worker_processes.ts";
 * await using workers = await WorkerProcesses.start({
 *   name: "doc",
 *   workers: 1,
 *   slots: 1,
 *   cancelGrace: 1000,
 *   startFailuresAllowed: 3,
 * });
 * assert.deepEqual(workers.workerIds, ["doc-w0"]);
 * assert.deepEqual([...workers.scheduler.state.workers.keys()], ["doc-w0"]);
 * ```
 */
export class WorkerProcesses implements AsyncDisposable {
  /** The scheduler actor (its `state` is inspectable). */
  readonly scheduler: Scheduler;
  /** Live worker processes, by id, in start order. */
  readonly #live = new Map<string, WorkerChild>();
  #started = 0;
  /** Workers in a row that died before registering. */
  #startFailures = 0;
  #closing: Promise<void> | undefined;

  /** Supervises workers of `server`; use {@linkcode WorkerProcesses.start}. */
  private constructor(
    private readonly server: SchedulerServer,
    private readonly token: string,
    private readonly tokenFile: string,
    private readonly options: WorkerProcessesOptions,
  ) {
    this.scheduler = server.scheduler;
  }

  /** Starts the scheduler and the workers; resolves once every worker registered. */
  static async start(
    options: WorkerProcessesOptions,
  ): Promise<WorkerProcesses> {
    const token = Array.from(
      crypto.getRandomValues(new Uint8Array(24)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const tokenFile = await Deno.makeTempFile({ prefix: "tendril-token-" });
    let self: WorkerProcesses | undefined;
    try {
      await Deno.chmod(tokenFile, 0o600);
      await Deno.writeTextFile(tokenFile, token);
      const server = await SchedulerServer.start({
        port: 0,
        token,
        saturation: options.saturation,
        allowedFailures: options.allowedFailures,
        unknownWorkerGraceMs: options.unknownWorkerGraceMs,
        allowClientCode: options.allowClientCode,
        onWorkerClosed: (id, reason) => {
          // A restarted worker process dials again by itself.
          const child = self && self.#live.get(id);
          if (child && reason === "retired") child.retired = true;
        },
        stuckRuns: {
          grace: options.cancelGrace,
          stuck: (id, key) => {
            if (self) self.#killStuck(id, key);
          },
        },
      });
      self = new WorkerProcesses(server, token, tokenFile, options);
      await Promise.all(
        Array.from({ length: options.workers }, () => self!.#spawn()),
      );
      return self;
    } catch (e) {
      if (self) await self.close();
      else await Deno.remove(tokenFile).catch(() => {});
      throw e;
    }
  }

  /**
   * Starts one worker process; resolves once it registered, rejects if it
   * exits first. Whenever it exits, `#lost` replaces it.
   */
  #spawn(): Promise<void> {
    const id = `${this.options.name}-w${this.#started++}`;
    const process = new Deno.Command(Deno.execPath(), {
      args: [
        ...denoRunArgs(this.options.memoryLimit),
        WORKER_SCRIPT.href,
        this.server.address,
        "--name",
        id,
        "--slots",
        String(this.options.slots),
        "--token-file",
        this.tokenFile,
        ...(this.options.resources
          ? [
            "--resources",
            Object.entries(this.options.resources)
              .map(([k, v]) => `${k}=${v}`)
              .join(","),
          ]
          : []),
      ],
      stdin: "piped", // never written: EOF tells the worker we are gone
      stdout: "piped",
      stderr: "inherit",
      env: { [EXIT_WITH_PARENT]: "1" },
    }).spawn();
    const registered = Promise.withResolvers<boolean>();
    const output = readOutput(process.stdout, registered.resolve);
    const child: WorkerChild = {
      id,
      process,
      registered: false,
      done: Promise.all([process.status, output]).then(() =>
        process.stdin.close().catch(() => {})
      ),
    };
    this.#live.set(id, child);
    registered.promise.then((ok) => {
      if (!ok) return;
      child.registered = true;
      this.#startFailures = 0;
    });
    Promise.all([process.status, registered.promise]).then(([status]) =>
      this.#lost(child, status)
    );
    return registered.promise.then(async (ok) => {
      if (ok) return;
      const status = await process.status;
      throw new Error(
        `worker ${id} exited before it registered (${howItEnded(status)})`,
      );
    });
  }

  /**
   * A worker process exited: unless the cluster is closing, a replacement
   * starts (the scheduler already rescheduled or failed its tasks when its
   * connection dropped). Workers that keep dying before they register are
   * not replaced forever.
   */
  #lost(child: WorkerChild, status: Deno.CommandStatus): void {
    this.#live.delete(child.id);
    if (this.#closing || child.retired) return;
    const how = howItEnded(status);
    if (
      !child.registered &&
      ++this.#startFailures >= this.options.startFailuresAllowed
    ) {
      const why = `${this.#startFailures} worker processes in a row exited ` +
        `before they registered (the last: ${how})`;
      console.error(`tendril: ${why}; no more replacements`);
      // Nothing is coming: waiting tasks fail instead of hanging.
      if (this.#live.size === 0) this.scheduler.workersUnavailable(why);
      return;
    }
    console.error(
      `tendril: worker ${child.id} (pid ${child.process.pid}) exited ` +
        `${child.registered ? "" : "before it registered "}(${how}); ` +
        `starting a replacement`,
    );
    this.#spawn().catch(() => {
      // `#lost` already said why, and replaces or gives up.
    });
  }

  /** A cancelled task that never stopped: its worker process is killed (and replaced). */
  #killStuck(id: string, key: string): void {
    const child = this.#live.get(id);
    if (!child) return;
    console.error(
      `tendril: task ${key} did not stop after it was cancelled; ` +
        `killing its worker ${id} (pid ${child.process.pid})`,
    );
    kill(child, "SIGKILL");
  }

  /** Ids of the live worker processes, in start order (replacements get new ids), the retired left out. */
  get workerIds(): string[] {
    return [...this.#live.values()].flatMap((c) => c.retired ? [] : [c.id]);
  }

  /** Starts `n` more worker processes; resolves once they registered. */
  async grow(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.#spawn()));
  }

  /** Opens a client connection to the scheduler, with the cluster's token. */
  connectClient(): Promise<ClientHost> {
    if (this.#closing) return Promise.reject(new Error("cluster is closed"));
    return connectRemote(this.server.address, { token: this.token });
  }

  /**
   * Stops every worker process (SIGTERM, then SIGKILL after a grace) and the
   * scheduler, and removes the token file; resolves once all are gone.
   */
  close(): Promise<void> {
    return this.#closing ??= (async () => {
      // The server first, so it does not log each worker leaving.
      const serverClosed = this.server.close();
      const children = [...this.#live.values()];
      for (const child of children) kill(child, "SIGTERM");
      const force = setTimeout(
        () => children.forEach((child) => kill(child, "SIGKILL")),
        STOP_GRACE,
      );
      await Promise.all(children.map((child) => child.done));
      clearTimeout(force);
      await serverClosed;
      await Deno.remove(this.tokenFile).catch(() => {});
    })();
  }

  /** Same as {@linkcode WorkerProcesses.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Sends `signal` to a worker process unless it already exited. */
function kill(child: WorkerChild, signal: Deno.Signal): void {
  try {
    child.process.kill(signal);
  } catch {
    // already exited
  }
}
