// Owns the usage windows: the single writer (main thread) that applies the workers' partial
// aggregates to per-workload state (period spend, sliding request counts, per-day maxima,
// per-model breakdown, safety, classifications), drops retried duplicates, and publishes an
// immutable versioned UsageSnapshot, coalesced so readers see new data within ~publishIntervalMs.
//
// Rules worth knowing:
// - Spend is charged to the period in which the request was received (not the span's own time):
//   robust against skewed client clocks and replays of old data.
// - Sliding windows are bucketed: last minute = 12 x 5 s buckets, last hour = 60 x 1 min buckets
//   (the oldest bucket may be partly outside the window).
// - A workload's period spend = restored baseline (from the persisted state) + what this process saw.

import type { Clock } from '../../kernel/clock.ts';
import { systemClock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { Micros } from '../../kernel/money.ts';
import type { Attribution } from '../attribution/types.ts';
import type { Attributor } from '../attribution/attributor.ts';
import { attributionFromAttributes } from '../attribution/attributor.ts';
import type { IngestMetrics } from '../ingest-metrics.ts';
import { noopIngestMetrics } from '../ingest-metrics.ts';
import type { PartialAggregate } from '../partial.ts';
import { SPAN_RECORD_WIDTH } from '../partial.ts';
import type {
  ModelUsage,
  PeriodKind,
  PeriodSpend,
  SnapshotSource,
  UsageSnapshot,
  WorkloadRef,
  WorkloadUsage,
} from '../snapshot.ts';
import { workloadKey } from '../snapshot.ts';
import type { DedupeOptions } from './dedupe.ts';
import { createDedupeSet } from './dedupe.ts';
import type { PeriodBounds } from './periods.ts';
import { PERIOD_KINDS, allPeriodBounds, assertTimeZone } from './periods.ts';

/** Token counts of one span, as the span records carry them (cache read + write combined). */
export interface SpanTokens {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheTokens: number;
  readonly reasoningTokens: number;
}

/** Cost of one span under a per-workload price override (AIPolicy modelGovernance.costPerToken). */
export type SpanCostFn = (tokens: SpanTokens, provider: string, model: string) => Micros;

/** Returns the override for a workload, or undefined to keep the price table's cost. */
export type CostOverrideResolver = (workload: Attribution) => SpanCostFn | undefined;

/** The pod label that classifies a workload's data when spans do not. */
export const CLASSIFICATION_LABEL = 'genops.ai/data-classification';

export interface ApplyMeta {
  /** Connection peer IP, for attribution. */
  readonly peer: string | undefined;
  /** Receipt time (clock ms): decides the period charged. Default clock.now(). */
  readonly receivedAt?: number;
  /** performance.now() at receipt: for the receipt -> visible latency metric. */
  readonly receivedMono?: number;
}

export interface ApplyResult {
  readonly charged: number;
  readonly duplicates: number;
}

/** Persisted spend of the current periods, per workload (see export/restore). */
export interface SpendState {
  readonly takenAt: number;
  readonly timeZone: string;
  readonly periods: Readonly<Record<PeriodKind, PeriodBounds>>;
  readonly workloads: readonly {
    readonly ref: WorkloadRef;
    readonly labels: Readonly<Record<string, string>>;
    readonly spend: Readonly<
      Partial<Record<PeriodKind, { readonly costMicros: Micros; readonly requests: number }>>
    >;
  }[];
}

export interface UsageWindowsOptions {
  clock?: Clock;
  /** IANA zone for period boundaries; default UTC. */
  timeZone?: string;
  /** Default: attributes only (local mode). */
  attributor?: { resolve: Attributor['resolve'] };
  costOverride?: CostOverrideResolver;
  dedupe?: DedupeOptions;
  /** Snapshots are published at most this often; default 50 ms. */
  publishIntervalMs?: number;
  /** Beyond this many workloads new senders are charged to `<namespace>/Overflow/other`; default 100k. */
  maxWorkloads?: number;
  metrics?: IngestMetrics;
  logger?: Logger;
}

export interface UsageWindows extends SnapshotSource, Component {
  /** Applies one worker result; a snapshot with it is published within publishIntervalMs. */
  apply(partial: PartialAggregate, meta: ApplyMeta): ApplyResult;
  /** Publishes now (rolling periods and decaying windows first) and returns the snapshot. */
  publish(): UsageSnapshot;
  /** Rolls periods and decays sliding windows; publishes if anything changed. Called by a timer. */
  tick(): void;
  /** Replaces the per-workload price overrides (policies changed). Existing spend is not repriced. */
  setCostOverride(resolver: CostOverrideResolver | undefined): void;
  /** Spend of the current periods per workload: restored baseline + this process's own. */
  export(): SpendState;
  /** Sets the baseline from an earlier export; entries of other (past) periods are ignored. Idempotent. */
  restore(state: SpendState): void;
}

const MINUTE_SLOTS = 12;
const MINUTE_SLOT_MS = 5_000;
const HOUR_SLOTS = 60;
const HOUR_SLOT_MS = 60_000;
const KIND_INDEX: Record<PeriodKind, number> = { daily: 0, weekly: 1, monthly: 2, quarterly: 3, yearly: 4 };
const DAILY = 0;
const MONTHLY = 2;

/** Model totals in the current month: cost, requests, input, output, cacheRead, cacheWrite, reasoning, unpriced. */
const M_COST = 0,
  M_REQ = 1,
  M_IN = 2,
  M_OUT = 3,
  M_CR = 4,
  M_CW = 5,
  M_RS = 6,
  M_UNPRICED = 7,
  M_WIDTH = 8;

class ModelState {
  readonly provider: string;
  readonly model: string;
  readonly v = new Float64Array(M_WIDTH);
  constructor(provider: string, model: string) {
    this.provider = provider;
    this.model = model;
  }
}

class WorkloadState {
  readonly ref: WorkloadRef;
  readonly key: string;
  labels: Readonly<Record<string, string>>;
  /** [cost, requests] per period kind (KIND_INDEX), this process only. */
  readonly spend = new Float64Array(10);
  /** Restored baseline, same layout. */
  base: Float64Array | undefined = undefined;
  /** Sliding request counts: 12 five-second buckets, then 60 one-minute buckets. */
  readonly ring = new Uint32Array(MINUTE_SLOTS + HOUR_SLOTS);
  minuteEpoch = 0;
  hourEpoch = 0;
  maxRequestToday = 0;
  models: Map<string, ModelState> | undefined = undefined;
  safetyMin = Infinity;
  safetySum = 0;
  safetyCount = 0;
  classifications: string[] | undefined = undefined;
  lastSeen = 0;
  dirty = true;
  /** Sliding counts in the last published usage, to know when decay changes them. */
  publishedMinute = 0;
  publishedHour = 0;

  constructor(ref: WorkloadRef, key: string, labels: Readonly<Record<string, string>>) {
    this.ref = ref;
    this.key = key;
    this.labels = labels;
  }

  /** Moves the rings to `now`, clearing buckets that fell out of the windows. */
  advance(now: number): void {
    const m = Math.floor(now / MINUTE_SLOT_MS);
    if (m > this.minuteEpoch) {
      const steps = Math.min(MINUTE_SLOTS, m - this.minuteEpoch);
      for (let i = 1; i <= steps; i++) this.ring[(this.minuteEpoch + i) % MINUTE_SLOTS] = 0;
      this.minuteEpoch = m;
    }
    const h = Math.floor(now / HOUR_SLOT_MS);
    if (h > this.hourEpoch) {
      const steps = Math.min(HOUR_SLOTS, h - this.hourEpoch);
      for (let i = 1; i <= steps; i++) this.ring[MINUTE_SLOTS + ((this.hourEpoch + i) % HOUR_SLOTS)] = 0;
      this.hourEpoch = h;
    }
  }

  addRequests(n: number, now: number): void {
    this.advance(now);
    this.ring[this.minuteEpoch % MINUTE_SLOTS]! += n;
    this.ring[MINUTE_SLOTS + (this.hourEpoch % HOUR_SLOTS)]! += n;
  }

  lastMinute(now: number): number {
    this.advance(now);
    let s = 0;
    for (let i = 0; i < MINUTE_SLOTS; i++) s += this.ring[i]!;
    return s;
  }

  lastHour(now: number): number {
    this.advance(now);
    let s = 0;
    for (let i = MINUTE_SLOTS; i < MINUTE_SLOTS + HOUR_SLOTS; i++) s += this.ring[i]!;
    return s;
  }
}

/** Per-apply scratch per group: duplicates and overridden costs. */
const G_DUP = 0,
  G_DUP_COST = 1,
  G_DUP_IN = 2,
  G_DUP_OUT = 3,
  G_DUP_CACHE = 4,
  G_DUP_RS = 5,
  G_OV_COST = 6,
  G_OV_MAX = 7,
  G_WIDTH = 8;

export function createUsageWindows(options: UsageWindowsOptions = {}): UsageWindows {
  const clock = options.clock ?? systemClock;
  const timeZone = options.timeZone ?? 'UTC';
  assertTimeZone(timeZone);
  const attributor = options.attributor ?? { resolve: attributionFromAttributes };
  let costOverride = options.costOverride;
  const dedupe = createDedupeSet(options.dedupe);
  const publishIntervalMs = options.publishIntervalMs ?? 50;
  const maxWorkloads = options.maxWorkloads ?? 100_000;
  const metrics = options.metrics ?? noopIngestMetrics;
  const logger = options.logger ?? silentLogger;

  const states = new Map<string, WorkloadState>();
  let periods = allPeriodBounds(clock.now(), timeZone);
  let nextRoll = Math.min(...PERIOD_KINDS.map((k) => periods[k].end));

  let version = 0;
  let snapshot: UsageSnapshot = { version: 0, takenAt: clock.now(), workloads: new Map() };
  let dirtyCount = 0;
  const dirty: WorkloadState[] = [];
  /** Workloads with requests in the last hour: their sliding counts decay without new data. */
  const active = new Set<WorkloadState>();
  let lastDecayEpoch = 0;
  let forceFull = false;
  const listeners = new Set<(s: UsageSnapshot) => void>();
  let pendingReceipts: number[] = [];
  let lastPublishMono = -Infinity;
  let publishTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let overflowWarned = false;

  const markDirty = (s: WorkloadState): void => {
    if (!s.dirty) {
      s.dirty = true;
      dirty.push(s);
      dirtyCount++;
    }
  };

  const stateFor = (a: Attribution): WorkloadState => {
    let s = states.get(a.key);
    if (s) {
      if (s.labels !== a.labels) s.labels = a.labels;
      return s;
    }
    let ref = a.ref;
    let key = a.key;
    if (states.size >= maxWorkloads) {
      ref = { namespace: a.ref.namespace, kind: 'Overflow', name: 'other' };
      key = workloadKey(ref);
      if (!overflowWarned) {
        overflowWarned = true;
        logger.warn('too many workloads tracked; new ones are charged to an overflow workload', {
          maxWorkloads,
        });
      }
      s = states.get(key);
      if (s) return s;
    }
    s = new WorkloadState(ref, key, a.labels);
    s.dirty = false;
    states.set(key, s);
    markDirty(s);
    return s;
  };

  /** Rolls every period that ended; zeroes its counters everywhere. */
  const rollIfNeeded = (now: number): void => {
    if (now < nextRoll) return;
    const next = allPeriodBounds(now, timeZone);
    const rolled: number[] = [];
    for (const k of PERIOD_KINDS) if (next[k].start !== periods[k].start) rolled.push(KIND_INDEX[k]);
    periods = next;
    nextRoll = Math.min(...PERIOD_KINDS.map((k) => periods[k].end));
    if (rolled.length === 0) return;
    const dayRolled = rolled.includes(DAILY);
    const monthRolled = rolled.includes(MONTHLY);
    for (const s of states.values()) {
      for (const i of rolled) {
        s.spend[i * 2] = 0;
        s.spend[i * 2 + 1] = 0;
        if (s.base) {
          s.base[i * 2] = 0;
          s.base[i * 2 + 1] = 0;
        }
      }
      if (dayRolled) {
        s.maxRequestToday = 0;
        s.safetyMin = Infinity;
        s.safetySum = 0;
        s.safetyCount = 0;
        s.classifications = undefined;
      }
      if (monthRolled) s.models = undefined;
    }
    // Workloads with nothing left in any period and silent for an hour are forgotten.
    for (const [key, s] of states) {
      if (
        now - s.lastSeen > 3_600_000 &&
        s.spend.every((v) => v === 0) &&
        (!s.base || s.base.every((v) => v === 0))
      ) {
        states.delete(key);
        active.delete(s);
      }
    }
    forceFull = true;
    logger.info('usage periods rolled over', { kinds: rolled.map((i) => PERIOD_KINDS[i]) });
  };

  const usageOf = (s: WorkloadState, now: number): WorkloadUsage => {
    const spendOf = (kind: PeriodKind): PeriodSpend => {
      const i = KIND_INDEX[kind] * 2;
      const b = s.base;
      return {
        start: periods[kind].start,
        end: periods[kind].end,
        costMicros: s.spend[i]! + (b ? b[i]! : 0),
        requests: s.spend[i + 1]! + (b ? b[i + 1]! : 0),
      };
    };
    const models: ModelUsage[] = [];
    if (s.models) {
      for (const m of s.models.values()) {
        models.push({
          provider: m.provider,
          model: m.model,
          costMicros: m.v[M_COST]!,
          requests: m.v[M_REQ]!,
          inputTokens: m.v[M_IN]!,
          outputTokens: m.v[M_OUT]!,
          cacheReadTokens: m.v[M_CR]!,
          cacheWriteTokens: m.v[M_CW]!,
          reasoningTokens: m.v[M_RS]!,
          unpriced: m.v[M_UNPRICED]! > 0,
        });
      }
    }
    const minute = s.lastMinute(now);
    const hour = s.lastHour(now);
    s.publishedMinute = minute;
    s.publishedHour = hour;
    return {
      ref: s.ref,
      key: s.key,
      labels: s.labels,
      spend: {
        daily: spendOf('daily'),
        weekly: spendOf('weekly'),
        monthly: spendOf('monthly'),
        quarterly: spendOf('quarterly'),
        yearly: spendOf('yearly'),
      },
      requestsLastMinute: minute,
      requestsLastHour: hour,
      maxRequestCostMicrosToday: s.maxRequestToday,
      models,
      safety:
        s.safetyCount > 0
          ? { min: s.safetyMin, mean: s.safetySum / s.safetyCount, count: s.safetyCount }
          : undefined,
      classifications: s.classifications ? [...s.classifications] : [],
      lastSeen: s.lastSeen,
    };
  };

  const publish = (): UsageSnapshot => {
    if (publishTimer) {
      clearTimeout(publishTimer);
      publishTimer = undefined;
    }
    const now = clock.now();
    rollIfNeeded(now);
    const epoch = Math.floor(now / MINUTE_SLOT_MS);
    const decay = epoch !== lastDecayEpoch;
    lastDecayEpoch = epoch;
    if (!forceFull && dirtyCount === 0 && !decay && pendingReceipts.length === 0) return snapshot;
    const workloads = new Map(snapshot.workloads);
    let changed = false;
    if (forceFull) {
      workloads.clear();
      for (const s of states.values()) {
        workloads.set(s.key, usageOf(s, now));
        s.dirty = false;
      }
      dirty.length = 0;
      dirtyCount = 0;
      forceFull = false;
      changed = true;
    } else {
      for (const s of dirty) {
        s.dirty = false;
        workloads.set(s.key, usageOf(s, now));
        changed = true;
      }
      dirty.length = 0;
      dirtyCount = 0;
    }
    if (decay) {
      for (const s of active) {
        const minute = s.lastMinute(now);
        const hour = s.lastHour(now);
        if (minute !== s.publishedMinute || hour !== s.publishedHour) {
          workloads.set(s.key, usageOf(s, now));
          changed = true;
        }
        if (hour === 0) active.delete(s);
      }
    }
    if (changed) {
      version++;
      snapshot = { version, takenAt: now, workloads };
      metrics.workloadsTracked(states.size);
    }
    const visibleAt = performance.now();
    for (const r of pendingReceipts) metrics.visibleLatency((visibleAt - r) / 1000);
    pendingReceipts = [];
    lastPublishMono = visibleAt;
    if (changed) {
      for (const l of listeners) {
        try {
          l(snapshot);
        } catch (err) {
          logger.error('snapshot listener failed', { err });
        }
      }
    }
    return snapshot;
  };

  const schedulePublish = (): void => {
    if (publishTimer) return;
    const wait = Math.max(0, lastPublishMono + publishIntervalMs - performance.now());
    publishTimer = setTimeout(publish, wait);
  };

  const apply = (partial: PartialAggregate, meta: ApplyMeta): ApplyResult => {
    const now = meta.receivedAt ?? clock.now();
    rollIfNeeded(Math.max(now, clock.now()));
    const groups = partial.groups;
    const records = partial.spans;
    const identityCount = partial.identities.length;
    const attributions: (Attribution | undefined)[] = new Array<Attribution | undefined>(identityCount);
    const overrides: (SpanCostFn | null | undefined)[] = new Array<SpanCostFn | null | undefined>(
      identityCount,
    );
    const resolveIdentity = (i: number): Attribution => {
      let a = attributions[i];
      if (!a) {
        a = attributor.resolve(partial.identities[i]!, meta.peer);
        attributions[i] = a;
      }
      return a;
    };
    const overrideFor = (i: number): SpanCostFn | null => {
      let o = overrides[i];
      if (o === undefined) {
        o = costOverride ? (costOverride(resolveIdentity(i)) ?? null) : null;
        overrides[i] = o;
      }
      return o;
    };

    // Pass 1 over the span records: dedupe, and per-span cost under overrides.
    const scratch = new Float64Array(groups.length * G_WIDTH);
    let duplicates = 0;
    const n = Math.floor(records.length / SPAN_RECORD_WIDTH);
    for (let r = 0; r < n; r++) {
      const o = r * SPAN_RECORD_WIDTH;
      const g = records[o + 2]!;
      const group = groups[g];
      if (!group) continue;
      const base = g * G_WIDTH;
      if (dedupe.seen(records[o]!, records[o + 1]!, now)) {
        duplicates++;
        scratch[base + G_DUP]! += 1;
        scratch[base + G_DUP_COST]! += records[o + 3]!;
        scratch[base + G_DUP_IN]! += records[o + 4]!;
        scratch[base + G_DUP_OUT]! += records[o + 5]!;
        scratch[base + G_DUP_CACHE]! += records[o + 6]!;
        scratch[base + G_DUP_RS]! += records[o + 7]!;
        continue;
      }
      const ov = overrideFor(group.identity);
      if (ov) {
        const cost = ov(
          {
            inputTokens: records[o + 4]!,
            outputTokens: records[o + 5]!,
            cacheTokens: records[o + 6]!,
            reasoningTokens: records[o + 7]!,
          },
          group.provider,
          group.model,
        );
        scratch[base + G_OV_COST]! += cost;
        if (cost > scratch[base + G_OV_MAX]!) scratch[base + G_OV_MAX] = cost;
      }
    }

    // Pass 2 over the groups: charge what remains.
    let charged = 0;
    const spoofedBy = new Map<string, number>();
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      const base = g * G_WIDTH;
      const dup = scratch[base + G_DUP]!;
      const requests = group.requests - dup;
      if (requests <= 0) continue;
      const a = resolveIdentity(group.identity);
      const s = stateFor(a);
      const ov = overrideFor(group.identity);
      const cost = ov ? scratch[base + G_OV_COST]! : group.costMicros - scratch[base + G_DUP_COST]!;
      const maxCost = ov ? scratch[base + G_OV_MAX]! : group.maxRequestCostMicros;
      const dupCache = scratch[base + G_DUP_CACHE]!;
      const cacheRead = Math.max(0, group.cacheReadTokens - dupCache);
      const cacheWrite = Math.max(0, group.cacheWriteTokens - Math.max(0, dupCache - group.cacheReadTokens));
      for (let k = 0; k < 5; k++) {
        s.spend[k * 2]! += cost;
        s.spend[k * 2 + 1]! += requests;
      }
      if (maxCost > s.maxRequestToday) s.maxRequestToday = maxCost;
      s.addRequests(requests, now);
      active.add(s);
      if (now > s.lastSeen) s.lastSeen = now;
      const mkey = group.provider + '\u0000' + group.model;
      s.models ??= new Map();
      let m = s.models.get(mkey);
      if (!m) {
        m = new ModelState(group.provider, group.model);
        s.models.set(mkey, m);
      }
      m.v[M_COST]! += cost;
      m.v[M_REQ]! += requests;
      m.v[M_IN]! += group.inputTokens - scratch[base + G_DUP_IN]!;
      m.v[M_OUT]! += group.outputTokens - scratch[base + G_DUP_OUT]!;
      m.v[M_CR]! += cacheRead;
      m.v[M_CW]! += cacheWrite;
      m.v[M_RS]! += group.reasoningTokens - scratch[base + G_DUP_RS]!;
      const unpriced = group.unpriced && !ov;
      if (unpriced) {
        m.v[M_UNPRICED] = 1;
        metrics.spansUnpriced(requests, group.provider, group.model);
      }
      const classification = group.classification || a.labels[CLASSIFICATION_LABEL] || '';
      s.classifications ??= [];
      if (!s.classifications.includes(classification)) s.classifications.push(classification);
      if (a.spoofed) spoofedBy.set(a.ref.namespace, (spoofedBy.get(a.ref.namespace) ?? 0) + requests);
      charged += requests;
      markDirty(s);
    }
    for (const sg of partial.safety) {
      if (sg.count <= 0) continue;
      const s = stateFor(resolveIdentity(sg.identity));
      if (sg.min < s.safetyMin) s.safetyMin = sg.min;
      s.safetySum += sg.sum;
      s.safetyCount += sg.count;
      markDirty(s);
    }
    for (const [ns, count] of spoofedBy) metrics.spansSpoofed(count, ns);
    if (charged > 0) metrics.spansCharged(charged);
    if (duplicates > 0) metrics.spansDeduplicated(duplicates);
    if (meta.receivedMono !== undefined) pendingReceipts.push(meta.receivedMono);
    if (dirtyCount > 0 || pendingReceipts.length > 0) schedulePublish();
    return { charged, duplicates };
  };

  const exportState = (): SpendState => {
    rollIfNeeded(clock.now());
    const workloads: SpendState['workloads'][number][] = [];
    for (const s of states.values()) {
      const spend: Partial<Record<PeriodKind, { costMicros: Micros; requests: number }>> = {};
      let any = false;
      for (const k of PERIOD_KINDS) {
        const i = KIND_INDEX[k] * 2;
        const cost = s.spend[i]! + (s.base ? s.base[i]! : 0);
        const requests = s.spend[i + 1]! + (s.base ? s.base[i + 1]! : 0);
        if (cost !== 0 || requests !== 0) {
          spend[k] = { costMicros: cost, requests };
          any = true;
        }
      }
      if (any) workloads.push({ ref: s.ref, labels: s.labels, spend });
    }
    return { takenAt: clock.now(), timeZone, periods: { ...periods }, workloads };
  };

  const restore = (state: SpendState): void => {
    rollIfNeeded(clock.now());
    const current = PERIOD_KINDS.filter((k) => state.periods[k]?.start === periods[k].start);
    // Idempotent: the baseline of the matching periods is replaced, not added to.
    for (const s of states.values()) {
      if (!s.base) continue;
      for (const k of current) {
        s.base[KIND_INDEX[k] * 2] = 0;
        s.base[KIND_INDEX[k] * 2 + 1] = 0;
      }
      markDirty(s);
    }
    for (const w of state.workloads) {
      const key = workloadKey(w.ref);
      const s = stateFor({
        ref: w.ref,
        key,
        labels: states.get(key)?.labels ?? w.labels,
        via: 'attributes',
        spoofed: false,
      });
      s.base ??= new Float64Array(10);
      for (const k of current) {
        const v = w.spend[k];
        if (!v) continue;
        s.base[KIND_INDEX[k] * 2] = v.costMicros;
        s.base[KIND_INDEX[k] * 2 + 1] = v.requests;
      }
      markDirty(s);
    }
    logger.info('usage spend restored', { workloads: state.workloads.length, periods: current });
    schedulePublish();
  };

  return {
    apply,
    publish,
    tick() {
      publish();
    },
    setCostOverride(resolver) {
      costOverride = resolver;
    },
    export: exportState,
    restore,
    current: () => snapshot,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    start() {
      if (tickTimer) return Promise.resolve();
      publish();
      // Periods roll and sliding windows decay even when no spans arrive.
      tickTimer = setInterval(() => publish(), 1_000);
      tickTimer.unref();
      return Promise.resolve();
    },
    shutdown() {
      if (tickTimer) clearInterval(tickTimer);
      tickTimer = undefined;
      if (publishTimer) {
        clearTimeout(publishTimer);
        publishTimer = undefined;
        publish();
      }
      return Promise.resolve();
    },
  };
}
