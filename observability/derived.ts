// Owns the scrape-time views: pure functions from the latest UsageSnapshot and DecisionSet to the
// values of the `snapshot` and `decisions` gauges of the catalogue, including the budget-aware
// autoscaling signals. No prom-client here, so the arithmetic is tested on its own.

import type { BudgetState, DecisionSet } from '../decision/types.ts';
import { microsToUsd } from '../kernel/money.ts';
import type { PeriodKind, UsageSnapshot, WorkloadRef } from '../pipeline/snapshot.ts';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** Scrape-time gauge values by metric name. */
export type DerivedValues = ReadonlyMap<string, readonly Sample[]>;

/** Above this the burn ratio is reported as the cap: the budget is exhausted or nearly so. */
export const BURN_RATIO_CAP = 1000;

export interface DerivedOptions {
  /** Workload label keys read for `team`, first present wins. */
  readonly teamLabelKeys?: readonly string[];
  readonly projectLabelKeys?: readonly string[];
  /** Current replica count of a workload (from the enforcer's informers); undefined when unknown. */
  readonly replicasOf?: (ref: WorkloadRef) => number | undefined;
  /** Upper bound of genops_workload_allowed_replicas (also its value when nothing is spent). Default 1000. */
  readonly maxAllowedReplicas?: number;
}

export const DEFAULT_TEAM_LABEL_KEYS: readonly string[] = ['team', 'genops.ai/team'];
export const DEFAULT_PROJECT_LABEL_KEYS: readonly string[] = ['project', 'genops.ai/project'];
const PERIODS: readonly PeriodKind[] = ['daily', 'weekly', 'monthly', 'quarterly', 'yearly'];
const ACTIONS = ['allow', 'warn', 'throttle', 'block'] as const;

/** `namespace/Kind/name` back to its parts (names and namespaces never contain '/'). */
export function parseWorkloadKey(key: string): WorkloadRef | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  const [namespace, kind, name] = parts as [string, string, string];
  return { namespace, kind, name };
}

function pick(labels: Readonly<Record<string, string>>, keys: readonly string[]): string {
  for (const k of keys) {
    const v = labels[k];
    if (v !== undefined) return v;
  }
  return '';
}

function push(out: Map<string, Sample[]>, name: string, labels: Labels, value: number): void {
  let list = out.get(name);
  if (!list) out.set(name, (list = []));
  list.push({ labels, value });
}

/** The gauges computed from the usage snapshot. */
export function snapshotValues(
  snapshot: UsageSnapshot | undefined,
  options: DerivedOptions = {},
): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  if (!snapshot) return out;
  const teamKeys = options.teamLabelKeys ?? DEFAULT_TEAM_LABEL_KEYS;
  const projectKeys = options.projectLabelKeys ?? DEFAULT_PROJECT_LABEL_KEYS;
  for (const w of snapshot.workloads.values()) {
    const id = { namespace: w.ref.namespace, workload: w.ref.name };
    push(out, 'genops_requests_per_second', id, w.requestsLastMinute / 60);
    if (w.safety && w.safety.count > 0) {
      push(out, 'genops_content_safety_score', id, w.safety.mean);
      push(out, 'genops_content_safety_score_min', id, w.safety.min);
    }
    for (const period of PERIODS) {
      const spend = w.spend[period];
      push(out, 'genops_workload_period_spend_usd', { ...id, period }, microsToUsd(spend.costMicros));
    }
    push(
      out,
      'genops_workload_info',
      {
        ...id,
        workload_kind: w.ref.kind,
        team: pick(w.labels, teamKeys),
        project: pick(w.labels, projectKeys),
      },
      1,
    );
  }
  return out;
}

/** Per-replica gauges read from this replica's own windows at scrape time, never leader-gated. */
export const USAGE_GAUGES: readonly string[] = ['genops_cost_month_to_date_usd'];

/** Metrics the usage port counts as events, or (usageCounters: 'snapshot') reads from the snapshot. */
export const USAGE_COUNTERS: readonly string[] = [
  'genops_cost_total_usd',
  'genops_tokens_total',
  'genops_requests_total',
];

/**
 * Usage counters read from the snapshot's per-model figures of the current month: for a single
 * process without restored spend (`genops local`) that equals what it charged since it started,
 * and the monthly reset looks like a counter reset to rate()/increase().
 */
export function usageCounterValues(snapshot: UsageSnapshot | undefined): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  if (!snapshot) return out;
  for (const w of snapshot.workloads.values()) {
    // The month so far includes the restored baseline (the windows keep no model breakdown for it).
    const month = w.spend.monthly;
    if (month.costMicros > 0) {
      push(
        out,
        'genops_cost_month_to_date_usd',
        { namespace: w.ref.namespace, workload: w.ref.name },
        microsToUsd(month.costMicros),
      );
    }
    for (const m of w.models) {
      const labels = {
        namespace: w.ref.namespace,
        workload: w.ref.name,
        provider: m.provider,
        model: m.model,
      };
      push(out, 'genops_cost_total_usd', labels, microsToUsd(m.costMicros));
      push(out, 'genops_requests_total', labels, m.requests);
      const tokens: [string, number][] = [
        ['input', m.inputTokens],
        ['output', m.outputTokens],
        ['cache_read', m.cacheReadTokens],
        ['cache_write', m.cacheWriteTokens],
        ['reasoning', m.reasoningTokens],
      ];
      for (const [token_type, n] of tokens) {
        if (n > 0) push(out, 'genops_tokens_total', { ...labels, token_type }, n);
      }
    }
  }
  return out;
}

