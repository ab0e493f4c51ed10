// Owns the contract of decisions: what the pure decision stage produces and what the enforcer,
// the webhook, the metrics and the status writers read.

import type { Micros } from '../kernel/money.ts';
import type { PeriodKind, WorkloadRef } from '../pipeline/snapshot.ts';

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
  /** A bypass annotation that was present but ignored (expired or malformed), and why. */
  readonly bypassProblem?: string;
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
  /** metadata.generation of the AIBudget this was decided from. */
  readonly generation?: number;
  readonly period?: PeriodKind;
  /** Spend and requests of the matched workloads in the current day, and when the day resets. */
  readonly dailySpendMicros?: Micros;
  readonly dailyRequests?: number;
  readonly dayResetAt?: number;
  /** The budget's own enforcement ('warn' during grace), without threshold warnings. */
  readonly enforcementAction?: 'none' | Action;
  readonly enforcementSince?: number;
  readonly graceEndsAt?: number;
  /** Some limit of the budget is exceeded right now (allocation, daily spend, requests, per request). */
  readonly exceeded?: boolean;
  /** autoRenew: false and the period of its allocation has ended. */
  readonly expired?: boolean;
  /** The reasons this budget contributes, budget-wide and per workload. */
  readonly reasons?: readonly Reason[];
  /** Set when the budget could not be evaluated: why. It then enforces nothing (Ready=False). */
  readonly evaluationError?: string;
}

/** The state of one AIPolicy, as decided. */
export interface PolicyState {
  readonly source: SourceRef;
  /** The most restrictive action in force for workloads it selects. */
  readonly action: Action;
  readonly matchedWorkloads: readonly string[];
  /** metadata.generation of the AIPolicy this was decided from. */
  readonly generation?: number;
  /** Violations in force now, one per workload and reason code. */
  readonly violations?: readonly PolicyViolation[];
  /** Set when the policy could not be evaluated: why. It then enforces nothing (Ready=False). */
  readonly evaluationError?: string;
}

export interface PolicyViolation {
  readonly workload: string;
  readonly category: 'costLimits' | 'rateLimits' | 'contentSafety' | 'dataClassification' | 'modelGovernance';
  readonly reason: Reason;
}

export interface DecisionSet {
  /** Increases with every evaluation that changed something. */
  readonly version: number;
  readonly computedAt: number;
  readonly workloads: ReadonlyMap<string, WorkloadDecision>;
  readonly budgets: ReadonlyMap<string, BudgetState>;
  readonly policies: ReadonlyMap<string, PolicyState>;
}

/** Map key of an AIBudget/AIPolicy in DecisionSet.budgets/policies and in the memory: `namespace/name`. */
export function resourceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export const actionRank: Readonly<Record<Action, number>> = { allow: 0, warn: 1, throttle: 2, block: 3 };

export function mostRestrictive(a: Action, b: Action): Action {
  return actionRank[a] >= actionRank[b] ? a : b;
}
