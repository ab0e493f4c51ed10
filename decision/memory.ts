// Owns what the decision stage must remember between evaluations (and across restarts): the
// enforcement state machine of each AIBudget, the alerts already fired in a period, the active
// violations of each AIPolicy, and which bypass annotations were already reported. The decision
// functions take the previous memory and return the next one; the enforcer keeps the latest in
// memory and persists the budget and policy parts in CR status (status.ts maps both ways).
// Everything is plain data (numbers are ms epoch), so it survives structured clone and JSON.

import type { Action, SourceRef } from './types.ts';

export type ViolationCategory =
  'costLimits' | 'rateLimits' | 'contentSafety' | 'dataClassification' | 'modelGovernance';

export const VIOLATION_CATEGORY_LIST: readonly ViolationCategory[] = [
  'costLimits',
  'rateLimits',
  'contentSafety',
  'dataClassification',
  'modelGovernance',
];

/** 'none' when nothing is enforced; 'warn' during a grace period or when onBudgetExceeded is warn. */
export type EnforcementAction = 'none' | Action;

export interface AlertRecord {
  readonly percentage: number;
  readonly severity: string;
  readonly firedAt: number;
  readonly spendMicros: number;
}

export interface BudgetMemory {
  /** metadata.generation the rest refers to; a change starts a new allocation for autoRenew: false. */
  readonly generation: number | undefined;
  /** Start of the period the alerts below belong to; a different current period means renewal. */
  readonly periodStart: number | undefined;
  /** Alerts fired in that period (each threshold fires once per period). */
  readonly alertsFired: readonly AlertRecord[];
  /** The budget's own enforcement (not threshold warnings): 'warn' while in grace. */
  readonly action: EnforcementAction;
  /** When `action` started (grace start while in grace, enforcement start after). */
  readonly actionSince: number | undefined;
  /** Set while in grace: when the configured action takes over. */
  readonly graceEndsAt: number | undefined;
  /** Enforcement began with approvalRequired and no person has approved since `actionSince`. */
  readonly awaitingApproval: boolean;
  /**
   * autoRenew: false only: start of the one period the allocation covers (the period in which the
   * current generation was first evaluated); 0 when it is already known to have expired.
   */
  readonly allocationPeriodStart: number | undefined;
  /** The last approval consumed (audit, and not to report it again as stale). */
  readonly lastApproval:
    { readonly by: string; readonly at: number; readonly consumedAt: number } | undefined;
  /** Raw value of an approval already reported as unusable (report each value once). */
  readonly rejectedApproval: string | undefined;
  /**
   * Workloads the budget selected at some point of the period `periodStart` (same generation): their
   * spend stays in the budget for the period, even after a relabel. In-process only (not in status).
   */
  readonly members?: readonly string[];
}

export interface ViolationRecord {
  readonly category: ViolationCategory;
  readonly at: number;
}

export interface PolicyMemory {
  readonly generation: number | undefined;
  /**
   * Violations in force: key `workloadKey|REASON_CODE` -> since. Undefined when unknown (restored from
   * a status that does not record them): the first evaluation then adopts the current violations
   * without counting them again, so a restart never inflates the counts.
   */
  readonly active: ReadonlyMap<string, number> | undefined;
  /** Violations since creation, by category. */
  readonly totals: Readonly<Record<ViolationCategory, number>>;
  /** Violation starts within the last 24 h (bounded), for the last-24h counts. */
  readonly recent: readonly ViolationRecord[];
  readonly lastViolation:
    | {
        readonly at: number;
        readonly category: ViolationCategory;
        readonly workload: string;
        readonly action: Action;
        readonly message: string;
      }
    | undefined;
}

export interface BypassMemory {
  readonly raw: string;
  readonly status: 'active' | 'expired' | 'malformed' | 'unapproved';
}

export interface EnforcementMemory {
  /** Keyed by resourceKey(namespace, name). */
  readonly budgets: ReadonlyMap<string, BudgetMemory>;
  readonly policies: ReadonlyMap<string, PolicyMemory>;
  /**
   * Bypass annotations already reported, keyed `workload:<workloadKey>` or `namespace:<name>`.
   * In-process only: after a restart each active bypass is audited once more, which is harmless.
   */
  readonly bypasses: ReadonlyMap<string, BypassMemory>;
}

export const emptyMemory: EnforcementMemory = {
  budgets: new Map(),
  policies: new Map(),
  bypasses: new Map(),
};

export const emptyBudgetMemory: BudgetMemory = {
  generation: undefined,
  periodStart: undefined,
  alertsFired: [],
  action: 'none',
  actionSince: undefined,
  graceEndsAt: undefined,
  awaitingApproval: false,
  allocationPeriodStart: undefined,
  lastApproval: undefined,
  rejectedApproval: undefined,
};

export function zeroViolationCounts(): Record<ViolationCategory, number> {
  return { costLimits: 0, rateLimits: 0, contentSafety: 0, dataClassification: 0, modelGovernance: 0 };
}

export const emptyPolicyMemory: PolicyMemory = {
  generation: undefined,
  active: new Map(),
  totals: zeroViolationCounts(),
  recent: [],
  lastViolation: undefined,
};

/** Things that happened in one evaluation, for Kubernetes Events, audit log lines and metrics. */
export type DecisionEventType =
  | 'AlertFired'
  | 'PeriodRenewed'
  | 'GraceStarted'
  | 'GraceCancelled'
  | 'EnforcementStarted'
  | 'EnforcementChanged'
  | 'EnforcementEnded'
  | 'ApprovalConsumed'
  | 'ApprovalRejected'
  | 'BypassActivated'
  | 'BypassExpired'
  | 'BypassRejected'
  | 'ViolationStarted'
  | 'ViolationEnded'
  /** An AIBudget/AIPolicy could not be evaluated; the others are evaluated as usual. */
  | 'EvaluationFailed';

export interface DecisionEvent {
  /** Also a good Kubernetes Event `reason`. */
  readonly type: DecisionEventType;
  /** Kubernetes Event type. */
  readonly severity: 'Normal' | 'Warning';
  readonly at: number;
  /** The AIBudget/AIPolicy it concerns, when it concerns one. */
  readonly source: SourceRef | undefined;
  /** The workload key (namespace/Kind/name) it concerns, when it concerns one. */
  readonly workload: string | undefined;
  /** The namespace it concerns when it is a namespace bypass. */
  readonly namespace: string | undefined;
  readonly message: string;
  readonly figures: Readonly<Record<string, string | number>>;
}
