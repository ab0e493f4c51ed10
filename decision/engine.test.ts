import { describe, expect, it } from 'vitest';
import { createManualClock } from '../kernel/clock.ts';
import { createDecisionEngine } from './engine.ts';
import type { DecisionMetrics } from './engine.ts';
import { emptyMemory } from './memory.ts';
import type { PolicyMemory } from './memory.ts';
import { budget, harness, policy, snapshot, usage } from './test-fixtures.ts';
import type { UsageOptions } from './test-fixtures.ts';
import type { Action } from './types.ts';

const labels = { team: 'a' };
const sel = { selector: { matchLabels: labels } };
const W = 'ai/Deployment/chat';

const blockingBudget = budget('money', {
  allocation: { amount: 10 },
  enforcement: { onBudgetExceeded: 'throttle' },
  ...sel,
});
const strictPolicy = policy('strict', {
  rateLimits: { requestsPerMinute: 10, enforcement: 'warn' },
  modelGovernance: { allowedModels: ['gpt-4*'] },
  ...sel,
});
const overUsage: Record<string, UsageOptions> = {
  chat: {
    labels,
    spend: { monthly: 11 },
    requestsLastMinute: 11,
    models: [{ provider: 'openai', model: 'gpt-3.5-turbo' }],
  },
};

describe('combining budgets and policies', () => {
  it('takes the most restrictive action and keeps every reason with its source', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const r = h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage });
    const d = r.decisions.workloads.get(W);
    expect(d?.action).toBe('block');
    expect(d?.reasons.map((x) => [x.code, x.action, `${x.source.kind}/${x.source.name}`])).toEqual([
      ['BUDGET_EXCEEDED', 'throttle', 'AIBudget/money'],
      ['RATE_LIMITED', 'warn', 'AIPolicy/strict'],
      ['POLICY_DENY_MODEL', 'block', 'AIPolicy/strict'],
    ]);
    expect(d?.bypass).toBeUndefined();
    expect(r.decisions.budgets.get('ai/money')?.action).toBe('throttle');
    expect(r.decisions.policies.get('ai/strict')?.action).toBe('block');
  });

  it('gives every known workload a decision, including cluster workloads without usage', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const r = h.run({
      budgets: [blockingBudget],
      usage: overUsage,
      inventory: [
        { ref: { namespace: 'ai', kind: 'Deployment', name: 'chat' }, labels },
        { ref: { namespace: 'ai', kind: 'StatefulSet', name: 'idle' }, labels },
        { ref: { namespace: 'ai', kind: 'Deployment', name: 'other' }, labels: { team: 'b' } },
      ],
    });
    expect([...r.decisions.workloads.keys()].sort()).toEqual([
      'ai/Deployment/chat',
      'ai/Deployment/other',
      'ai/StatefulSet/idle',
    ]);
    // A budget applies to all it selects, used or idle.
    expect(r.decisions.workloads.get('ai/StatefulSet/idle')?.action).toBe('throttle');
    expect(r.decisions.workloads.get('ai/Deployment/other')?.action).toBe('allow');
  });

  it('uses the cluster labels over the telemetry labels', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const r = h.run({
      budgets: [blockingBudget],
      usage: { chat: { labels: { team: 'b' }, spend: { monthly: 11 } } },
      inventory: [{ ref: { namespace: 'ai', kind: 'Deployment', name: 'chat' }, labels }],
    });
    expect(r.decisions.workloads.get(W)?.action).toBe('throttle');
  });

  it('re-selects when a workload changes labels or a selector changes', () => {
    const h = harness('2025-03-20T12:00:00Z');
    let r = h.run({ budgets: [blockingBudget], usage: overUsage });
    expect(r.decisions.budgets.get('ai/money')?.matchedWorkloads).toEqual([W]);
    r = h.run({
      budgets: [blockingBudget],
      usage: { chat: { labels: { team: 'b' }, spend: { monthly: 11 } } },
    });
    // Issue 12 item 7 (changed expectation): relabelled within the period, its spend stays in the budget
    // (it was [] before: the spend dropped to 0 and the enforcement ended).
    expect(r.decisions.budgets.get('ai/money')?.matchedWorkloads).toEqual([W]);
    expect(r.decisions.budgets.get('ai/money')?.spendMicros).toBe(11_000_000);
    // The next period starts without it.
    h.clock.set(Date.parse('2025-04-01T00:00:05Z'));
    r = h.run({
      budgets: [blockingBudget],
      usage: { chat: { labels: { team: 'b' }, spend: { monthly: 0 } } },
    });
    expect(r.decisions.budgets.get('ai/money')?.matchedWorkloads).toEqual([]);
    const moved = budget(
      'money',
      { ...blockingBudget.spec, selector: { matchLabels: { team: 'b' } } },
      { generation: 2 },
    );
    r = h.run({ budgets: [moved], usage: { chat: { labels: { team: 'b' }, spend: { monthly: 11 } } } });
    expect(r.decisions.budgets.get('ai/money')?.matchedWorkloads).toEqual([W]);
  });
});

