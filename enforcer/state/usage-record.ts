// Owns the per-replica usage record and how records combine. Every replica persists what it charged
// in the current periods (its windows' export, plus the snapshot-only figures: model breakdown,
// sliding request counts, per-day maxima, safety, classifications); a replica's snapshot for
// decisions = its own live windows + every other replica's record, each counted once. Pure.
//
// Rules:
// - Period spend of a record counts only for the periods still current (same start as now's period).
// - Sliding request counts of another replica count only while its record is fresh (written within
//   the window), so a dead replica's last minute fades out instead of lingering.
// - The records of dead replicas keep counting until their periods end: their spend was real.

import { promisify } from 'node:util';
import { gunzipSync, gzip, gzipSync } from 'node:zlib';
import type { Micros } from '../../kernel/money.ts';
import type {
  ModelUsage,
  PeriodKind,
  PeriodSpend,
  UsageSnapshot,
  WorkloadRef,
  WorkloadUsage,
} from '../../pipeline/snapshot.ts';
import { workloadKey } from '../../pipeline/snapshot.ts';
import type { SpendState } from '../../pipeline/windows/windows.ts';
import type { PeriodCalendar } from '../../decision/period.ts';
import { PERIOD_KINDS } from '../../decision/period.ts';

/** Version 2: a record may be one shard of several (`shard`). Version 1 records are still read. */
export const USAGE_RECORD_VERSION = 2;
const READABLE_VERSIONS: ReadonlySet<unknown> = new Set([1, 2]);

/** What a snapshot knows beyond period spend, per workload. */
export interface WorkloadExtras {
  readonly ref: WorkloadRef;
  readonly labels: Readonly<Record<string, string>>;
  readonly requestsLastMinute: number;
  readonly requestsLastHour: number;
  /** Day start these per-day figures belong to. */
  readonly dayStart: number;
  readonly maxRequestCostMicrosToday: Micros;
  readonly safety: WorkloadUsage['safety'];
  readonly classifications: readonly string[];
  /** Month start the models belong to. */
  readonly monthStart: number;
  readonly models: readonly ModelUsage[];
  readonly lastSeen: number;
}

export interface UsageRecord {
  readonly version: number;
  readonly replicaId: string;
  readonly writtenAt: number;
  /** The replica's windows export: restored by the same replica after a restart. */
  readonly spend: SpendState;
  readonly extras: readonly WorkloadExtras[];
  /**
   * The replica's write-ahead log and its last entry this record holds: at restart, entries up to
   * `seq` of that log only give back dedupe keys, later ones are charged. Absent without a log.
   */
  readonly wal?: { readonly id: string; readonly seq: number };
  /** This record is shard `index` of `count` of the replica's usage (usage-shards.ts); absent: 0 of 1. */
  readonly shard?: { readonly index: number; readonly count: number };
}

export function extrasOf(snapshot: UsageSnapshot): WorkloadExtras[] {
  const out: WorkloadExtras[] = [];
  for (const w of snapshot.workloads.values()) {
    out.push({
      ref: w.ref,
      labels: w.labels,
      requestsLastMinute: w.requestsLastMinute,
      requestsLastHour: w.requestsLastHour,
      dayStart: w.spend.daily.start,
      maxRequestCostMicrosToday: w.maxRequestCostMicrosToday,
      safety: w.safety,
      classifications: w.classifications,
      monthStart: w.spend.monthly.start,
      models: w.models,
      lastSeen: w.lastSeen,
    });
  }
  return out;
}

export function encodeRecord(record: UsageRecord): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(record)));
}

const gzipAsync = promisify(gzip);

/** As encodeRecord, compressing on the libuv thread pool so the event loop stays free. */
export async function encodeRecordAsync(record: UsageRecord): Promise<Buffer> {
  return await gzipAsync(Buffer.from(JSON.stringify(record)));
}

