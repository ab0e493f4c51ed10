import { describe, expect, it } from 'vitest';
import type { AIBudget } from '../crds/index.ts';
import type { Reason, WorkloadDecision } from '../decision/types.ts';
import { workloadKey, type WorkloadRef } from '../pipeline/snapshot.ts';
import { budget, budgetState, decisionSet, policy } from '../webhook/testing/fixtures.ts';
import { createStaticAdmissionView } from '../webhook/view.ts';
import { check, denialBody } from './decide.ts';
import type { CallerIdentity } from './identity.ts';
import { createOutputCostEstimator } from './index.ts';
import type { CallFacts } from './request.ts';

const NOW = Date.UTC(2026, 6, 20, 12);
const ref: WorkloadRef = { namespace: 'ai', kind: 'Deployment', name: 'chat' };
const caller = (labels: Record<string, string> = { team: 'search' }, r = ref): CallerIdentity => ({
  ref: r,
  key: workloadKey(r),
  labels,
  via: 'headers',
  spoofed: false,
});
const facts = (f: Partial<CallFacts> = {}): CallFacts => ({
  provider: 'openai',
  model: 'gpt-4o-mini',
  maxTokens: undefined,
  classification: undefined,
  ...f,
});

function decision(reasons: Reason[], extra: Partial<WorkloadDecision> = {}): WorkloadDecision {
  return {
    workload: ref,
    key: workloadKey(ref),
    action: reasons.some((r) => r.action === 'block') ? 'block' : 'allow',
    reasons,
    bypass: undefined,
    ...extra,
  };
}

