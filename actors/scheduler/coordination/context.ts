/**
 * What the coordination primitives kept by the scheduler (queues,
 * variables, events, semaphores, topics) share: who waits, what is stored,
 * and the few things a primitive may do, given it by `Coordination`.
 *
 * @module
 */

import type { Packed } from "../../../runtime/codec/packed.ts";
import type { Coordinated } from "../../protocol.ts";

/** A request that may have to wait: who asked, its id, for which task. */
export interface Waiter {
  /** The asking peer (a client, or a worker for its in-task client). */
  readonly peer: string;
  /** The peer's id of the request. */
  readonly id: number;
  /** The task that asked, for in-task clients. */
  readonly task: string | undefined;
}

/** A value a primitive stores: its bytes, and the keys of futures inside it. */
export interface Item {
  /** Codec bytes. */
  readonly value: Packed;
  /** Keys of the futures inside it (they are held while it is stored). */
  readonly refs: string[] | undefined;
  /** The scheduler holder of `refs`, when there are any. */
  readonly holder: string | undefined;
}

/** The answer fields of a request (its `op` and `id` aside). */
export type Answer = Omit<Coordinated, "op" | "id">;

/** What a primitive may do; `Coordination` provides it. */
export interface CoordinationContext {
  /** Answers `w` (its wait, if parked, is over). */
  answer(w: Waiter, answer: Answer): void;
  /** `w` waits on `where` until answered or withdrawn. */
  park(w: Waiter, where: Primitive): void;
  /** Answers `w` with a copy of `item`: the keys it references are held for `w` too. */
  deliver(w: Waiter, item: Item): void;
  /**
   * Answers `w` with `items`, which leave their primitive: the keys they
   * reference are held for `w` and let go by the primitive.
   */
  deliverBatch(w: Waiter, items: Item[]): void;
  /** `item` is no longer stored: the keys it held are let go. */
  drop(item: Item): void;
  /** Sends a published item to subscription `w`. */
  publish(w: Waiter, item: Item): void;
  /** A new lease number (unique in the scheduler). */
  nextLease(): number;
}

/** One named primitive, as `Coordination` drives it. */
export interface Primitive {
  /** `w`, parked here, is withdrawn: forget it and answer it `withdrawn`. */
  withdraw(c: CoordinationContext, w: Waiter): void;
  /** Peer `peer` left: forget its waits (unanswered) and what it held. */
  peerLeft(c: CoordinationContext, peer: string): void;
  /** Nothing stored, held or waiting: the primitive may be forgotten. */
  readonly idle: boolean;
  /**
   * Checks the primitive's invariants.
   *
   * @throws {Error} naming the first one broken.
   */
  validate(): void;
}

/**
 * A primitive whose waits are one list, first come first served: a wait
 * given up is answered `withdrawn`, the waits of a peer that left go.
 */
export abstract class WaitList implements Primitive {
  /** The waits, oldest first. */
  readonly waiters: Waiter[] = [];

  /** `w` gives up. */
  withdraw(c: CoordinationContext, w: Waiter): void {
    if (removeWaiter(this.waiters, w)) c.answer(w, { withdrawn: true });
  }

  /** Peer `peer` left: its waits go. */
  peerLeft(_c: CoordinationContext, peer: string): void {
    removePeer(this.waiters, peer);
  }

  /** See {@linkcode Primitive.idle}. */
  abstract get idle(): boolean;

  /** See {@linkcode Primitive.validate}. */
  abstract validate(): void;
}

/** Removes the waiters of `peer` from `list` (in place); returns them. */
export function removePeer<T extends { peer: string }>(
  list: T[],
  peer: string,
): T[] {
  const gone = list.filter((w) => w.peer === peer);
  if (gone.length > 0) {
    const kept = list.filter((w) => w.peer !== peer);
    list.length = 0;
    list.push(...kept);
  }
  return gone;
}

/** Removes `w` from `list`; true when it was there. */
export function removeWaiter<T extends { peer: string; id: number }>(
  list: T[],
  w: Waiter,
): T | undefined {
  const i = list.findIndex((x) => x.peer === w.peer && x.id === w.id);
  return i < 0 ? undefined : list.splice(i, 1)[0];
}