/** Decodes a record; undefined when it is not one we understand (another version, corrupt). */
export function decodeRecord(data: Buffer): UsageRecord | undefined {
  try {
    const r = JSON.parse(gunzipSync(data).toString('utf8')) as Partial<UsageRecord>;
    if (!READABLE_VERSIONS.has(r.version) || typeof r.replicaId !== 'string' || r.spend === undefined)
      return undefined;
    if (!Array.isArray(r.spend.workloads) || !Array.isArray(r.extras)) return undefined;
    if (r.shard !== undefined) {
      const { index, count } = r.shard;
      if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || index >= count)
        return undefined;
    }
    return r as UsageRecord;
  } catch {
    return undefined;
  }
}

/** True when no period of the record is current any more: it can be deleted. */
export function recordExpired(record: UsageRecord, now: number): boolean {
  return PERIOD_KINDS.every((k) => (record.spend.periods[k]?.end ?? 0) <= now);
}

export interface MergeOptions {
  readonly calendar: PeriodCalendar;
  readonly now: number;
  /** Version of the merged snapshot. */
  readonly version: number;
}

interface Acc {
  ref: WorkloadRef;
  key: string;
  labels: Readonly<Record<string, string>>;
  spend: Record<PeriodKind, { start: number; end: number; costMicros: number; requests: number }>;
  requestsLastMinute: number;
  requestsLastHour: number;
  maxRequestCostMicrosToday: number;
  models: Map<string, ModelUsage>;
  safety: { min: number; sum: number; count: number } | undefined;
  classifications: Set<string>;
  lastSeen: number;
}

/**
 * The local snapshot plus other replicas' records (never this replica's own: its live windows
 * already hold it). Unchanged local workloads keep their identity when no record touches them.
 */
export function mergeUsage(
  local: UsageSnapshot,
  others: readonly UsageRecord[],
  options: MergeOptions,
): UsageSnapshot {
  if (others.length === 0) return local;
  const { calendar, now } = options;
  const bounds = {} as Record<PeriodKind, { start: number; end: number }>;
  for (const k of PERIOD_KINDS) bounds[k] = calendar.bounds(k, now);
  const accs = new Map<string, Acc>();

  const accFor = (ref: WorkloadRef, labels: Readonly<Record<string, string>>): Acc => {
    const key = workloadKey(ref);
    let a = accs.get(key);
    if (a === undefined) {
      const lw = local.workloads.get(key);
      a = lw === undefined ? emptyAcc(ref, key, labels, bounds) : accFromLocal(lw, bounds);
      accs.set(key, a);
    }
    return a;
  };

  for (const r of others) {
    for (const w of r.spend.workloads) {
      const a = accFor(w.ref, w.labels);
      for (const k of PERIOD_KINDS) {
        const v = w.spend[k];
        if (v === undefined || r.spend.periods[k]?.start !== bounds[k].start) continue;
        a.spend[k].costMicros += v.costMicros;
        a.spend[k].requests += v.requests;
      }
    }
    const age = now - r.writtenAt;
    for (const x of r.extras) {
      const a = accFor(x.ref, x.labels);
      if (age < 60_000) a.requestsLastMinute += x.requestsLastMinute;
      if (age < 3_600_000) a.requestsLastHour += x.requestsLastHour;
      if (x.dayStart === bounds.daily.start) {
        a.maxRequestCostMicrosToday = Math.max(a.maxRequestCostMicrosToday, x.maxRequestCostMicrosToday);
        if (x.safety !== undefined && x.safety.count > 0) {
          a.safety = addSafety(a.safety, x.safety.min, x.safety.mean * x.safety.count, x.safety.count);
        }
        for (const c of x.classifications) a.classifications.add(c);
      }
      if (x.monthStart === bounds.monthly.start) {
        for (const m of x.models) addModel(a.models, m);
      }
      a.lastSeen = Math.max(a.lastSeen, x.lastSeen);
    }
  }

  const workloads = new Map<string, WorkloadUsage>(local.workloads);
  for (const [key, a] of accs) workloads.set(key, freeze(a));
  return { version: options.version, takenAt: Math.max(local.takenAt, now), workloads };
}

