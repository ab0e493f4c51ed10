import { describe, expect, it } from 'vitest';
import { checkBudget, checkPolicy } from '../crds/validate.ts';
import type { AIBudget, AIBudgetSpec, AIBudgetStatus, AIPolicy, AIPolicyStatus } from '../crds/index.ts';
import type { DecisionResult } from './engine.ts';
import { emptyMemory } from './memory.ts';
import {
  budgetMemoryFromStatus,
  buildBudgetStatus,
  buildPolicyStatus,
  camelReason,
  memoryFromStatuses,
  sameStatus,
} from './status.ts';
import { budget, harness, policy, snapshot, usage } from './test-fixtures.ts';
import type { Harness, UsageOptions } from './test-fixtures.ts';

const labels = { team: 'a' };
const sel = { selector: { matchLabels: labels } };
const HOUR = 3_600_000;

function spend(monthly: number | string, extra: UsageOptions = {}): Record<string, UsageOptions> {
  return {
    chat: {
      labels,
      spend: { monthly, daily: 1.5 },
      requests: { daily: 42 },
      models: [
        { provider: 'openai', model: 'gpt-4o', costMicros: 3_000_000 },
        { provider: 'anthropic', model: 'claude-3-haiku', costMicros: 1_250_000 },
      ],
      ...extra,
    },
    rag: { labels, models: [{ provider: 'openai', model: 'gpt-4o-mini', costMicros: 500_000 }] },
  };
}

/** Evaluates, then writes the status onto the budget as the enforcer would. */
function step(
  h: Harness,
  b: AIBudget,
  usageOpts: Record<string, UsageOptions>,
): { r: DecisionResult; status: AIBudgetStatus } {
  const r = h.run({ budgets: [b], usage: usageOpts });
  const state = r.decisions.budgets.get('ai/b');
  const memory = r.memory.budgets.get('ai/b');
  if (!state || !memory) throw new Error('budget not decided');
  const snap = snapshot(
    h.clock.now(),
    Object.entries(usageOpts).map(([name, o]) => usage('ai', name, h.clock.now(), o)),
  );
  const status = buildBudgetStatus({
    budget: b,
    state,
    memory,
    snapshot: snap,
    previous: b.status,
    now: h.clock.now(),
  });
  b.status = status;
  return { r, status };
}

const spec: AIBudgetSpec = {
  allocation: { amount: 10 },
  alerts: {
    thresholds: [
      { percentage: 50, severity: 'info' },
      { percentage: 90, severity: 'critical' },
    ],
  },
  enforcement: { onBudgetExceeded: 'block', gracePeriod: 10, approvalRequired: true },
  ...sel,
};

