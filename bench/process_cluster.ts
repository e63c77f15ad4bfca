/**
 * A cluster of processes for the TCP cases: spawns the cluster CLI
 * (`cli/cluster.ts`, what `deno task cluster` runs), reads the
 * `tcp://` address from its first stdout line, and stops it with SIGTERM
 * (SIGKILL after a grace period) when disposed.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const cli = new URL("cli/cluster.ts", root);
const remoteClient = new URL("actors/client/remote.ts", root);

/** Why the TCP cluster cannot be used, or undefined when it can. */
export function tcpUnavailable(): string | undefined {
  const exists = (url: URL) => {
    try {
      return Deno.statSync(url).isFile;
    } catch {
      return false;
    }
  };
  let tasks: Record<string, unknown> = {};
  try {
    tasks = JSON.parse(Deno.readTextFileSync(new URL("deno.json", root)))
      .tasks ?? {};
  } catch {
    // no deno.json: treated as no task
  }
  if (!exists(remoteClient) || !exists(cli) || !("cluster" in tasks)) {
    return "TCP cluster not available";
  }
  return undefined;
}

/** A running cluster CLI process. */
export class ProcessCluster implements AsyncDisposable {
  private static readonly live = new Set<Deno.ChildProcess>();

  private constructor(
    private readonly child: Deno.ChildProcess,
    /** The scheduler's address, e.g. `tcp://127.0.0.1:40123`. */
    readonly address: string,
  ) {}

  /** Sends SIGTERM to every cluster still running (on an interrupt). */
  static terminateAll(): void {
    for (const child of ProcessCluster.live) {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
    }
  }

  /** Spawns the CLI and resolves with its address once it prints it. */
  static async start(
    workers = 2,
    slots = 1,
    timeoutMs = 30_000,
  ): Promise<ProcessCluster> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        decodeURIComponent(cli.pathname),
        "--workers",
        String(workers),
        "--slots",
        String(slots),
        "--port",
        "0",
      ],
      cwd: decodeURIComponent(root.pathname),
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    ProcessCluster.live.add(child);
    child.status.then(() => ProcessCluster.live.delete(child));
    const lines = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let buffered = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    try {
      while (!buffered.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error("cluster CLI exited before its address");
        buffered += value;
      }
      const first = buffered.slice(0, buffered.indexOf("\n"));
      const address = first.match(/tcp:\/\/[^\s"']+/)?.[0];
      if (!address) {
        throw new Error(`no tcp:// address in the CLI's first line: ${first}`);
      }
      // Keep draining stdout so the child never blocks on a full pipe.
      (async () => {
        while (!(await lines.read()).done) { /* discard */ }
      })().catch(() => {});
      return new ProcessCluster(child, address);
    } catch (e) {
      child.kill("SIGKILL");
      await child.status;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      return; // already exited
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
        resolve();
      }, graceMs);
    });
    await Promise.race([this.child.status, killed]);
    clearTimeout(timer);
    await this.child.status;
  }

  /** Same as {@linkcode ProcessCluster.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
