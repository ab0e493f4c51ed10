import { describe, expect, it } from 'vitest';
import type { AIBudgetSpec } from '../crds/index.ts';
import type { DecisionResult } from './engine.ts';
import { budget, harness } from './test-fixtures.ts';
import type { UsageOptions } from './test-fixtures.ts';
import type { Reason, ReasonCode } from './types.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const W = 'ai/Deployment/chat';

const team = { selector: { matchLabels: { team: 'a' } } };
const labels = { team: 'a' };

function spendOf(monthlyUsd: number, extra: UsageOptions = {}): Record<string, UsageOptions> {
  return { chat: { labels, spend: { monthly: monthlyUsd, ...extra.spend }, ...extra } };
}

function codes(r: DecisionResult, key = W): ReasonCode[] {
  return (r.decisions.workloads.get(key)?.reasons ?? []).map((x) => x.code);
}

function reason(r: DecisionResult, code: ReasonCode, key = W): Reason | undefined {
  return r.decisions.workloads.get(key)?.reasons.find((x) => x.code === code);
}

function types(r: DecisionResult): string[] {
  return r.events.map((e) => e.type);
}

describe('budget spend and period', () => {
  it('sums matched workloads of the namespace only, exact money, utilization and projection', () => {
    const h = harness('2025-03-11T00:00:00Z');
    const b = budget('b', { allocation: { amount: 100, period: 'monthly' }, ...team });
    const r = h.run({
      budgets: [b],
      usage: {
        chat: { labels, spend: { monthly: '10.10' } },
        rag: { labels, spend: { monthly: '0.000001' } },
        other: { labels: { team: 'b' }, spend: { monthly: 50 } },
        'elsewhere/chat': { labels, spend: { monthly: 70 } },
      },
    });
    const s = r.decisions.budgets.get('ai/b');
    expect(s?.spendMicros).toBe(10_100_001);
    expect(s?.limitMicros).toBe(100_000_000);
    expect(s?.utilizationPercent).toBe(10.1);
    expect(s?.matchedWorkloads).toEqual(['ai/Deployment/chat', 'ai/Deployment/rag']);
    expect(s?.periodStart).toBe(Date.parse('2025-03-01T00:00:00Z'));
    expect(s?.resetAt).toBe(Date.parse('2025-04-01T00:00:00Z'));
    // 10 of 31 days elapsed: 10.100001 * 31 / 10
    expect(s?.projectedSpendMicros).toBe(Math.round((10_100_001 * 31) / 10));
    expect(s?.action).toBe('allow');
    expect(r.decisions.workloads.get('ai/Deployment/other')?.reasons).toEqual([]);
  });

  it('reports a budget without matched workloads', () => {
    const h = harness('2025-03-11T00:00:00Z');
    const r = h.run({
      budgets: [
        budget('empty', { allocation: { amount: 5 }, selector: { matchLabels: { team: 'nobody' } } }),
      ],
      usage: spendOf(1),
    });
    const s = r.decisions.budgets.get('ai/empty');
    expect(s?.matchedWorkloads).toEqual([]);
    expect(s?.spendMicros).toBe(0);
    expect(s?.action).toBe('allow');
  });

  it('counts windows from before a boundary as zero (stale snapshot)', () => {
    const h = harness('2025-04-01T00:05:00Z');
    const r = h.run({
      budgets: [budget('b', { allocation: { amount: 1 }, ...team })],
      usage: spendOf(5),
      takenAt: Date.parse('2025-03-31T23:59:00Z'),
    });
    expect(r.decisions.budgets.get('ai/b')?.spendMicros).toBe(0);
    expect(codes(r)).toEqual([]);
  });
});

