import { describe, expect, it } from 'vitest';
import { PersistentMap } from './persistent-map.ts';

describe('persistent map', () => {
  it('leaves earlier versions untouched and agrees with a Map over random edits', () => {
    let a = 7;
    const next = (): number => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) % 5000;
    const model = new Map<string, number>();
    let version = PersistentMap.empty<number>();
    const history: [PersistentMap<number>, [string, number][]][] = [];
    for (let round = 0; round < 60; round++) {
      const b = version.edit();
      // Grow, then shrink: the bucket count changes both ways.
      const edits = round < 30 ? 400 : 300;
      for (let i = 0; i < edits; i++) {
        const k = `ns/Deployment/w-${next()}`;
        if (round >= 30 || next() % 4 === 0) {
          b.delete(k);
          model.delete(k);
        } else {
          b.set(k, round);
          model.set(k, round);
        }
      }
      version = b.done();
      history.push([version, [...model].sort()]);
      expect(version.size).toBe(model.size);
    }
    for (const [v, entries] of history) {
      expect([...v].sort()).toEqual(entries);
      for (const [k, value] of entries.slice(0, 50)) expect(v.get(k)).toBe(value);
      expect(v.has('absent')).toBe(false);
    }
  });

  it('returns the same version when nothing was written, and refuses a finished builder', () => {
    const m = PersistentMap.from([['a', 1]]);
    expect(m.edit().done()).toBe(m);
    const b = m.edit();
    b.delete('missing');
    expect(b.done()).toBe(m);
    expect(() => b.set('a', 2)).toThrow(/after done/);
    expect(m.get('a')).toBe(1);
  });
});
