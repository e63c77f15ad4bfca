/**
 * Helpers shared by the command-line entry points: reading secrets and
 * certificates from files, number options, and shutting down cleanly on a
 * signal or when the launching process goes away.
 *
 * @module
 */

/** Printed for a bad command line; exit code 2. */
export class UsageError extends Error {
  /** Names the class in stack traces. */
  override name = "UsageError";
}

/** Parses a non-negative integer option. */
export function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `--${name} must be an integer of at least ${min}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return n;
}

/**
 * The token from `--token-file` (trimmed), else `TENDRIL_TOKEN`, else none.
 *
 * @throws {UsageError} when the file cannot be read or is empty.
 */
export function readToken(file: string | undefined): string | undefined {
  if (file !== undefined) {
    let token: string;
    try {
      token = Deno.readTextFileSync(file).trim();
    } catch (e) {
      throw new UsageError(
        `cannot read the token file ${file}: ${(e as Error).message}`,
      );
    }
    if (!token) throw new UsageError(`the token file ${file} is empty`);
    return token;
  }
  try {
    return Deno.env.get("TENDRIL_TOKEN") || undefined;
  } catch {
    return undefined;
  }
}

/** Reads a PEM file given by option `name`. */
export function readPem(name: string, file: string): string {
  try {
    return Deno.readTextFileSync(file);
  } catch (e) {
    throw new UsageError(
      `cannot read --${name} ${file}: ${(e as Error).message}`,
    );
  }
}

/** The TLS options a command line may give. */
export interface TlsFlags {
  /** `--tls-cert FILE`. */
  "tls-cert"?: string;
  /** `--tls-key FILE`. */
  "tls-key"?: string;
  /** `--tls-client-ca FILE`. */
  "tls-client-ca"?: string;
}

/**
 * Checks that the TLS options go together: a certificate with its key,
 * and a client CA (mutual TLS) only with both.
 *
 * @throws {UsageError} naming what is missing.
 */
export function checkTlsFlags(values: TlsFlags): void {
  if (!values["tls-cert"] !== !values["tls-key"]) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  if (values["tls-client-ca"] && !values["tls-cert"]) {
    throw new UsageError("--tls-client-ca needs --tls-cert and --tls-key");
  }
}

/**
 * The PEM texts of a server's TLS options (certificate, key, and the
 * client CA of mutual TLS), after {@linkcode checkTlsFlags}; undefined
 * without a certificate.
 */
export function readTlsFlags(
  values: TlsFlags,
): { cert: string; key: string; clientCa?: string } | undefined {
  checkTlsFlags(values);
  if (!values["tls-cert"]) return undefined;
  return {
    cert: readPem("tls-cert", values["tls-cert"]),
    key: readPem("tls-key", values["tls-key"]!),
    clientCa: values["tls-client-ca"]
      ? readPem("tls-client-ca", values["tls-client-ca"])
      : undefined,
  };
}

/** Set by the cluster launcher on its children: exit when its stdin closes. */
export const EXIT_WITH_PARENT = "TENDRIL_EXIT_WITH_PARENT";

/**
 * Calls `stop` (once) on SIGINT or SIGTERM, and, when launched by the
 * cluster launcher, when its stdin reaches EOF (the launcher died), then
 * exits with the code `stop` resolves to (130 for SIGINT, 143 for SIGTERM
 * unless it says otherwise).
 */
export function stopOn(stop: (why: string) => Promise<number | void>): void {
  let stopping = false;
  const run = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    // Never hang on the way out.
    setTimeout(() => Deno.exit(code), 5000).unref?.();
    let result: number | void = undefined;
    try {
      result = await stop(why);
    } catch (e) {
      console.error(`tendril: error while stopping: ${(e as Error).message}`);
    }
    Deno.exit(typeof result === "number" ? result : code);
  };
  Deno.addSignalListener("SIGINT", () => run("SIGINT", 130));
  Deno.addSignalListener("SIGTERM", () => run("SIGTERM", 143));
  let watch = false;
  try {
    watch = Deno.env.get(EXIT_WITH_PARENT) === "1";
  } catch {
    // no env permission: not launched by the launcher
  }
  if (watch) {
    (async () => {
      const buf = new Uint8Array(256);
      try {
        while ((await Deno.stdin.read(buf)) !== null) {
          // the launcher never writes; EOF means it is gone
        }
      } catch {
        // stdin closed under us
      }
      await run("the launcher exited", 1);
    })();
  }
}

/** Runs a CLI's main: usage errors exit 2, other errors exit 1. */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    if (
      e instanceof UsageError ||
      (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))
    ) {
      console.error(`error: ${(e as Error).message} (see --help)`);
      Deno.exit(2);
    }
    console.error(`error: ${(e as Error)?.message ?? e}`);
    Deno.exit(1);
  }
}