function emptyAcc(
  ref: WorkloadRef,
  key: string,
  labels: Readonly<Record<string, string>>,
  bounds: Record<PeriodKind, { start: number; end: number }>,
): Acc {
  const spend = {} as Acc['spend'];
  for (const k of PERIOD_KINDS) spend[k] = { ...bounds[k], costMicros: 0, requests: 0 };
  return {
    ref,
    key,
    labels,
    spend,
    requestsLastMinute: 0,
    requestsLastHour: 0,
    maxRequestCostMicrosToday: 0,
    models: new Map(),
    safety: undefined,
    classifications: new Set(),
    lastSeen: 0,
  };
}

function accFromLocal(w: WorkloadUsage, bounds: Record<PeriodKind, { start: number; end: number }>): Acc {
  const a = emptyAcc(w.ref, w.key, w.labels, bounds);
  for (const k of PERIOD_KINDS) {
    const s: PeriodSpend = w.spend[k];
    // A local period not yet rolled over counts as zero in the current one.
    if (s.start === bounds[k].start) {
      a.spend[k].costMicros = s.costMicros;
      a.spend[k].requests = s.requests;
    }
  }
  a.requestsLastMinute = w.requestsLastMinute;
  a.requestsLastHour = w.requestsLastHour;
  const today = w.spend.daily.start === bounds.daily.start;
  if (today) {
    a.maxRequestCostMicrosToday = w.maxRequestCostMicrosToday;
    if (w.safety !== undefined && w.safety.count > 0)
      a.safety = addSafety(undefined, w.safety.min, w.safety.mean * w.safety.count, w.safety.count);
    for (const c of w.classifications) a.classifications.add(c);
  }
  if (w.spend.monthly.start === bounds.monthly.start) for (const m of w.models) addModel(a.models, m);
  a.lastSeen = w.lastSeen;
  return a;
}

function addSafety(s: Acc['safety'], min: number, sum: number, count: number): NonNullable<Acc['safety']> {
  if (s === undefined) return { min, sum, count };
  return { min: Math.min(s.min, min), sum: s.sum + sum, count: s.count + count };
}

function addModel(models: Map<string, ModelUsage>, m: ModelUsage): void {
  const key = `${m.provider}\u0000${m.model}`;
  const cur = models.get(key);
  if (cur === undefined) {
    models.set(key, { ...m });
    return;
  }
  models.set(key, {
    provider: m.provider,
    model: m.model,
    costMicros: cur.costMicros + m.costMicros,
    requests: cur.requests + m.requests,
    inputTokens: cur.inputTokens + m.inputTokens,
    outputTokens: cur.outputTokens + m.outputTokens,
    cacheReadTokens: cur.cacheReadTokens + m.cacheReadTokens,
    cacheWriteTokens: cur.cacheWriteTokens + m.cacheWriteTokens,
    reasoningTokens: cur.reasoningTokens + m.reasoningTokens,
    unpriced: cur.unpriced || m.unpriced,
    ...(cur.requestsWithoutUsage || m.requestsWithoutUsage
      ? { requestsWithoutUsage: (cur.requestsWithoutUsage ?? 0) + (m.requestsWithoutUsage ?? 0) }
      : {}),
  });
}

function freeze(a: Acc): WorkloadUsage {
  return {
    ref: a.ref,
    key: a.key,
    labels: a.labels,
    spend: a.spend,
    requestsLastMinute: a.requestsLastMinute,
    requestsLastHour: a.requestsLastHour,
    maxRequestCostMicrosToday: a.maxRequestCostMicrosToday,
    models: [...a.models.values()],
    safety:
      a.safety === undefined
        ? undefined
        : { min: a.safety.min, mean: a.safety.sum / a.safety.count, count: a.safety.count },
    classifications: [...a.classifications].sort(),
    lastSeen: a.lastSeen,
  };
}
