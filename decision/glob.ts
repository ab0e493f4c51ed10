// Owns model-name globs as written in AIPolicy modelGovernance.allowedModels, with the semantics of
// kernel/glob.ts (`*` any run, `?` one, everything else literal, case ignored) and its linear-time
// matcher: a glob is policy-author input and a name is sender input, so no backtracking RegExp.
// Compiled patterns are cached: the same few globs are checked for thousands of workloads.

import type { Glob } from '../kernel/glob.ts';
import { createGlobCache } from '../kernel/glob.ts';

const compiled = createGlobCache();

/** The compiled glob (cached). */
export function compiledGlob(glob: string): Glob {
  return compiled(glob);
}

/** True when `name` matches any of the globs. */
export function matchesAnyGlob(globs: readonly string[], name: string): boolean {
  for (const g of globs) if (compiled(g).test(name)) return true;
  return false;
}
