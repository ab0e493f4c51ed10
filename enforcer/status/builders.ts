// Owns the mapping between decisions and the status subresource of AIBudget/AIPolicy, both ways:
// decision state + memory -> status (what people read with kubectl), and status -> memory (what a new
// leader or a follower starts from, so alerts do not fire twice and a held budget stays held).
// Pure. Conditions keep their lastTransitionTime while their status does not change.

import type { AIBudget, AIBudgetStatus, AIPolicy, AIPolicyStatus, Condition } from '../../crds/index.ts';
import { formatMicros, usdToMicros } from '../../kernel/money.ts';
import type { UsageSnapshot } from '../../pipeline/snapshot.ts';
import type {
  AlertRecord,
  BudgetMemory,
  EnforcementAction,
  EnforcementMemory,
  PolicyMemory,
  ViolationCategory,
  ViolationRecord,
} from '../decision/memory.ts';
import { emptyBudgetMemory, VIOLATION_CATEGORY_LIST, zeroViolationCounts } from '../decision/memory.ts';
import { resourceKey, type BudgetState, type PolicyState } from '../decision/types.ts';
import type { StatusBuilders } from '../enforcer.ts';

const HISTORY_MAX = 50;
const DAY = 86_400_000;

const iso = (ms: number): string => new Date(ms).toISOString();
const parse = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
};

/** Sets a condition, keeping lastTransitionTime when its status is unchanged. */
function condition(
  previous: readonly Condition[] | undefined,
  type: string,
  status: boolean,
  reason: string,
  message: string,
  generation: number | undefined,
  now: number,
): Condition {
  const value = status ? 'True' : 'False';
  const before = previous?.find((c) => c.type === type);
  return {
    type,
    status: value,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    lastTransitionTime:
      before !== undefined && before.status === value ? before.lastTransitionTime : iso(now),
    reason,
    message: message.slice(0, 32_000),
  };
}

function budgetStateName(state: BudgetState, alerted: boolean): NonNullable<AIBudgetStatus['state']> {
  if (state.expired === true) return 'Expired';
  if (state.action === 'block') return 'Blocked';
  if (state.action === 'throttle') return 'Throttled';
  if (state.exceeded === true) return 'Exceeded';
  if (alerted || state.action === 'warn') return 'Warning';
  return 'Active';
}

