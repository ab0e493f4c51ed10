// Owns the one glob matcher of the project: model and provider globs in AIPolicy allowedModels
// (decision, webhook/policy) and in the operator's price table (pipeline/pricing). `*` is
// any run of characters (newlines included), `?` exactly one UTF-16 code unit, everything else
// literal; matching ignores case the way a RegExp with the `i` flag (and no `u`) does.
//
// Why not a RegExp: patterns come from anyone who may create an AIPolicy and names from anyone who
// may send a span. A glob such as `*a*a*a*a*a*a*b` compiled to `^.*a.*a...b$` backtracks
// exponentially on a 128-character name and stalls the event loop. This matcher is the iterative
// two-pointer wildcard algorithm with backtracking to the last star only: a failed match after a
// star resumes one character later from that star, never from earlier ones, so the work is at most
// pattern length x name length character comparisons whatever the input (O(n*m), no recursion, no
// allocation per call).

const STAR = -1;
const ANY_ONE = -2;

/** A compiled glob; `test` is linear-time in the name for a given pattern. */
export interface Glob {
  readonly source: string;
  test(name: string): boolean;
}

// Case folding of non-ASCII code units, as RegExp `i` without `u` canonicalises them: the upper
// case when it is a single code unit that is not ASCII, else the unit itself. ASCII (nearly every
// model name) takes the branch-only path.
function foldUnit(c: number): number {
  if (c < 0x80) return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
  const upper = String.fromCharCode(c).toUpperCase();
  return upper.length === 1 && upper.charCodeAt(0) >= 0x80 ? upper.charCodeAt(0) : c;
}

function tokensOf(glob: string): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charCodeAt(i);
    if (c === 0x2a) {
      // Consecutive stars are one star: keeps the token count (and the work bound) minimal.
      if (out[out.length - 1] !== STAR) out.push(STAR);
    } else if (c === 0x3f) out.push(ANY_ONE);
    else out.push(foldUnit(c));
  }
  return Int32Array.from(out);
}

function matchTokens(tokens: Int32Array, name: string): boolean {
  const m = tokens.length;
  const n = name.length;
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < n) {
    if (p < m) {
      const t = tokens[p]!;
      if (t === STAR) {
        // Remember this star; first try matching it against the empty run.
        starP = p++;
        starS = s;
        continue;
      }
      if (t === ANY_ONE || t === foldUnit(name.charCodeAt(s))) {
        p++;
        s++;
        continue;
      }
    }
    if (starP < 0) return false;
    // Let the last star swallow one more character and retry the rest of the pattern from there.
    p = starP + 1;
    s = ++starS;
  }
  while (p < m && tokens[p] === STAR) p++;
  return p === m;
}

export function compileGlob(glob: string): Glob {
  const tokens = tokensOf(glob);
  return { source: glob, test: (name: string) => matchTokens(tokens, name) };
}

const CACHE_LIMIT = 10_000;

/**
 * A cache of compiled globs for callers that match the same few globs for thousands of names
 * (decision loop, admission). Bounded: cleared when full (policies hold few globs).
 */
export function createGlobCache(limit = CACHE_LIMIT): (glob: string) => Glob {
  const compiled = new Map<string, Glob>();
  return (glob) => {
    let g = compiled.get(glob);
    if (g === undefined) {
      g = compileGlob(glob);
      if (compiled.size >= limit) compiled.clear();
      compiled.set(glob, g);
    }
    return g;
  };
}