describe('emergency bypass', () => {
  const now = '2025-03-20T12:00:00Z';
  const valid = 'reason=incident 4711;expires=2025-03-20T14:00:00Z;by=oncall@example.com';

  it('allows a workload with a valid bypass, keeps its reasons, audits once and expires by itself', () => {
    const h = harness(now);
    const bypass = { workloads: new Map([[W, valid]]) };
    let r = h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage, bypass });
    const d = r.decisions.workloads.get(W);
    expect(d?.action).toBe('allow');
    expect(d?.bypass).toEqual({
      reason: 'incident 4711',
      expires: Date.parse('2025-03-20T14:00:00Z'),
      by: 'oncall@example.com',
    });
    expect(d?.reasons.length).toBe(3);
    const activated = r.events.filter((e) => e.type === 'BypassActivated');
    expect(activated.map((e) => [e.workload, e.figures['by']])).toEqual([[W, 'oncall@example.com']]);
    // Budget state is unaffected by a workload's bypass.
    expect(r.decisions.budgets.get('ai/money')?.action).toBe('throttle');
    expect(r.nextEvaluationAt).toBe(Date.parse('2025-03-20T12:01:00Z')); // rate window first

    r = h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage, bypass });
    expect(r.events.filter((e) => e.type.startsWith('Bypass'))).toEqual([]);

    h.clock.set(Date.parse('2025-03-20T14:00:00Z'));
    r = h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage, bypass });
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    expect(r.decisions.workloads.get(W)?.bypass).toBeUndefined();
    expect(r.decisions.workloads.get(W)?.bypassProblem).toBe('bypass expired at 2025-03-20T14:00:00.000Z');
    expect(r.events.filter((e) => e.type.startsWith('Bypass')).map((e) => e.type)).toEqual(['BypassExpired']);
    r = h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage, bypass });
    expect(r.events.filter((e) => e.type.startsWith('Bypass'))).toEqual([]);
  });

  it('accepts the JSON form on a namespace, and a workload bypass wins over it', () => {
    const h = harness(now);
    const ns = JSON.stringify({ reason: 'migration', expires: '2025-03-21T00:00:00+01:00', by: 'lead' });
    const r = h.run({
      budgets: [blockingBudget],
      usage: { ...overUsage, rag: { labels, spend: { monthly: 1 } } },
      bypass: { namespaces: new Map([['ai', ns]]), workloads: new Map([[W, valid]]) },
    });
    expect(r.decisions.workloads.get(W)?.bypass?.by).toBe('oncall@example.com');
    expect(r.decisions.workloads.get('ai/Deployment/rag')?.bypass).toEqual({
      reason: 'migration',
      expires: Date.parse('2025-03-20T23:00:00Z'),
      by: 'lead',
    });
    expect(r.decisions.workloads.get('ai/Deployment/rag')?.action).toBe('allow');
    expect(
      r.events.filter((e) => e.type === 'BypassActivated').map((e) => e.namespace ?? e.workload),
    ).toEqual([W, 'ai']);
  });

  it('ignores and reports malformed or already expired bypasses, once per value', () => {
    const h = harness(now);
    const cases = [
      'reason=x;by=me',
      'reason=x;expires=tomorrow;by=me',
      'reason=x;expires=2025-03-21T00:00:00;by=me',
      '{"reason":"x"',
      'just text',
      'reason=x;expires=2025-03-20T11:00:00Z;by=me',
    ];
    for (const raw of cases) {
      const bypass = { workloads: new Map([[W, raw]]) };
      let r = h.run({ budgets: [blockingBudget], usage: overUsage, bypass });
      expect(r.decisions.workloads.get(W)?.action).toBe('throttle');
      expect(r.decisions.workloads.get(W)?.bypass).toBeUndefined();
      expect(r.decisions.workloads.get(W)?.bypassProblem).toBeTruthy();
      expect(r.events.filter((e) => e.type === 'BypassRejected').length).toBe(1);
      r = h.run({ budgets: [blockingBudget], usage: overUsage, bypass });
      expect(r.events.filter((e) => e.type === 'BypassRejected').length).toBe(0);
    }
  });

  it('reports the removal of an active bypass', () => {
    const h = harness(now);
    h.run({ budgets: [blockingBudget], usage: overUsage, bypass: { namespaces: new Map([['ai', valid]]) } });
    const r = h.run({ budgets: [blockingBudget], usage: overUsage });
    expect(r.events.map((e) => [e.type, e.namespace])).toEqual([['BypassExpired', 'ai']]);
    expect(r.decisions.workloads.get(W)?.action).toBe('throttle');
  });
});

