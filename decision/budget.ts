// Owns the decision for one AIBudget: spend in its period against its allocation and limits,
// alerts (once per period), the grace period, enforcement, the approval hold and expiry of a
// budget without autoRenew. Pure: (budget, matched workloads, memory, now) -> state, reasons,
// next memory, events.
//
// Semantics (the ADR in the report quotes these):
// - Spend = sum over matched workloads of spend[allocation.period] whose window contains `now`
//   (a window from before the boundary is stale and counts 0). "Exceeded" is strictly greater
//   than the limit, for money and for request counts alike.
// - A breach is any of: period spend > allocation (BUDGET_EXCEEDED), today's spend >
//   dailySpendLimit (DAILY_LIMIT_EXCEEDED), today's requests > requestsPerDay
//   (REQUESTS_PER_DAY_EXCEEDED), a workload's most expensive request today > perRequestLimit
//   (PER_REQUEST_LIMIT_EXCEEDED, that workload only). All use enforcement.onBudgetExceeded
//   (default warn).
// - Grace: a breach first warns; after gracePeriod minutes of continued breach the configured
//   action takes over. A breach that clears during grace ends it without enforcement.
// - approvalRequired with a throttle/block action: from the moment enforcement begins the budget
//   awaits a person's approval; when the breach clears (renewal, raised limit) the action stays as
//   PENDING_APPROVAL until the AIBudget carries genops.ai/approved-by + genops.ai/approved-at with
//   approved-at at or after the enforcement start (annotations.ts). An approval made while the
//   breach continues is recorded and removes the hold for when it clears; it does not lift
//   enforcement of a breach still in force (that is what genops.ai/bypass is for). Editing the
//   spec to approvalRequired: false or onBudgetExceeded: warn drops the hold.
// - autoRenew: false: the allocation covers one period, the one in which the current
//   metadata.generation was first evaluated. When it ends there is no new allocation: the budget
//   is Expired, counts as exceeded (BUDGET_EXCEEDED, limit 0) whatever is spent, and stays so
//   until the AIBudget's spec is changed (a new generation grants a new allocation in the
//   then-current period).

import { formatMicros } from '../kernel/money.ts';
import type { Micros } from '../kernel/money.ts';
import type { AIBudget } from '../crds/index.ts';
import type { PeriodKind } from '../pipeline/snapshot.ts';
import {
  APPROVAL_CLOCK_SKEW_MS,
  APPROVED_AT_ANNOTATION,
  APPROVED_BY_ANNOTATION,
  parseApproval,
} from './annotations.ts';
import type { ReasonInterner } from './compare.ts';
import { iso, specMicros, usd } from './format.ts';
import type { AlertRecord, BudgetMemory, DecisionEvent, EnforcementAction } from './memory.ts';
import { isPeriodKind } from './period.ts';
import type { PeriodCalendar } from './period.ts';
import type { Action, BudgetState, Reason, ReasonCode, SourceRef } from './types.ts';
import { actionRank, mostRestrictive } from './types.ts';
import type { WorkloadEntry } from './workload-index.ts';

export interface BudgetContext {
  readonly now: number;
  readonly calendar: PeriodCalendar;
  /** Keeps identity of reasons equal to last time's (see compare.ts). */
  readonly intern?: ReasonInterner;
}

export interface BudgetOutcome {
  readonly state: BudgetState;
  /** Reasons for every workload the budget selects. */
  readonly shared: readonly Reason[];
  /** Reasons for single workloads (per-request limit), by workload key. */
  readonly perWorkload: readonly { readonly entry: WorkloadEntry; readonly reason: Reason }[];
  readonly memory: BudgetMemory;
  readonly events: readonly DecisionEvent[];
  /** The earliest future time at which this budget's decision changes by the clock alone. */
  readonly wakeAt: number | undefined;
}

const ACTIONS: readonly Action[] = ['allow', 'warn', 'throttle', 'block'];

function asAction(value: unknown, fallback: Action): Action {
  return typeof value === 'string' && (ACTIONS as readonly string[]).includes(value)
    ? (value as Action)
    : fallback;
}