describe('alert thresholds', () => {
  const spec: AIBudgetSpec = {
    allocation: { amount: 100, period: 'monthly' },
    alerts: {
      thresholds: [
        { percentage: 50, severity: 'info' },
        { percentage: 80, severity: 'warning' },
        { percentage: 95, severity: 'critical' },
      ],
    },
    ...team,
  };

  it('fires each threshold once per period and again in the next period', () => {
    const h = harness('2025-03-10T00:00:00Z');
    const b = budget('b', spec);
    let r = h.run({ budgets: [b], usage: spendOf(49.99) });
    expect(types(r)).toEqual([]);

    r = h.run({ budgets: [b], usage: spendOf(50) });
    expect(r.events.map((e) => [e.type, e.figures['percentage'], e.figures['severity']])).toEqual([
      ['AlertFired', 50, 'info'],
    ]);
    expect(r.events[0]?.severity).toBe('Normal');
    // info is informational: the reason is kept, the action stays allow.
    expect(reason(r, 'BUDGET_THRESHOLD')?.action).toBe('allow');
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');

    h.clock.advance(HOUR);
    r = h.run({ budgets: [b], usage: spendOf(60) });
    expect(types(r)).toEqual([]);

    // Jumping over two thresholds fires both, in order.
    r = h.run({ budgets: [b], usage: spendOf(96) });
    expect(r.events.map((e) => e.figures['percentage'])).toEqual([80, 95]);
    expect(r.events.every((e) => e.severity === 'Warning')).toBe(true);
    expect(reason(r, 'BUDGET_THRESHOLD')?.action).toBe('warn');
    expect(reason(r, 'BUDGET_THRESHOLD')?.figures['threshold']).toBe(95);
    expect(reason(r, 'BUDGET_THRESHOLD')?.until).toBe(Date.parse('2025-04-01T00:00:00Z'));
    expect(r.decisions.workloads.get(W)?.action).toBe('warn');
    expect(h.memory.budgets.get('ai/b')?.alertsFired.map((a) => a.percentage)).toEqual([50, 80, 95]);

    // A raised limit lowers utilization; alerts already fired stay fired for the period.
    const raised = budget('b', { ...spec, allocation: { amount: 200 } }, { generation: 2 });
    r = h.run({ budgets: [raised], usage: spendOf(96) });
    expect(types(r)).toEqual([]);
    r = h.run({ budgets: [raised], usage: spendOf(170) });
    expect(types(r)).toEqual([]);

    // New month: renewal event, and alerts fire again.
    h.clock.set(Date.parse('2025-04-01T00:00:30Z'));
    r = h.run({ budgets: [raised], usage: spendOf(101) });
    expect(types(r)).toEqual(['PeriodRenewed', 'AlertFired']);
    expect(r.events[1]?.figures['percentage']).toBe(50);
  });

  it('does not fire when alerts are disabled', () => {
    const h = harness('2025-03-10T00:00:00Z');
    const b = budget('b', { ...spec, alerts: { enabled: false, thresholds: spec.alerts?.thresholds ?? [] } });
    const r = h.run({ budgets: [b], usage: spendOf(99) });
    expect(types(r)).toEqual([]);
    expect(codes(r)).toEqual([]);
  });
});

