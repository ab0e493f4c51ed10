// Owns what the operator writes into AIBudget/AIPolicy status, and reading the decision memory
// back from it. Pure: (resource, decided state, memory, snapshot, previous status, now) -> status.
// The enforcer only writes the result (merge patch on the status subresource) and, at start-up,
// rebuilds EnforcementMemory from the statuses it reads (memoryFromStatuses).
//
// - Money is exact: decimal strings from integer micro-USD (kernel/money formatMicros).
// - Conditions keep lastTransitionTime while their status does not change; observedGeneration is
//   the generation the decision was made from.
// - Histories are bounded (most recent last); the alert history doubles as the record of alerts
//   fired in the current period, and `enforcement` holds the budget's state machine, so a restart
//   neither re-fires alerts nor forgets a grace period or a pending approval.

import { formatMicros, usdToMicros } from '../kernel/money.ts';
import type {
  AIBudget,
  AIBudgetStatus,
  AIPolicy,
  AIPolicyStatus,
  Condition,
  ViolationCounts,
} from '../crds/index.ts';
import type { UsageSnapshot } from '../pipeline/snapshot.ts';
import { parseRfc3339 } from './annotations.ts';
import { iso } from './format.ts';
import type {
  AlertRecord,
  BudgetMemory,
  EnforcementMemory,
  PolicyMemory,
  ViolationCategory,
  ViolationRecord,
} from './memory.ts';
import { emptyBudgetMemory, emptyMemory, VIOLATION_CATEGORY_LIST, zeroViolationCounts } from './memory.ts';
import type { Action, BudgetState, PolicyState, ReasonCode } from './types.ts';
import { resourceKey } from './types.ts';

export const MAX_HISTORY = 50;
/** Entries of the provider/model breakdown kept in status (largest spend first). */
export const MAX_BREAKDOWN_ENTRIES = 50;
const DAY = 86_400_000;

type ConditionStatus = Condition['status'];

interface ConditionSpec {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** BUDGET_EXCEEDED -> BudgetExceeded (condition reasons are CamelCase by convention). */
export function camelReason(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => (w === '' ? '' : `${w[0]?.toUpperCase() ?? ''}${w.slice(1)}`))
    .join('');
}

/** Builds conditions in a fixed order, keeping lastTransitionTime of those whose status did not change. */
export function buildConditions(
  specs: readonly ConditionSpec[],
  previous: readonly Condition[] | undefined,
  generation: number | undefined,
  now: number,
): Condition[] {
  return specs.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    return {
      type: c.type,
      status: c.status,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : iso(now),
      reason: c.reason,
      message: truncate(c.message, 32_768),
    };
  });
}

const cond = (type: string, on: boolean, reason: string, message: string): ConditionSpec => ({
  type,
  status: on ? 'True' : 'False',
  reason,
  message,
});

// ---------------------------------------------------------------------------------------------------------
// AIBudget

type StatusAction = 'none' | 'warn' | 'throttle' | 'block';

function statusAction(action: 'none' | Action): StatusAction {
  return action === 'allow' ? 'none' : action;
}

export interface BudgetStatusInput {
  readonly budget: AIBudget;
  /** DecisionSet.budgets entry of this budget. */
  readonly state: BudgetState;
  /** DecisionResult.memory.budgets entry of this budget. */
  readonly memory: BudgetMemory;
  /** The snapshot the decision was made from (for the provider/model breakdown). */
  readonly snapshot: UsageSnapshot;
  readonly previous: AIBudgetStatus | undefined;
  readonly now: number;
}

function budgetStateName(state: BudgetState): NonNullable<AIBudgetStatus['state']> {
  if (state.expired === true) return 'Expired';
  if (state.action === 'block') return 'Blocked';
  if (state.action === 'throttle') return 'Throttled';
  if (state.exceeded === true || state.pendingApproval) return 'Exceeded';
  if (state.action === 'warn') return 'Warning';
  return 'Active';
}

