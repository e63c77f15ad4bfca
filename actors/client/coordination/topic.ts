/**
 * `Topic<T>`: named publish/subscribe through the scheduler (Dask's
 * `Pub`/`Sub`), subscriptions being async iterables.
 *
 * @module
 */

import type { Packed } from "../../../runtime/codec/packed.ts";
import { currentTask } from "../../task/context.ts";
import type { Client } from "../client.ts";
import { encodeItem } from "./ask.ts";
import { NamedPrimitive } from "./named.ts";

/**
 * A named topic: `publish` sends a value to every subscription open at the
 * time (fire and forget; a value published with no subscriber is
 * dropped), `subscribe` opens one. Delivery is at most once: a
 * subscription receives, in publication order per publisher, every value
 * published after `subscribe()` resolved and before it closed, as long as
 * its client and the publisher's stay connected; nothing is replayed or
 * stored on the scheduler, and values wait in the subscriber's memory
 * until read.
 *
 * @example A task publishes, the client reads the subscription
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, Topic } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * await using news = await new Topic<string>("news", { client }).subscribe();
 * await client.submit(() => {
 *   const topic = new Topic<string>("news");
 *   topic.publish("hello");
 *   topic.publish("world");
 * }).result();
 * const got: string[] = [];
 * for await (const line of news) {
 *   got.push(line);
 *   if (got.length === 2) break;
 * }
 * assert.deepEqual(got, ["hello", "world"]);
 * ```
 */
export class Topic<T = unknown> extends NamedPrimitive {
  /**
   * Sends `value` to every current subscription (not awaited: values from
   * one publisher arrive in order).
   *
   * @throws {SerializationError} when `value` cannot travel.
   * @throws {ClientClosedError} when the client is closed.
   */
  publish(value: T): void {
    const item = encodeItem(value, `a value published on ${this.name}`);
    this.client.coordination.publish(this.name, item.value, item.refs);
  }

  /**
   * Opens a subscription: resolves once the scheduler registered it, so
   * every value published after that reaches it. It ends on `close()`
   * (or disposal), when `options.signal` aborts, or when the client
   * closes.
   */
  async subscribe(
    options: { signal?: AbortSignal } = {},
  ): Promise<TopicSubscription<T>> {
    const sub = new TopicSubscription<T>(this, options.signal);
    await sub.opened;
    return sub;
  }

  /** Errors call it a topic. */
  protected get kind(): string {
    return "topic";
  }
}

/**
 * One subscription to a {@linkcode Topic}: an async iterable of the values
 * published on it, ending when closed (values received before are still
 * read); leaving a `for await` loop early closes it.
 *
 * @example Values received before `close()` are still read
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, Queue, Topic } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const topic = new Topic<number>("ticks", { client });
 * const sub = await topic.subscribe();
 * topic.publish(1);
 * topic.publish(2);
 * await new Queue("after", { client }).qsize(); // a round trip: both delivered
 * sub.close();
 * const got: number[] = [];
 * for await (const x of sub) got.push(x);
 * assert.deepEqual(got, [1, 2]);
 * ```
 */
export class TopicSubscription<T> implements AsyncIterable<T>, AsyncDisposable {
  /** Values received and not read yet. */
  private readonly buffer: T[] = [];
  /** A reader waiting for the next value. */
  private reader: PromiseWithResolvers<void> | undefined;
  /** Why it ended, once it did (undefined: open). */
  private ended: { error?: Error } | undefined;
  private readonly id: number;
  private readonly client: Client;
  private readonly onAbort: () => void;
  /** @internal resolves once the scheduler registered it. */
  readonly opened: Promise<unknown>;

  /** @internal use {@linkcode Topic.subscribe}. */
  constructor(topic: Topic<T>, private readonly signal?: AbortSignal) {
    this.client = topic.client;
    const owner = currentTask()?.key ?? "";
    const request = this.client.coordination.subscribe(topic.name, owner, {
      owner,
      message: (value: Packed) => {
        this.buffer.push(this.client.decodeValue(value, owner) as T);
        this.wake();
      },
      end: (error) => this.end(error),
    });
    this.id = request.id;
    this.onAbort = () => this.close();
    signal?.addEventListener("abort", this.onAbort, { once: true });
    this.opened = request.answered.then(() => {
      if (signal?.aborted) this.close();
    }, (e) => {
      this.end(e);
      throw e;
    });
  }

  /** Ends the subscription: iteration stops once the values received are read. */
  close(): void {
    if (this.ended) return;
    this.client.coordination.unsubscribe(this.id);
    this.end();
  }

  /** Same as {@linkcode TopicSubscription.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** The values as they arrive, until the subscription ends. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.buffer.length > 0) {
          yield this.buffer.shift()!;
          continue;
        }
        if (this.ended) {
          if (this.ended.error) throw this.ended.error;
          return;
        }
        this.reader = Promise.withResolvers();
        await this.client.waitFor(this.reader.promise, [], {});
      }
    } finally {
      this.close(); // a loop left early ends the subscription
    }
  }

  /** Stops, for `error` when the client failed. */
  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = error ? { error } : {};
    this.signal?.removeEventListener("abort", this.onAbort);
    this.wake();
  }

  /** Wakes a waiting reader. */
  private wake(): void {
    this.reader?.resolve();
    this.reader = undefined;
  }
}