describe('exceeding, grace period and enforcement', () => {
  const spec: AIBudgetSpec = {
    allocation: { amount: 100 },
    enforcement: { onBudgetExceeded: 'throttle', gracePeriod: 5 },
    ...team,
  };

  it('warns during grace, then throttles, and lifts at renewal', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const b = budget('b', spec);
    let r = h.run({ budgets: [b], usage: spendOf(100) });
    expect(codes(r)).toEqual([]); // equal to the allocation is within it

    r = h.run({ budgets: [b], usage: spendOf(100.000001) });
    expect(types(r)).toEqual(['GraceStarted']);
    expect(r.decisions.workloads.get(W)?.action).toBe('warn');
    const graceReason = reason(r, 'BUDGET_EXCEEDED');
    expect(graceReason?.action).toBe('warn');
    expect(graceReason?.figures['graceEndsAt']).toBe('2025-03-20T12:05:00.000Z');
    expect(r.nextEvaluationAt).toBe(Date.parse('2025-03-20T12:05:00Z'));
    expect(r.decisions.budgets.get('ai/b')?.enforcementAction).toBe('warn');

    h.clock.advance(4 * MINUTE + 59_000);
    r = h.run({ budgets: [b], usage: spendOf(101) });
    expect(types(r)).toEqual([]);
    expect(r.decisions.workloads.get(W)?.action).toBe('warn');

    h.clock.advance(1000);
    r = h.run({ budgets: [b], usage: spendOf(101) });
    expect(types(r)).toEqual(['EnforcementStarted']);
    expect(r.events[0]?.figures['action']).toBe('throttle');
    expect(r.decisions.workloads.get(W)?.action).toBe('throttle');
    const exceeded = reason(r, 'BUDGET_EXCEEDED');
    expect(exceeded?.figures['spend']).toBe('101.000000');
    expect(exceeded?.figures['limit']).toBe('100.000000');
    expect(exceeded?.until).toBe(Date.parse('2025-04-01T00:00:00Z'));
    expect(exceeded?.message).toBe('spend 101.000000 USD exceeds the monthly allocation 100.000000 USD');
    const state = r.decisions.budgets.get('ai/b');
    expect(state?.action).toBe('throttle');
    expect(state?.enforcementSince).toBe(h.clock.now());
    expect(state?.pendingApproval).toBe(false);

    // Re-evaluating changes nothing and emits nothing.
    r = h.run({ budgets: [b], usage: spendOf(102) });
    expect(types(r)).toEqual([]);

    h.clock.set(Date.parse('2025-04-01T00:00:00Z'));
    r = h.run({ budgets: [b], usage: spendOf(0) });
    expect(types(r)).toEqual(['PeriodRenewed', 'EnforcementEnded']);
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
    expect(r.decisions.budgets.get('ai/b')?.enforcementAction).toBe('none');
  });

  it('cancels the grace period when the breach clears in time', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const b = budget('b', spec);
    h.run({ budgets: [b], usage: spendOf(101) });
    h.clock.advance(2 * MINUTE);
    const raised = budget('b', { ...spec, allocation: { amount: 200 } }, { generation: 2 });
    const r = h.run({ budgets: [raised], usage: spendOf(101) });
    expect(types(r)).toEqual(['GraceCancelled']);
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
    h.clock.advance(10 * MINUTE);
    expect(types(h.run({ budgets: [raised], usage: spendOf(101) }))).toEqual([]);
  });

  it('enforces at once without grace and defaults onBudgetExceeded to warn', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const blocking = budget('x', {
      allocation: { amount: 1 },
      enforcement: { onBudgetExceeded: 'block' },
      ...team,
    });
    const plain = budget('y', { allocation: { amount: 1 }, ...team });
    const r = h.run({ budgets: [blocking, plain], usage: spendOf(2) });
    expect(r.decisions.budgets.get('ai/x')?.action).toBe('block');
    expect(r.decisions.budgets.get('ai/y')?.action).toBe('warn');
    expect(types(r)).toEqual(['EnforcementStarted', 'EnforcementStarted']);
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
  });
});

describe('daily, per-request and requests-per-day limits', () => {
  const spec: AIBudgetSpec = {
    allocation: { amount: 1000 },
    limits: { dailySpendLimit: 10, perRequestLimit: 0.5, requestsPerDay: 100 },
    enforcement: { onBudgetExceeded: 'block' },
    ...team,
  };

  it('applies each limit with the daily reset as end', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const b = budget('b', spec);
    const dayEnd = Date.parse('2025-03-21T00:00:00Z');
    let r = h.run({
      budgets: [b],
      usage: {
        chat: { labels, spend: { daily: 10, monthly: 10 }, requests: { daily: 100 }, maxRequestUsd: 0.5 },
      },
    });
    expect(codes(r)).toEqual([]);

    r = h.run({
      budgets: [b],
      usage: {
        chat: {
          labels,
          spend: { daily: 6, monthly: 12 },
          requests: { daily: 60 },
          maxRequestUsd: '0.500001',
        },
        rag: { labels, spend: { daily: 4.5, monthly: 5 }, requests: { daily: 41 }, maxRequestUsd: 0.1 },
      },
    });
    expect(codes(r)).toEqual([
      'DAILY_LIMIT_EXCEEDED',
      'REQUESTS_PER_DAY_EXCEEDED',
      'PER_REQUEST_LIMIT_EXCEEDED',
    ]);
    expect(codes(r, 'ai/Deployment/rag')).toEqual(['DAILY_LIMIT_EXCEEDED', 'REQUESTS_PER_DAY_EXCEEDED']);
    for (const c of codes(r)) expect(reason(r, c)?.until).toBe(dayEnd);
    expect(reason(r, 'DAILY_LIMIT_EXCEEDED')?.figures).toMatchObject({
      dailySpend: '10.500000',
      dailySpendLimit: '10.000000',
    });
    expect(reason(r, 'REQUESTS_PER_DAY_EXCEEDED')?.figures).toMatchObject({
      requestsToday: 101,
      requestsPerDay: 100,
    });
    expect(reason(r, 'PER_REQUEST_LIMIT_EXCEEDED')?.figures).toMatchObject({
      maxRequestCost: '0.500001',
      perRequestLimit: '0.500000',
    });
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    expect(r.decisions.budgets.get('ai/b')?.dailySpendMicros).toBe(10_500_000);
    expect(r.decisions.budgets.get('ai/b')?.dailyRequests).toBe(101);

    // Next day: the daily figures start over and the block lifts.
    h.clock.set(dayEnd);
    r = h.run({ budgets: [b], usage: { chat: { labels, spend: { daily: 0, monthly: 16.5 } } } });
    expect(codes(r)).toEqual([]);
    expect(types(r)).toContain('EnforcementEnded');
  });
});

