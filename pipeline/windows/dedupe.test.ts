import { describe, expect, it } from 'vitest';
import { createScopedDedupe } from './dedupe.ts';

describe('dedupe per sender', () => {
  it('agrees with a reference model (global bound, per-sender quota, age) under random churn', () => {
    const set = createScopedDedupe({ maxKeys: 64, maxKeysPerSender: 20, maxAgeMs: 30_000 });
    // Reference: one arrival-ordered list; a sender at quota drops its own oldest; full drops the oldest.
    let ref: { scope: string; k: string; at: number }[] = [];
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    let now = 1_000_000;
    for (let i = 0; i < 30_000; i++) {
      if (rnd() % 50 === 0) now += 1000 * (rnd() % 5);
      const scope = `ns-${rnd() % 5}`;
      const hi = rnd() % 3;
      const lo = rnd() % 60;
      const k = `${hi}:${lo}`;
      const nowSec = Math.floor(now / 1000);
      ref = ref.filter((e) => (nowSec - e.at) * 1000 <= 30_000);
      const expected = ref.some((e) => e.scope === scope && e.k === k);
      const got = set.seen(scope, hi, lo, now);
      if (got !== expected) throw new Error(`mismatch at step ${i} for ${scope} ${k}`);
      if (!expected) {
        const own = ref.filter((e) => e.scope === scope);
        if (own.length >= 20) ref.splice(ref.indexOf(own[0]!), 1);
        if (ref.length >= 64) ref.shift();
        ref.push({ scope, k, at: nowSec });
      }
      if (set.size !== ref.length)
        throw new Error(`size mismatch at step ${i}: ${set.size} vs ${ref.length}`);
    }
    expect(set.size).toBeGreaterThan(0);
  });

  it('another sender reusing the same trace and span ids is not a duplicate, and cancels nothing', () => {
    const set = createScopedDedupe();
    expect(set.seen('team-a/Deployment/chat', 1, 2, 0)).toBe(false);
    expect(set.seen('team-b/Deployment/copycat', 1, 2, 0)).toBe(false);
    expect(set.seen('team-a/Deployment/chat', 1, 2, 1000)).toBe(true);
    expect(set.seen('team-b/Deployment/copycat', 1, 2, 1000)).toBe(true);
  });

  it('a flooding sender pushes out only its own keys; the window is time, not count, for the others', () => {
    const set = createScopedDedupe({ maxKeys: 1 << 12, maxKeysPerSender: 1 << 10, maxAgeMs: 600_000 });
    expect(set.seen('victim', 42, 42, 0)).toBe(false);
    for (let i = 0; i < 100_000; i++) set.seen('flood', i, i * 3, 1000 + i);
    // Still remembered after 100k keys from the flooder, within the 10 minute window...
    expect(set.seen('victim', 42, 42, 200_000)).toBe(true);
    // ...and forgotten after it.
    expect(set.seen('victim', 42, 42, 700_000)).toBe(false);
    expect(set.size).toBeLessThanOrEqual(1 << 12);
  });
  it('the per-request path (scopeId, advance, seenIn) keeps a sender whose last key went mid-request', () => {
    const set = createScopedDedupe({ maxKeys: 4, maxKeysPerSender: 4, maxAgeMs: 600_000 });
    const a = set.scopeId('a');
    const b = set.scopeId('b');
    set.advance(0);
    expect(set.seenIn(a, 1, 1, 0)).toBe(false);
    // Four keys of b push out a's only key: a is released...
    for (let i = 0; i < 4; i++) expect(set.seenIn(b, 10 + i, i, 0)).toBe(false);
    expect(set.senders).toBe(1);
    // ...and its id, still held by this request, must not be shared with another sender.
    expect(set.seenIn(a, 2, 2, 0)).toBe(false);
    expect(set.scopeId('c')).not.toBe(a);
    expect(set.seen('a', 2, 2, 1000)).toBe(true);
    expect(set.seen('c', 2, 2, 1000)).toBe(false);
    expect(set.seen('b', 2, 2, 1000)).toBe(false);
    // Same answers as seen(): a retried key is a duplicate, then expires with the window.
    set.advance(601_000);
    expect(set.seenIn(set.scopeId('a'), 2, 2, 601)).toBe(false);
  });
});