describe('versions and object reuse', () => {
  it('keeps the version and the objects when nothing changed, and bumps it otherwise', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const a = h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage });
    const b = h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage });
    expect(b.decisions.version).toBe(a.decisions.version);
    expect(b.decisions.workloads.get(W)).toBe(a.decisions.workloads.get(W));
    expect(b.decisions.budgets.get('ai/money')).toBe(a.decisions.budgets.get('ai/money'));
    const c = h.run({
      budgets: [blockingBudget],
      policies: [strictPolicy],
      usage: { chat: { labels, spend: { monthly: 1 } } },
    });
    expect(c.decisions.version).toBe(a.decisions.version + 1);
    expect(c.decisions.workloads.get(W)?.action).toBe('allow');
  });
});

describe('policy violations in memory', () => {
  it('counts a violation when it starts, not on every evaluation, and reports its end', () => {
    const h = harness('2025-03-20T12:00:00Z');
    let r = h.run({ policies: [strictPolicy], usage: overUsage });
    expect(r.events.filter((e) => e.type === 'ViolationStarted').map((e) => e.figures['code'])).toEqual([
      'RATE_LIMITED',
      'POLICY_DENY_MODEL',
    ]);
    r = h.run({ policies: [strictPolicy], usage: overUsage });
    expect(r.events).toEqual([]);
    let m = h.memory.policies.get('ai/strict');
    expect(m?.totals).toMatchObject({ rateLimits: 1, modelGovernance: 1, costLimits: 0 });
    expect(m?.recent.length).toBe(2);
    expect(m?.lastViolation?.category).toBe('modelGovernance');

    h.clock.advance(60_000);
    r = h.run({ policies: [strictPolicy], usage: { chat: { ...overUsage['chat'], requestsLastMinute: 1 } } });
    expect(r.events.map((e) => [e.type, e.figures['code']])).toEqual([['ViolationEnded', 'RATE_LIMITED']]);
    h.clock.advance(60_000);
    h.run({ policies: [strictPolicy], usage: overUsage });
    m = h.memory.policies.get('ai/strict');
    expect(m?.totals.rateLimits).toBe(2);

    // A day later the recent list forgets the old ones.
    h.clock.advance(24 * 3_600_000);
    h.run({ policies: [strictPolicy], usage: { chat: { labels } } });
    expect(h.memory.policies.get('ai/strict')?.recent).toEqual([]);
    expect(h.memory.policies.get('ai/strict')?.totals.rateLimits).toBe(2);
  });

  it('counts a shared cost limit once per policy and window, not once per workload', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const shared = policy('shared', {
      costLimits: { daily: 1, monthly: 2, enforcement: 'throttle' },
      ...sel,
    });
    const usage3 = {
      a: { labels, spend: { daily: 0.5, monthly: 1 } },
      b: { labels, spend: { daily: 0.6, monthly: 1 } },
      c: { labels, spend: { daily: 0.1, monthly: 0.5 } },
    };
    let r = h.run({ policies: [shared], usage: usage3 });
    const started = r.events.filter((e) => e.type === 'ViolationStarted');
    expect(started.map((e) => [e.workload, e.figures['window']])).toEqual([
      [undefined, 'daily'],
      [undefined, 'monthly'],
    ]);
    expect(r.decisions.workloads.get('ai/Deployment/c')?.action).toBe('throttle');
    expect(h.memory.policies.get('ai/shared')?.totals.costLimits).toBe(2);
    expect(h.memory.policies.get('ai/shared')?.lastViolation?.workload).toBe('');
    h.clock.set(Date.parse('2025-03-21T00:00:00Z'));
    r = h.run({ policies: [shared], usage: { a: { labels, spend: { daily: 0, monthly: 2.5 } } } });
    expect(r.events.map((e) => [e.type, e.workload, e.figures['code']])).toEqual([
      ['ViolationEnded', undefined, 'COST_LIMIT_EXCEEDED'],
    ]);
  });

  it('adopts violations without counting them when the active set is unknown (restored memory)', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const restored: PolicyMemory = {
      generation: 1,
      active: undefined,
      totals: { costLimits: 0, rateLimits: 5, contentSafety: 0, dataClassification: 0, modelGovernance: 3 },
      recent: [],
      lastViolation: undefined,
    };
    h.memory = { ...emptyMemory, policies: new Map([['ai/strict', restored]]) };
    const r = h.run({ policies: [strictPolicy], usage: overUsage });
    expect(r.events).toEqual([]);
    expect(h.memory.policies.get('ai/strict')?.totals).toMatchObject({ rateLimits: 5, modelGovernance: 3 });
    expect(h.memory.policies.get('ai/strict')?.active?.size).toBe(2);
  });
});

