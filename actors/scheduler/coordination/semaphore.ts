/**
 * A named semaphore kept by the scheduler: at most `maxLeases` leases at
 * once, each held by the peer (client, or worker for its tasks) that took
 * it, and given back on release or when that peer leaves or dies, as
 * Dask's semaphore does. Acquires wait in arrival order. `Lock` is a
 * semaphore of one lease.
 *
 * @module
 */

import { type CoordinationContext, type Waiter, WaitList } from "./context.ts";

/** One semaphore's leases and waiting acquires. */
export class SemaphoreRecord extends WaitList {
  /** The peer holding each lease, by lease number. */
  readonly leases: Map<number, string> = new Map();
  /** A semaphore of `maxLeases` leases (acquires wait in `waiters`). */
  constructor(readonly maxLeases: number) {
    super();
  }

  /** `w` takes a lease when one is free, or waits. */
  acquire(c: CoordinationContext, w: Waiter): void {
    if (this.leases.size < this.maxLeases && this.waiters.length === 0) {
      return this.grant(c, w);
    }
    this.waiters.push(w);
    c.park(w, this);
  }

  /** `w` gives lease `lease` back. */
  release(c: CoordinationContext, w: Waiter, lease: number): void {
    if (this.leases.get(lease) !== w.peer) {
      return c.answer(w, {
        error: `lease ${lease} is not held by this client (released twice, ` +
          `or given back when its holder left)`,
      });
    }
    this.leases.delete(lease);
    c.answer(w, {});
    this.serve(c);
  }

  /** Waiting acquires take the leases that are free, in order. */
  private serve(c: CoordinationContext): void {
    while (this.leases.size < this.maxLeases && this.waiters.length > 0) {
      this.grant(c, this.waiters.shift()!);
    }
  }

  /** Gives a new lease to `w`. */
  private grant(c: CoordinationContext, w: Waiter): void {
    const lease = c.nextLease();
    this.leases.set(lease, w.peer);
    c.answer(w, { count: lease });
  }

  /**
   * A peer left: its acquires are forgotten and its leases go to the
   * acquires waiting.
   */
  override peerLeft(c: CoordinationContext, peer: string): void {
    super.peerLeft(c, peer);
    for (const [lease, holder] of [...this.leases]) {
      if (holder === peer) this.leases.delete(lease);
    }
    this.serve(c);
  }

  /** No lease held, nobody waiting. */
  get idle(): boolean {
    return this.leases.size === 0 && this.waiters.length === 0;
  }

  /** Never more leases than allowed; acquires wait only when none is free. */
  validate(): void {
    if (this.leases.size > this.maxLeases) {
      throw new Error(
        `semaphore has ${this.leases.size} leases of ${this.maxLeases}`,
      );
    }
    if (this.waiters.length > 0 && this.leases.size < this.maxLeases) {
      throw new Error("semaphore has a free lease and waiting acquires");
    }
  }
}