describe('approvalRequired', () => {
  const spec: AIBudgetSpec = {
    allocation: { amount: 100 },
    enforcement: { onBudgetExceeded: 'block', approvalRequired: true },
    ...team,
  };
  const approve = (by: string, at: string) => ({ 'genops.ai/approved-by': by, 'genops.ai/approved-at': at });

  it('stays blocked after renewal until a valid approval made after enforcement began', () => {
    const h = harness('2025-03-30T10:00:00Z');
    const enforcedAt = '2025-03-30T10:00:00.000Z';
    let r = h.run({ budgets: [budget('b', spec)], usage: spendOf(150) });
    expect(types(r)).toEqual(['EnforcementStarted']);
    expect(r.decisions.budgets.get('ai/b')?.pendingApproval).toBe(true);
    // Only a person ends it.
    expect(reason(r, 'BUDGET_EXCEEDED')?.until).toBeUndefined();

    h.clock.set(Date.parse('2025-04-01T00:00:00Z'));
    r = h.run({ budgets: [budget('b', spec)], usage: spendOf(0) });
    expect(types(r)).toEqual(['PeriodRenewed']);
    expect(codes(r)).toEqual(['PENDING_APPROVAL']);
    const pending = reason(r, 'PENDING_APPROVAL');
    expect(pending?.action).toBe('block');
    expect(pending?.until).toBeUndefined();
    expect(pending?.figures['enforcementSince']).toBe(enforcedAt);
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    expect(r.decisions.budgets.get('ai/b')?.action).toBe('block');

    // An approval dated before the enforcement does not count, and is reported once.
    const stale = budget('b', spec, { annotations: approve('alice', '2025-03-30T09:59:59Z') });
    r = h.run({ budgets: [stale], usage: spendOf(0) });
    expect(types(r)).toEqual(['ApprovalRejected']);
    expect(r.events[0]?.message).toContain('before the enforcement began');
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    expect(types(h.run({ budgets: [stale], usage: spendOf(0) }))).toEqual([]);

    // Malformed and future approvals do not count either.
    const malformed = budget('b', spec, { annotations: approve('alice', 'yesterday') });
    r = h.run({ budgets: [malformed], usage: spendOf(0) });
    expect(types(r)).toEqual(['ApprovalRejected']);
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    const future = budget('b', spec, { annotations: approve('alice', '2025-04-01T01:00:00Z') });
    r = h.run({ budgets: [future], usage: spendOf(0) });
    expect(r.events[0]?.message).toContain('future');
    expect(r.decisions.workloads.get(W)?.action).toBe('block');

    // A valid approval lifts it, audited.
    h.clock.advance(HOUR);
    const approved = budget('b', spec, {
      annotations: approve('alice@example.com', '2025-04-01T00:30:00+00:00'),
    });
    r = h.run({ budgets: [approved], usage: spendOf(0) });
    expect(types(r)).toEqual(['ApprovalConsumed', 'EnforcementEnded']);
    expect(r.events[0]?.figures).toMatchObject({
      approvedBy: 'alice@example.com',
      approvedAt: '2025-04-01T00:30:00.000Z',
      enforcementSince: enforcedAt,
    });
    expect(r.events[1]?.message).toContain('approved by alice@example.com');
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
    expect(r.decisions.budgets.get('ai/b')?.pendingApproval).toBe(false);
    expect(h.memory.budgets.get('ai/b')?.lastApproval?.by).toBe('alice@example.com');

    // The same annotation does not approve the next enforcement.
    h.clock.advance(HOUR);
    r = h.run({ budgets: [approved], usage: spendOf(120) });
    expect(types(r)).toEqual(['EnforcementStarted']);
    h.clock.advance(HOUR);
    r = h.run({
      budgets: [
        budget(
          'b',
          { ...spec, allocation: { amount: 500 } },
          { generation: 2, annotations: approve('alice@example.com', '2025-04-01T00:30:00Z') },
        ),
      ],
      usage: spendOf(120),
    });
    expect(codes(r)).toEqual(['PENDING_APPROVAL']);
    expect(types(r)).toEqual([]);
  });

  it('keeps the hold after a raised limit, and an approval during the breach removes the hold', () => {
    const h = harness('2025-03-10T10:00:00Z');
    h.run({ budgets: [budget('b', spec)], usage: spendOf(150) });
    h.clock.advance(HOUR);
    let r = h.run({
      budgets: [budget('b', { ...spec, allocation: { amount: 300 } }, { generation: 2 })],
      usage: spendOf(150),
    });
    expect(codes(r)).toEqual(['PENDING_APPROVAL']);

    // Second episode: approved while still over budget; the block continues while over.
    const h2 = harness('2025-03-10T10:00:00Z');
    h2.run({ budgets: [budget('b', spec)], usage: spendOf(150) });
    h2.clock.advance(HOUR);
    const approved = budget('b', spec, { annotations: approve('bob', '2025-03-10T10:30:00Z') });
    r = h2.run({ budgets: [approved], usage: spendOf(150) });
    expect(types(r)).toEqual(['ApprovalConsumed']);
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    expect(codes(r)).toEqual(['BUDGET_EXCEEDED']);
    // Once renewed, nothing holds it.
    expect(reason(r, 'BUDGET_EXCEEDED')?.until).toBe(Date.parse('2025-04-01T00:00:00Z'));
    h2.clock.set(Date.parse('2025-04-01T00:00:00Z'));
    r = h2.run({ budgets: [approved], usage: spendOf(0) });
    expect(types(r)).toEqual(['PeriodRenewed', 'EnforcementEnded']);
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
  });

  it('drops the hold when the spec no longer asks for approval', () => {
    const h = harness('2025-03-10T10:00:00Z');
    h.run({ budgets: [budget('b', spec)], usage: spendOf(150) });
    const r = h.run({
      budgets: [budget('b', { ...spec, enforcement: { onBudgetExceeded: 'block' } }, { generation: 2 })],
      usage: spendOf(50),
    });
    expect(types(r)).toEqual(['EnforcementEnded']);
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
  });

  it('does not hold a warn-only budget', () => {
    const h = harness('2025-03-10T10:00:00Z');
    const warnOnly = budget('b', {
      ...spec,
      enforcement: { onBudgetExceeded: 'warn', approvalRequired: true },
    });
    let r = h.run({ budgets: [warnOnly], usage: spendOf(150) });
    expect(r.decisions.budgets.get('ai/b')?.pendingApproval).toBe(false);
    h.clock.set(Date.parse('2025-04-01T00:00:00Z'));
    r = h.run({ budgets: [warnOnly], usage: spendOf(0) });
    expect(codes(r)).toEqual([]);
  });
});

