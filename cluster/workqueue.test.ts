import { describe, expect, it } from 'vitest';
import { GenOpsError } from '../kernel/errors.ts';
import { silentLogger } from '../kernel/logger.ts';
import { createWorkQueue } from './workqueue.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('work queue', () => {
  it('never runs one key twice at once and reruns a key added while it ran', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const q = createWorkQueue({
      name: 't',
      logger: silentLogger,
      concurrency: 4,
      handler: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        await tick(20);
        running--;
      },
    });
    q.add('a');
    await tick(5);
    q.add('a');
    q.add('a');
    q.add('a');
    await tick(5);
    await q.idle();
    expect(maxRunning).toBe(1);
    // One run in flight plus exactly one rerun for all adds made meanwhile.
    expect(runs).toBe(2);
    await q.shutdown();
  });

  it('deduplicates queued keys and runs different keys concurrently', async () => {
    const seen: string[] = [];
    let maxRunning = 0;
    let running = 0;
    const q = createWorkQueue({
      name: 't',
      logger: silentLogger,
      concurrency: 2,
      handler: async (key) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        seen.push(key);
        await tick(10);
        running--;
      },
    });
    for (const k of ['a', 'b', 'c', 'c', 'c']) q.add(k);
    await q.idle();
    expect(seen.sort()).toEqual(['a', 'b', 'c']);
    expect(maxRunning).toBe(2);
    await q.shutdown();
  });

  it('retries retryable failures with backoff and drops terminal ones', async () => {
    const attempts = new Map<string, number>();
    const q = createWorkQueue({
      name: 't',
      logger: silentLogger,
      backoff: { initialMs: 5, maxMs: 20, jitter: 0 },
      handler: (key) => {
        const n = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, n);
        if (key === 'flaky' && n < 3) return Promise.reject(new GenOpsError('retryable', 'X', 'try again'));
        if (key === 'broken') return Promise.reject(new GenOpsError('invalid', 'X', 'never works'));
        return Promise.resolve();
      },
    });
    q.add('flaky');
    q.add('broken');
    await tick(100);
    expect(attempts.get('flaky')).toBe(3);
    expect(attempts.get('broken')).toBe(1);
    await q.shutdown();
  });

  it('requeues after the delay a reconcile asks for, and stops on shutdown', async () => {
    let runs = 0;
    const q = createWorkQueue({
      name: 't',
      logger: silentLogger,
      handler: () => {
        runs++;
        return Promise.resolve({ requeueAfterMs: 10 });
      },
    });
    q.add('a');
    await tick(45);
    expect(runs).toBeGreaterThanOrEqual(3);
    await q.shutdown();
    const after = runs;
    await tick(40);
    expect(runs).toBe(after);
    q.add('a');
    await tick(10);
    expect(runs).toBe(after);
  });

  it('shutdown without any work is immediate and idempotent', async () => {
    const q = createWorkQueue({ name: 't', logger: silentLogger, handler: () => Promise.resolve() });
    await q.shutdown();
    await q.shutdown();
    expect(q.depth()).toBe(0);
  });
});
