import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { openWal, type WalMetrics } from './wal.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'genops-wal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
const open = (dir: string, extra: Partial<Parameters<typeof openWal>[0]> = {}) =>
  openWal({ dir, clock, logger: silentLogger, ...extra });

async function replayAll(dir: string): Promise<{ seqs: number[]; payloads: string[]; truncated: number }> {
  const wal = await open(dir);
  const seqs: number[] = [];
  const payloads: string[] = [];
  const stats = await wal.replay((seq, p) => {
    seqs.push(seq);
    payloads.push(p.toString());
  });
  await wal.close();
  return { seqs, payloads, truncated: stats.truncatedBytes };
}

const segmentsOf = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort();

describe('write-ahead log', () => {
  it('replays what was made durable, in order, and keeps numbering across restarts', async () => {
    const dir = tempDir();
    const wal = await open(dir);
    await wal.replay(() => undefined);
    const a = wal.append(Buffer.from('one'));
    const b = wal.append(Buffer.from('two'));
    await Promise.all([a.durable, b.durable]);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    await wal.close();

    const wal2 = await open(dir);
    expect(wal2.id).toBe(wal.id);
    const seen: string[] = [];
    await wal2.replay((seq, p) => seen.push(`${seq}:${p.toString()}`));
    expect(seen).toEqual(['1:one', '2:two']);
    const c = wal2.append(Buffer.from('three'));
    await c.durable;
    expect(c.seq).toBe(3);
    await wal2.close();
    expect((await replayAll(dir)).payloads).toEqual(['one', 'two', 'three']);
  });

  it('a new directory is a new log (another id)', async () => {
    const a = await open(tempDir());
    const b = await open(tempDir());
    expect(a.id).not.toBe(b.id);
  });

  it('cuts a torn last record (short write) and a record whose CRC fails, never replaying either', async () => {
    const dir = tempDir();
    const wal = await open(dir);
    await wal.replay(() => undefined);
    for (const p of ['a', 'bb', 'ccc']) await wal.append(Buffer.from(p)).durable;
    await wal.close();
    const [seg] = segmentsOf(dir);
    const path = join(dir, seg!);
    const full = statSync(path).size;
    // Crash in the middle of writing the third record.
    truncateSync(path, full - 2);
    const torn = await replayAll(dir);
    expect(torn.payloads).toEqual(['a', 'bb']);
    expect(torn.truncated).toBe(16 + 3 - 2);
    // The tail is gone for good, and appends continue after the last intact record.
    const wal2 = await open(dir);
    await wal2.replay(() => undefined);
    const d = wal2.append(Buffer.from('dddd'));
    await d.durable;
    expect(d.seq).toBe(3);
    await wal2.close();
    expect((await replayAll(dir)).payloads).toEqual(['a', 'bb', 'dddd']);

    // A flipped bit in the payload of the last record: its CRC fails, it is not replayed.
    // (Every start opens a new, empty segment: the record is in the last non-empty one.)
    const segs = segmentsOf(dir).filter((f) => statSync(join(dir, f)).size > 0);
    const last = join(dir, segs[segs.length - 1]!);
    const bytes = readFileSync(last);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
    writeFileSync(last, bytes);
    const flipped = await replayAll(dir);
    expect(flipped.payloads).toEqual(['a', 'bb']);
    expect(flipped.truncated).toBe(16 + 4);
  });

  it('group commit: many concurrent appends share few syncs, each answered only after its batch', async () => {
    const dir = tempDir();
    const batches: number[] = [];
    const metrics: WalMetrics = {
      batchSynced: (entries) => batches.push(entries),
      sizeBytes: () => undefined,
      failed: () => undefined,
    };
    const wal = await open(dir, { metrics });
    await wal.replay(() => undefined);
    const appended = Array.from({ length: 200 }, (_, i) => wal.append(Buffer.from(`e${i}`)));
    let resolvedBeforeSync = 0;
    const order: number[] = [];
    await Promise.all(
      appended.map((a) =>
        a.durable.then(() => {
          // When an entry is durable, the batches synced so far cover it.
          if (batches.reduce((n, b) => n + b, 0) < a.seq) resolvedBeforeSync++;
          order.push(a.seq);
        }),
      ),
    );
    expect(resolvedBeforeSync).toBe(0);
    expect(batches.reduce((n, b) => n + b, 0)).toBe(200);
    expect(batches.length).toBeLessThan(200);
    expect(batches.length).toBeGreaterThanOrEqual(2);
    expect(order).toEqual([...order].sort((x, y) => x - y));
    await wal.close();
    expect((await replayAll(dir)).seqs).toHaveLength(200);
  });

  it('deletes segments only once checkpointed and past the retention; numbering survives', async () => {
    const dir = tempDir();
    const wal = await open(dir, { segmentBytes: 64, retainMs: 60_000 });
    await wal.replay(() => undefined);
    for (let i = 0; i < 12; i++) await wal.append(Buffer.alloc(40, i)).durable;
    await wal.checkpoint(0);
    const before = segmentsOf(dir).length;
    expect(before).toBeGreaterThan(3);
    // Not checkpointed: nothing goes, however old.
    clock.advance(120_000);
    await wal.checkpoint(0);
    expect(segmentsOf(dir)).toHaveLength(before);
    // Checkpointed up to 6: only segments whose entries are all <= 6.
    await wal.checkpoint(6);
    const left = segmentsOf(dir);
    expect(left.length).toBeLessThan(before);
    const firstLeft = Number(/wal-(\d+)/.exec(left[0]!)![1]);
    expect(firstLeft).toBeLessThanOrEqual(7);
    // Checkpointed but recent (within the dedupe retention): kept.
    const wal2Dir = tempDir();
    const recent = await open(wal2Dir, { segmentBytes: 64, retainMs: 60_000 });
    await recent.replay(() => undefined);
    for (let i = 0; i < 6; i++) await recent.append(Buffer.alloc(40, i)).durable;
    await recent.checkpoint(0);
    const n = segmentsOf(wal2Dir).length;
    await recent.checkpoint(6);
    expect(segmentsOf(wal2Dir)).toHaveLength(n);
    await recent.close();
    // Everything checkpointed and old: all but the open segment go, and seq still continues.
    await wal.checkpoint(12);
    expect(segmentsOf(dir)).toHaveLength(1);
    await wal.close();
    const again = await open(dir);
    const st = await again.replay(() => undefined);
    expect(st.entries).toBe(0);
    const next = again.append(Buffer.from('x'));
    await next.durable;
    expect(next.seq).toBe(13);
    await again.close();
  });

  it('refuses appends (retryable) beyond its size limit instead of filling the volume', async () => {
    const dir = tempDir();
    const wal = await open(dir, { limitBytes: 200, retainMs: 0 });
    await wal.replay(() => undefined);
    await wal.append(Buffer.alloc(60)).durable;
    await wal.append(Buffer.alloc(60)).durable;
    const refused = wal.append(Buffer.alloc(60));
    await expect(refused.durable).rejects.toMatchObject({ errorClass: 'retryable', code: 'WAL_FULL' });
    await wal.close();
    // Nothing of the refused entry reached the disk.
    expect((await replayAll(dir)).seqs).toEqual([1, 2]);
  });

  it('after a failed write or rotation it is unhealthy and refuses appends (retryable), never pretending', async () => {
    const dir = tempDir();
    const wal = await open(dir, { segmentBytes: 32 });
    await wal.replay(() => undefined);
    expect(wal.healthy()).toBe(true);
    // The volume goes away under the log: the next rotation cannot create its segment.
    rmSync(dir, { recursive: true, force: true });
    await wal.append(Buffer.alloc(40)).durable.catch(() => undefined);
    await wal.checkpoint(0).catch(() => undefined);
    expect(wal.healthy()).toBe(false);
    await expect(wal.append(Buffer.from('x')).durable).rejects.toMatchObject({
      errorClass: 'retryable',
      code: 'WAL_WRITE_FAILED',
    });
    await expect(wal.sync()).rejects.toMatchObject({ code: 'WAL_WRITE_FAILED' });
    await wal.close().catch(() => undefined);
  });

  it('refuses appends before replay', async () => {
    const wal = await open(tempDir());
    expect(() => wal.append(Buffer.from('x'))).toThrow(/before replay/);
  });
});