export function budgetStatus(input: {
  budget: AIBudget;
  state: BudgetState;
  memory: BudgetMemory | undefined;
  snapshot: UsageSnapshot;
  now: number;
}): AIBudgetStatus {
  const { budget, state, snapshot, now } = input;
  const memory = input.memory ?? emptyBudgetMemory;
  const prev = budget.status;
  const generation = budget.metadata.generation;
  const alerts = memory.alertsFired;
  const reasons = (state.reasons ?? []).filter((r) => r.action !== 'allow' && r.code !== 'BUDGET_THRESHOLD');
  const exceededText = reasons.map((r) => r.message).join('; ');
  const exceededCode = reasons[0]?.code ?? 'WithinBudget';
  const matched = state.matchedWorkloads.length;

  // Breakdown of the month by provider and model over the matched workloads.
  const byProvider = new Map<string, number>();
  const byModel = new Map<string, number>();
  for (const key of state.matchedWorkloads) {
    for (const m of snapshot.workloads.get(key)?.models ?? []) {
      byProvider.set(m.provider, (byProvider.get(m.provider) ?? 0) + m.costMicros);
      const mk = `${m.provider}/${m.model}`;
      byModel.set(mk, (byModel.get(mk) ?? 0) + m.costMicros);
    }
  }
  const money = (m: Map<string, number>): Record<string, string> =>
    Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, formatMicros(v)]));

  // History: previous entries plus a new one when the action changed.
  const history = [...(prev?.enforcementHistory ?? [])];
  const raw: EnforcementAction = state.enforcementAction ?? memory.action;
  const action = raw === 'allow' ? 'none' : raw;
  const lastAction = history.at(-1)?.action ?? 'none';
  if (action !== lastAction) {
    history.push({
      time: iso(state.enforcementSince ?? now),
      action,
      reason: (exceededText || (action === 'none' ? 'within budget' : exceededCode)).slice(0, 1024),
    });
  }

  const conditions: Condition[] = [
    condition(
      prev?.conditions,
      'Ready',
      true,
      'Reconciled',
      'spend and enforcement are up to date',
      generation,
      now,
    ),
    condition(
      prev?.conditions,
      'BudgetExceeded',
      state.exceeded === true,
      state.exceeded === true ? toReason(exceededCode) : 'WithinBudget',
      state.exceeded === true
        ? exceededText
        : `spend ${formatMicros(state.spendMicros)} of ${formatMicros(state.limitMicros)} USD`,
      generation,
      now,
    ),
    condition(
      prev?.conditions,
      'Throttled',
      state.action === 'throttle',
      state.action === 'throttle' ? 'Throttled' : 'NotThrottled',
      state.action === 'throttle' ? exceededText || 'throttled' : '',
      generation,
      now,
    ),
    condition(
      prev?.conditions,
      'Blocked',
      state.action === 'block',
      state.action === 'block' ? 'Blocked' : 'NotBlocked',
      state.action === 'block' ? exceededText || 'blocked' : '',
      generation,
      now,
    ),
    condition(
      prev?.conditions,
      'NoMatchingWorkloads',
      matched === 0,
      matched === 0 ? 'NoMatch' : 'Matched',
      matched === 0 ? 'the selector matches no workload' : `${matched} workloads`,
      generation,
      now,
    ),
    condition(
      prev?.conditions,
      'PendingApproval',
      state.pendingApproval,
      state.pendingApproval ? 'AwaitingApproval' : 'NotPending',
      state.pendingApproval
        ? 'enforcement stays until genops.ai/approved-by and genops.ai/approved-at are set on the AIBudget'
        : '',
      generation,
      now,
    ),
  ];

  return {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions,
    state: budgetStateName(state, alerts.length > 0),
    currency: 'USD',
    currentPeriod: { start: iso(state.periodStart), resetTime: iso(state.resetAt) },
    limit: formatMicros(state.limitMicros),
    spend: formatMicros(state.spendMicros),
    remaining: formatMicros(state.limitMicros - state.spendMicros),
    utilizationPercent: state.utilizationPercent,
    projectedSpend: formatMicros(state.projectedSpendMicros),
    ...(state.dailySpendMicros === undefined
      ? {}
      : { today: { spend: formatMicros(state.dailySpendMicros), requests: state.dailyRequests ?? 0 } }),
    breakdown: { byProvider: money(byProvider), byModel: money(byModel) },
    matchedWorkloads: matched,
    alertHistory: mergeAlerts(prev?.alertHistory, alerts),
    enforcement: {
      action,
      ...(state.enforcementSince === undefined ? {} : { since: iso(state.enforcementSince) }),
      ...(state.graceEndsAt === undefined ? {} : { graceEndsAt: iso(state.graceEndsAt) }),
      awaitingApproval: state.pendingApproval,
    },
    enforcementHistory: history.slice(-HISTORY_MAX),
    lastUpdated: iso(now),
  };
}

/** Alerts of earlier periods stay in the history; this period's come from memory. */
function mergeAlerts(
  previous: AIBudgetStatus['alertHistory'],
  fired: readonly AlertRecord[],
): NonNullable<AIBudgetStatus['alertHistory']> {
  const out = [...(previous ?? [])];
  const seen = new Set(out.map((a) => `${a.time}|${a.percentage}`));
  for (const a of fired) {
    const time = iso(a.firedAt);
    if (seen.has(`${time}|${a.percentage}`)) continue;
    out.push({
      time,
      percentage: a.percentage,
      severity: a.severity as 'info',
      spend: formatMicros(a.spendMicros),
    });
  }
  return out.slice(-HISTORY_MAX);
}