/** spend / limit in percent, 2 decimals; 100 when the limit is 0 and something was spent. */
export function utilizationPercent(spend: Micros, limit: Micros): number {
  if (limit <= 0) return spend > 0 ? 100 : 0;
  return Math.round((spend * 10_000) / limit) / 100;
}

/** Linear extrapolation of the spend so far to the end of the period (at least one minute elapsed). */
export function projectSpend(spend: Micros, periodStart: number, periodEnd: number, now: number): Micros {
  const elapsed = Math.max(now - periodStart, 60_000);
  const total = periodEnd - periodStart;
  if (elapsed >= total) return spend;
  return Math.round((spend * total) / elapsed);
}

interface Breach {
  readonly code: ReasonCode;
  readonly message: string;
  readonly figures: Record<string, string | number>;
  /** When the cause ends by itself; undefined when only a spec change ends it. */
  readonly endsAt: number | undefined;
  /** Only this workload (per-request limit); undefined for the whole budget. */
  readonly workload: WorkloadEntry | undefined;
}

export function evaluateBudget(
  budget: AIBudget,
  matched: readonly WorkloadEntry[],
  previous: BudgetMemory,
  ctx: BudgetContext,
): BudgetOutcome {
  const { now, calendar } = ctx;
  const intern = ctx.intern ?? ((r: Reason) => r);
  const spec = budget.spec;
  const source: SourceRef = {
    kind: 'AIBudget',
    namespace: budget.metadata.namespace ?? '',
    name: budget.metadata.name ?? '',
  };
  const events: DecisionEvent[] = [];
  const event = (
    type: DecisionEvent['type'],
    severity: DecisionEvent['severity'],
    message: string,
    figures: Record<string, string | number> = {},
  ): void => {
    events.push({
      type,
      severity,
      at: now,
      source,
      workload: undefined,
      namespace: undefined,
      message,
      figures,
    });
  };

  const period: PeriodKind = isPeriodKind(spec.allocation.period) ? spec.allocation.period : 'monthly';
  const autoRenew = spec.allocation.autoRenew !== false;
  const amount = specMicros(spec.allocation.amount) ?? 0;
  const dailyLimit = specMicros(spec.limits?.dailySpendLimit);
  const perRequestLimit = specMicros(spec.limits?.perRequestLimit);
  const requestsPerDay = spec.limits?.requestsPerDay;
  const onExceeded = asAction(spec.enforcement?.onBudgetExceeded, 'warn');
  const graceMs = Math.max(0, spec.enforcement?.gracePeriod ?? 0) * 60_000;
  const holdable =
    spec.enforcement?.approvalRequired === true && actionRank[onExceeded] >= actionRank.throttle;
  const generation = budget.metadata.generation;

  const bounds = calendar.bounds(period, now);
  const day = calendar.bounds('daily', now);

  // autoRenew: false -- which period the one allocation covers, and whether it is over.
  const sameGeneration = previous.generation === undefined || previous.generation === generation;
  let allocationPeriodStart: number | undefined;
  if (!autoRenew) {
    allocationPeriodStart =
      sameGeneration && previous.allocationPeriodStart !== undefined
        ? previous.allocationPeriodStart
        : bounds.start;
  }
  const expired = allocationPeriodStart !== undefined && bounds.start > allocationPeriodStart;
  const limit = expired ? 0 : amount;

  // Sums over the matched workloads; windows not containing `now` are stale (before a boundary).
  let spend = 0;
  let daySpend = 0;
  let dayRequests = 0;
  const perRequest: Breach[] = [];
  for (const w of matched) {
    const u = w.usage;
    if (!u) continue;
    const p = u.spend[period];
    if (p.start <= now && now < p.end) spend += p.costMicros;
    const d = u.spend.daily;
    if (d.start <= now && now < d.end) {
      daySpend += d.costMicros;
      dayRequests += d.requests;
      if (perRequestLimit !== undefined && u.maxRequestCostMicrosToday > perRequestLimit) {
        perRequest.push({
          code: 'PER_REQUEST_LIMIT_EXCEEDED',
          message: `a request of ${w.ref.kind}/${w.ref.name} cost ${usd(u.maxRequestCostMicrosToday)}, more than the per-request limit ${usd(perRequestLimit)}`,
          figures: {
            maxRequestCost: formatMicros(u.maxRequestCostMicrosToday),
            perRequestLimit: formatMicros(perRequestLimit),
          },
          endsAt: day.end,
          workload: w,
        });
      }
    }
  }
  const utilization = utilizationPercent(spend, limit);
  const projected = projectSpend(spend, bounds.start, bounds.end, now);

  // Renewal: a new period forgets the alerts of the previous one.
  let alertsFired: readonly AlertRecord[] = previous.alertsFired;
  if (previous.periodStart !== undefined && previous.periodStart !== bounds.start) {
    alertsFired = [];
    event('PeriodRenewed', 'Normal', `new ${period} period started, resets at ${iso(bounds.end)}`, {
      previousPeriodStart: iso(previous.periodStart),
      periodStart: iso(bounds.start),
      resetAt: iso(bounds.end),
    });
  }

  // Alerts: each threshold once per period, in ascending order.
  const alerts = spec.alerts;
  const alertsOn = alerts !== undefined && alerts.enabled !== false && !expired && limit > 0;
  const thresholds = alertsOn ? [...alerts.thresholds].sort((a, b) => a.percentage - b.percentage) : [];
  let crossed: { percentage: number; severity: string } | undefined;
  for (const t of thresholds) {
    if (spend * 100 < t.percentage * limit) continue;
    const severity = t.severity ?? 'warning';
    crossed = { percentage: t.percentage, severity };
    if (alertsFired.some((a) => a.percentage === t.percentage)) continue;
    alertsFired = [...alertsFired, { percentage: t.percentage, severity, firedAt: now, spendMicros: spend }];
    event(
      'AlertFired',
      severity === 'info' ? 'Normal' : 'Warning',
      `${severity}: spend ${usd(spend)} reached ${t.percentage}% of the ${period} allocation ${usd(limit)}`,
      {
        percentage: t.percentage,
        severity,
        spend: formatMicros(spend),
        limit: formatMicros(limit),
        utilizationPercent: utilization,
      },
    );
  }

  // Breaches.
  const breaches: Breach[] = [];
  const periodFigures = {
    spend: formatMicros(spend),
    limit: formatMicros(limit),
    utilizationPercent: utilization,
    period,
    periodStart: iso(bounds.start),
    resetAt: iso(bounds.end),
  };
  if (expired) {
    breaches.push({
      code: 'BUDGET_EXCEEDED',
      message: `the one-time ${period} allocation ended (autoRenew: false); change the AIBudget to grant a new one`,
      figures: { ...periodFigures, expired: 'true' },
      endsAt: undefined,
      workload: undefined,
    });
  } else if (spend > limit) {
    breaches.push({
      code: 'BUDGET_EXCEEDED',
      message: `spend ${usd(spend)} exceeds the ${period} allocation ${usd(limit)}`,
      figures: periodFigures,
      endsAt: autoRenew ? bounds.end : undefined,
      workload: undefined,
    });
  }
  if (dailyLimit !== undefined && daySpend > dailyLimit) {
    breaches.push({
      code: 'DAILY_LIMIT_EXCEEDED',
      message: `spend today ${usd(daySpend)} exceeds the daily limit ${usd(dailyLimit)}`,
      figures: {
        dailySpend: formatMicros(daySpend),
        dailySpendLimit: formatMicros(dailyLimit),
        resetAt: iso(day.end),
      },
      endsAt: day.end,
      workload: undefined,
    });
  }
  if (requestsPerDay !== undefined && dayRequests > requestsPerDay) {
    breaches.push({
      code: 'REQUESTS_PER_DAY_EXCEEDED',
      message: `${dayRequests} requests today exceed the limit of ${requestsPerDay} per day`,
      figures: { requestsToday: dayRequests, requestsPerDay, resetAt: iso(day.end) },
      endsAt: day.end,
      workload: undefined,
    });
  }
  breaches.push(...perRequest);
  const breached = breaches.length > 0;

  // The enforcement state machine.
  let action: EnforcementAction = previous.action;
  let actionSince = previous.actionSince;
  let graceEndsAt = previous.graceEndsAt;
  let awaitingApproval = previous.awaitingApproval;
  let lastApproval = previous.lastApproval;
  let rejectedApproval = previous.rejectedApproval;
  const wasEnforcing = action !== 'none' && graceEndsAt === undefined;
  const codes = [...new Set(breaches.map((b) => b.code))].join(',');

  let enforcing = wasEnforcing;
  if (breached && !enforcing) {
    if (graceEndsAt === undefined) {
      graceEndsAt = now + graceMs;
      actionSince = now;
      action = 'warn';
      if (graceMs > 0) {
        event(
          'GraceStarted',
          'Warning',
          `budget exceeded (${codes}); ${onExceeded} from ${iso(graceEndsAt)}`,
          {
            codes,
            graceEndsAt: iso(graceEndsAt),
            action: onExceeded,
          },
        );
      }
    }
    if (now >= graceEndsAt) {
      enforcing = true;
      graceEndsAt = undefined;
      action = onExceeded;
      actionSince = now;
      awaitingApproval = holdable;
      event('EnforcementStarted', 'Warning', `${onExceeded}: ${breaches.map((b) => b.message).join('; ')}`, {
        action: onExceeded,
        codes,
        approvalRequired: holdable ? 'true' : 'false',
      });
    }
  } else if (!breached && graceEndsAt !== undefined) {
    event('GraceCancelled', 'Normal', 'the budget is within its limits again before the grace period ended');
    graceEndsAt = undefined;
    action = 'none';
    actionSince = undefined;
  }

  if (enforcing && action !== onExceeded) {
    // The spec changed the action while enforcing.
    event('EnforcementChanged', 'Warning', `enforcement changed from ${action} to ${onExceeded}`, {
      from: action,
      to: onExceeded,
    });
    action = onExceeded;
    actionSince = now;
  }
  if (awaitingApproval && (!enforcing || !holdable)) awaitingApproval = false;

  // Approval: only looked at while one is awaited.
  if (awaitingApproval) {
    const parsed = parseApproval(budget.metadata.annotations);
    const since = actionSince ?? now;
    if (parsed.kind === 'valid') {
      const { by, at } = parsed.approval;
      const isLast = lastApproval !== undefined && lastApproval.by === by && lastApproval.at === at;
      if (at >= since && at <= now + APPROVAL_CLOCK_SKEW_MS) {
        awaitingApproval = false;
        lastApproval = { by, at, consumedAt: now };
        rejectedApproval = undefined;
        event('ApprovalConsumed', 'Normal', `approved by ${by} at ${iso(at)}`, {
          approvedBy: by,
          approvedAt: iso(at),
          enforcementSince: iso(since),
          breached: breached ? 'true' : 'false',
        });
      } else if (!isLast && rejectedApproval !== parsed.raw) {
        rejectedApproval = parsed.raw;
        const why = at > now ? 'lies in the future' : `is before the enforcement began at ${iso(since)}`;
        event(
          'ApprovalRejected',
          'Warning',
          `approval by ${by} ignored: ${APPROVED_AT_ANNOTATION} ${iso(at)} ${why}`,
          {
            approvedBy: by,
            approvedAt: iso(at),
            enforcementSince: iso(since),
          },
        );
      }
    } else if (parsed.kind === 'invalid' && rejectedApproval !== parsed.raw) {
      rejectedApproval = parsed.raw;
      event('ApprovalRejected', 'Warning', `approval ignored: ${parsed.problem}`, {
        problem: parsed.problem,
      });
    }
  }

  const held = enforcing && !breached && awaitingApproval;
  if (enforcing && !breached && !held) {
    event(
      'EnforcementEnded',
      'Normal',
      lastApproval?.consumedAt === now
        ? `${action} lifted: approved by ${lastApproval.by}`
        : `${action} lifted: the budget is within its limits`,
      { previousAction: action },
    );
    action = 'none';
    actionSince = undefined;
  }

  // Reasons.
  const inGrace = graceEndsAt !== undefined;
  const reasonAction: Action = inGrace ? 'warn' : onExceeded;
  const shared: Reason[] = [];
  const perWorkload: { entry: WorkloadEntry; reason: Reason }[] = [];
  for (const b of breaches) {
    const figures = inGrace ? { ...b.figures, graceEndsAt: iso(graceEndsAt ?? now) } : b.figures;
    const reason: Reason = intern(
      {
        code: b.code,
        action: reasonAction,
        source,
        message: inGrace ? `${b.message} (grace period until ${iso(graceEndsAt ?? now)})` : b.message,
        figures,
        until: awaitingApproval && !inGrace ? undefined : b.endsAt,
      },
      b.workload?.key,
    );
    if (b.workload === undefined) shared.push(reason);
    else perWorkload.push({ entry: b.workload, reason });
  }
  if (held) {
    shared.push(
      intern(
        {
          code: 'PENDING_APPROVAL',
          action: onExceeded,
          source,
          message: `${onExceeded} stays until a person approves: annotate the AIBudget with ${APPROVED_BY_ANNOTATION} and ${APPROVED_AT_ANNOTATION} (at or after ${iso(actionSince ?? now)})`,
          figures: { enforcementSince: iso(actionSince ?? now), ...periodFigures },
          until: undefined,
        },
        undefined,
      ),
    );
  }
  if (crossed && !breaches.some((b) => b.code === 'BUDGET_EXCEEDED')) {
    shared.push(
      intern(
        {
          code: 'BUDGET_THRESHOLD',
          action: crossed.severity === 'info' ? 'allow' : 'warn',
          source,
          message: `${crossed.severity}: spend ${usd(spend)} is at ${utilization}% of the ${period} allocation ${usd(limit)} (threshold ${crossed.percentage}%)`,
          figures: { ...periodFigures, threshold: crossed.percentage, severity: crossed.severity },
          until: bounds.end,
        },
        undefined,
      ),
    );
  }

  let stateAction: Action = 'allow';
  for (const r of shared) stateAction = mostRestrictive(stateAction, r.action);
  for (const p of perWorkload) stateAction = mostRestrictive(stateAction, p.reason.action);

  const wakeCandidates = [bounds.end, day.end, graceEndsAt].filter(
    (t): t is number => t !== undefined && t > now,
  );
  const state: BudgetState = {
    source,
    periodStart: bounds.start,
    resetAt: bounds.end,
    spendMicros: spend,
    limitMicros: limit,
    utilizationPercent: utilization,
    projectedSpendMicros: projected,
    action: stateAction,
    pendingApproval: awaitingApproval,
    matchedWorkloads: matched.map((w) => w.key),
    ...(generation === undefined ? {} : { generation }),
    period,
    dailySpendMicros: daySpend,
    dailyRequests: dayRequests,
    dayResetAt: day.end,
    enforcementAction: action,
    ...(actionSince === undefined ? {} : { enforcementSince: actionSince }),
    ...(graceEndsAt === undefined ? {} : { graceEndsAt }),
    exceeded: breached,
    expired,
    reasons: [...shared, ...perWorkload.map((p) => p.reason)],
  };
  return {
    state,
    shared,
    perWorkload,
    memory: {
      generation,
      periodStart: bounds.start,
      alertsFired,
      action,
      actionSince,
      graceEndsAt,
      awaitingApproval,
      allocationPeriodStart: expired ? 0 : allocationPeriodStart,
      lastApproval,
      rejectedApproval,
    },
    events,
    wakeAt: wakeCandidates.length > 0 ? Math.min(...wakeCandidates) : undefined,
  };
}