/**
 * Requests of the selected workloads this month that carried no token usage (an instrumentation that
 * does not report it, e.g. streams without usage): charged at cost 0, so the spend may be low. Flagged
 * in status (condition UsageReported) besides genops_spans_without_usage_total and the log warning.
 */
function usageReported(state: BudgetState, snapshot: UsageSnapshot): ConditionSpec {
  const byModel = new Map<string, number>();
  let total = 0;
  for (const key of state.matchedWorkloads) {
    const u = snapshot.workloads.get(key);
    if (!u) continue;
    for (const m of u.models) {
      const n = m.requestsWithoutUsage ?? 0;
      if (n <= 0) continue;
      total += n;
      const id = `${m.provider}/${m.model}`;
      byModel.set(id, (byModel.get(id) ?? 0) + n);
    }
  }
  if (total === 0)
    return cond('UsageReported', true, 'AllRequestsReportedUsage', 'every request reported its tokens');
  const top = [...byModel]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, MAX_BREAKDOWN_ENTRIES)
    .map(([id, n]) => `${id}: ${n}`)
    .join(', ');
  return cond(
    'UsageReported',
    false,
    'RequestsWithoutUsage',
    `${total} request(s) of the selected workloads this month reported no token usage and were charged 0 (${top}); see docs/compatibility.md`,
  );
}

function breakdown(state: BudgetState, snapshot: UsageSnapshot): AIBudgetStatus['breakdown'] {
  // ModelUsage counts the current calendar month: only a monthly budget's period matches it.
  if (state.period !== undefined && state.period !== 'monthly') return undefined;
  const byProvider = new Map<string, number>();
  const byModel = new Map<string, number>();
  for (const key of state.matchedWorkloads) {
    const u = snapshot.workloads.get(key);
    if (!u || !(u.spend.monthly.start <= state.periodStart && state.periodStart < u.spend.monthly.end))
      continue;
    for (const m of u.models) {
      byProvider.set(m.provider, (byProvider.get(m.provider) ?? 0) + m.costMicros);
      const id = `${m.provider}/${m.model}`;
      byModel.set(id, (byModel.get(id) ?? 0) + m.costMicros);
    }
  }
  const top = (m: Map<string, number>): Record<string, string> =>
    Object.fromEntries(
      [...m]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, MAX_BREAKDOWN_ENTRIES)
        .map(([k, v]) => [k, formatMicros(v)]),
    );
  return { byProvider: top(byProvider), byModel: top(byModel) };
}

function alertHistory(
  memory: BudgetMemory,
  previous: AIBudgetStatus['alertHistory'],
): NonNullable<AIBudgetStatus['alertHistory']> {
  const history = [...(previous ?? [])];
  for (const a of memory.alertsFired) {
    const time = iso(a.firedAt);
    if (history.some((h) => h.time === time && h.percentage === a.percentage)) continue;
    history.push({
      time,
      percentage: a.percentage,
      severity: a.severity === 'info' || a.severity === 'critical' ? a.severity : 'warning',
      spend: formatMicros(a.spendMicros),
    });
  }
  return history.slice(-MAX_HISTORY);
}

function enforcementReason(input: BudgetStatusInput): string {
  const { state, memory } = input;
  const m = memory;
  if (m.action === 'none') {
    if (m.lastApproval && m.lastApproval.consumedAt >= (parseTime(input.previous?.enforcement?.since) ?? 0)) {
      return `approved by ${m.lastApproval.by} at ${iso(m.lastApproval.at)}`;
    }
    return 'within limits';
  }
  if (m.graceEndsAt !== undefined) return `grace period until ${iso(m.graceEndsAt)}: ${reasonsText(state)}`;
  const text = reasonsText(state);
  return text === '' ? m.action : text;
}

function reasonsText(state: BudgetState): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const r of state.reasons ?? []) {
    if (r.code === 'BUDGET_THRESHOLD' || seen.has(r.code)) continue;
    seen.add(r.code);
    parts.push(`${r.code}: ${r.message}`);
  }
  return parts.join('; ');
}

