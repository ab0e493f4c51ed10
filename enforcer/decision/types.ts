// Owns the contract of decisions: what the pure decision stage produces and what the enforcer,
// the webhook, the metrics and the status writers read.

import type { Micros } from '../../kernel/money.ts';
import type { WorkloadRef } from '../../pipeline/snapshot.ts';

/** Ordered from least to most restrictive; the most restrictive wins for a workload. */
export type Action = 'allow' | 'warn' | 'throttle' | 'block';

export type ReasonCode =
  | 'BUDGET_EXCEEDED'
  | 'BUDGET_THRESHOLD'
  | 'DAILY_LIMIT_EXCEEDED'
  | 'PER_REQUEST_LIMIT_EXCEEDED'
  | 'REQUESTS_PER_DAY_EXCEEDED'
  | 'COST_LIMIT_EXCEEDED'
  | 'RATE_LIMITED'
  | 'POLICY_DENY_MODEL'
  | 'POLICY_DENY_PROVIDER'
  | 'POLICY_DENY_CONTENT'
  | 'POLICY_DENY_CLASSIFICATION'
  | 'PENDING_APPROVAL';

export interface SourceRef {
  readonly kind: 'AIBudget' | 'AIPolicy';
  readonly namespace: string;
  readonly name: string;
}

export interface Reason {
  readonly code: ReasonCode;
  readonly action: Action;
  readonly source: SourceRef;
  /** One sentence a person understands, e.g. "spend 5012.30 USD exceeds monthly allocation 5000.00 USD". */
  readonly message: string;
  /** The figures behind it (spend, limit, observed rate, model, ...), exact strings for money. */
  readonly figures: Readonly<Record<string, string | number>>;
  /** When the cause ends by itself (period reset), ms epoch; undefined when only a person can end it. */
  readonly until: number | undefined;
}

export interface WorkloadDecision {
  readonly workload: WorkloadRef;
  readonly key: string;
  /** Most restrictive action over all reasons (after bypass: 'allow' while bypassed). */
  readonly action: Action;
  readonly reasons: readonly Reason[];
  /** Set while an emergency bypass annotation suspends enforcement. */
  readonly bypass: { readonly reason: string; readonly expires: number; readonly by: string } | undefined;
}

/** The state of one AIBudget in its current period, as decided. */
export interface BudgetState {
  readonly source: SourceRef;
  readonly periodStart: number;
  readonly resetAt: number;
  readonly spendMicros: Micros;
  readonly limitMicros: Micros;
  readonly utilizationPercent: number;
  readonly projectedSpendMicros: Micros;
  /** The action in force for workloads it selects ('allow' when within budget). */
  readonly action: Action;
  readonly pendingApproval: boolean;
  readonly matchedWorkloads: readonly string[];
}

/** The state of one AIPolicy, as decided. */
export interface PolicyState {
  readonly source: SourceRef;
  /** The most restrictive action in force for workloads it selects. */
  readonly action: Action;
  readonly matchedWorkloads: readonly string[];
}

export interface DecisionSet {
  /** Increases with every evaluation that changed something. */
  readonly version: number;
  readonly computedAt: number;
  readonly workloads: ReadonlyMap<string, WorkloadDecision>;
  readonly budgets: ReadonlyMap<string, BudgetState>;
  readonly policies: ReadonlyMap<string, PolicyState>;
}

export const actionRank: Readonly<Record<Action, number>> = { allow: 0, warn: 1, throttle: 2, block: 3 };

export function mostRestrictive(a: Action, b: Action): Action {
  return actionRank[a] >= actionRank[b] ? a : b;
}
