/**
 * The in-isolate transport: two connected {@linkcode Connection}s that hand
 * batches to each other without copying. Used between a client and the
 * scheduler when both live in the main isolate.
 *
 * @module
 */

import { BatchingConnection, type Connection } from "./transport.ts";

class LocalConnection<In, Out> extends BatchingConnection<In, Out> {
  other!: LocalConnection<Out, In>;
  constructor(readonly peer: string) {
    super();
  }
  protected write(batch: Out[]): void {
    this.other.receive(batch);
  }
  /** @internal */
  receive(batch: In[]): void {
    this.deliver(batch);
  }
  protected shutdown(reason: Error | undefined): void {
    this.other.end(reason);
  }
  /** @internal */
  end(reason: Error | undefined): void {
    this.terminate(reason);
  }
}

/**
 * A connected pair: what `a` sends, `b` receives, and back. `aName` names
 * the peer as `b` sees it, and `bName` the peer as `a` sees it. Closing
 * either end closes both.
 *
 * @example Sending from one end, closing both
 * ```ts
 * import assert from "node:assert/strict";
 * import { localPair } from "./local.ts";
 * const [a, b] = localPair<string, string>("a", "b");
 * assert.equal(b.peer, "a");
 * const got = new Promise<string[]>((r) => b.onMessages(r));
 * a.send("hi");
 * assert.deepEqual(await got, ["hi"]);
 * a.close();
 * assert.equal(b.closed, true);
 * ```
 */
export function localPair<A, B>(
  aName: string,
  bName: string,
): [Connection<B, A>, Connection<A, B>] {
  const a = new LocalConnection<B, A>(bName);
  const b = new LocalConnection<A, B>(aName);
  a.other = b;
  b.other = a;
  return [a, b];
}
