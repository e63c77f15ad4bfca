/**
 * A named event kept by the scheduler: set or clear; a wait ends once it
 * is set (at once when it already is). Clearing it does not end waits.
 *
 * @module
 */

import {
  type CoordinationContext,
  type Primitive,
  removePeer,
  removeWaiter,
  type Waiter,
} from "./context.ts";

/** One event's flag and waiters. */
export class EventRecord implements Primitive {
  /** Whether it is set. */
  isSet = false;
  /** Waits until it is set. */
  readonly waiters: Waiter[] = [];

  /** Sets (`on`) or clears it; setting ends every wait. */
  set(c: CoordinationContext, on: boolean): void {
    this.isSet = on;
    if (on) { for (const w of this.waiters.splice(0)) c.answer(w, {}); }
  }

  /** `w` waits until it is set (with `poll`: is told at once whether it is). */
  wait(c: CoordinationContext, w: Waiter, poll: boolean): void {
    if (poll) return c.answer(w, { count: this.isSet ? 1 : 0 });
    if (this.isSet) return c.answer(w, {});
    this.waiters.push(w);
    c.park(w, this);
  }

  /** A wait gives up. */
  withdraw(c: CoordinationContext, w: Waiter): void {
    if (removeWaiter(this.waiters, w)) c.answer(w, { withdrawn: true });
  }

  /** A peer left: its waits go. */
  peerLeft(_c: CoordinationContext, peer: string): void {
    removePeer(this.waiters, peer);
  }

  /** Clear with nobody waiting. */
  get idle(): boolean {
    return !this.isSet && this.waiters.length === 0;
  }

  /** Nobody waits on a set event. */
  validate(): void {
    if (this.isSet && this.waiters.length > 0) {
      throw new Error("event is set and has waiters");
    }
  }
}
