// Owns model-name globs as written in AIPolicy modelGovernance.allowedModels: `*` is any run of
// characters, `?` exactly one; everything else literal; matching ignores case (providers spell
// model ids inconsistently). Compiled patterns are cached: the same few globs are checked for
// thousands of workloads.

const compiled = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let re = compiled.get(glob);
  if (!re) {
    let source = '';
    for (const ch of glob) {
      if (ch === '*') source += '.*';
      else if (ch === '?') source += '.';
      else source += ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
    }
    re = new RegExp(`^${source}$`, 'is');
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(glob, re);
  }
  return re;
}

/** True when `name` matches any of the globs. */
export function matchesAnyGlob(globs: readonly string[], name: string): boolean {
  for (const g of globs) if (globToRegExp(g).test(name)) return true;
  return false;
}
