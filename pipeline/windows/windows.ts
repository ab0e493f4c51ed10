// Owns the usage windows: the single writer (main thread) that applies the workers' partial
// aggregates to per-workload state (period spend, sliding request counts, per-day maxima,
// per-model breakdown, safety, classifications), drops retried duplicates, and publishes an
// immutable versioned UsageSnapshot, coalesced so readers see new data within ~publishIntervalMs.
//
// Rules worth knowing:
// - Spend is charged to the period in which the request was received (not the span's own time):
//   robust against skewed client clocks and replays of old data.
// - Sliding windows are bucketed: last minute = 12 x 5 s buckets, last hour = 30 x 2 min buckets
//   (the oldest bucket may be partly outside the window: at most 5 s resp. 2 min too much counted).
// - A workload's period spend = restored baseline (from the persisted state) + what this process saw.

import { systemClock } from '../../kernel/clock.ts';
import type { Micros } from '../../kernel/money.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { Attribution } from '../attribution/types.ts';
import { attributionFromAttributes } from '../attribution/attributor.ts';
import { noopIngestMetrics } from '../ingest-metrics.ts';
import type { PartialAggregate } from '../partial.ts';
import { LINK_NO_USAGE, LINK_WIDTH, SPAN_RECORD_WIDTH } from '../partial.ts';
import type { ModelUsage, PeriodKind, UsageSnapshot, WorkloadRef, WorkloadUsage } from '../snapshot.ts';
import { workloadKey } from '../snapshot.ts';
import { createScopedDedupe } from './dedupe.ts';
import type { ChargeDelta, DeltaCharge, DeltaWorkload } from './delta.ts';
import { PERIOD_KINDS, allPeriodBounds, assertTimeZone } from './periods.ts';
import { Interner, ModelCatalog, Slab } from './store.ts';
import {
  DAILY,
  HOUR_SLOT_MS,
  HOUR_SLOTS,
  KIND_INDEX,
  M_COST,
  M_CR,
  M_CW,
  M_IN,
  M_LAST,
  M_NO_USAGE,
  M_OUT,
  M_REQ,
  M_RS,
  M_UNPRICED,
  M_WIDTH,
  MINUTE_SLOT_MS,
  MINUTE_SLOTS,
  MONTHLY,
  N_HOUR_EPOCH,
  N_LAST_SEEN,
  N_MAX_TODAY,
  N_MINUTE_EPOCH,
  N_PUB_HOUR,
  N_PUB_MINUTE,
  N_SAFETY_COUNT,
  N_SAFETY_MIN,
  N_SAFETY_SUM,
  N_SPEND,
  N_WIDTH,
  RING_WIDTH,
  WorkloadState,
} from './layout.ts';
import { ModelUsageRecord, SafetyRecord, SpendView, WorkloadUsageRecord } from './published.ts';
import type {
  ApplyMeta,
  ApplyResult,
  SpanCostFn,
  SpendState,
  UsageWindows,
  UsageWindowsOptions,
} from './types.ts';
import { CLASSIFICATION_LABEL } from './types.ts';

export type {
  ApplyMeta,
  ApplyResult,
  ChargedGroup,
  CostOverrideResolver,
  SpanCostFn,
  SpanTokens,
  SpendState,
  UsageWindows,
  UsageWindowsOptions,
} from './types.ts';
export { CLASSIFICATION_LABEL } from './types.ts';

const spendScratch = new Float64Array(10);

/** Per-apply scratch per group: duplicates and overridden costs. */
const G_DUP = 0,
  G_DUP_COST = 1,
  G_DUP_IN = 2,
  G_DUP_OUT = 3,
  G_DUP_CACHE = 4,
  G_DUP_RS = 5,
  G_OV_COST = 6,
  G_OV_MAX = 7,
  G_NO_USAGE = 8,
  G_WIDTH = 9;