function condition(status: AIBudgetStatus | AIPolicyStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

describe('AIBudget status', () => {
  it('reports exact money, period, breakdown and conditions, valid against the CRD schema', () => {
    const h = harness('2025-03-11T00:00:00Z');
    const b = budget('b', spec);
    const { status } = step(h, b, spend('4.000001'));
    expect(status).toMatchObject({
      observedGeneration: 1,
      state: 'Active',
      currency: 'USD',
      currentPeriod: { start: '2025-03-01T00:00:00.000Z', resetTime: '2025-04-01T00:00:00.000Z' },
      limit: '10.000000',
      spend: '4.000001',
      remaining: '5.999999',
      utilizationPercent: 40,
      projectedSpend: '12.400003',
      today: { spend: '1.500000', requests: 42 },
      matchedWorkloads: 2,
      breakdown: {
        byProvider: { openai: '3.500000', anthropic: '1.250000' },
        byModel: {
          'openai/gpt-4o': '3.000000',
          'anthropic/claude-3-haiku': '1.250000',
          'openai/gpt-4o-mini': '0.500000',
        },
      },
      enforcement: { action: 'none', awaitingApproval: false },
      lastUpdated: '2025-03-11T00:00:00.000Z',
    });
    expect(status.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['Ready', 'True'],
      ['BudgetExceeded', 'False'],
      ['Throttled', 'False'],
      ['Blocked', 'False'],
      ['NoMatchingWorkloads', 'False'],
      ['UsageReported', 'True'],
      ['PendingApproval', 'False'],
    ]);
    expect(status.conditions?.every((c) => c.observedGeneration === 1)).toBe(true);
    const check = checkBudget({ ...b, status });
    expect(check.ok ? [] : check.problems).toEqual([]);
  });

  it('flags requests that reported no token usage (charged 0) in condition UsageReported', () => {
    const h = harness('2025-03-11T00:00:00Z');
    const b = budget('b', spec);
    const usageOpts = spend(4);
    usageOpts['rag'] = {
      labels,
      models: [
        {
          provider: 'openai',
          model: 'gpt-4o-mini',
          costMicros: 500_000,
          requests: 9,
          requestsWithoutUsage: 4,
        },
      ],
    };
    const flagged = condition(step(h, b, usageOpts).status, 'UsageReported');
    expect(flagged).toMatchObject({ status: 'False', reason: 'RequestsWithoutUsage' });
    expect(flagged?.message).toContain('4 request(s)');
    expect(flagged?.message).toContain('openai/gpt-4o-mini: 4');
    // A workload the budget does not select is not its business.
    const other = spend(4);
    other['elsewhere'] = {
      labels: { team: 'b' },
      models: [{ provider: 'openai', model: 'gpt-4o', requestsWithoutUsage: 7 }],
    };
    expect(condition(step(h, b, other).status, 'UsageReported')?.status).toBe('True');
  });

  it('tracks alerts, grace, block, renewal and approval across evaluations, with bounded histories', () => {
    const h = harness('2025-03-30T10:00:00Z');
    const b = budget('b', spec);
    let { status } = step(h, b, spend(5));
    expect(status.alertHistory).toEqual([
      { time: '2025-03-30T10:00:00.000Z', percentage: 50, severity: 'info', spend: '5.000000' },
    ]);
    const readySince = condition(status, 'Ready')?.lastTransitionTime;

    h.clock.advance(HOUR);
    ({ status } = step(h, b, spend(10.5)));
    expect(status.alertHistory?.map((a) => a.percentage)).toEqual([50, 90]);
    expect(status.state).toBe('Exceeded');
    expect(status.enforcement).toEqual({
      action: 'warn',
      since: '2025-03-30T11:00:00.000Z',
      graceEndsAt: '2025-03-30T11:10:00.000Z',
      awaitingApproval: false,
    });
    expect(condition(status, 'BudgetExceeded')).toMatchObject({
      status: 'True',
      reason: 'BudgetExceeded',
      lastTransitionTime: '2025-03-30T11:00:00.000Z',
    });
    expect(condition(status, 'Ready')?.lastTransitionTime).toBe(readySince);
    expect(status.remaining).toBe('-0.500000');

    h.clock.advance(10 * 60_000);
    ({ status } = step(h, b, spend(10.5)));
    expect(status.state).toBe('Blocked');
    expect(status.enforcement).toEqual({
      action: 'block',
      since: '2025-03-30T11:10:00.000Z',
      awaitingApproval: true,
    });
    expect(condition(status, 'Blocked')?.status).toBe('True');
    expect(condition(status, 'PendingApproval')?.status).toBe('True');
    // BudgetExceeded did not change status: its transition time stays.
    expect(condition(status, 'BudgetExceeded')?.lastTransitionTime).toBe('2025-03-30T11:00:00.000Z');

    h.clock.set(Date.parse('2025-04-01T00:00:00Z'));
    ({ status } = step(h, b, spend(0)));
    expect(status.state).toBe('Blocked');
    expect(status.spend).toBe('0.000000');
    expect(condition(status, 'BudgetExceeded')?.status).toBe('False');
    expect(condition(status, 'PendingApproval')?.status).toBe('True');

    h.clock.advance(HOUR);
    b.metadata.annotations = {
      'genops.ai/approved-by': 'carol',
      'genops.ai/approved-at': '2025-04-01T00:30:00Z',
    };
    ({ status } = step(h, b, spend(0)));
    expect(status.state).toBe('Active');
    expect(status.enforcement).toEqual({ action: 'none', awaitingApproval: false });
    expect(status.enforcementHistory).toEqual([
      {
        time: '2025-03-30T11:00:00.000Z',
        action: 'warn',
        reason: expect.stringContaining('grace period until') as string,
      },
      {
        time: '2025-03-30T11:10:00.000Z',
        action: 'block',
        reason: expect.stringContaining('BUDGET_EXCEEDED') as string,
      },
      {
        time: '2025-04-01T01:00:00.000Z',
        action: 'none',
        reason: 'approved by carol at 2025-04-01T00:30:00.000Z',
      },
    ]);
    const check = checkBudget({ ...b, status });
    expect(check.ok ? [] : check.problems).toEqual([]);

    // Bounded history.
    const long: AIBudgetStatus = {
      ...status,
      alertHistory: Array.from({ length: 60 }, (_, i) => ({
        time: new Date(Date.parse('2024-01-01T00:00:00Z') + i * HOUR).toISOString(),
        percentage: 50,
        severity: 'info' as const,
      })),
    };
    b.status = long;
    h.clock.advance(HOUR);
    ({ status } = step(h, b, spend(6)));
    expect(status.alertHistory?.length).toBe(50);
    expect(status.alertHistory?.at(-1)).toMatchObject({ percentage: 50, time: '2025-04-01T02:00:00.000Z' });
  });

  it('reports no matching workloads', () => {
    const h = harness('2025-03-11T00:00:00Z');
    const b = budget('b', { ...spec, selector: { matchLabels: { team: 'none' } } });
    const { status } = step(h, b, spend(1));
    expect(status.matchedWorkloads).toBe(0);
    expect(condition(status, 'NoMatchingWorkloads')).toMatchObject({
      status: 'True',
      reason: 'SelectorMatchesNothing',
    });
    expect(status.breakdown).toEqual({ byProvider: {}, byModel: {} });
  });

  it('omits the model breakdown for periods other than monthly', () => {
    const h = harness('2025-03-11T00:00:00Z');
    const b = budget('b', { ...spec, allocation: { amount: 10, period: 'weekly' } });
    const { status } = step(h, b, spend(1));
    expect(status.breakdown).toBeUndefined();
  });

  it('survives a restart: memory rebuilt from status does not re-fire alerts and keeps grace and approval', () => {
    const h = harness('2025-03-30T10:00:00Z');
    const b = budget('b', spec);
    step(h, b, spend(10.5)); // alerts 50 and 90, grace starts
    // "Restart": a new engine whose memory comes from the stored status only.
    const h2 = harness('2025-03-30T10:05:00Z');
    h2.memory = memoryFromStatuses([b], []);
    let { r, status } = step(h2, b, spend(10.6));
    expect(r.events.map((e) => e.type)).toEqual([]);
    expect(status.enforcement?.graceEndsAt).toBe('2025-03-30T10:10:00.000Z');
    h2.clock.set(Date.parse('2025-03-30T10:10:00Z'));
    ({ r, status } = step(h2, b, spend(10.6)));
    expect(r.events.map((e) => e.type)).toEqual(['EnforcementStarted']);
    expect(status.state).toBe('Blocked');

    const h3 = harness('2025-04-01T00:00:00Z');
    h3.memory = memoryFromStatuses([b], []);
    ({ r, status } = step(h3, b, spend(0)));
    expect(r.events.map((e) => e.type)).toEqual(['PeriodRenewed']);
    expect(r.decisions.workloads.get('ai/Deployment/chat')?.reasons.map((x) => x.code)).toEqual([
      'PENDING_APPROVAL',
    ]);
    expect(status.state).toBe('Blocked');
  });

  it('restores an expired one-time allocation', () => {
    const oneTime: AIBudgetSpec = { allocation: { amount: 10, autoRenew: false }, ...sel };
    const h = harness('2025-03-30T10:00:00Z');
    const b = budget('b', oneTime);
    step(h, b, spend(1));
    h.clock.set(Date.parse('2025-04-02T00:00:00Z'));
    let { status } = step(h, b, spend(0));
    expect(status.state).toBe('Expired');
    expect(status.limit).toBe('0.000000');
    const h2 = harness('2025-05-02T00:00:00Z');
    h2.memory = memoryFromStatuses([b], []);
    ({ status } = step(h2, b, spend(0)));
    expect(status.state).toBe('Expired');
    expect(budgetMemoryFromStatus(status).allocationPeriodStart).toBe(0);
  });

  it('compares statuses without lastUpdated', () => {
    const h = harness('2025-03-11T00:00:00Z');
    const b = budget('b', spec);
    const first = step(h, b, spend(1)).status;
    h.clock.advance(1000);
    const second = step(h, b, spend(1)).status;
    expect(second.lastUpdated).not.toBe(first.lastUpdated);
    expect(sameStatus(first, { ...first, lastUpdated: 'x' })).toBe(true);
    expect(sameStatus(first, { ...first, spend: '2.000000' })).toBe(false);
  });
});

