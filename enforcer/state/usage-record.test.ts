import { describe, expect, it } from 'vitest';
import type { PeriodKind, UsageSnapshot, WorkloadUsage } from '../../pipeline/snapshot.ts';
import type { SpendState } from '../../pipeline/windows/windows.ts';
import { createPeriodCalendar, PERIOD_KINDS } from '../../decision/period.ts';
import {
  decodeRecord,
  encodeRecord,
  extrasOf,
  mergeUsage,
  recordExpired,
  type UsageRecord,
} from './usage-record.ts';

const calendar = createPeriodCalendar('UTC');
const NOW = Date.parse('2025-03-15T12:00:00Z');
const ref = { namespace: 'team-a', kind: 'Deployment', name: 'chat' };
const key = 'team-a/Deployment/chat';

function periodsAt(at: number): Record<PeriodKind, { start: number; end: number }> {
  const out = {} as Record<PeriodKind, { start: number; end: number }>;
  for (const k of PERIOD_KINDS) out[k] = calendar.bounds(k, at);
  return out;
}

function usage(costMicros: number, requests: number, at = NOW): WorkloadUsage {
  const p = periodsAt(at);
  const spend = {} as Record<
    PeriodKind,
    { start: number; end: number; costMicros: number; requests: number }
  >;
  for (const k of PERIOD_KINDS) spend[k] = { ...p[k], costMicros, requests };
  return {
    ref,
    key,
    labels: { team: 'a' },
    spend,
    requestsLastMinute: 3,
    requestsLastHour: 30,
    maxRequestCostMicrosToday: 1000,
    models: [
      {
        provider: 'openai',
        model: 'gpt-4o',
        costMicros,
        requests,
        inputTokens: 10,
        outputTokens: 20,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        unpriced: false,
      },
    ],
    safety: { min: 0.9, mean: 0.95, count: 2 },
    classifications: ['internal'],
    lastSeen: at,
  };
}

function snapshot(workloads: WorkloadUsage[], version = 1): UsageSnapshot {
  return { version, takenAt: NOW, workloads: new Map(workloads.map((w) => [w.key, w])) };
}

function record(
  replicaId: string,
  costMicros: number,
  requests: number,
  at = NOW,
  writtenAt = at,
): UsageRecord {
  const u = usage(costMicros, requests, at);
  const spendState: SpendState = {
    takenAt: at,
    timeZone: 'UTC',
    periods: periodsAt(at),
    workloads: [
      {
        ref,
        labels: u.labels,
        spend: Object.fromEntries(PERIOD_KINDS.map((k) => [k, { costMicros, requests }])),
      },
    ],
  };
  return { version: 1, replicaId, writtenAt, spend: spendState, extras: extrasOf(snapshot([u])) };
}

describe('usage records', () => {
  it('sums other replicas into the local snapshot exactly once', () => {
    const local = snapshot([usage(1_000_000, 10)]);
    const merged = mergeUsage(local, [record('b', 2_500_000, 5), record('c', 500_001, 1)], {
      calendar,
      now: NOW,
      version: 7,
    });
    const w = merged.workloads.get(key)!;
    expect(merged.version).toBe(7);
    expect(w.spend.monthly.costMicros).toBe(4_000_001);
    expect(w.spend.monthly.requests).toBe(16);
    expect(w.spend.daily.costMicros).toBe(4_000_001);
    expect(w.requestsLastMinute).toBe(9);
    expect(w.models).toHaveLength(1);
    expect(w.models[0]!.costMicros).toBe(4_000_001);
    expect(w.safety!.count).toBe(6);
    expect(w.safety!.min).toBe(0.9);
    // The local snapshot is not modified.
    expect(local.workloads.get(key)!.spend.monthly.costMicros).toBe(1_000_000);
  });

  it('adds workloads only other replicas have seen', () => {
    const merged = mergeUsage(snapshot([]), [record('b', 7, 1)], { calendar, now: NOW, version: 2 });
    expect(merged.workloads.get(key)!.spend.weekly.costMicros).toBe(7);
  });

  it('ignores the periods of a record that have ended', () => {
    // Written yesterday: same month, but another day.
    const yesterday = NOW - 86_400_000;
    const merged = mergeUsage(snapshot([usage(1, 1)]), [record('b', 100, 2, yesterday)], {
      calendar,
      now: NOW,
      version: 2,
    });
    const w = merged.workloads.get(key)!;
    expect(w.spend.daily.costMicros).toBe(1);
    expect(w.spend.monthly.costMicros).toBe(101);
    // Sliding counts of a stale record fade out.
    expect(w.requestsLastMinute).toBe(3);
    expect(w.requestsLastHour).toBe(30);
    expect(w.maxRequestCostMicrosToday).toBe(1000);
  });

  it('round-trips through the ConfigMap encoding and knows when a record expired', () => {
    const r = record('b', 42, 1);
    const back = decodeRecord(encodeRecord(r));
    expect(back).toEqual(r);
    expect(decodeRecord(Buffer.from('not gzip'))).toBeUndefined();
    expect(recordExpired(r, NOW)).toBe(false);
    expect(recordExpired(r, Date.parse('2026-01-01T00:00:00Z'))).toBe(true);
  });

  it('returns the local snapshot itself when there is nothing to merge', () => {
    const local = snapshot([usage(1, 1)]);
    expect(mergeUsage(local, [], { calendar, now: NOW, version: 9 })).toBe(local);
  });
});
