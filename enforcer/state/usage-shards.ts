// Owns how one replica's usage record is cut into shards (ConfigMaps hold at most 1 MiB, about 20k
// workloads): which shard a workload belongs to, what each shard ConfigMap is called, which set of
// shards of a replica is the one to read, and how a set becomes one record again. Pure.
//
// Rules:
// - A workload's shard is a hash of its key modulo the shard count (a power of two), so it stays in the
//   same shard while the count stays; the count only grows while a replica runs.
// - A set of `count` shards is complete when every index 0..count-1 is there. The complete set with the
//   largest count is read; a bigger set being written (or a smaller one not yet deleted) is ignored, so
//   a crash while resharding never counts a workload twice.
// - Every shard states its own log position: it holds its workloads' charges up to that position.

import type { WorkloadRef } from '../../pipeline/snapshot.ts';
import { workloadKey } from '../../pipeline/snapshot.ts';
import type { SpendState } from '../../pipeline/windows/windows.ts';
import { PERIOD_KINDS } from '../../decision/period.ts';
import type { UsageRecord, WorkloadExtras } from './usage-record.ts';

/** Upper bound of shards per replica (256 x ~20k workloads is far beyond the windows' 100k cap). */
export const MAX_SHARDS = 256;

/** FNV-1a, 32 bits: stable across processes and versions (a shard's content depends on it). */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function shardOf(ref: WorkloadRef, count: number): number {
  return count <= 1 ? 0 : hashKey(workloadKey(ref)) % count;
}

/** The smallest power of two >= n, within [1, MAX_SHARDS]. */
export function shardCountFor(n: number): number {
  let c = 1;
  while (c < n && c < MAX_SHARDS) c *= 2;
  return c;
}

/** `base` (the replica's record name) for one shard; a single shard keeps the unsharded name. */
export function shardName(base: string, index: number, count: number): string {
  if (count <= 1) return base;
  return `${base.slice(0, 240)}-${count}-${index}`;
}

/** One replica's record content cut into `count` shards (same periods, workloads split by shard). */
export function splitRecord(
  spend: SpendState,
  extras: readonly WorkloadExtras[],
  count: number,
): { spend: SpendState; extras: WorkloadExtras[] }[] {
  const out: { spend: SpendState; extras: WorkloadExtras[] }[] = [];
  const workloads: SpendState['workloads'][number][][] = [];
  for (let i = 0; i < count; i++) {
    workloads.push([]);
    out.push({ spend: spend, extras: [] });
  }
  for (const w of spend.workloads) workloads[shardOf(w.ref, count)]!.push(w);
  for (const x of extras) out[shardOf(x.ref, count)]!.extras.push(x);
  for (let i = 0; i < count; i++)
    out[i] = { spend: { ...spend, workloads: workloads[i]! }, extras: out[i]!.extras };
  return out;
}

/** Index and count of a record: records of format version 1 are one shard of one. */
export function shardPosition(record: UsageRecord): { index: number; count: number } {
  return record.shard ?? { index: 0, count: 1 };
}

/**
 * The shards to read of one replica's records: the complete set with the largest count, in index
 * order; undefined when no set is complete.
 */
export function chooseShardSet<T extends { record: UsageRecord }>(items: readonly T[]): T[] | undefined {
  const byCount = new Map<number, Map<number, T>>();
  for (const it of items) {
    const { index, count } = shardPosition(it.record);
    if (!(count >= 1 && index >= 0 && index < count)) continue;
    let set = byCount.get(count);
    if (set === undefined) byCount.set(count, (set = new Map<number, T>()));
    const had = set.get(index);
    // Two ConfigMaps claiming the same shard (should not happen): the later write wins.
    if (had === undefined || had.record.writtenAt < it.record.writtenAt) set.set(index, it);
  }
  const counts = [...byCount.keys()].sort((a, b) => b - a);
  for (const count of counts) {
    const set = byCount.get(count)!;
    if (set.size !== count) continue;
    const out: T[] = [];
    for (let i = 0; i < count; i++) out.push(set.get(i)!);
    return out;
  }
  return undefined;
}

/**
 * The shards of one set as one record: spend of every shard under the periods of the most recent
 * shard (a period that shard no longer has is over, so other shards' figures for it are dropped), the
 * extras of all shards.
 */
export function combineShards(shards: readonly UsageRecord[]): UsageRecord {
  if (shards.length === 1) return shards[0]!;
  let latest = shards[0]!;
  for (const s of shards) if (s.writtenAt > latest.writtenAt) latest = s;
  const periods = latest.spend.periods;
  const workloads: SpendState['workloads'][number][] = [];
  const extras: WorkloadExtras[] = [];
  for (const s of shards) {
    const current = PERIOD_KINDS.filter((k) => s.spend.periods[k]?.start === periods[k]?.start);
    for (const w of s.spend.workloads) {
      if (current.length === PERIOD_KINDS.length) {
        workloads.push(w);
        continue;
      }
      const spend: Record<string, { costMicros: number; requests: number }> = {};
      for (const k of current) {
        const v = w.spend[k];
        if (v !== undefined) spend[k] = v;
      }
      workloads.push({ ...w, spend });
    }
    extras.push(...s.extras);
  }
  // The log position is per shard (see the store's checkpoint); the combined record states none.
  const { shard: _shard, wal: _wal, ...rest } = latest;
  void _shard;
  void _wal;
  return { ...rest, spend: { ...latest.spend, workloads }, extras };
}
