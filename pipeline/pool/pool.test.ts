import { describe, expect, it } from 'vitest';
import { GenOpsError } from '../../kernel/errors.ts';
import { createDecodePool, ownedBytes } from './pool.ts';

const FAKE_WORKER = new URL('../receiver/testing/fake-worker.ts', import.meta.url);
const body = (text: string) => new TextEncoder().encode(text);

describe('decode pool', () => {
  it('transfers the body to the worker instead of copying it', async () => {
    const pool = createDecodePool({ workerFile: FAKE_WORKER, threads: 1 });
    await pool.start();
    try {
      const task = { body: body('3 300 0'), encoding: 'protobuf' as const };
      const result = await pool.decode(task);
      expect(result.spansCharged).toBe(3);
      expect(task.body.byteLength).toBe(0); // detached: it moved to the worker
      expect(pool.stats()).toEqual({ threads: 1, inFlight: 0, inFlightBytes: 0 });
    } finally {
      await pool.shutdown();
    }
  });

  it('copies only views that do not own their whole buffer', () => {
    const own = new Uint8Array(8);
    expect(ownedBytes(own)).toBe(own);
    const slice = new Uint8Array(new ArrayBuffer(16), 4, 8);
    const copy = ownedBytes(slice);
    expect(copy).not.toBe(slice);
    expect(copy.buffer.byteLength).toBe(8);
  });

  it('bounds the queue by tasks and by bytes, answering retryable', async () => {
    const pool = createDecodePool({
      workerFile: FAKE_WORKER,
      threads: 1,
      maxQueue: 2,
      maxQueuedBytes: 64,
      workerData: { delayMs: 200 },
      retryAfterSeconds: 3,
    });
    await pool.start();
    try {
      const first = pool.decode({ body: body('1 1 0'), encoding: 'json' });
      const big = new Uint8Array(100).fill(0x31);
      // Over the byte bound while something is in flight.
      await expect(pool.decode({ body: big, encoding: 'json' })).rejects.toMatchObject({
        errorClass: 'retryable',
        retryAfterSeconds: 3,
      });
      const more = [
        pool.decode({ body: body('1 1 0'), encoding: 'json' }),
        pool.decode({ body: body('1 1 0'), encoding: 'json' }),
      ];
      expect(pool.wouldRefuse()).toBe(true);
      const refused = await pool.decode({ body: body('1 1 0'), encoding: 'json' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(GenOpsError);
      expect((refused as GenOpsError).errorClass).toBe('retryable');
      await Promise.all([first, ...more]);
      expect(pool.wouldRefuse()).toBe(false);
    } finally {
      await pool.shutdown();
    }
  });

  it('classifies decode failures as invalid, and is safe to stop without starting', async () => {
    await createDecodePool({ workerFile: FAKE_WORKER }).shutdown();
    const pool = createDecodePool({ workerFile: FAKE_WORKER, threads: 1 });
    await pool.start();
    await expect(pool.decode({ body: body('garbage'), encoding: 'json' })).rejects.toMatchObject({
      errorClass: 'invalid',
    });
    await pool.shutdown();
    await pool.shutdown();
    await expect(pool.decode({ body: body('1 1 0'), encoding: 'json' })).rejects.toMatchObject({
      errorClass: 'shutting-down',
    });
    // A fresh pool starts again after the old one stopped.
    const again = createDecodePool({ workerFile: FAKE_WORKER, threads: 1 });
    await again.start();
    expect((await again.decode({ body: body('2 20 0'), encoding: 'json' })).spansCharged).toBe(2);
    await again.shutdown();
  });

  it('fails fast at start when the worker module cannot load', async () => {
    const pool = createDecodePool({
      workerFile: new URL('./no-such-worker.ts', import.meta.url),
      threads: 1,
    });
    await expect(pool.start()).rejects.toMatchObject({ errorClass: 'internal' });
  });
});
