/**
 * `Queue<T>`: a named first-in first-out queue kept by the scheduler,
 * shared by every client and task that names it (Dask's `Queue`).
 *
 * @module
 */

import type { WaitBounds } from "../deadline.ts";
import { ask as askWithOwner, encodeItem } from "./ask.ts";
import { NamedPrimitive, type PrimitiveOptions } from "./named.ts";

/** Options of a {@linkcode Queue}. */
export interface QueueOptions extends PrimitiveOptions {
  /**
   * Most items the queue holds: `put` waits while it is full (0 or absent:
   * unbounded). The first bound given for a name is the queue's; a put
   * with another one is refused.
   */
  maxsize?: number;
}

/**
 * A named queue kept by the scheduler: `put` appends (waiting while a
 * bounded queue is full), `get` takes the oldest item (waiting while it is
 * empty); each item goes to exactly one getter, in order of arrival. Items
 * may contain futures: their keys stay alive while stored, and a getter
 * receives futures of its own. Every wait takes `{ timeout, signal }`; a
 * wait given up takes nothing (a withdrawn get leaves its item queued).
 *
 * @example Producer and consumer tasks through a bounded queue
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, Queue } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const produce = async (n: number) => {
 *   const q = new Queue<number>("numbers", { maxsize: 2 });
 *   for (let i = 1; i <= n; i++) await q.put(i);
 * };
 * const consume = async (n: number) => {
 *   const q = new Queue<number>("numbers");
 *   let sum = 0;
 *   for (let i = 0; i < n; i++) sum += await q.get();
 *   return sum;
 * };
 * const total = client.submit(consume, 10);
 * const produced = client.submit(produce, 10);
 * assert.equal(await total.result(), 55);
 * await produced.result();
 * assert.equal(await new Queue("numbers", { client }).qsize(), 0);
 * ```
 */
export class Queue<T = unknown> extends NamedPrimitive {
  /** The bound this object gives the queue, if any. */
  readonly maxsize: number | undefined;

  /**
   * The queue named `name`, made on first use.
   *
   * @throws {TypeError} for an empty name.
   * @throws {RangeError} for a maxsize that is not a count.
   */
  constructor(name: string, options: QueueOptions = {}) {
    super(name, options);
    const { maxsize } = options;
    if (
      maxsize !== undefined && (!Number.isSafeInteger(maxsize) || maxsize < 0)
    ) {
      throw new RangeError(
        `maxsize of queue ${name} must be an integer >= 0, got ${maxsize}`,
      );
    }
    this.maxsize = maxsize;
  }

  /**
   * Appends `value`, waiting while the queue is full.
   *
   * @throws {SerializationError} when `value` cannot travel.
   * @throws {TimeoutError} when `options.timeout` passes first (nothing is put).
   */
  async put(value: T, options: WaitBounds = {}): Promise<void> {
    const item = encodeItem(value, `a value put in queue ${this.name}`);
    await this.ask("put()", {
      op: "queue-put",
      name: this.name,
      ...item,
      maxsize: this.maxsize,
    }, options);
  }

  /**
   * Takes the oldest item, waiting while the queue is empty.
   *
   * @throws {TimeoutError} when `options.timeout` passes first (nothing is taken).
   */
  async get(options: WaitBounds = {}): Promise<T> {
    return await this.askValue("get()", {
      op: "queue-get",
      name: this.name,
    }, options) as T;
  }

  /**
   * Takes `count` items at once, oldest first, waiting until there are
   * that many (in line with the other gets); without `count`, takes every
   * item there is now, without waiting (maybe none).
   *
   * @throws {TimeoutError} when `options.timeout` passes first (nothing is taken).
   * @throws {TendrilError} when `count` is over the queue's maxsize.
   */
  async getBatch(count?: number, options: WaitBounds = {}): Promise<T[]> {
    if (count !== undefined && (!Number.isSafeInteger(count) || count < 1)) {
      throw new RangeError(
        `getBatch() count must be a positive integer, got ${count}`,
      );
    }
    const { answer, owner } = await askWithOwner(
      this.client,
      this.what("getBatch()"),
      { op: "queue-get", name: this.name, batch: count ?? 0 },
      options,
    );
    return answer.values!.map((v) => this.client.decodeValue(v, owner) as T);
  }

  /** How many items the queue holds now. */
  async qsize(): Promise<number> {
    const answer = await this.ask("qsize()", {
      op: "queue-size",
      name: this.name,
    });
    return answer.count ?? 0;
  }

  /** Errors call it a queue. */
  protected get kind(): string {
    return "queue";
  }
}