describe('AIPolicy status', () => {
  const strict = (): AIPolicy =>
    policy('p', {
      rateLimits: { requestsPerMinute: 10, enforcement: 'throttle' },
      modelGovernance: { allowedModels: ['gpt-4*'] },
      ...sel,
    });

  function stepPolicy(
    h: Harness,
    p: AIPolicy,
    usageOpts: Record<string, UsageOptions>,
  ): { r: DecisionResult; status: AIPolicyStatus } {
    const r = h.run({ policies: [p], usage: usageOpts });
    const state = r.decisions.policies.get('ai/p');
    const memory = r.memory.policies.get('ai/p');
    if (!state || !memory) throw new Error('policy not decided');
    const status = buildPolicyStatus({ policy: p, state, memory, previous: p.status, now: h.clock.now() });
    p.status = status;
    return { r, status };
  }

  it('counts violations by category, total and last 24 h, with the last violation and conditions', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const p = strict();
    const bad = {
      chat: { labels, requestsLastMinute: 50, models: [{ provider: 'openai', model: 'gpt-3.5-turbo' }] },
    };
    let { status } = stepPolicy(h, p, bad);
    expect(status).toMatchObject({
      observedGeneration: 1,
      matchedWorkloads: 1,
      violations: {
        total: {
          total: 2,
          rateLimits: 1,
          modelGovernance: 1,
          costLimits: 0,
          contentSafety: 0,
          dataClassification: 0,
        },
        last24h: { total: 2, rateLimits: 1, modelGovernance: 1 },
      },
      lastViolation: {
        time: '2025-03-20T12:00:00.000Z',
        category: 'modelGovernance',
        workload: 'Deployment/chat',
        action: 'block',
      },
    });
    expect(condition(status, 'Violated')).toMatchObject({
      status: 'True',
      reason: 'RateLimited,PolicyDenyModel',
    });
    expect(condition(status, 'Throttled')).toMatchObject({ status: 'True', reason: 'RateLimited' });
    expect(condition(status, 'Blocked')).toMatchObject({ status: 'True', reason: 'PolicyDenyModel' });
    const check = checkPolicy({ ...p, status });
    expect(check.ok ? [] : check.problems).toEqual([]);

    // The same violations again are not new.
    h.clock.advance(60_000);
    ({ status } = stepPolicy(h, p, bad));
    expect(status.violations?.total?.total).toBe(2);

    // Cleared, then a day later: total stays, last 24 h empties.
    h.clock.advance(60_000);
    ({ status } = stepPolicy(h, p, { chat: { labels } }));
    expect(condition(status, 'Violated')?.status).toBe('False');
    h.clock.advance(24 * HOUR);
    ({ status } = stepPolicy(h, p, { chat: { labels } }));
    expect(status.violations?.total?.total).toBe(2);
    expect(status.violations?.last24h?.total).toBe(0);
    expect(status.lastViolation?.category).toBe('modelGovernance');
  });

  it('does not count ongoing violations again after a restart', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const p = strict();
    const bad = { chat: { labels, requestsLastMinute: 50 } };
    stepPolicy(h, p, bad);
    const h2 = harness('2025-03-20T12:00:30Z');
    h2.memory = { ...emptyMemory, ...memoryFromStatuses([], [p]) };
    const { r, status } = stepPolicy(h2, p, bad);
    expect(r.events).toEqual([]);
    expect(status.violations?.total?.rateLimits).toBe(1);
    expect(status.violations?.last24h?.rateLimits).toBe(1);
    expect(status.lastViolation?.workload).toBe('Deployment/chat');
  });

  it('reports a policy without matched workloads', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const { status } = stepPolicy(h, strict(), { other: { labels: { team: 'b' } } });
    expect(status.matchedWorkloads).toBe(0);
    expect(condition(status, 'NoMatchingWorkloads')?.status).toBe('True');
    expect(status.violations?.total?.total).toBe(0);
  });
});

describe('helpers', () => {
  it('turns reason codes into condition reasons', () => {
    expect(camelReason('PER_REQUEST_LIMIT_EXCEEDED')).toBe('PerRequestLimitExceeded');
  });
});
