/**
 * Function shipping: describing a function on the sending side, loading it
 * on the receiving side, and the index of module exports in between. Loaded
 * on demand (see `lazy.ts`): its source analysis costs ~25 ms to import.
 *
 * @module
 */

export { analysisOf, label, quoteList } from "./analysis.ts";
export { compileFunction, compileWithScope, type Wrapper } from "./compile.ts";
export {
  canRebindSelf,
  describeFunction,
  type FunctionDescription,
  type FunctionRef,
  withPackage,
} from "./describe.ts";
export {
  type CodePackage,
  type PackageFile,
  type PackageRef,
} from "./code_package.ts";
export { CodeCache } from "./code_cache.ts";
export { freeVariables } from "./free_variables.ts";
export { pureKey } from "./hash.ts";
export { type CodeSource, loadFunction } from "./load.ts";
export { indexMainModule, registerModule } from "./entry_index.ts";
export { assertNotShippingImport } from "./module_index.ts";
