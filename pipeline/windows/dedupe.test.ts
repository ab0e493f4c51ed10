import { describe, expect, it } from 'vitest';
import { createDedupeSet } from './dedupe.ts';

describe('dedupe set', () => {
  it('agrees with a reference model under random churn (count-bounded)', () => {
    const cap = 64;
    const set = createDedupeSet({ maxKeys: cap, maxAgeMs: 1e12 });
    const order: string[] = [];
    const live = new Set<string>();
    let seed = 42;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 20_000; i++) {
      // A small key space forces collisions, repeats and evictions.
      const hi = rnd() % 4;
      const lo = rnd() % 200;
      const k = `${hi}:${lo}`;
      const expected = live.has(k);
      if (set.seen(hi, lo, 1000) !== expected) throw new Error(`mismatch at step ${i} for ${k}`);
      if (!expected) {
        if (order.length === cap) live.delete(order.shift()!);
        order.push(k);
        live.add(k);
      }
      if (set.size !== live.size) throw new Error(`size mismatch at step ${i}`);
    }
    expect(set.size).toBe(cap);
  });

  it('forgets keys older than the age bound', () => {
    const set = createDedupeSet({ maxKeys: 16, maxAgeMs: 10_000 });
    expect(set.seen(1, 2, 0)).toBe(false);
    expect(set.seen(1, 2, 9_000)).toBe(true);
    expect(set.seen(3, 4, 9_000)).toBe(false);
    expect(set.seen(1, 2, 11_000)).toBe(false);
    expect(set.seen(3, 4, 11_000)).toBe(true);
  });
});
