/**
 * Cluster addresses: `tcp://host:port` and `tls://host:port`, optionally with
 * a query (`?token=...`, `?ca=...`).
 *
 * @module
 */

/** A parsed `tcp://host:port` or `tls://host:port` address. */
export interface Address {
  scheme: "tcp" | "tls";
  /** Host name or IP (IPv6 without brackets). */
  hostname: string;
  port: number;
  /** The query string's parameters (e.g. `token`, `ca`). */
  params: URLSearchParams;
}

/**
 * Parses `tcp://host:port` / `tls://host:port`, optionally with a query.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * const a = parseAddress("tls://[::1]:8786?token=abc");
 * console.assert(a.scheme === "tls" && a.hostname === "::1" && a.port === 8786);
 * console.assert(a.params.get("token") === "abc");
 * ```
 */
export function parseAddress(address: string): Address {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError(
      `bad address ${
        JSON.stringify(address)
      }: expected tcp://HOST:PORT or tls://HOST:PORT`,
    );
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "tcp" && scheme !== "tls") {
    throw new TypeError(
      `bad address ${
        JSON.stringify(address)
      }: the scheme must be tcp:// or tls://`,
    );
  }
  const port = Number(url.port);
  if (!url.hostname || !url.port || !Number.isInteger(port)) {
    throw new TypeError(
      `bad address ${JSON.stringify(address)}: a host and a port are required`,
    );
  }
  return {
    scheme,
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    params: url.searchParams,
  };
}

/** Formats an address (brackets around IPv6 hosts). */
export function formatAddress(
  scheme: "tcp" | "tls",
  hostname: string,
  port: number,
): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${scheme}://${host}:${port}`;
}

/** True for loopback hosts (127.0.0.0/8, ::1, localhost). */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === "::ffff:127.0.0.1";
}