export function buildBudgetStatus(input: BudgetStatusInput): AIBudgetStatus {
  const { budget, state, memory, snapshot, previous, now } = input;
  const generation = budget.metadata.generation;
  const matched = state.matchedWorkloads.length;
  const codes = [...new Set((state.reasons ?? []).map((r) => r.code))];
  const breachCodes: ReasonCode[] = codes.filter((c) => c !== 'BUDGET_THRESHOLD' && c !== 'PENDING_APPROVAL');
  const prevAction = previous?.enforcement?.action ?? 'none';

  const history = [...(previous?.enforcementHistory ?? [])];
  if (statusAction(memory.action) !== prevAction) {
    history.push({
      time: iso(memory.action === 'none' ? now : (memory.actionSince ?? now)),
      action: statusAction(memory.action),
      reason: truncate(enforcementReason(input), 1024),
    });
  }

  const exceededMessage =
    breachCodes.length > 0
      ? (state.reasons ?? [])
          .filter((r) => breachCodes.includes(r.code))
          .map((r) => r.message)
          .filter((m, i, all) => all.indexOf(m) === i)
          .join('; ')
      : `spend ${formatMicros(state.spendMicros)} of ${formatMicros(state.limitMicros)} USD`;
  const conditions = buildConditions(
    [
      state.evaluationError === undefined
        ? cond('Ready', true, 'Evaluated', `tracking ${matched} workload(s); ${budgetStateName(state)}`)
        : cond('Ready', false, 'EvaluationFailed', state.evaluationError),
      cond(
        'BudgetExceeded',
        state.exceeded === true,
        breachCodes.length > 0 ? breachCodes.map(camelReason).join(',') : 'WithinBudget',
        exceededMessage,
      ),
      cond(
        'Throttled',
        state.action === 'throttle',
        state.action === 'throttle' ? 'Throttling' : 'NotThrottled',
        state.action === 'throttle' ? reasonsText(state) : 'no throttling',
      ),
      cond(
        'Blocked',
        state.action === 'block',
        state.action === 'block' ? 'Blocking' : 'NotBlocked',
        state.action === 'block' ? reasonsText(state) : 'no blocking',
      ),
      cond(
        'NoMatchingWorkloads',
        matched === 0,
        matched === 0 ? 'SelectorMatchesNothing' : 'WorkloadsMatched',
        matched === 0
          ? 'the selector matches no workload in this namespace'
          : `${matched} workload(s) matched`,
      ),
      usageReported(state, input.snapshot),
      cond(
        'PendingApproval',
        state.pendingApproval,
        state.pendingApproval ? 'AwaitingApproval' : 'NoApprovalNeeded',
        state.pendingApproval
          ? `annotate the AIBudget with genops.ai/approved-by and genops.ai/approved-at (at or after ${iso(memory.actionSince ?? now)})`
          : 'no approval pending',
      ),
    ],
    previous?.conditions,
    generation,
    now,
  );

  if (state.evaluationError !== undefined) {
    // Nothing was computed: keep the last figures and enforcement record, say why they are stale.
    return {
      ...previous,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      conditions,
      lastUpdated: iso(now),
    };
  }
  const status: AIBudgetStatus = {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions,
    state: budgetStateName(state),
    currency: 'USD',
    currentPeriod: { start: iso(state.periodStart), resetTime: iso(state.resetAt) },
    limit: formatMicros(state.limitMicros),
    spend: formatMicros(state.spendMicros),
    remaining: formatMicros(state.limitMicros - state.spendMicros),
    utilizationPercent: state.utilizationPercent,
    projectedSpend: formatMicros(state.projectedSpendMicros),
    today: { spend: formatMicros(state.dailySpendMicros ?? 0), requests: state.dailyRequests ?? 0 },
    matchedWorkloads: matched,
    alertHistory: alertHistory(memory, previous?.alertHistory),
    enforcement: {
      action: statusAction(memory.action),
      ...(memory.actionSince === undefined ? {} : { since: iso(memory.actionSince) }),
      ...(memory.graceEndsAt === undefined ? {} : { graceEndsAt: iso(memory.graceEndsAt) }),
      awaitingApproval: memory.awaitingApproval,
    },
    enforcementHistory: history.slice(-MAX_HISTORY),
    lastUpdated: iso(now),
  };
  const b = breakdown(state, snapshot);
  return b === undefined ? status : { ...status, breakdown: b };
}