export function createUsageWindows(options: UsageWindowsOptions = {}): UsageWindows {
  const clock = options.clock ?? systemClock;
  const timeZone = options.timeZone ?? 'UTC';
  assertTimeZone(timeZone);
  const attributor = options.attributor ?? { resolve: attributionFromAttributes };
  let costOverride = options.costOverride;
  const dedupe = createScopedDedupe(options.dedupe);
  const onCharged = options.onCharged;
  const publishInterval = (): number =>
    options.publishIntervalMs ?? Math.min(100, Math.max(20, states.size / 2000));
  const maxWorkloads = options.maxWorkloads ?? 100_000;
  const metrics = options.metrics ?? noopIngestMetrics;
  const logger = options.logger ?? silentLogger;

  const states = new Map<string, WorkloadState>();
  const nums = new Slab(N_WIDTH, (n) => new Float64Array(n));
  const rings = new Slab(RING_WIDTH, (n) => new Uint32Array(n));
  const modelRows = new Slab(M_WIDTH, (n) => new Float64Array(n));
  const catalog = new ModelCatalog(options.maxModelNames ?? 16_384);
  const maxModelsPerWorkload = Math.max(1, options.maxModelsPerWorkload ?? 64);
  const interner = new Interner();
  let periods = allPeriodBounds(clock.now(), timeZone);
  let nextRoll = Math.min(...PERIOD_KINDS.map((k) => periods[k].end));

  let version = 0;
  let snapshot: UsageSnapshot = { version: 0, takenAt: clock.now(), workloads: new Map() };
  const dirty: WorkloadState[] = [];
  let lastDecayEpoch = 0;
  let forceFull = false;
  const listeners = new Set<(s: UsageSnapshot) => void>();
  let pendingReceipts: number[] = [];
  let lastPublishMono = -Infinity;
  let publishTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let overflowWarned = false;

  let scratchBuffer = new Float64Array(64 * G_WIDTH);
  let keyScratch = new Uint32Array(3 * 1024);
  let groupSid = new Int32Array(64);
  let groupDelta = new Int32Array(64);

  const markDirty = (s: WorkloadState): void => {
    if (!s.dirty) {
      s.dirty = true;
      dirty.push(s);
    }
  };

  // --- sliding request counts (ring rows) ---

  /** Moves a workload's rings to `now`, clearing buckets that fell out of the windows. */
  const advance = (row: number, now: number): void => {
    const n = nums.data;
    const r = rings.data;
    const base = row * RING_WIDTH;
    const m = Math.floor(now / MINUTE_SLOT_MS);
    const lastM = n[row * N_WIDTH + N_MINUTE_EPOCH]!;
    if (m > lastM) {
      const steps = Math.min(MINUTE_SLOTS, m - lastM);
      for (let i = 1; i <= steps; i++) r[base + ((lastM + i) % MINUTE_SLOTS)] = 0;
      n[row * N_WIDTH + N_MINUTE_EPOCH] = m;
    }
    const h = Math.floor(now / HOUR_SLOT_MS);
    const lastH = n[row * N_WIDTH + N_HOUR_EPOCH]!;
    if (h > lastH) {
      const steps = Math.min(HOUR_SLOTS, h - lastH);
      for (let i = 1; i <= steps; i++) r[base + MINUTE_SLOTS + ((lastH + i) % HOUR_SLOTS)] = 0;
      n[row * N_WIDTH + N_HOUR_EPOCH] = h;
    }
  };

  const addRequests = (row: number, count: number, now: number): void => {
    advance(row, now);
    const r = rings.data;
    const base = row * RING_WIDTH;
    r[base + (nums.data[row * N_WIDTH + N_MINUTE_EPOCH]! % MINUTE_SLOTS)]! += count;
    r[base + MINUTE_SLOTS + (nums.data[row * N_WIDTH + N_HOUR_EPOCH]! % HOUR_SLOTS)]! += count;
  };

  const ringSum = (row: number, from: number, to: number): number => {
    const r = rings.data;
    let sum = 0;
    for (let i = row * RING_WIDTH + from; i < row * RING_WIDTH + to; i++) sum += r[i]!;
    return sum;
  };

  // --- workloads ---

  const newState = (
    ref: WorkloadRef,
    key: string,
    labels: Readonly<Record<string, string>>,
  ): WorkloadState => {
    const row = nums.alloc();
    const ringRow = rings.alloc();
    if (ringRow !== row) throw new Error('usage windows: slab rows out of step');
    nums.data[row * N_WIDTH + N_SAFETY_MIN] = Infinity;
    const s = new WorkloadState(ref, key, labels, row);
    states.set(key, s);
    markDirty(s);
    return s;
  };

  const dropState = (s: WorkloadState): void => {
    states.delete(s.key);
    releaseModels(s);
    nums.release(s.row);
    rings.release(s.row);
  };

  const releaseModels = (s: WorkloadState): void => {
    if (!s.models) return;
    for (let i = 0; i < s.models.length; i += 2) {
      catalog.release(s.models[i]!);
      modelRows.release(s.models[i + 1]!);
    }
    s.models = undefined;
  };

  const stateFor = (a: Attribution): WorkloadState => {
    const s = states.get(a.key);
    if (s) {
      if (s.labels !== a.labels) s.labels = a.labels;
      return s;
    }
    if (states.size >= maxWorkloads) {
      const ref = { namespace: a.ref.namespace, kind: 'Overflow', name: 'other' };
      const key = workloadKey(ref);
      if (!overflowWarned) {
        overflowWarned = true;
        logger.warn('too many workloads tracked; new ones are charged to an overflow workload', {
          maxWorkloads,
        });
      }
      return states.get(key) ?? newState(ref, key, {});
    }
    return newState(a.ref, a.key, a.labels);
  };

  const rowOf = (list: number[] | undefined, id: number): number => {
    if (id >= 0 && list) for (let i = 0; i < list.length; i += 2) if (list[i] === id) return list[i + 1]!;
    return -1;
  };

  const modelRowFor = (s: WorkloadState, provider: string, model: string): number => {
    const list = s.models;
    // At most maxModelsPerWorkload + 1 entries: the scan is bounded, whatever clients send.
    const known = rowOf(list, catalog.lookup(provider, model));
    if (known >= 0) return known;
    let id: number;
    if (list && list.length / 2 >= maxModelsPerWorkload) {
      id = ModelCatalog.OTHER;
      metrics.modelNamesFolded?.(1);
    } else {
      id = catalog.acquire(provider, model);
      if (id === ModelCatalog.OTHER) metrics.modelNamesFolded?.(1);
    }
    const other = rowOf(list, id);
    if (other >= 0) {
      catalog.release(id);
      return other;
    }
    const row = modelRows.alloc();
    // Exact-size arrays: push() would reserve room for ~16 more entries in every workload.
    s.models = list ? [...list, id, row] : [id, row];
    return row;
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
    const n = nums.data;
    for (const s of states.values()) {
      const o = s.row * N_WIDTH;
      for (const i of rolled) {
        n[o + N_SPEND + i * 2] = 0;
        n[o + N_SPEND + i * 2 + 1] = 0;
        if (s.base) {
          s.base[i * 2] = 0;
          s.base[i * 2 + 1] = 0;
        }
      }
      if (dayRolled) {
        n[o + N_MAX_TODAY] = 0;
        n[o + N_SAFETY_MIN] = Infinity;
        n[o + N_SAFETY_SUM] = 0;
        n[o + N_SAFETY_COUNT] = 0;
        s.classifications = undefined;
      }
      if (monthRolled) releaseModels(s);
    }
    // Workloads with nothing left in any period and silent for an hour are forgotten.
    for (const s of [...states.values()]) {
      const o = s.row * N_WIDTH;
      let spent = false;
      for (let i = 0; i < 10; i++) if (n[o + N_SPEND + i] !== 0 || (s.base && s.base[i] !== 0)) spent = true;
      if (!spent && now - n[o + N_LAST_SEEN]! > 3_600_000) dropState(s);
    }
    forceFull = true;
    logger.info('usage periods rolled over', { kinds: rolled.map((i) => PERIOD_KINDS[i]) });
  };

  // --- snapshots ---

  const usageOf = (s: WorkloadState, now: number): WorkloadUsage => {
    advance(s.row, now);
    const n = nums.data;
    const o = s.row * N_WIDTH;
    const b = s.base;
    for (let i = 0; i < 10; i++) spendScratch[i] = n[o + N_SPEND + i]! + (b ? b[i]! : 0);
    let models: readonly ModelUsage[] = NO_MODELS;
    if (s.models) {
      const list: ModelUsage[] = [];
      const m = modelRows.data;
      for (let i = 0; i < s.models.length; i += 2) {
        const id = s.models[i]!;
        list.push(
          new ModelUsageRecord(catalog.providers[id]!, catalog.models[id]!, m, s.models[i + 1]! * M_WIDTH),
        );
      }
      models = list;
    }
    const minute = ringSum(s.row, 0, MINUTE_SLOTS);
    const hour = ringSum(s.row, MINUTE_SLOTS, RING_WIDTH);
    n[o + N_PUB_MINUTE] = minute;
    n[o + N_PUB_HOUR] = hour;
    const safetyCount = n[o + N_SAFETY_COUNT]!;
    return new WorkloadUsageRecord(
      s,
      new SpendView(periods, spendScratch),
      minute,
      hour,
      n[o + N_MAX_TODAY]!,
      models,
      safetyCount > 0
        ? new SafetyRecord(n[o + N_SAFETY_MIN]!, n[o + N_SAFETY_SUM]! / safetyCount, safetyCount)
        : undefined,
      n[o + N_LAST_SEEN]!,
    );
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
    if (!forceFull && dirty.length === 0 && !decay && pendingReceipts.length === 0) return snapshot;
    let workloads: Map<string, WorkloadUsage>;
    let changed = false;
    if (forceFull) {
      workloads = new Map();
      for (const s of states.values()) {
        workloads.set(s.key, usageOf(s, now));
        s.dirty = false;
      }
      dirty.length = 0;
      forceFull = false;
      changed = true;
    } else {
      workloads = new Map(snapshot.workloads);
      for (const s of dirty) {
        s.dirty = false;
        workloads.set(s.key, usageOf(s, now));
        changed = true;
      }
      dirty.length = 0;
    }
    if (decay) {
      // Sliding counts fall without new data: republish workloads whose counts moved.
      const n = nums.data;
      const recent = now - 3_600_000 - HOUR_SLOT_MS;
      for (const s of states.values()) {
        const o = s.row * N_WIDTH;
        if (n[o + N_LAST_SEEN]! < recent && n[o + N_PUB_HOUR] === 0) continue;
        advance(s.row, now);
        if (
          ringSum(s.row, 0, MINUTE_SLOTS) !== n[o + N_PUB_MINUTE] ||
          ringSum(s.row, MINUTE_SLOTS, RING_WIDTH) !== n[o + N_PUB_HOUR]
        ) {
          workloads.set(s.key, usageOf(s, now));
          changed = true;
        }
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
    const wait = Math.max(0, lastPublishMono + publishInterval() - performance.now());
    publishTimer = setTimeout(publish, wait);
  };

  // --- applying worker results ---

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
    // One scratch buffer reused across requests (a typed array per request is GC work).
    if (scratchBuffer.length < groups.length * G_WIDTH) {
      scratchBuffer = new Float64Array(Math.max(groups.length * G_WIDTH, scratchBuffer.length * 2));
    }
    const scratch = scratchBuffer;
    scratch.fill(0, 0, groups.length * G_WIDTH);
    let duplicates = 0;
    const count = Math.floor(records.length / SPAN_RECORD_WIDTH);
    const links = partial.links;
    if (keyScratch.length < count * 3)
      keyScratch = new Uint32Array(Math.max(count * 3, keyScratch.length * 2));
    let keyCount = 0;
    const deltaIndex: number[] = new Array<number>(identityCount).fill(-1);
    const deltaWorkloads: DeltaWorkload[] = [];
    const deltaOf = (identity: number): number => {
      let d = deltaIndex[identity]!;
      if (d < 0) {
        const a = resolveIdentity(identity);
        d = deltaWorkloads.length;
        deltaWorkloads.push({ ref: a.ref, labels: a.labels, spoofed: a.spoofed });
        deltaIndex[identity] = d;
      }
      return d;
    };
    // Per group once, not per span: the sender's dedupe id, its delta index (lazily: only groups
    // with a charged span appear in the delta) and its price override.
    const groupCount = groups.length;
    if (groupSid.length < groupCount) {
      groupSid = new Int32Array(Math.max(groupCount, groupSid.length * 2));
      groupDelta = new Int32Array(groupSid.length);
    }
    for (let g = 0; g < groupCount; g++) {
      groupSid[g] = dedupe.scopeId(resolveIdentity(groups[g]!.identity).key);
      groupDelta[g] = -1;
    }
    const groupOverride: readonly (SpanCostFn | null)[] | undefined = costOverride
      ? groups.map((group) => overrideFor(group.identity))
      : undefined;
    dedupe.advance(now);
    const nowSec = Math.floor(now / 1000);
    for (let r = 0; r < count; r++) {
      const o = r * SPAN_RECORD_WIDTH;
      const g = records[o + 2]!;
      const group = groups[g];
      if (!group) continue;
      const base = g * G_WIDTH;
      // Keys are per sender: the same ids from another workload are another span.
      const hi = records[o]!;
      const lo = records[o + 1]!;
      if (dedupe.seenIn(groupSid[g]!, hi, lo, nowSec)) {
        duplicates++;
        scratch[base + G_DUP]! += 1;
        scratch[base + G_DUP_COST]! += records[o + 3]!;
        scratch[base + G_DUP_IN]! += records[o + 4]!;
        scratch[base + G_DUP_OUT]! += records[o + 5]!;
        scratch[base + G_DUP_CACHE]! += records[o + 6]!;
        scratch[base + G_DUP_RS]! += records[o + 7]!;
        continue;
      }
      if (links !== undefined && (links[r * LINK_WIDTH + 2]! & LINK_NO_USAGE) !== 0)
        scratch[base + G_NO_USAGE]! += 1;
      let d = groupDelta[g]!;
      if (d < 0) {
        d = deltaOf(group.identity);
        groupDelta[g] = d;
      }
      keyScratch[keyCount * 3] = d;
      keyScratch[keyCount * 3 + 1] = hi;
      keyScratch[keyCount * 3 + 2] = lo;
      keyCount++;
      const ov = groupOverride === undefined ? null : groupOverride[g]!;
      if (ov) {
        const cache = records[o + 6]!;
        const cacheRead = links === undefined ? cache : Math.min(cache, links[r * LINK_WIDTH + 4]!);
        const cost = ov(
          {
            inputTokens: records[o + 4]!,
            outputTokens: records[o + 5]!,
            cacheTokens: cache,
            cacheReadTokens: cacheRead,
            cacheWriteTokens: cache - cacheRead,
            reasoningTokens: records[o + 7]!,
          },
          group.provider,
          group.model,
        );
        scratch[base + G_OV_COST]! += cost;
        if (cost > scratch[base + G_OV_MAX]!) scratch[base + G_OV_MAX] = cost;
      }
    }

    // Pass 2 over the groups: what remains is charged, through the same code replay uses.
    let charged = 0;
    const charges: DeltaCharge[] = [];
    const safety: ChargeDelta['safety'][number][] = [];
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      const base = g * G_WIDTH;
      const dup = scratch[base + G_DUP]!;
      const requests = group.requests - dup;
      if (requests <= 0) continue;
      const ov = overrideFor(group.identity);
      const dupCache = scratch[base + G_DUP_CACHE]!;
      charges.push({
        w: deltaOf(group.identity),
        provider: group.provider,
        model: group.model,
        classification: group.classification,
        requests,
        costMicros: ov ? scratch[base + G_OV_COST]! : group.costMicros - scratch[base + G_DUP_COST]!,
        maxCostMicros: ov ? scratch[base + G_OV_MAX]! : group.maxRequestCostMicros,
        inputTokens: group.inputTokens - scratch[base + G_DUP_IN]!,
        outputTokens: group.outputTokens - scratch[base + G_DUP_OUT]!,
        cacheReadTokens: Math.max(0, group.cacheReadTokens - dupCache),
        cacheWriteTokens: Math.max(0, group.cacheWriteTokens - Math.max(0, dupCache - group.cacheReadTokens)),
        reasoningTokens: group.reasoningTokens - scratch[base + G_DUP_RS]!,
        unpriced: group.unpriced && !ov,
        withoutUsage: scratch[base + G_NO_USAGE]!,
      });
      charged += requests;
    }
    for (const sg of partial.safety) {
      if (sg.count <= 0) continue;
      safety.push({ w: deltaOf(sg.identity), min: sg.min, sum: sg.sum, count: sg.count });
    }
    const delta: ChargeDelta | undefined =
      charges.length === 0 && safety.length === 0 && keyCount === 0
        ? undefined
        : { at: now, workloads: deltaWorkloads, charges, safety, keys: keyScratch.slice(0, keyCount * 3) };
    const spoofedBy = delta === undefined ? undefined : chargeDelta(delta, now, true);
    if (spoofedBy) for (const [ns, c] of spoofedBy) metrics.spansSpoofed(c, ns);
    if (charged > 0) metrics.spansCharged(charged);
    if (duplicates > 0) metrics.spansDeduplicated(duplicates);
    if (meta.receivedMono !== undefined) pendingReceipts.push(meta.receivedMono);
    if (dirty.length > 0 || pendingReceipts.length > 0) schedulePublish();
    return { charged, duplicates, delta };
  };

  /**
   * Applies a delta's charges to the periods that contain its receipt time (all current ones for a
   * live request). Returns spoofed requests per namespace for live requests.
   */
  const chargeDelta = (delta: ChargeDelta, now: number, live: boolean): Map<string, number> | undefined => {
    let spoofedBy: Map<string, number> | undefined;
    const states: WorkloadState[] = delta.workloads.map((w) => stateFor(attributionOf(w)));
    const inPeriod: boolean[] = PERIOD_KINDS.map(
      (k) => live || (delta.at >= periods[k].start && delta.at < periods[k].end),
    );
    const today = inPeriod[DAILY]!;
    const thisMonth = inPeriod[MONTHLY]!;
    for (const c of delta.charges) {
      const s = states[c.w]!;
      const w = delta.workloads[c.w]!;
      const n = nums.data;
      const o = s.row * N_WIDTH;
      for (let k = 0; k < 5; k++) {
        if (!inPeriod[k]) continue;
        n[o + N_SPEND + k * 2]! += c.costMicros;
        n[o + N_SPEND + k * 2 + 1]! += c.requests;
      }
      if (today && c.maxCostMicros > n[o + N_MAX_TODAY]!) n[o + N_MAX_TODAY] = c.maxCostMicros;
      if (delta.at > n[o + N_LAST_SEEN]!) n[o + N_LAST_SEEN] = delta.at;
      if (now - delta.at < 3_600_000) addRequests(s.row, c.requests, delta.at);
      if (thisMonth) {
        const mr = modelRowFor(s, c.provider, c.model) * M_WIDTH;
        const m = modelRows.data;
        m[mr + M_COST]! += c.costMicros;
        m[mr + M_REQ]! += c.requests;
        m[mr + M_IN]! += c.inputTokens;
        m[mr + M_OUT]! += c.outputTokens;
        m[mr + M_CR]! += c.cacheReadTokens;
        m[mr + M_CW]! += c.cacheWriteTokens;
        m[mr + M_RS]! += c.reasoningTokens;
        if (delta.at > m[mr + M_LAST]!) m[mr + M_LAST] = delta.at;
        m[mr + M_NO_USAGE]! += c.withoutUsage;
        if (c.unpriced) m[mr + M_UNPRICED] = 1;
      }
      if (live && c.unpriced) metrics.spansUnpriced(c.requests, c.provider, c.model);
      if (today) {
        const classification = c.classification || w.labels[CLASSIFICATION_LABEL] || '';
        if (!s.classifications?.includes(classification)) {
          s.classifications = interner.withItem(s.classifications, classification);
        }
      }
      if (live && w.spoofed) {
        spoofedBy ??= new Map();
        spoofedBy.set(w.ref.namespace, (spoofedBy.get(w.ref.namespace) ?? 0) + c.requests);
      }
      if (live && onCharged) {
        onCharged({
          workload: s.ref,
          provider: c.provider,
          model: c.model,
          requests: c.requests,
          costMicros: c.costMicros,
          inputTokens: c.inputTokens,
          outputTokens: c.outputTokens,
          cacheReadTokens: c.cacheReadTokens,
          cacheWriteTokens: c.cacheWriteTokens,
          reasoningTokens: c.reasoningTokens,
        });
      }
      markDirty(s);
    }
    if (today) {
      for (const sg of delta.safety) {
        const s = states[sg.w]!;
        const n = nums.data;
        const o = s.row * N_WIDTH;
        if (sg.min < n[o + N_SAFETY_MIN]!) n[o + N_SAFETY_MIN] = sg.min;
        n[o + N_SAFETY_SUM]! += sg.sum;
        n[o + N_SAFETY_COUNT]! += sg.count;
        markDirty(s);
      }
    }
    return spoofedBy;
  };

  const replay = (delta: ChargeDelta, charge: boolean | ((ref: WorkloadRef) => boolean)): void => {
    const now = clock.now();
    rollIfNeeded(now);
    const k = delta.keys;
    for (let i = 0; i + 2 < k.length; i += 3) {
      const w = delta.workloads[k[i]!];
      if (w) dedupe.insert(workloadKey(w.ref), k[i + 1]!, k[i + 2]!, delta.at);
    }
    if (charge === true) chargeDelta(delta, now, false);
    else if (charge !== false) {
      const keep = delta.workloads.map((w) => charge(w.ref));
      const charges = delta.charges.filter((c) => keep[c.w] === true);
      const safety = delta.safety.filter((sg) => keep[sg.w] === true);
      if (charges.length > 0 || safety.length > 0) chargeDelta({ ...delta, charges, safety }, now, false);
    }
    if (dirty.length > 0) schedulePublish();
  };

  // --- persistence ---

  const exportState = (): SpendState => {
    rollIfNeeded(clock.now());
    const workloads: SpendState['workloads'][number][] = [];
    const n = nums.data;
    for (const s of states.values()) {
      const spend: Partial<Record<PeriodKind, { costMicros: Micros; requests: number }>> = {};
      let any = false;
      for (const k of PERIOD_KINDS) {
        const i = KIND_INDEX[k] * 2;
        const cost = n[s.row * N_WIDTH + N_SPEND + i]! + (s.base ? s.base[i]! : 0);
        const requests = n[s.row * N_WIDTH + N_SPEND + i + 1]! + (s.base ? s.base[i + 1]! : 0);
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
      const s = states.get(key) ?? newState(w.ref, key, w.labels);
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
    replay,
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

/** The attribution a logged workload stands for (replay charges it to the same workload). */
function attributionOf(w: DeltaWorkload): Attribution {
  return { ref: w.ref, key: workloadKey(w.ref), labels: w.labels, via: 'attributes', spoofed: w.spoofed };
}

const NO_MODELS: readonly ModelUsage[] = Object.freeze([]);
