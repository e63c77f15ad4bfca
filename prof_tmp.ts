import { connect, listen } from "./runtime/wire/tcp/listen.ts";
import type { TcpConnection } from "./runtime/wire/tcp/connection.ts";
const accepted = Promise.withResolvers<TcpConnection<unknown, unknown>>();
const listener = await listen({ port: 0 }, accepted.resolve);
const a = await connect(listener.address);
const b = await accepted.promise;
const got = new Promise((r) => b.onMessages(r));
const big = new Uint8Array(1e9);
const t = performance.now();
a.send([big]);
a.flush?.();
await got;
console.log(
  "1 GB over one TcpConnection:",
  (performance.now() - t).toFixed(0),
  "ms",
);
a.close();
b.close();
await Promise.all([a.done, b.done, listener.close()]);