function toReason(code: string): string {
  // Condition reasons are CamelCase: BUDGET_EXCEEDED -> BudgetExceeded.
  return code
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

export function policyStatus(input: {
  policy: AIPolicy;
  state: PolicyState;
  memory: PolicyMemory | undefined;
  now: number;
}): AIPolicyStatus {
  const { policy, state, now } = input;
  const prev = policy.status;
  const generation = policy.metadata.generation;
  const totals = input.memory?.totals ?? zeroViolationCounts();
  const recent = (input.memory?.recent ?? []).filter((r) => r.at > now - DAY);
  const last24 = zeroViolationCounts();
  for (const r of recent) last24[r.category]++;
  const counts = (c: Readonly<Record<ViolationCategory, number>>) => ({
    total: VIOLATION_CATEGORY_LIST.reduce((s, k) => s + c[k], 0),
    ...c,
  });
  const violating = (state.violations?.length ?? 0) > 0;
  const lv = input.memory?.lastViolation;
  const matched = state.matchedWorkloads.length;
  return {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions: [
      condition(prev?.conditions, 'Ready', true, 'Reconciled', 'violations are up to date', generation, now),
      condition(
        prev?.conditions,
        'Violated',
        violating,
        violating ? toReason(state.violations?.[0]?.reason.code ?? 'Violation') : 'Compliant',
        violating
          ? (state.violations ?? [])
              .slice(0, 5)
              .map((v) => `${v.workload}: ${v.reason.message}`)
              .join('; ')
          : 'no violation in force',
        generation,
        now,
      ),
      condition(
        prev?.conditions,
        'NoMatchingWorkloads',
        matched === 0,
        matched === 0 ? 'NoMatch' : 'Matched',
        matched === 0 ? 'the selector matches no workload' : `${matched} workloads`,
        generation,
        now,
      ),
    ],
    matchedWorkloads: matched,
    violations: { total: counts(totals), last24h: counts(last24) },
    ...(lv === undefined
      ? {}
      : {
          lastViolation: {
            time: iso(lv.at),
            category: lv.category,
            workload: lv.workload.split('/').slice(1).join('/').slice(0, 512),
            ...(lv.action === 'allow' ? {} : { action: lv.action }),
            message: lv.message.slice(0, 1024),
          },
        }),
    lastUpdated: iso(now),
  };
}

export function budgetMemoryFromStatus(budget: AIBudget): BudgetMemory | undefined {
  const s = budget.status;
  if (s === undefined) return undefined;
  const periodStart = parse(s.currentPeriod?.start);
  const alertsFired: AlertRecord[] = [];
  for (const a of s.alertHistory ?? []) {
    const at = parse(a.time);
    if (at === undefined || periodStart === undefined || at < periodStart) continue;
    alertsFired.push({
      percentage: a.percentage,
      severity: a.severity,
      firedAt: at,
      spendMicros: a.spend === undefined ? 0 : usdToMicros(a.spend),
    });
  }
  const e = s.enforcement;
  return {
    ...emptyBudgetMemory,
    generation: s.observedGeneration,
    periodStart,
    alertsFired,
    action: e?.action ?? 'none',
    actionSince: parse(e?.since),
    graceEndsAt: parse(e?.graceEndsAt),
    awaitingApproval: e?.awaitingApproval ?? false,
    allocationPeriodStart:
      s.state === 'Expired' ? 0 : budget.spec.allocation.autoRenew === false ? periodStart : undefined,
  };
}

export function policyMemoryFromStatus(policy: AIPolicy, now = Date.now()): PolicyMemory | undefined {
  const s = policy.status;
  if (s === undefined) return undefined;
  const totals = zeroViolationCounts();
  const recent: ViolationRecord[] = [];
  // Times of the last day's violations are not kept in status: they count from when it was written.
  const at = parse(s.lastUpdated) ?? now;
  for (const k of VIOLATION_CATEGORY_LIST) {
    totals[k] = s.violations?.total?.[k] ?? 0;
    for (let i = 0; i < (s.violations?.last24h?.[k] ?? 0) && i < 1000; i++) recent.push({ category: k, at });
  }
  const lv = s.lastViolation;
  const lvAt = parse(lv?.time);
  return {
    generation: s.observedGeneration,
    // Unknown: the next evaluation adopts the violations in force without counting them again.
    active: undefined,
    totals,
    recent,
    lastViolation:
      lv === undefined || lvAt === undefined
        ? undefined
        : {
            at: lvAt,
            category: lv.category,
            workload: lv.workload === undefined ? '' : `${policy.metadata.namespace ?? ''}/${lv.workload}`,
            action: lv.action ?? 'warn',
            message: lv.message ?? '',
          },
  };
}

export function memoryFromStatus(
  budgets: readonly AIBudget[],
  policies: readonly AIPolicy[],
): EnforcementMemory {
  const b = new Map<string, BudgetMemory>();
  for (const budget of budgets) {
    const m = budgetMemoryFromStatus(budget);
    if (m !== undefined) b.set(resourceKey(budget.metadata.namespace ?? '', budget.metadata.name ?? ''), m);
  }
  const p = new Map<string, PolicyMemory>();
  for (const policy of policies) {
    const m = policyMemoryFromStatus(policy);
    if (m !== undefined) p.set(resourceKey(policy.metadata.namespace ?? '', policy.metadata.name ?? ''), m);
  }
  return { budgets: b, policies: p, bypasses: new Map() };
}

export const statusBuilders: StatusBuilders = { budgetStatus, policyStatus, memoryFromStatus };
