// The in-isolate transport against the shared transport conformance suite
// (nothing is serialized and there is no wire to corrupt).
import { localPair } from "../runtime/wire/local.ts";
import { transportConformance } from "./transport_conformance.ts";

transportConformance("local", () => {
  const [a, b] = localPair<unknown, unknown>("a", "b");
  return Promise.resolve({ a, b, cleanup: () => Promise.resolve() });
});
