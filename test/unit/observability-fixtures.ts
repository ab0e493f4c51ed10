// Small builders of UsageSnapshot and DecisionSet values for the observability tests.

import type {
  Action,
  BudgetState,
  DecisionSet,
  Reason,
  ReasonCode,
  WorkloadDecision,
} from '../../decision/types.ts';
import type {
  PeriodKind,
  PeriodSpend,
  UsageSnapshot,
  WorkloadRef,
  WorkloadUsage,
} from '../../pipeline/snapshot.ts';
import { workloadKey } from '../../pipeline/snapshot.ts';

const PERIODS: readonly PeriodKind[] = ['daily', 'weekly', 'monthly', 'quarterly', 'yearly'];

export function workload(
  ref: WorkloadRef,
  extra: Partial<Omit<WorkloadUsage, 'ref' | 'key'>> & { monthlyMicros?: number } = {},
): WorkloadUsage {
  const spend = {} as Record<PeriodKind, PeriodSpend>;
  for (const p of PERIODS) spend[p] = { start: 0, end: 1, costMicros: extra.monthlyMicros ?? 0, requests: 0 };
  return {
    ref,
    key: workloadKey(ref),
    labels: {},
    spend,
    requestsLastMinute: 0,
    requestsLastHour: 0,
    maxRequestCostMicrosToday: 0,
    models: [],
    safety: undefined,
    classifications: [],
    lastSeen: 0,
    ...extra,
  };
}

export function snapshot(workloads: readonly WorkloadUsage[], version = 1): UsageSnapshot {
  return { version, takenAt: 0, workloads: new Map(workloads.map((w) => [w.key, w])) };
}

export function budget(
  name: string,
  namespace: string,
  figures: {
    spend: number;
    limit: number;
    projected: number;
    periodStart?: number;
    resetAt?: number;
    matched?: readonly WorkloadRef[];
    action?: Action;
  },
): BudgetState {
  const spendMicros = figures.spend * 1e6;
  const limitMicros = figures.limit * 1e6;
  return {
    source: { kind: 'AIBudget', namespace, name },
    periodStart: figures.periodStart ?? 0,
    resetAt: figures.resetAt ?? 30 * 86_400_000,
    spendMicros,
    limitMicros,
    utilizationPercent: limitMicros > 0 ? (spendMicros / limitMicros) * 100 : 0,
    projectedSpendMicros: figures.projected * 1e6,
    action: figures.action ?? 'allow',
    pendingApproval: false,
    matchedWorkloads: (figures.matched ?? []).map(workloadKey),
  };
}

export function reason(code: ReasonCode, action: Action, source: Reason['source']): Reason {
  return { code, action, source, message: code, figures: {}, until: undefined };
}

export function decision(ref: WorkloadRef, action: Action, reasons: readonly Reason[]): WorkloadDecision {
  return { workload: ref, key: workloadKey(ref), action, reasons, bypass: undefined };
}

export function decisionSet(
  parts: { budgets?: readonly BudgetState[]; workloads?: readonly WorkloadDecision[]; computedAt?: number },
  version = 1,
): DecisionSet {
  return {
    version,
    computedAt: parts.computedAt ?? 15 * 86_400_000,
    workloads: new Map((parts.workloads ?? []).map((w) => [w.key, w])),
    budgets: new Map((parts.budgets ?? []).map((b) => [`${b.source.namespace}/${b.source.name}`, b])),
    policies: new Map(),
  };
}
