import { describe, expect, it } from 'vitest';
import { createTokenBucket } from './rate-limiter.ts';

describe('token bucket', () => {
  it('lets a burst through at once, then paces writes at qps', async () => {
    const limiter = createTokenBucket({ qps: 50, burst: 5 });
    const started = performance.now();
    for (let i = 0; i < 5; i++) await limiter.acquire();
    expect(performance.now() - started).toBeLessThan(15);
    for (let i = 0; i < 5; i++) await limiter.acquire();
    // Five more tokens at 50/s need about 100 ms.
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(85);
    expect(elapsed).toBeLessThan(400);
  });

  it('serves waiters in arrival order', async () => {
    const limiter = createTokenBucket({ qps: 100, burst: 1 });
    await limiter.acquire();
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((n) => limiter.acquire().then(() => order.push(n))));
    expect(order).toEqual([1, 2, 3]);
  });

  it('refills with time on an injected clock and tryAcquire never waits', () => {
    let now = 0;
    const limiter = createTokenBucket({ qps: 2, burst: 2, now: () => now });
    expect(limiter.tryAcquire()).toBe(true);
    expect(limiter.tryAcquire()).toBe(true);
    expect(limiter.tryAcquire()).toBe(false);
    now += 500;
    expect(limiter.tryAcquire()).toBe(true);
    expect(limiter.tryAcquire()).toBe(false);
  });

  it('rejects a waiter whose signal aborts', async () => {
    const limiter = createTokenBucket({ qps: 0.01, burst: 1 });
    await limiter.acquire();
    const ac = new AbortController();
    const p = limiter.acquire(ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ errorClass: 'shutting-down' });
  });

  it('refuses nonsense settings', () => {
    expect(() => createTokenBucket({ qps: 0, burst: 1 })).toThrow(RangeError);
  });
});

describe('token bucket priorities', () => {
  it('serves normal waiters before low ones, whatever the arrival order', async () => {
    const limiter = createTokenBucket({ qps: 200, burst: 1 });
    await limiter.acquire();
    const order: string[] = [];
    await Promise.all([
      limiter.acquire(undefined, 'low').then(() => order.push('status-1')),
      limiter.acquire(undefined, 'low').then(() => order.push('status-2')),
      limiter.acquire().then(() => order.push('scale')),
      limiter.acquire(undefined, 'normal').then(() => order.push('event')),
    ]);
    expect(order).toEqual(['scale', 'event', 'status-1', 'status-2']);
  });
});
