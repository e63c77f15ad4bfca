/**
 * Cluster addresses: `tcp://host:port` and `tls://host:port`, optionally with
 * a query (`?token=...`, `?ca=...`).
 *
 * @module
 */

/** A parsed `tcp://host:port` or `tls://host:port` address. */
export interface Address {
  /** `"tls"` for an encrypted connection, `"tcp"` for a plain one. */
  scheme: "tcp" | "tls";
  /** Host name or IP (IPv6 without brackets). */
  hostname: string;
  /** The TCP port. */
  port: number;
  /** The query string's parameters (e.g. `token`, `ca`). */
  params: URLSearchParams;
}

/**
 * Parses `tcp://host:port` / `tls://host:port`, optionally with a query.
 *
 * @throws {TypeError} when the address is not a URL, its scheme is neither
 * `tcp` nor `tls`, or it lacks a host or a port.
 * @example An IPv6 TLS address with a token
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAddress } from "./address.ts";
 * const a = parseAddress("tls://[::1]:8786?token=abc");
 * assert.equal(a.scheme, "tls");
 * assert.equal(a.hostname, "::1");
 * assert.equal(a.port, 8786);
 * assert.equal(a.params.get("token"), "abc");
 * assert.throws(() => parseAddress("tcp://localhost"), TypeError);
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

/**
 * Formats an address (brackets around IPv6 hosts).
 *
 * @example IPv4 and IPv6 hosts
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "./address.ts";
 * assert.equal(formatAddress("tcp", "10.0.0.7", 4100), "tcp://10.0.0.7:4100");
 * assert.equal(formatAddress("tls", "::1", 8786), "tls://[::1]:8786");
 * ```
 */
export function formatAddress(
  scheme: "tcp" | "tls",
  hostname: string,
  port: number,
): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${scheme}://${host}:${port}`;
}

/**
 * True for loopback hosts (127.0.0.0/8, ::1, localhost, and the
 * IPv4-mapped `::ffff:127.0.0.1`).
 *
 * @example Loopback and other hosts
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "./address.ts";
 * assert.ok(isLoopback("127.0.0.2"));
 * assert.ok(isLoopback("[::1]"));
 * assert.ok(!isLoopback("10.0.0.7"));
 * ```
 */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === "::ffff:127.0.0.1";
}
