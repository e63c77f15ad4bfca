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

/** One queue's items and waiters. */
export class QueueRecord implements Primitive {
  /** Items, head first. */
  readonly items: Item[] = [];
  /** Gets waiting for an item, first come first served. */
  readonly getters: Waiter[] = [];
  /** Puts waiting for room. */
  readonly putters: Putter[] = [];
  /** Most items held (0: unbounded); undefined until someone gives one. */
  maxsize: number | undefined;

  /** `w` puts `item` (at the head with `front`: an item given back). */
  put(c: CoordinationContext, w: Waiter, item: Item, front: boolean): void {
    const getter = this.getters.shift();
    if (getter) {
      this.hand(c, getter, item);
      return c.answer(w, {});
    }
    if (front) {
      this.items.unshift(item);
      return c.answer(w, {});
    }
    if (this.full) {
      this.putters.push({ ...w, item });
      return c.park(w, this);
    }
    this.items.push(item);
    c.answer(w, {});
  }

  /** `w` takes the head item, or waits for one. */
  get(c: CoordinationContext, w: Waiter): void {
    const item = this.items.shift();
    if (!item) {
      this.getters.push(w);
      return c.park(w, this);
    }
    this.hand(c, w, item);
    this.admit(c);
  }

  /** Whether a put must wait. */
  get full(): boolean {
    return !!this.maxsize && this.items.length >= this.maxsize;
  }

  /** `item` leaves the queue for `w`. */
  private hand(c: CoordinationContext, w: Waiter, item: Item): void {
    c.deliver(w, item);
    c.drop(item);
  }

  /** Waiting puts take the room there is, in order. */
  private admit(c: CoordinationContext): void {
    while (this.putters.length > 0 && !this.full) {
      const { item, ...w } = this.putters.shift()!;
      this.items.push(item);
      c.answer(w, {});
    }
  }

  /** A put or get gives up. */
  withdraw(c: CoordinationContext, w: Waiter): void {
    const putter = removeWaiter(this.putters, w);
    if (putter) c.drop(putter.item);
    else if (!removeWaiter(this.getters, w)) return;
    c.answer(w, { withdrawn: true });
  }

  /** A peer left: its waits go (its waiting puts' items with them). */
  peerLeft(c: CoordinationContext, peer: string): void {
    removePeer(this.getters, peer);
    for (const p of removePeer(this.putters, peer)) c.drop(p.item);
  }

  /** Empty, unbounded and with nobody waiting. */
  get idle(): boolean {
    return this.items.length === 0 && this.getters.length === 0 &&
      this.putters.length === 0 && this.maxsize === undefined;
  }

  /** Items and getters never both wait; puts wait only on a full queue. */
  validate(): void {
    if (this.items.length > 0 && this.getters.length > 0) {
      throw new Error("queue has items and waiting gets");
    }
    if (this.putters.length > 0 && !this.full) {
      throw new Error("queue has room and waiting puts");
    }
  }
}
