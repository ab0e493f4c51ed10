import { describe, expect, it } from 'vitest';
import { compileGlob, createGlobCache } from './glob.ts';

/** The RegExp the project used before (exponential on hostile globs), kept as the reference semantics. */
function referenceRegExp(glob: string): RegExp {
  let source = '';
  for (const ch of glob) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'is');
}

/** Seeded xorshift32: the same cases on every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

describe('kernel glob', () => {
  it('keeps the documented semantics: * any run, ? one unit, literal otherwise, case ignored', () => {
    const t = (g: string, s: string): boolean => compileGlob(g).test(s);
    expect(t('gpt-4*', 'gpt-4o-2024-08-06')).toBe(true);
    expect(t('gpt-4*', 'gpt-3.5-turbo')).toBe(false);
    expect(t('claude-3-?aiku', 'CLAUDE-3-HAIKU')).toBe(true);
    expect(t('claude-3-?aiku', 'claude-3-haiku-2024')).toBe(false);
    expect(t('gpt-3.5*', 'gpt-3x5-turbo')).toBe(false);
    expect(t('a+b(c)[d]', 'a+b(c)[d]')).toBe(true);
    expect(t('*', '')).toBe(true);
    expect(t('', '')).toBe(true);
    expect(t('', 'a')).toBe(false);
    expect(t('?', '')).toBe(false);
    expect(t('a*', 'a\nb')).toBe(true);
    expect(t('*o*', 'GPT-4O')).toBe(true);
    expect(t('ÉCOLE*', 'école-1')).toBe(true);
    expect(t('**a**', 'bab')).toBe(true);
  });

  it('agrees with the reference RegExp on 5,000 seeded random glob/name pairs', () => {
    const rand = prng(0x13);
    const alphabet = ['a', 'b', 'A', '*', '?', '.', '-', 'é', 'É'];
    const pick = (n: number): string => {
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      return s;
    };
    const disagreements: string[] = [];
    let matched = 0;
    for (let i = 0; i < 5_000; i++) {
      const glob = pick(Math.floor(rand() * 7));
      const name = pick(Math.floor(rand() * 9))
        .replaceAll('*', 'b')
        .replaceAll('?', 'a');
      const got = compileGlob(glob).test(name);
      if (got) matched++;
      if (got !== referenceRegExp(glob).test(name)) disagreements.push(`${glob} vs ${name}`);
    }
    expect(disagreements).toEqual([]);
    // Both outcomes are exercised, not only non-matches.
    expect(matched).toBeGreaterThan(250);
  });

  it('matches the ReDoS glob from issue 13 against a 128-char and a 10k-char name in milliseconds', () => {
    const glob = compileGlob('*a*a*a*a*a*a*b');
    for (const length of [128, 10_000]) {
      const name = 'a'.repeat(length);
      const started = performance.now();
      expect(glob.test(name)).toBe(false);
      expect(glob.test(`${name}b`)).toBe(true);
      const took = performance.now() - started;
      // The backtracking RegExp does not finish a 128-char name in minutes; this is O(n*m).
      expect(took).toBeLessThan(length === 128 ? 20 : 500);
    }
    // A 253-char glob of stars and one trailing literal against a 10k name stays bounded too.
    const wide = compileGlob(`${'*a'.repeat(126)}*b`);
    const started = performance.now();
    expect(wide.test('a'.repeat(10_000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('bounds its cache and returns the same compiled glob while cached', () => {
    const cache = createGlobCache(2);
    const a = cache('a*');
    expect(cache('a*')).toBe(a);
    cache('b*');
    cache('c*');
    expect(cache('a*').test('abc')).toBe(true);
  });
});
