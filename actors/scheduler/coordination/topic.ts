/**
 * A named publish/subscribe topic kept by the scheduler: each published
 * item goes to every subscription registered at the time, nothing is
 * stored (an item published with no subscriber is dropped), and items
 * from one publisher reach a subscriber in publication order.
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

/** One topic's subscriptions. */
export class TopicRecord implements Primitive {
  /** Subscriptions, by the subscribing request. */
  readonly subscribers: Waiter[] = [];

  /** `w` subscribes (answered at once; items follow as `topic-message`s). */
  subscribe(c: CoordinationContext, w: Waiter): void {
    this.subscribers.push(w);
    c.answer(w, {});
  }

  /** Sends `item` to every subscriber; returns how many there were. */
  publish(c: CoordinationContext, item: Item): number {
    for (const w of this.subscribers) c.publish(w, item);
    return this.subscribers.length;
  }

  /** A subscription ends (not answered: its answer was the subscription). */
  withdraw(_c: CoordinationContext, w: Waiter): void {
    removeWaiter(this.subscribers, w);
  }

  /** A peer left: its subscriptions end. */
  peerLeft(_c: CoordinationContext, peer: string): void {
    removePeer(this.subscribers, peer);
  }

  /** Nobody subscribed. */
  get idle(): boolean {
    return this.subscribers.length === 0;
  }

  /** Nothing to check: a topic stores nothing. */
  validate(): void {}
}