describe('check', () => {
  it('denies with 429 and the budget, spend, limit and reset time while a selecting budget blocks', () => {
    const view = createStaticAdmissionView();
    view.setBudgets([budget({ name: 'search-budget', team: 'search' })]);
    view.setDecisions(decisionSet({ budgets: [budgetState('search-budget', 'block')] }));
    const v = check({ identity: caller(), facts: facts(), view, now: NOW });
    expect(v.allowed).toBe(false);
    expect(v.status).toBe(429);
    expect(v.category).toBe('budget');
    const body = JSON.parse(denialBody(v, NOW)) as Record<string, unknown>;
    expect(body).toMatchObject({
      allowed: false,
      status: 429,
      code: 'BUDGET_EXCEEDED',
      kind: 'AIBudget',
      namespace: 'ai',
      name: 'search-budget',
      spend: '5012.300000',
      limit: '5000.000000',
      currency: 'USD',
      workload: 'ai/Deployment/chat',
    });
    expect(body['message']).toContain('AIBudget "search-budget"');
    expect(typeof body['resetAt']).toBe('string');
    expect(body['retryAfterSeconds']).toBeGreaterThan(0);
  });

  it('does not deny a workload the blocking budget does not select, nor one in another namespace', () => {
    const view = createStaticAdmissionView();
    view.setBudgets([budget({ name: 'search-budget', team: 'search' })]);
    view.setDecisions(decisionSet({ budgets: [budgetState('search-budget', 'block')] }));
    expect(check({ identity: caller({ team: 'chat' }), facts: facts(), view, now: NOW }).allowed).toBe(true);
    const other = { namespace: 'other', kind: 'Deployment', name: 'chat' };
    expect(
      check({ identity: caller({ team: 'search' }, other), facts: facts(), view, now: NOW }).allowed,
    ).toBe(true);
  });

  it('allows throttle and warn states with a warning, and names the remaining budget', () => {
    const view = createStaticAdmissionView();
    view.setBudgets([budget({ name: 'search-budget', team: 'search' })]);
    view.setDecisions(
      decisionSet({ budgets: [{ ...budgetState('search-budget', 'throttle'), exceeded: true }] }),
    );
    const v = check({ identity: caller(), facts: facts(), view, now: NOW });
    expect(v.allowed).toBe(true);
    expect(v.headers['x-genops-budget']).toBe('ai/search-budget');
    expect(v.headers['x-genops-budget-remaining']).toBe('-12.300000');
    expect(v.headers['x-genops-budget-limit']).toBe('5000.000000');
    expect(v.headers['x-genops-warning']).toContain('search-budget');
  });

  it('denies a rate limit in force for the workload with 429 and its reset', () => {
    const view = createStaticAdmissionView();
    const reason: Reason = {
      code: 'RATE_LIMITED',
      action: 'block',
      source: { kind: 'AIPolicy', namespace: 'ai', name: 'rates' },
      message: '130 requests in the last minute exceed 100 per minute',
      figures: { requestsLastMinute: 130, requestsPerMinute: 100 },
      until: NOW + 30_000,
    };
    view.setDecisions(decisionSet({ workloads: [decision([reason])] }));
    const v = check({ identity: caller(), facts: facts(), view, now: NOW });
    expect(v).toMatchObject({ allowed: false, status: 429, category: 'rate' });
    const body = JSON.parse(denialBody(v, NOW)) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'RATE_LIMITED', name: 'rates', spend: '130', limit: '100' });
    expect(body['retryAfterSeconds']).toBe(30);
  });

  it('denies a model or provider the policy does not allow with 403, before a 429', () => {
    const view = createStaticAdmissionView();
    view.setPolicies([
      policy('models', { modelGovernance: { allowedProviders: ['openai'], allowedModels: ['gpt-4o-mini'] } }),
    ]);
    view.setBudgets([budget({ name: 'search-budget', team: 'search' })]);
    view.setDecisions(decisionSet({ budgets: [budgetState('search-budget', 'block')] }));
    const model = check({ identity: caller(), facts: facts({ model: 'gpt-4o' }), view, now: NOW });
    expect(model).toMatchObject({ allowed: false, status: 403, category: 'model' });
    expect(model.denials.map((d) => d.code)).toEqual(['POLICY_DENY_MODEL', 'BUDGET_EXCEEDED']);
    const provider = check({ identity: caller(), facts: facts({ provider: 'anthropic' }), view, now: NOW });
    expect(provider).toMatchObject({ status: 403, category: 'provider' });
    // The allowed model is still blocked by the budget: 429, not 200.
    expect(check({ identity: caller(), facts: facts(), view, now: NOW }).status).toBe(429);
  });

  it('denies by data classification with 403, from the header or the workload label', () => {
    const view = createStaticAdmissionView();
    view.setPolicies([
      policy('classes', {
        dataClassification: { allowedLevels: ['public', 'internal'], requireClassification: true },
      }),
    ]);
    const none = check({ identity: caller(), facts: facts(), view, now: NOW });
    expect(none).toMatchObject({ status: 403, category: 'classification' });
    const secret = check({
      identity: caller(),
      facts: facts({ classification: 'restricted' }),
      view,
      now: NOW,
    });
    expect(secret.status).toBe(403);
    const labelled = caller({ team: 'search', 'genops.ai/data-classification': 'internal' });
    expect(check({ identity: labelled, facts: facts(), view, now: NOW }).allowed).toBe(true);
  });

  it('checks the per-request limit before the call from max_tokens, only for blocking budgets', () => {
    const view = createStaticAdmissionView();
    const strict: AIBudget = {
      ...budget({ name: 'per-request', team: 'search' }),
    };
    const spec = {
      ...strict.spec,
      limits: { perRequestLimit: 0.01 },
      enforcement: { onBudgetExceeded: 'block' as const },
    };
    view.setBudgets([{ ...strict, spec }]);
    view.setDecisions(decisionSet({ budgets: [{ ...budgetState('per-request', 'allow'), spendMicros: 0 }] }));
    const estimate = createOutputCostEstimator(
      () => view.policies(),
      {
        overrides: [{ model: 'gpt-4o-mini', usdPerMillionTokens: { input: 1, output: 10 } }],
      },
      { now: () => NOW },
    );
    // 2000 output tokens at 10 USD/M = 0.02 USD > 0.01.
    const big = check({ identity: caller(), facts: facts({ maxTokens: 2000 }), view, now: NOW, estimate });
    expect(big).toMatchObject({ allowed: false, status: 429, category: 'per-request' });
    expect(big.denials[0]).toMatchObject({ spend: '0.020000', limit: '0.010000' });
    const small = check({ identity: caller(), facts: facts({ maxTokens: 500 }), view, now: NOW, estimate });
    expect(small.allowed).toBe(true);
    // Without max_tokens nothing is known before the call.
    expect(check({ identity: caller(), facts: facts(), view, now: NOW, estimate }).allowed).toBe(true);
    // A warn-only budget does not refuse.
    view.setBudgets([{ ...strict, spec: { ...spec, enforcement: { onBudgetExceeded: 'warn' } } }]);
    expect(
      check({ identity: caller(), facts: facts({ maxTokens: 2000 }), view, now: NOW, estimate }).allowed,
    ).toBe(true);
  });

  it('allows everything during a valid bypass, and not after it expired', () => {
    const view = createStaticAdmissionView();
    view.setBudgets([budget({ name: 'search-budget', team: 'search' })]);
    const reason: Reason = {
      code: 'BUDGET_EXCEEDED',
      action: 'block',
      source: { kind: 'AIBudget', namespace: 'ai', name: 'search-budget' },
      message: 'over',
      figures: {},
      until: NOW + 1000,
    };
    const bypass = { reason: 'incident', expires: NOW + 60_000, by: 'jane' };
    view.setDecisions(
      decisionSet({
        budgets: [budgetState('search-budget', 'block')],
        workloads: [decision([reason], { bypass })],
      }),
    );
    const v = check({ identity: caller(), facts: facts(), view, now: NOW });
    expect(v).toMatchObject({ allowed: true, bypassed: true });
    expect(v.headers['x-genops-bypass']).toContain('jane');
    expect(check({ identity: caller(), facts: facts(), view, now: NOW + 61_000 }).allowed).toBe(false);
  });
});