describe('renewal at the month boundary', () => {
  const spec: AIBudgetSpec = {
    allocation: { amount: 10 },
    enforcement: { onBudgetExceeded: 'block' },
    ...team,
  };

  it('renews at 00:00 UTC', () => {
    const h = harness('2025-01-31T23:59:59Z');
    let r = h.run({ budgets: [budget('b', spec)], usage: spendOf(11) });
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    expect(reason(r, 'BUDGET_EXCEEDED')?.until).toBe(Date.parse('2025-02-01T00:00:00Z'));
    expect(r.nextEvaluationAt).toBe(Date.parse('2025-02-01T00:00:00Z'));
    h.clock.advance(1000);
    r = h.run({ budgets: [budget('b', spec)], usage: spendOf(0) });
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
    expect(r.decisions.budgets.get('ai/b')?.periodStart).toBe(Date.parse('2025-02-01T00:00:00Z'));
    expect(r.decisions.budgets.get('ai/b')?.resetAt).toBe(Date.parse('2025-03-01T00:00:00Z'));
  });

  it('renews at local midnight in a time zone (America/New_York, across the DST change)', () => {
    // 2025-03-31 23:30 in New York is 2025-04-01 03:30 UTC (EDT, UTC-4).
    const h = harness('2025-04-01T03:30:00Z', 'America/New_York');
    let r = h.run({ budgets: [budget('b', spec)], usage: spendOf(11) });
    const s = r.decisions.budgets.get('ai/b');
    // March began in EST (UTC-5).
    expect(s?.periodStart).toBe(Date.parse('2025-03-01T05:00:00Z'));
    expect(s?.resetAt).toBe(Date.parse('2025-04-01T04:00:00Z'));
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    h.clock.set(Date.parse('2025-04-01T03:59:59Z'));
    r = h.run({ budgets: [budget('b', spec)], usage: spendOf(11) });
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    h.clock.set(Date.parse('2025-04-01T04:00:00Z'));
    r = h.run({ budgets: [budget('b', spec)], usage: spendOf(0) });
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
    expect(r.decisions.budgets.get('ai/b')?.periodStart).toBe(Date.parse('2025-04-01T04:00:00Z'));
    expect(types(r)).toEqual(['PeriodRenewed', 'EnforcementEnded']);
  });

  it('renews weekly on Monday and quarterly in a time zone ahead of UTC', () => {
    const h = harness('2025-06-30T15:00:00Z', 'Asia/Tokyo'); // already 2025-07-01 00:00 in Tokyo
    const r = h.run({
      budgets: [
        budget('w', { ...spec, allocation: { amount: 10, period: 'weekly' } }),
        budget('q', { ...spec, allocation: { amount: 10, period: 'quarterly' } }),
      ],
      usage: spendOf(0),
    });
    expect(r.decisions.budgets.get('ai/w')?.periodStart).toBe(Date.parse('2025-06-29T15:00:00Z')); // Mon 30 Jun JST
    expect(r.decisions.budgets.get('ai/q')?.periodStart).toBe(Date.parse('2025-06-30T15:00:00Z'));
    expect(r.decisions.budgets.get('ai/q')?.resetAt).toBe(Date.parse('2025-09-30T15:00:00Z'));
  });
});