function parseTime(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseRfc3339(value);
}

const APPROVED = /^approved by (.+) at (\S+)$/;

/** The decision memory of a budget as its last written status recorded it. */
export function budgetMemoryFromStatus(status: AIBudgetStatus | undefined): BudgetMemory {
  if (!status) return emptyBudgetMemory;
  const periodStart = parseTime(status.currentPeriod?.start);
  const alertsFired: AlertRecord[] = [];
  for (const a of status.alertHistory ?? []) {
    const firedAt = parseTime(a.time);
    if (firedAt === undefined || periodStart === undefined || firedAt < periodStart) continue;
    alertsFired.push({
      percentage: a.percentage,
      severity: a.severity,
      firedAt,
      spendMicros: a.spend === undefined ? 0 : usdToMicros(a.spend),
    });
  }
  let lastApproval: BudgetMemory['lastApproval'];
  for (const h of status.enforcementHistory ?? []) {
    const m = APPROVED.exec(h.reason);
    const at = m?.[2] === undefined ? undefined : parseTime(m[2]);
    const consumedAt = parseTime(h.time);
    if (m?.[1] !== undefined && at !== undefined && consumedAt !== undefined)
      lastApproval = { by: m[1], at, consumedAt };
  }
  const e = status.enforcement;
  return {
    generation: status.observedGeneration,
    periodStart,
    alertsFired,
    action: e?.action ?? 'none',
    actionSince: parseTime(e?.since),
    graceEndsAt: parseTime(e?.graceEndsAt),
    awaitingApproval: e?.awaitingApproval === true,
    // Used only with autoRenew: false: the allocation covered the recorded period, or has expired.
    allocationPeriodStart: status.state === 'Expired' ? 0 : periodStart,
    lastApproval,
    rejectedApproval: undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------
// AIPolicy

export interface PolicyStatusInput {
  readonly policy: AIPolicy;
  /** DecisionSet.policies entry of this policy. */
  readonly state: PolicyState;
  /** DecisionResult.memory.policies entry of this policy. */
  readonly memory: PolicyMemory;
  readonly previous: AIPolicyStatus | undefined;
  readonly now: number;
}

function counts(values: Readonly<Record<ViolationCategory, number>>): ViolationCounts {
  let total = 0;
  for (const c of VIOLATION_CATEGORY_LIST) total += values[c];
  return { total, ...values };
}

export function buildPolicyStatus(input: PolicyStatusInput): AIPolicyStatus {
  const { policy, state, memory, previous, now } = input;
  const generation = policy.metadata.generation;
  const matched = state.matchedWorkloads.length;
  const active = state.violations ?? [];
  const last24h = zeroViolationCounts();
  for (const r of memory.recent) if (r.at > now - DAY) last24h[r.category]++;
  const activeCodes = [...new Set(active.map((v) => v.reason.code))];
  const affected = new Set(active.map((v) => v.workload)).size;
  const byAction = (action: string): string =>
    [...new Set(active.filter((v) => v.reason.action === action).map((v) => v.reason.code))]
      .map(camelReason)
      .join(',');

  const conditions = buildConditions(
    [
      state.evaluationError === undefined
        ? cond('Ready', true, 'Evaluated', `evaluated for ${matched} workload(s)`)
        : cond('Ready', false, 'EvaluationFailed', state.evaluationError),
      cond(
        'NoMatchingWorkloads',
        matched === 0,
        matched === 0 ? 'SelectorMatchesNothing' : 'WorkloadsMatched',
        matched === 0
          ? 'the selector matches no workload in this namespace'
          : `${matched} workload(s) matched`,
      ),
      cond(
        'Violated',
        active.length > 0,
        activeCodes.length > 0 ? activeCodes.map(camelReason).join(',') : 'Compliant',
        active.length > 0 ? `${affected} workload(s) violate the policy` : 'no violation in force',
      ),
      cond(
        'Throttled',
        byAction('throttle') !== '',
        byAction('throttle') || 'NotThrottled',
        byAction('throttle') ? 'some selected workloads are throttled by this policy' : 'no throttling',
      ),
      cond(
        'Blocked',
        byAction('block') !== '',
        byAction('block') || 'NotBlocked',
        byAction('block') ? 'some selected workloads are blocked by this policy' : 'no blocking',
      ),
    ],
    previous?.conditions,
    generation,
    now,
  );

  const lv = memory.lastViolation;
  const status: AIPolicyStatus = {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions,
    matchedWorkloads: matched,
    violations: { total: counts(memory.totals), last24h: counts(last24h) },
    lastUpdated: iso(now),
  };
  if (!lv) return previous?.lastViolation ? { ...status, lastViolation: previous.lastViolation } : status;
  // Memory names workloads namespace/Kind/name, status Kind/name; '' = all selected (shared limit).
  const workload = lv.workload.slice(lv.workload.indexOf('/') + 1);
  return {
    ...status,
    lastViolation: {
      time: iso(lv.at),
      category: lv.category,
      ...(workload === '' ? {} : { workload: truncate(workload, 512) }),
      action: lv.action === 'allow' ? 'warn' : lv.action,
      message: truncate(lv.message, 1024),
    },
  };
}

/**
 * The decision memory of a policy as its status recorded it. The set of violations in force is not
 * in the status, so it is marked unknown: the next evaluation adopts what it finds without counting
 * it again. The last-24h counts are restored as if they happened at the last violation, so they
 * fade out at most 24 h after it (an upper bound, never an undercount within the window).
 */
export function policyMemoryFromStatus(policy: AIPolicy): PolicyMemory {
  const status = policy.status;
  const totals = zeroViolationCounts();
  const recent: ViolationRecord[] = [];
  const lastAt = parseTime(status?.lastViolation?.time);
  for (const c of VIOLATION_CATEGORY_LIST) {
    totals[c] = status?.violations?.total?.[c] ?? 0;
    const n = Math.min(status?.violations?.last24h?.[c] ?? 0, 10_000);
    if (lastAt !== undefined) for (let i = 0; i < n; i++) recent.push({ category: c, at: lastAt });
  }
  const lv = status?.lastViolation;
  return {
    generation: status?.observedGeneration,
    active: status ? undefined : new Map(),
    totals,
    recent,
    lastViolation:
      lv && lastAt !== undefined
        ? {
            at: lastAt,
            category: lv.category,
            // Status names the workload Kind/name; memory keys are namespace/Kind/name.
            workload: lv.workload === undefined ? '' : `${policy.metadata.namespace ?? ''}/${lv.workload}`,
            action: lv.action ?? 'warn',
            message: lv.message ?? '',
          }
        : undefined,
  };
}

/** EnforcementMemory rebuilt from the statuses of the resources (operator start, leader change). */
export function memoryFromStatuses(
  budgets: readonly AIBudget[],
  policies: readonly AIPolicy[],
): EnforcementMemory {
  const key = (r: AIBudget | AIPolicy): string =>
    resourceKey(r.metadata.namespace ?? '', r.metadata.name ?? '');
  return {
    budgets: new Map(budgets.map((b) => [key(b), budgetMemoryFromStatus(b.status)])),
    policies: new Map(policies.map((p) => [key(p), policyMemoryFromStatus(p)])),
    bypasses: emptyMemory.bypasses,
  };
}

/** Equal apart from lastUpdated: lets the enforcer skip status writes that change nothing. */
export function sameStatus(
  a: AIBudgetStatus | AIPolicyStatus | undefined,
  b: AIBudgetStatus | AIPolicyStatus | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  const strip = (s: AIBudgetStatus | AIPolicyStatus): string =>
    JSON.stringify({ ...s, lastUpdated: undefined });
  return strip(a) === strip(b);
}
