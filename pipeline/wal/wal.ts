// Owns the write-ahead log that makes an OTLP success answer mean "durable": every request's change
// to the usage windows is appended here and the answer waits until the batch holding it is on disk
// (group commit: one write + fdatasync per batch, batches form while the previous sync runs).
//
// Layout in `dir` (an emptyDir that survives container restarts):
//   wal-id                  random id of this log, so a usage record can say which log it checkpointed
//   wal-<first seq>.log     segments; record = [u32 length][u32 crc32(seq ‖ payload)][u64 seq][payload]
// Rules:
// - Sequence numbers only grow, also across restarts (a new segment is named after the next seq).
// - Replay reads segments in order and stops at the first record that is short or fails its CRC: a
//   torn tail from a crash mid-write. The bad tail is cut off; appends go to a new segment.
// - A segment is deleted once every entry in it is covered by a usage record (checkpoint) and it is
//   older than the retention (the dedupe window: replay rebuilds dedupe keys from it), or earlier when
//   the log holds more than maxBytes. The segment being written is never deleted.
// - After a write or sync error the log is broken: every later append fails (the caller answers a
//   retryable error) until the process restarts. Nothing is acknowledged that is not on disk.

import { randomUUID } from 'node:crypto';
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  truncate,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Clock } from '../../kernel/clock.ts';
import { GenOpsError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';

export interface WalMetrics {
  /** One group commit: entries and bytes in it, seconds from write to durable. */
  batchSynced(entries: number, bytes: number, seconds: number): void;
  /** Bytes in all segments now. */
  sizeBytes(bytes: number): void;
  /** A write or sync failed; the log refuses appends from now on. */
  failed(): void;
}

export const noopWalMetrics: WalMetrics = {
  batchSynced: () => undefined,
  sizeBytes: () => undefined,
  failed: () => undefined,
};

export interface WalOptions {
  readonly dir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** A new segment is started beyond this size; default 8 MiB. */
  readonly segmentBytes?: number;
  /** Checkpointed segments are kept this long (dedupe keys survive a restart); default 10 min. */
  readonly retainMs?: number;
  /** Checkpointed segments are deleted early beyond this total; default 256 MiB. */
  readonly maxBytes?: number;
  /**
   * Appends are refused (retryable) while the log holds more than this, e.g. when usage records
   * cannot be written for a long time (API server away); default 1 GiB. Keeps the volume from filling.
   */
  readonly limitBytes?: number;
  readonly metrics?: WalMetrics;
}

export interface ReplayStats {
  readonly entries: number;
  readonly segments: number;
  /** Bytes cut off a torn or corrupt tail. */
  readonly truncatedBytes: number;
  readonly lastSeq: number;
}

export interface Appended {
  readonly seq: number;
  /** Resolves when the entry is on disk; rejects with a retryable GenOpsError when it cannot be. */
  readonly durable: Promise<void>;
}

export interface WriteAheadLog {
  /** Identity of this log (stable across restarts of the process, new when the directory is new). */
  readonly id: string;
  /** Visits every intact entry in order. Call once, before the first append. */
  replay(visit: (seq: number, payload: Buffer) => void): Promise<ReplayStats>;
  append(payload: Uint8Array): Appended;
  /** Highest seq handed out. */
  lastSeq(): number;
  /** False once a write, sync or rotation failed: appends are refused until restart. */
  healthy(): boolean;
  /** Resolves when every entry appended so far is durable. */
  sync(): Promise<void>;
  /** Entries up to `seq` are in a persisted usage record: their segments may go once retained long enough. */
  checkpoint(seq: number): Promise<void>;
  close(): Promise<void>;
}

const HEADER = 16;
const SEGMENT = /^wal-(\d{16})\.log$/;
const MAX_ENTRY = 64 * 1024 * 1024;

const segmentName = (firstSeq: number): string => `wal-${String(firstSeq).padStart(16, '0')}.log`;

function frame(seq: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeBigUInt64LE(BigInt(seq), 8);
  Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).copy(out, HEADER);
  out.writeUInt32LE(crc32(out.subarray(8)), 4);
  return out;
}

interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  lastSeq: number;
  bytes: number;
  /** Clock time of its last write (for segments found at start: the start, to be safe). */
  writtenAt: number;
}

interface Waiter {
  readonly seq: number;
  resolve(): void;
  reject(err: unknown): void;
}

export async function openWal(options: WalOptions): Promise<WriteAheadLog> {
  const { dir, clock } = options;
  const log = options.logger.child({ component: 'wal' });
  const metrics = options.metrics ?? noopWalMetrics;
  const segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
  const retainMs = options.retainMs ?? 10 * 60_000;
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const limitBytes = options.limitBytes ?? 1024 * 1024 * 1024;
  let pendingBytes = 0;
  await mkdir(dir, { recursive: true });
  const id = await loadOrCreateId(dir);

  const segments: Segment[] = [];
  let current: { segment: Segment; fh: FileHandle } | undefined;
  let last = 0;
  let durableSeq = 0;
  let replayed = false;
  let broken: GenOpsError | undefined;
  let pending: Buffer[] = [];
  let pendingWaiters: Waiter[] = [];
  let flushing: Promise<void> | undefined;
  let checkpointed = 0;
  let closed = false;

  for (const f of (await readdir(dir)).sort()) {
    const m = SEGMENT.exec(f);
    if (m === null) continue;
    const firstSeq = Number(m[1]);
    segments.push({ firstSeq, path: join(dir, f), lastSeq: firstSeq - 1, bytes: 0, writtenAt: clock.now() });
    last = Math.max(last, firstSeq - 1);
  }

  const totalBytes = (): number => segments.reduce((n, s) => n + s.bytes, 0);

  async function openSegment(firstSeq: number): Promise<void> {
    const segment: Segment = {
      firstSeq,
      path: join(dir, segmentName(firstSeq)),
      lastSeq: firstSeq - 1,
      bytes: 0,
      writtenAt: clock.now(),
    };
    const fh = await open(segment.path, 'a');
    // The new file's directory entry must survive a crash too.
    await syncDir(dir);
    segments.push(segment);
    current = { segment, fh };
  }

  async function flushLoop(): Promise<void> {
    while (pending.length > 0 && broken === undefined) {
      const bufs = pending;
      const waiters = pendingWaiters;
      pending = [];
      pendingWaiters = [];
      const started = performance.now();
      let bytes = 0;
      for (const b of bufs) bytes += b.length;
      pendingBytes -= bytes;
      try {
        const cur = current!;
        await cur.fh.writev(bufs);
        await cur.fh.datasync();
        cur.segment.bytes += bytes;
        cur.segment.writtenAt = clock.now();
        cur.segment.lastSeq = waiters[waiters.length - 1]!.seq;
        durableSeq = cur.segment.lastSeq;
        metrics.batchSynced(waiters.length, bytes, (performance.now() - started) / 1000);
        for (const w of waiters) w.resolve();
        if (cur.segment.bytes >= segmentBytes) {
          await cur.fh.close();
          await openSegment(durableSeq + 1);
        }
      } catch (err) {
        broken = new GenOpsError('retryable', 'WAL_WRITE_FAILED', 'usage log write failed; retry later', {
          cause: err,
          retryAfterSeconds: 5,
        });
        metrics.failed();
        log.error('write-ahead log write failed; refusing spans until restart', { err });
        for (const w of waiters) w.reject(broken);
      }
    }
    if (broken !== undefined) {
      for (const w of pendingWaiters) w.reject(broken);
      pendingBytes = 0;
      pending = [];
      pendingWaiters = [];
    }
  }

  function kick(): void {
    flushing ??= flushLoop().finally(() => {
      flushing = undefined;
      if (pending.length > 0) kick();
    });
  }

  async function prune(): Promise<void> {
    const now = clock.now();
    let total = totalBytes();
    for (const s of [...segments]) {
      if (s === current?.segment) break;
      if (s.lastSeq > checkpointed) break;
      if (total <= maxBytes && now - s.writtenAt <= retainMs) break;
      await unlink(s.path).catch((err: unknown) => log.warn('could not delete a WAL segment', { err }));
      segments.splice(segments.indexOf(s), 1);
      total -= s.bytes;
    }
    metrics.sizeBytes(total);
  }

  return {
    id,
    async replay(visit) {
      if (replayed) throw new Error('wal: replay called twice');
      replayed = true;
      let entries = 0;
      let truncatedBytes = 0;
      let prev = 0;
      for (let i = 0; i < segments.length; i++) {
        const s = segments[i]!;
        const data = await readFile(s.path);
        let o = 0;
        while (o + HEADER <= data.length) {
          const len = data.readUInt32LE(o);
          if (len > MAX_ENTRY || o + HEADER + len > data.length) break;
          const crc = data.readUInt32LE(o + 4);
          if (crc32(data.subarray(o + 8, o + HEADER + len)) !== crc) break;
          const seq = Number(data.readBigUInt64LE(o + 8));
          // Sequence numbers only grow: anything else is not ours.
          if (seq <= prev) break;
          visit(seq, data.subarray(o + HEADER, o + HEADER + len));
          entries++;
          prev = seq;
          last = Math.max(last, seq);
          s.lastSeq = seq;
          o += HEADER + len;
        }
        s.bytes = o;
        if (o < data.length) {
          truncatedBytes += data.length - o;
          if (i < segments.length - 1) {
            // Only the last segment can be torn by a crash; a bad record earlier is damage.
            log.error('write-ahead log segment damaged; entries after the damage are lost', {
              segment: s.path,
              at: o,
            });
          } else {
            log.warn('torn write-ahead log tail cut off', { segment: s.path, bytes: data.length - o });
          }
          await truncate(s.path, o);
        }
      }
      durableSeq = last;
      await openSegment(last + 1);
      metrics.sizeBytes(totalBytes());
      return { entries, segments: segments.length - 1, truncatedBytes, lastSeq: last };
    },
    append(payload) {
      if (!replayed || closed) throw new Error('wal: append before replay or after close');
      if (broken !== undefined) return { seq: last, durable: Promise.reject(broken) };
      if (totalBytes() + pendingBytes + payload.length > limitBytes) {
        const full = new GenOpsError('retryable', 'WAL_FULL', 'usage log full; retry later', {
          retryAfterSeconds: 5,
        });
        return { seq: last, durable: Promise.reject(full) };
      }
      const seq = ++last;
      const framed = frame(seq, payload);
      pendingBytes += framed.length;
      pending.push(framed);
      const durable = new Promise<void>((resolve, reject) => pendingWaiters.push({ seq, resolve, reject }));
      kick();
      return { seq, durable };
    },
    lastSeq: () => last,
    healthy: () => broken === undefined,
    async sync() {
      // (A function: the flush loop sets `broken` while this awaits.)
      const failIfBroken = (): void => {
        if (broken !== undefined) throw broken;
      };
      failIfBroken();
      const target = last;
      while (durableSeq < target) {
        failIfBroken();
        if (flushing === undefined) {
          if (pending.length === 0) break;
          kick();
        }
        await flushing;
      }
      failIfBroken();
    },
    async checkpoint(seq) {
      checkpointed = Math.max(checkpointed, Math.min(seq, durableSeq));
      // A rotation in progress must finish first: the segment list is then stable.
      await flushing;
      await prune();
    },
    async close() {
      if (closed) return;
      closed = true;
      await flushing;
      await current?.fh.close();
      current = undefined;
    },
  };
}

async function loadOrCreateId(dir: string): Promise<string> {
  const path = join(dir, 'wal-id');
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch {
    // No id yet: a new log.
  }
  const id = randomUUID();
  const tmp = `${path}.tmp`;
  await writeFile(tmp, `${id}\n`, { flush: true });
  await rename(tmp, path);
  await syncDir(dir);
  return id;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
