// Owns the records a published UsageSnapshot is made of: classes with declared fields over the
// windows' slab rows (PeriodSpend views sharing the period bounds, model and safety records), so a
// snapshot of 100k workloads stays small and V8 keeps its figures unboxed.

import type { ModelUsage, PeriodKind, PeriodSpend, WorkloadRef, WorkloadUsage } from '../snapshot.ts';
import type { PeriodBounds } from './periods.ts';
import type { WorkloadState } from './layout.ts';
import { M_COST, M_CR, M_CW, M_IN, M_LAST, M_NO_USAGE, M_OUT, M_REQ, M_RS, M_UNPRICED } from './layout.ts';

export const NONE: readonly string[] = Object.freeze([]);

/**
 * PeriodSpend of a published snapshot. start/end come from the period bounds shared by every
 * workload (getters), which saves two boxed numbers per period per workload.
 */
export class PeriodSpendView implements PeriodSpend {
  readonly #bounds: PeriodBounds;
  readonly costMicros: number;
  readonly requests: number;
  constructor(bounds: PeriodBounds, costMicros: number, requests: number) {
    this.#bounds = bounds;
    this.costMicros = costMicros;
    this.requests = requests;
  }
  get start(): number {
    return this.#bounds.start;
  }
  get end(): number {
    return this.#bounds.end;
  }
  toJSON(): PeriodSpend {
    return { start: this.start, end: this.end, costMicros: this.costMicros, requests: this.requests };
  }
}

/**
 * The `spend` of a published WorkloadUsage: the ten figures are plain fields and each period's
 * PeriodSpend is made when read (cheap, short-lived). Five objects per workload kept in every
 * snapshot would cost ~400 bytes per workload; this costs ~100.
 */
export class SpendView implements Readonly<Record<PeriodKind, PeriodSpend>> {
  readonly #periods: Readonly<Record<PeriodKind, PeriodBounds>>;
  readonly #dc: number;
  readonly #dr: number;
  readonly #wc: number;
  readonly #wr: number;
  readonly #mc: number;
  readonly #mr: number;
  readonly #qc: number;
  readonly #qr: number;
  readonly #yc: number;
  readonly #yr: number;
  constructor(periods: Readonly<Record<PeriodKind, PeriodBounds>>, f: ArrayLike<number>) {
    this.#periods = periods;
    this.#dc = f[0]!;
    this.#dr = f[1]!;
    this.#wc = f[2]!;
    this.#wr = f[3]!;
    this.#mc = f[4]!;
    this.#mr = f[5]!;
    this.#qc = f[6]!;
    this.#qr = f[7]!;
    this.#yc = f[8]!;
    this.#yr = f[9]!;
  }
  get daily(): PeriodSpend {
    return new PeriodSpendView(this.#periods.daily, this.#dc, this.#dr);
  }
  get weekly(): PeriodSpend {
    return new PeriodSpendView(this.#periods.weekly, this.#wc, this.#wr);
  }
  get monthly(): PeriodSpend {
    return new PeriodSpendView(this.#periods.monthly, this.#mc, this.#mr);
  }
  get quarterly(): PeriodSpend {
    return new PeriodSpendView(this.#periods.quarterly, this.#qc, this.#qr);
  }
  get yearly(): PeriodSpend {
    return new PeriodSpendView(this.#periods.yearly, this.#yc, this.#yr);
  }
  toJSON(): Record<PeriodKind, PeriodSpend> {
    return {
      daily: this.daily,
      weekly: this.weekly,
      monthly: this.monthly,
      quarterly: this.quarterly,
      yearly: this.yearly,
    };
  }
}

// Snapshot records are classes with declared fields: V8 then keeps integer figures unboxed
// (object literals whose fields ever held a fraction box every number, 16 bytes each).

export class ModelUsageRecord implements ModelUsage {
  readonly provider: string;
  readonly model: string;
  readonly costMicros: number;
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
  readonly unpriced: boolean;
  readonly lastUsed: number | undefined;
  readonly requestsWithoutUsage: number | undefined;
  constructor(provider: string, model: string, m: Float64Array, r: number) {
    this.provider = provider;
    this.model = model;
    this.costMicros = m[r + M_COST]!;
    this.requests = m[r + M_REQ]!;
    this.inputTokens = m[r + M_IN]!;
    this.outputTokens = m[r + M_OUT]!;
    this.cacheReadTokens = m[r + M_CR]!;
    this.cacheWriteTokens = m[r + M_CW]!;
    this.reasoningTokens = m[r + M_RS]!;
    this.unpriced = m[r + M_UNPRICED]! > 0;
    this.lastUsed = m[r + M_LAST]! > 0 ? m[r + M_LAST]! : undefined;
    this.requestsWithoutUsage = m[r + M_NO_USAGE]! > 0 ? m[r + M_NO_USAGE]! : undefined;
  }
}

export class SafetyRecord {
  readonly min: number;
  readonly mean: number;
  readonly count: number;
  constructor(min: number, mean: number, count: number) {
    this.min = min;
    this.mean = mean;
    this.count = count;
  }
}

export class WorkloadUsageRecord implements WorkloadUsage {
  readonly ref: WorkloadRef;
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spend: Readonly<Record<PeriodKind, PeriodSpend>>;
  readonly requestsLastMinute: number;
  readonly requestsLastHour: number;
  readonly maxRequestCostMicrosToday: number;
  readonly models: readonly ModelUsage[];
  readonly safety: SafetyRecord | undefined;
  readonly classifications: readonly string[];
  readonly lastSeen: number;
  constructor(
    s: WorkloadState,
    spend: SpendView,
    minute: number,
    hour: number,
    maxToday: number,
    models: readonly ModelUsage[],
    safety: SafetyRecord | undefined,
    lastSeen: number,
  ) {
    this.ref = s.ref;
    this.key = s.key;
    this.labels = s.labels;
    this.spend = spend;
    this.requestsLastMinute = minute;
    this.requestsLastHour = hour;
    this.maxRequestCostMicrosToday = maxToday;
    this.models = models;
    this.safety = safety;
    this.classifications = s.classifications ?? NONE;
    this.lastSeen = lastSeen;
  }
}