/** Burn rate of a budget relative to the rate that would exactly use up what is left by period end. */
export function burnRatio(budget: BudgetState): number {
  const remaining = budget.limitMicros - budget.spendMicros;
  const toCome = budget.projectedSpendMicros - budget.spendMicros;
  if (toCome <= 0) return remaining < 0 ? BURN_RATIO_CAP : 0;
  if (remaining <= 0) return BURN_RATIO_CAP;
  return Math.min(BURN_RATIO_CAP, toCome / remaining);
}

/** Allocation left over allocation, clamped to 0..1; a zero allocation has no headroom. */
export function headroomRatio(budget: BudgetState): number {
  if (budget.limitMicros <= 0) return 0;
  return Math.min(1, Math.max(0, (budget.limitMicros - budget.spendMicros) / budget.limitMicros));
}

/**
 * Replicas that keep the budget within its allocation at the current burn rate, assuming spend grows
 * in proportion to replicas: floor(replicas / burn ratio), at most `max`.
 */
export function allowedReplicas(replicas: number, ratio: number, max: number): number {
  if (ratio <= 0) return max;
  return Math.max(0, Math.min(max, Math.floor(replicas / ratio + 1e-9)));
}

/**
 * When the allocation runs out at the burn rate the projection implies (ms epoch): `at` when already
 * exhausted, undefined when nothing more is projected.
 */
export function exhaustionTime(budget: BudgetState, at: number): number | undefined {
  const remaining = budget.limitMicros - budget.spendMicros;
  if (remaining <= 0) return at;
  const toCome = budget.projectedSpendMicros - budget.spendMicros;
  const timeLeft = budget.resetAt - at;
  if (toCome <= 0 || timeLeft <= 0) return undefined;
  return at + (remaining / toCome) * timeLeft;
}

/** The gauges computed from the decision set (budgets, workload actions, autoscaling signals). */
export function decisionValues(
  decisions: DecisionSet | undefined,
  options: DerivedOptions = {},
): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  if (!decisions) return out;
  const maxReplicas = options.maxAllowedReplicas ?? 1000;

  // Tightest budget per workload: lowest headroom, highest burn ratio (they may come from different budgets).
  const perWorkload = new Map<string, { headroom: number; burn: number }>();
  for (const b of decisions.budgets.values()) {
    const labels = { budget_name: b.source.name, namespace: b.source.namespace };
    const remaining = b.limitMicros - b.spendMicros;
    push(out, 'genops_budget_utilization_percent', labels, b.utilizationPercent);
    push(out, 'genops_budget_spend_usd', labels, microsToUsd(b.spendMicros));
    push(out, 'genops_budget_limit_usd', labels, microsToUsd(b.limitMicros));
    push(out, 'genops_budget_remaining_usd', labels, microsToUsd(remaining));
    push(out, 'genops_budget_projected_spend_usd', labels, microsToUsd(b.projectedSpendMicros));
    push(out, 'genops_budget_period_end_timestamp_seconds', labels, b.resetAt / 1000);
    const exhaustion = exhaustionTime(b, decisions.computedAt);
    if (exhaustion !== undefined) {
      push(out, 'genops_budget_projected_exhaustion_timestamp_seconds', labels, exhaustion / 1000);
    }
    for (const action of ACTIONS) {
      push(out, 'genops_budget_action', { ...labels, action }, b.action === action ? 1 : 0);
    }
    push(out, 'genops_budget_pending_approval', labels, b.pendingApproval ? 1 : 0);

    const headroom = headroomRatio(b);
    const burn = burnRatio(b);
    for (const key of b.matchedWorkloads) {
      const seen = perWorkload.get(key);
      perWorkload.set(
        key,
        seen
          ? { headroom: Math.min(seen.headroom, headroom), burn: Math.max(seen.burn, burn) }
          : { headroom, burn },
      );
    }
  }

  for (const [key, { headroom, burn }] of perWorkload) {
    const ref = decisions.workloads.get(key)?.workload ?? parseWorkloadKey(key);
    if (!ref) continue;
    const labels = { namespace: ref.namespace, workload: ref.name, workload_kind: ref.kind };
    push(out, 'genops_workload_budget_headroom_ratio', labels, headroom);
    push(out, 'genops_workload_budget_burn_ratio', labels, burn);
    const replicas = options.replicasOf?.(ref);
    if (replicas !== undefined && Number.isFinite(replicas) && replicas >= 0) {
      push(out, 'genops_workload_allowed_replicas', labels, allowedReplicas(replicas, burn, maxReplicas));
    }
  }

  for (const d of decisions.workloads.values()) {
    if (d.action === 'allow') continue;
    push(
      out,
      'genops_workload_action',
      { namespace: d.workload.namespace, workload: d.workload.name, action: d.action },
      1,
    );
  }
  return out;
}

/** Identity of one violation for edge counting: it is counted when it first appears. */
export interface Violation {
  readonly id: string;
  readonly labels: { namespace: string; workload: string; policy: string; reason: string };
}

/** Violations in force in a decision set: every reason whose action is not allow. */
export function violationsOf(decisions: DecisionSet): Violation[] {
  const out: Violation[] = [];
  for (const d of decisions.workloads.values()) {
    for (const r of d.reasons) {
      if (r.action === 'allow') continue;
      const s = r.source;
      out.push({
        id: `${d.key}\u0000${s.kind}/${s.namespace}/${s.name}\u0000${r.code}`,
        labels: {
          namespace: d.workload.namespace,
          workload: d.workload.name,
          policy: s.name,
          reason: r.code,
        },
      });
    }
  }
  return out;
}
