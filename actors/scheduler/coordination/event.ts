/**
 * A named event kept by the scheduler: set or clear; a wait ends once it
 * is set (at once when it already is). Clearing it does not end waits.
 *
 * @module
 */

import { type CoordinationContext, type Waiter, WaitList } from "./context.ts";

/** One event's flag and waiters. */
export class EventRecord extends WaitList {
  /** Whether it is set. */
  isSet = false;

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
