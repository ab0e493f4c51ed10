import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import type { PeriodKind } from '../../pipeline/snapshot.ts';
import type { SpendState } from '../../pipeline/windows/windows.ts';
import { createPeriodCalendar, PERIOD_KINDS } from '../../decision/period.ts';
import { decodeRecord, type UsageRecord } from './usage-record.ts';
import {
  chooseShardSet,
  combineShards,
  hashKey,
  shardCountFor,
  shardName,
  shardOf,
  splitRecord,
} from './usage-shards.ts';

const calendar = createPeriodCalendar('UTC');
const NOW = Date.parse('2031-03-15T12:00:00Z');

function periodsAt(at: number): Record<PeriodKind, { start: number; end: number }> {
  const out = {} as Record<PeriodKind, { start: number; end: number }>;
  for (const k of PERIOD_KINDS) out[k] = calendar.bounds(k, at);
  return out;
}

function spendState(n: number, at = NOW): SpendState {
  const workloads: SpendState['workloads'][number][] = [];
  for (let i = 0; i < n; i++) {
    const s = { costMicros: 1000 + i, requests: 1 + (i % 3) };
    workloads.push({
      ref: { namespace: `ns-${i % 7}`, kind: 'Deployment', name: `w-${i}` },
      labels: { team: `t${i % 5}` },
      spend: { daily: s, weekly: s, monthly: s, quarterly: s, yearly: s },
    });
  }
  return { takenAt: at, timeZone: 'UTC', periods: periodsAt(at), workloads };
}

function record(spend: SpendState, index: number, count: number, writtenAt = NOW, seq = 10): UsageRecord {
  return {
    version: 2,
    replicaId: 'r',
    writtenAt,
    spend,
    extras: [],
    wal: { id: 'w', seq },
    ...(count > 1 ? { shard: { index, count } } : {}),
  };
}

describe('usage record shards', () => {
  it('assigns a workload to the same shard every time, and spreads workloads evenly', () => {
    const ref = { namespace: 'team-a', kind: 'Deployment', name: 'chat' };
    // Fixed value: the assignment is part of the persisted format (a change would move workloads).
    expect(hashKey('team-a/Deployment/chat')).toBe(hashKey('team-a/Deployment/chat'));
    expect(hashKey('a')).toBe(0xe40c292c);
    expect(shardOf(ref, 1)).toBe(0);
    expect(shardOf(ref, 8)).toBe(hashKey('team-a/Deployment/chat') % 8);
    const parts = splitRecord(spendState(8000), [], 8);
    const sizes = parts.map((p) => p.spend.workloads.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(8000);
    for (const s of sizes) expect(s).toBeGreaterThan(800);
    // Doubling the count splits each shard in two: nothing moves between unrelated shards.
    for (const [i, p] of parts.entries())
      for (const w of p.spend.workloads) expect(shardOf(w.ref, 16) % 8).toBe(i);
    expect(shardCountFor(0)).toBe(1);
    expect(shardCountFor(3)).toBe(4);
    expect(shardCountFor(1e9)).toBe(256);
    expect(shardName('genops-usage-a', 0, 1)).toBe('genops-usage-a');
    expect(shardName('genops-usage-a', 3, 8)).toBe('genops-usage-a-8-3');
  });

  it('reads the complete set with the largest count, never two sets, never an incomplete one', () => {
    const s = spendState(100);
    const four = splitRecord(s, [], 4).map((p, i) => ({ record: record(p.spend, i, 4) }));
    const eight = splitRecord(s, [], 8).map((p, i) => ({ record: record(p.spend, i, 8) }));
    const single = { record: record(s, 0, 1) };
    // Resharding 4 -> 8 interrupted after three shards: the 4-set is read.
    const mid = chooseShardSet([...four, ...eight.slice(0, 3), single]);
    expect(mid?.map((x) => x.record.shard?.count)).toEqual([4, 4, 4, 4]);
    // All 8 written, the 4 not yet deleted: the 8-set, and no workload twice.
    const done = chooseShardSet([...four, ...eight])!;
    expect(done).toHaveLength(8);
    const combined = combineShards(done.map((x) => x.record));
    expect(combined.spend.workloads).toHaveLength(100);
    expect(new Set(combined.spend.workloads.map((w) => w.ref.name)).size).toBe(100);
    // A set missing a shard is not read at all.
    expect(chooseShardSet(four.slice(1))).toBeUndefined();
    // Version 1 records (no shard field) are one shard of one.
    expect(chooseShardSet([single])).toEqual([single]);
  });

  it('combines shards under the periods of the latest one: a period another shard still has is over', () => {
    const lastMonth = Date.parse('2031-02-27T12:00:00Z');
    const old = spendState(10, lastMonth);
    const cur = spendState(10);
    const parts = [
      record(splitRecord(old, [], 2)[0]!.spend, 0, 2, lastMonth),
      record(splitRecord(cur, [], 2)[1]!.spend, 1, 2, NOW),
    ];
    const combined = combineShards(parts);
    expect(combined.spend.periods.monthly.start).toBe(calendar.bounds('monthly', NOW).start);
    const fromOld = combined.spend.workloads.filter((w) => shardOf(w.ref, 2) === 0);
    expect(fromOld.length).toBeGreaterThan(0);
    for (const w of fromOld) {
      // February's month, week and day are over in March; the quarter and the year are not.
      expect(w.spend.monthly).toBeUndefined();
      expect(w.spend.daily).toBeUndefined();
      expect(w.spend.quarterly?.costMicros).toBeGreaterThan(0);
      expect(w.spend.yearly?.costMicros).toBeGreaterThan(0);
    }
    expect(combined.wal).toBeUndefined();
    expect(combined.shard).toBeUndefined();
  });

  it('keeps reading format version 1 and refuses a shard outside its count', () => {
    const v1 = { ...record(spendState(2), 0, 1), version: 1 };
    expect(decodeRecord(gzipSync(JSON.stringify(v1)))?.spend.workloads).toHaveLength(2);
    const bad = { ...record(spendState(2), 0, 1), shard: { index: 4, count: 4 } };
    expect(decodeRecord(gzipSync(JSON.stringify(bad)))).toBeUndefined();
    expect(decodeRecord(gzipSync(JSON.stringify({ ...v1, version: 3 })))).toBeUndefined();
  });
});
