/**
 * A named variable kept by the scheduler: one value at a time (a set
 * replaces it and lets the old one go), read by any number of gets; a get
 * waits until the variable has a value.
 *
 * @module
 */

import {
  type CoordinationContext,
  type Item,
  type Waiter,
  WaitList,
} from "./context.ts";

/** One variable's value and waiting gets (`waiters`). */
export class VariableRecord extends WaitList {
  /** The value, if set. */
  item: Item | undefined;

  /** Sets the value: waiting gets receive it. */
  set(c: CoordinationContext, item: Item): void {
    if (this.item) c.drop(this.item);
    this.item = item;
    for (const w of this.waiters.splice(0)) c.deliver(w, item);
  }

  /** `w` reads the value, or waits for one. */
  get(c: CoordinationContext, w: Waiter): void {
    if (this.item) return c.deliver(w, this.item);
    this.waiters.push(w);
    c.park(w, this);
  }

  /** The variable has no value any more (gets wait again). */
  delete(c: CoordinationContext): void {
    if (this.item) c.drop(this.item);
    this.item = undefined;
  }

  /** No value, nobody waiting. */
  get idle(): boolean {
    return !this.item && this.waiters.length === 0;
  }

  /** Gets wait only while there is no value. */
  validate(): void {
    if (this.item && this.waiters.length > 0) {
      throw new Error("variable has a value and waiting gets");
    }
  }
}
