// Owns the contract between the pipeline and its readers (decision, enforcer, webhook, metrics):
// an immutable, versioned view of usage per workload. Readers never see a half-applied batch.

import type { Micros } from '../kernel/money.ts';

/** Budget and policy periods; boundaries are computed in the configured time zone (UTC by default). */
export type PeriodKind = 'daily' | 'weekly' | 'monthly' | 'quarterly' | 'yearly';

export interface WorkloadRef {
  readonly namespace: string;
  /** Owning workload kind: Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, or Service (local mode). */
  readonly kind: string;
  readonly name: string;
}

/** Stable map key of a workload: `namespace/Kind/name`. */
export function workloadKey(ref: WorkloadRef): string {
  return `${ref.namespace}/${ref.kind}/${ref.name}`;
}

export interface PeriodSpend {
  /** Start of the current period (ms epoch). */
  readonly start: number;
  /** Start of the next period, when it resets (ms epoch). */
  readonly end: number;
  readonly costMicros: Micros;
  readonly requests: number;
}

export interface ModelUsage {
  readonly provider: string;
  readonly model: string;
  /** Spend in the current monthly period; enough for status breakdowns. */
  readonly costMicros: Micros;
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
  /** True when no price was known and the fallback (possibly zero) was used. */
  readonly unpriced: boolean;
  /**
   * Requests of the month that reported no token usage at all (counted at cost 0): the instrumentation
   * does not send it (docs/compatibility.md). Undefined or 0 when every request had usage.
   */
  readonly requestsWithoutUsage?: number | undefined;
  /**
   * When this replica last charged the model (ms epoch); undefined when not known (restored or merged
   * from a usage record). A policy's model violation holds until the end of the day of the last use.
   */
  readonly lastUsed?: number | undefined;
}

export interface WorkloadUsage {
  readonly ref: WorkloadRef;
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spend: Readonly<Record<PeriodKind, PeriodSpend>>;
  /** Requests in the last 60 s and 3600 s (sliding windows). */
  readonly requestsLastMinute: number;
  readonly requestsLastHour: number;
  /** Most expensive single request in the current day. */
  readonly maxRequestCostMicrosToday: Micros;
  readonly models: readonly ModelUsage[];
  /** Lowest and mean content-safety score seen in the current day; undefined when none was reported. */
  readonly safety: { readonly min: number; readonly mean: number; readonly count: number } | undefined;
  /** Data classification levels seen today (span/resource attribute or pod label); "" for unclassified requests. */
  readonly classifications: readonly string[];
  /** Last time (ms epoch) a span was charged to this workload. */
  readonly lastSeen: number;
}

export interface UsageSnapshot {
  /** Increases by one for every applied batch or period roll-over. */
  readonly version: number;
  readonly takenAt: number;
  readonly workloads: ReadonlyMap<string, WorkloadUsage>;
}

export interface SnapshotSource {
  current(): UsageSnapshot;
  /** Called after each new snapshot is published; returns an unsubscribe function. */
  subscribe(listener: (snapshot: UsageSnapshot) => void): () => void;
  /**
   * Called when a new snapshot is available, without making it (a source whose snapshot costs work,
   * the merged usage of all replicas, makes it only when current() is called). Optional.
   */
  changed?(listener: () => void): () => void;
}
