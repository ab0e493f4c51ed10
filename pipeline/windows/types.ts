// Owns the usage windows' public types: what apply/replay take and give, the persisted spend
// (SpendState), the per-workload price override hooks and the options. The implementation is in
// windows.ts; the layout of its numbers in layout.ts; the records it publishes in published.ts.

import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Clock } from '../../kernel/clock.ts';
import type { Micros } from '../../kernel/money.ts';
import type { Attribution } from '../attribution/types.ts';
import type { Attributor } from '../attribution/attributor.ts';
import type { IngestMetrics } from '../ingest-metrics.ts';
import type { PartialAggregate } from '../partial.ts';
import type { PeriodKind, SnapshotSource, UsageSnapshot, WorkloadRef } from '../snapshot.ts';
import type { ScopedDedupeOptions } from './dedupe.ts';
import type { ChargeDelta } from './delta.ts';
import type { PeriodBounds } from './periods.ts';

/** Token counts of one span, as the span records and their links carry them. */
export interface SpanTokens {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Cache reads + writes. */
  readonly cacheTokens: number;
  /** Of cacheTokens, the reads (from the span's link record); absent: all of them. */
  readonly cacheReadTokens?: number;
  readonly cacheWriteTokens?: number;
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
  /**
   * What this request changed (charges and the dedupe keys it added), for the write-ahead log;
   * undefined when it changed nothing. Replaying it (`replay`) makes the same change.
   */
  readonly delta: ChargeDelta | undefined;
}

/** One charged (workload, provider, model) group of a live request: the usage counters' events. */
export interface ChargedGroup {
  readonly workload: WorkloadRef;
  readonly provider: string;
  readonly model: string;
  readonly requests: number;
  readonly costMicros: Micros;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
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
  dedupe?: ScopedDedupeOptions;
  /**
   * Told about every group charged by a live request (not by replay), so counters count what this
   * process charged since it started.
   */
  onCharged?: (group: ChargedGroup) => void;
  /**
   * Snapshots are published at most this often. Default adapts to the number of workloads
   * (a publish copies the workload map): 20 ms up to 40k workloads, growing to 100 ms at 200k.
   */
  publishIntervalMs?: number;
  /** Beyond this many workloads new senders are charged to `<namespace>/Overflow/other`; default 100k. */
  maxWorkloads?: number;
  /**
   * Distinct provider/model rows per workload; further names are folded into one
   * ("other", "other") row (genops_model_names_folded_total). Default 64. Model names are
   * client input: this keeps a lookup constant-time and a workload's memory bounded.
   */
  maxModelsPerWorkload?: number;
  /** Distinct provider/model pairs across all workloads; beyond, new pairs fold too. Default 16k. */
  maxModelNames?: number;
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
  /**
   * Re-applies a delta from the write-ahead log: its dedupe keys always, its charges only when
   * `charge` (the usage record does not hold them yet), and only to the periods containing its receipt.
   * A function charges only the workloads it returns true for: a sharded record holds each shard up
   * to its own log position.
   */
  replay(delta: ChargeDelta, charge: boolean | ((ref: WorkloadRef) => boolean)): void;
}
