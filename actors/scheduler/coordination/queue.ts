/**
 * A named first-in first-out queue kept by the scheduler, bounded or not:
 * a get waits while it is empty, a put while it is full; both are served
 * in arrival order. An item goes to exactly one getter.
 *
 * @module
 */

import {
  type CoordinationContext,
  type Item,
  type Primitive,
  removePeer,
  removeWaiter,
  type Waiter,
} from "./context.ts";

/** A put waiting for room, with its item. */
export interface Putter extends Waiter {
  /** The item it puts. */
  readonly item: Item;
}

/** A get waiting for items: one (`batch` undefined) or a batch of `batch`. */
export interface Getter extends Waiter {
  /** How many items it takes at once, when it asked for a batch. */
  readonly batch: number | undefined;
}

/** One queue's items and waiters. */
export class QueueRecord implements Primitive {
  /** Items, head first. */
  readonly items: Item[] = [];
  /** Gets waiting for items, first come first served. */
  readonly getters: Getter[] = [];
  /** Puts waiting for room. */
  readonly putters: Putter[] = [];
  /** Most items held (0: unbounded); undefined until someone gives one. */
  maxsize: number | undefined;

  /** `w` puts `item` (at the head with `front`: an item given back). */
  put(c: CoordinationContext, w: Waiter, item: Item, front: boolean): void {
    if (!front && this.full) {
      this.putters.push({ ...w, item });
      return c.park(w, this);
    }
    if (front) this.items.unshift(item);
    else this.items.push(item);
    c.answer(w, {});
    this.serve(c);
  }

  /**
   * `w` takes the head item (or, with `batch`, that many items at once;
   * with `batch` 0, every item there is now, without waiting), or waits.
   */
  get(c: CoordinationContext, w: Waiter, batch: number | undefined): void {
    if (batch === 0) {
      c.deliverBatch(w, this.items.splice(0));
    } else if (this.maxsize && batch !== undefined && batch > this.maxsize) {
      return c.answer(w, { error: neverTaken(batch, this.maxsize) });
    } else {
      this.getters.push({ ...w, batch });
      c.park(w, this);
    }
    this.serve(c);
  }

  /**
   * Fixes the queue's bound (0: unbounded); waiting batches larger than it
   * could never be served, and are refused.
   */
  bound(c: CoordinationContext, maxsize: number): void {
    this.maxsize = maxsize;
    for (const g of [...this.getters]) {
      if (!maxsize || g.batch === undefined || g.batch <= maxsize) continue;
      removeWaiter(this.getters, g);
      c.answer(g, { error: neverTaken(g.batch, maxsize) });
    }
  }

  /** Whether a put must wait. */
  get full(): boolean {
    return !!this.maxsize && this.items.length >= this.maxsize;
  }

  /**
   * Serves waiting gets in order while the first can take what it asked
   * for, letting waiting puts in as room frees up.
   */
  private serve(c: CoordinationContext): void {
    for (;;) {
      while (this.putters.length > 0 && !this.full) {
        const { item, ...w } = this.putters.shift()!;
        this.items.push(item);
        c.answer(w, {});
      }
      const first = this.getters[0];
      if (!first || this.items.length < (first.batch ?? 1)) return;
      this.getters.shift();
      if (first.batch !== undefined) {
        c.deliverBatch(first, this.items.splice(0, first.batch));
        continue;
      }
      const item = this.items.shift()!;
      c.deliver(first, item);
      c.drop(item);
    }
  }

  /** A put or get gives up. */
  withdraw(c: CoordinationContext, w: Waiter): void {
    const putter = removeWaiter(this.putters, w);
    if (putter) c.drop(putter.item);
    else if (!removeWaiter(this.getters, w)) return;
    c.answer(w, { withdrawn: true });
    this.serve(c); // the get behind a withdrawn batch may take what there is
  }

  /** A peer left: its waits go (its waiting puts' items with them). */
  peerLeft(c: CoordinationContext, peer: string): void {
    removePeer(this.getters, peer);
    for (const p of removePeer(this.putters, peer)) c.drop(p.item);
    this.serve(c);
  }

  /** Empty, unbounded and with nobody waiting. */
  get idle(): boolean {
    return this.items.length === 0 && this.getters.length === 0 &&
      this.putters.length === 0 && this.maxsize === undefined;
  }

  /** The first get waits for more than there is; puts wait only on a full queue. */
  validate(): void {
    const first = this.getters[0];
    if (first && this.items.length >= (first.batch ?? 1)) {
      throw new Error("queue has the items its first waiting get asked for");
    }
    if (this.putters.length > 0 && !this.full) {
      throw new Error("queue has room and waiting puts");
    }
  }
}

/** Why a batch of `batch` items is refused by a queue of `maxsize`. */
function neverTaken(batch: number, maxsize: number): string {
  return `a batch of ${batch} can never be taken from a queue of maxsize ` +
    maxsize;
}