describe('autoRenew: false', () => {
  const spec: AIBudgetSpec = {
    allocation: { amount: 10, autoRenew: false },
    enforcement: { onBudgetExceeded: 'throttle' },
    ...team,
  };

  it('expires at the end of its period and stays enforced until the spec changes', () => {
    const h = harness('2025-03-15T00:00:00Z');
    let r = h.run({ budgets: [budget('b', spec)], usage: spendOf(5) });
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
    expect(r.decisions.budgets.get('ai/b')?.expired).toBe(false);

    h.clock.set(Date.parse('2025-04-01T00:00:00Z'));
    r = h.run({ budgets: [budget('b', spec)], usage: spendOf(0) });
    expect(r.decisions.budgets.get('ai/b')?.expired).toBe(true);
    expect(r.decisions.budgets.get('ai/b')?.limitMicros).toBe(0);
    expect(r.decisions.workloads.get(W)?.action).toBe('throttle');
    const exceeded = reason(r, 'BUDGET_EXCEEDED');
    expect(exceeded?.figures['expired']).toBe('true');
    expect(exceeded?.until).toBeUndefined();

    h.clock.set(Date.parse('2025-05-10T00:00:00Z'));
    r = h.run({ budgets: [budget('b', spec)], usage: spendOf(0) });
    expect(r.decisions.workloads.get(W)?.action).toBe('throttle');

    // A new generation grants a new allocation in the current period.
    r = h.run({ budgets: [budget('b', spec, { generation: 2 })], usage: spendOf(3) });
    expect(r.decisions.budgets.get('ai/b')?.expired).toBe(false);
    expect(r.decisions.budgets.get('ai/b')?.periodStart).toBe(Date.parse('2025-05-01T00:00:00Z'));
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
    expect(types(r)).toEqual(['EnforcementEnded']);
  });
});
