/**
 * What a client's (or a worker's) connection to the scheduler does with a
 * message over the message limit (see `TcpConnection.oversized`): it fails
 * what the message was for, never the connection. A submission of many
 * tasks is sent as two halves; one task too big errs; a call errs; a
 * worker's answer to a call is replaced by an error saying why; a value put
 * in a queue or variable is refused (the put or set rejects).
 *
 * @module
 */

import { pack, type Packed } from "../../runtime/codec/packed.ts";
import { SerializationError } from "../../runtime/errors.ts";
import type { SchedulerToClient, ToScheduler } from "../protocol.ts";

/**
 * A `TcpConnection.oversized` handler that tells the client, through
 * `deliver`, of what it could not send.
 *
 * @example A submission too big whole is split; one task too big errs
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseOversized } from "./oversized.ts";
 * const told: string[] = [];
 * const refuse = refuseOversized((msg) => void told.push(msg.op));
 * const task = (key: string) => ({ key, fn: "f", args: "" });
 * const halves = refuse({ op: "submit", tasks: [task("a"), task("b")] }, 9, 8);
 * assert.equal(halves?.length, 2);
 * assert.equal(refuse({ op: "submit", tasks: [task("a")] }, 9, 8), undefined);
 * assert.deepEqual(told, ["key-erred"]);
 * ```
 */
export function refuseOversized(
  deliver: (msg: SchedulerToClient) => void,
): (msg: ToScheduler, size: number, limit: number) => ToScheduler[] | void {
  return (msg, size, limit) => {
    const error = (what: string): Packed =>
      pack(
        new SerializationError(
          `${what}: its message is ${size} bytes, over the ${limit}-byte ` +
            `message limit`,
        ),
      );
    switch (msg.op) {
      case "submit": {
        if (msg.tasks.length > 1) {
          // Many tasks, each small enough: two submissions of half as many.
          const half = msg.tasks.length >> 1;
          return [
            { op: "submit", tasks: msg.tasks.slice(0, half) },
            { op: "submit", tasks: msg.tasks.slice(half) },
          ];
        }
        for (const { key } of msg.tasks) {
          deliver({
            op: "key-erred",
            key,
            error: error(`task ${key} not sent`),
          });
        }
        return;
      }
      case "call-on-workers":
      case "call-on-scheduler":
        return deliver({
          op: "call-result",
          id: msg.id,
          values: {},
          errors: { client: error(`call ${msg.id} not sent`) },
        });
      case "queue-put":
      case "variable-set":
        return deliver({
          op: "coordinated",
          id: msg.id,
          error: `the value was not sent: its message is ${size} bytes, ` +
            `over the ${limit}-byte message limit`,
        });
      case "function-result":
        return [{
          op: "function-result",
          id: msg.id,
          error: error(`the value of call ${msg.id}`),
        }];
      default:
        console.error(
          `tendril: a ${msg.op} message of ${size} bytes was not sent: over ` +
            `the ${limit}-byte message limit`,
        );
    }
  };
}
