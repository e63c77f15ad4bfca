// The Web Worker transport (PortConnection over a MessageChannel) against
// the shared transport conformance suite.
import { PortConnection } from "../runtime/wire/webworker.ts";
import { transportConformance } from "./transport_conformance.ts";

transportConformance("webworker", () => {
  const { port1, port2 } = new MessageChannel();
  const a = new PortConnection<unknown, unknown>(port1, "b");
  const b = new PortConnection<unknown, unknown>(port2, "a");
  return Promise.resolve({
    a,
    b,
    // What a confused or hostile peer could post: not a batch.
    injectGarbage: () => port1.postMessage(42),
    cleanup: () => Promise.resolve(),
  });
}, { serializes: true, badFrames: true });