describe('engine contract', () => {
  it('reports metrics per evaluation', () => {
    const seen: Array<Record<Action, number>> = [];
    const metrics: DecisionMetrics = { evaluated: (_s, byAction) => seen.push({ ...byAction }) };
    const clock = createManualClock(Date.parse('2025-03-20T12:00:00Z'));
    const engine = createDecisionEngine({ clock, metrics });
    engine.evaluate({
      snapshot: snapshot(clock.now(), [usage('ai', 'chat', clock.now(), { labels, spend: { monthly: 11 } })]),
      budgets: [blockingBudget],
      policies: [],
      memory: emptyMemory,
    });
    expect(seen).toEqual([{ allow: 0, warn: 0, throttle: 1, block: 0 }]);
  });

  it('rejects an unknown time zone at construction', () => {
    expect(() => createDecisionEngine({ clock: createManualClock(0), timeZone: 'Mars/Olympus' })).toThrow(
      RangeError,
    );
  });

  it('drops memory of deleted resources', () => {
    const h = harness('2025-03-20T12:00:00Z');
    h.run({ budgets: [blockingBudget], policies: [strictPolicy], usage: overUsage });
    expect(h.memory.budgets.size).toBe(1);
    const r = h.run({ usage: overUsage });
    expect(h.memory.budgets.size).toBe(0);
    expect(h.memory.policies.size).toBe(0);
    expect(r.decisions.workloads.get(W)?.action).toBe('allow');
  });
});

describe('one resource that cannot be evaluated', () => {
  // 1e30 is refused by the CRD schema; this input bypasses it (an old CRD, a bug) to prove isolation.
  const absurd = budget('absurd', { allocation: { amount: 1e30 }, ...sel });
  const absurdPolicy = policy('absurd-policy', { costLimits: { daily: 1e30 }, ...sel });

  it('is reported on itself, and every other budget and policy is still evaluated and enforced', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const r = h.run({
      budgets: [absurd, blockingBudget],
      policies: [absurdPolicy, strictPolicy],
      usage: overUsage,
    });
    const bad = r.decisions.budgets.get('ai/absurd');
    expect(bad?.evaluationError).toMatch(/cannot evaluate this AIBudget: not a decimal amount/);
    expect(bad?.action).toBe('allow');
    expect(r.decisions.policies.get('ai/absurd-policy')?.evaluationError).toMatch(
      /cannot evaluate this AIPolicy/,
    );
    // The neighbours: evaluated as if the broken ones were not there.
    expect(r.decisions.budgets.get('ai/money')?.evaluationError).toBeUndefined();
    expect(r.decisions.budgets.get('ai/money')?.action).toBe('throttle');
    expect(r.decisions.workloads.get(W)?.action).toBe('block');
    expect(r.decisions.workloads.get(W)?.reasons.map((x) => x.source.name)).not.toContain('absurd');
    const failed = r.events.filter((e) => e.type === 'EvaluationFailed');
    expect(failed.map((e) => `${e.source?.kind}/${e.source?.name}`).sort()).toEqual([
      'AIBudget/absurd',
      'AIPolicy/absurd-policy',
    ]);
    expect(failed.every((e) => e.severity === 'Warning')).toBe(true);
  });

  it('reports the failure once, not on every evaluation, and again after its spec changes', () => {
    const h = harness('2025-03-20T12:00:00Z');
    h.run({ budgets: [absurd, blockingBudget], usage: overUsage });
    h.clock.advance(1000);
    const again = h.run({ budgets: [absurd, blockingBudget], usage: overUsage });
    expect(again.events.filter((e) => e.type === 'EvaluationFailed')).toEqual([]);
    h.clock.advance(1000);
    const edited = budget('absurd', { allocation: { amount: 2e30 }, ...sel }, { generation: 2 });
    const third = h.run({ budgets: [edited, blockingBudget], usage: overUsage });
    expect(third.events.filter((e) => e.type === 'EvaluationFailed')).toHaveLength(1);
  });

  it('recovers when fixed: the same budget is evaluated normally', () => {
    const h = harness('2025-03-20T12:00:00Z');
    h.run({ budgets: [absurd], usage: overUsage });
    h.clock.advance(1000);
    const fixed = budget('absurd', { allocation: { amount: 5 }, ...sel }, { generation: 2 });
    const r = h.run({ budgets: [fixed], usage: overUsage });
    expect(r.decisions.budgets.get('ai/absurd')?.evaluationError).toBeUndefined();
    expect(r.decisions.budgets.get('ai/absurd')?.exceeded).toBe(true);
  });
});
