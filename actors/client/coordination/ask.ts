/**
 * How the coordination primitives ask the scheduler: a request through the
 * client's {@linkcode CoordinationLink}, waited for within `{ timeout,
 * signal }` (inside a task, the wait secedes like every other), withdrawn
 * when given up; values encoded with the keys of the futures inside them.
 *
 * @module
 */

import { pack, type Packed } from "../../../runtime/codec/packed.ts";
import { TendrilError } from "../../../runtime/errors.ts";
import type { Coordinated } from "../../protocol.ts";
import { currentTask } from "../../task/context.ts";
import type { Client } from "../client.ts";
import { type WaitBounds, withDeadline } from "../deadline.ts";
import type { CoordinationAsk } from "./link.ts";

/**
 * Asks `question`, waiting within `bounds`; resolves with the answer, and
 * the task the request was made for ("" for none).
 *
 * @throws {TendrilError} with the scheduler's reason when it refuses.
 */
export function ask(
  client: Client,
  what: string,
  question: CoordinationAsk,
  bounds: WaitBounds = {},
): Promise<{ answer: Coordinated; owner: string }> {
  return withDeadline(() => what, bounds, async (bounded) => {
    bounded.signal?.throwIfAborted();
    const owner = currentTask()?.key ?? "";
    const request = client.coordination.request(question, owner);
    let answer: Coordinated;
    try {
      const noop = () => {};
      await client.waitFor(request.answered.then(noop, noop), [], bounded);
      answer = await request.answered;
    } catch (e) {
      client.coordination.abandon(request);
      throw e;
    }
    if (answer.error !== undefined) {
      throw new TendrilError(`${what}: ${answer.error}`);
    }
    return { answer, owner };
  });
}

/** Asks `question` and decodes the value it answers with (futures inside held here). */
export async function askValue(
  client: Client,
  what: string,
  question: CoordinationAsk,
  bounds: WaitBounds = {},
): Promise<unknown> {
  const { answer, owner } = await ask(client, what, question, bounds);
  return client.decodeValue(answer.value!, owner);
}

/** `value` as codec bytes, with the keys of the futures inside it. */
export function encodeItem(
  value: unknown,
  what: string,
): { value: Packed; refs: string[] | undefined } {
  const refs = new Set<string>();
  const bytes = pack(value, (key) => refs.add(key), what);
  return { value: bytes, refs: refs.size > 0 ? [...refs] : undefined };
}
