import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AIBudget, AIPolicy } from './index.ts';
import { isEnabled } from './index.ts';
import { loadResources } from './load.ts';
import type { StructuralSchema } from './openapi.ts';
import { schemaFor } from './openapi.ts';
import type { CelRule } from './schema.ts';
import type { Problem } from './validate.ts';
import { applyDefaults, checkBudget, checkPolicy, compileRule, validateResource } from './validate.ts';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

const policy = (spec: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'genops.ai/v1alpha1',
  kind: 'AIPolicy',
  metadata: { name: 'p', namespace: 'ns' },
  spec,
  ...extra,
});
const budget = (spec: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'genops.ai/v1alpha1',
  kind: 'AIBudget',
  metadata: { name: 'b' },
  spec,
  ...extra,
});
const alloc = { amount: 100 };

describe('examples', () => {
  it('every AIPolicy/AIBudget under examples/ is valid', async () => {
    const result = await loadResources([EXAMPLES]);
    expect(result.problems).toEqual([]);
    const names = result.resources.map((r) => `${r.resource.kind}/${r.resource.metadata.name ?? ''}`);
    // The README's examples, all of them.
    expect(names).toEqual(
      expect.arrayContaining([
        'AIPolicy/production-policy',
        'AIBudget/team-budget',
        'AIPolicy/dev-policy',
        'AIPolicy/prod-policy',
        'AIBudget/platform-team-budget',
        'AIBudget/research-team-budget',
        'AIPolicy/openai-policy',
        'AIPolicy/anthropic-policy',
      ]),
    );
    expect(result.checked).toBe(result.resources.length);
    expect(result.skipped).toBeGreaterThanOrEqual(4); // namespaces and the Deployment
  });

  it('returns examples defaulted: README production policy keeps its values and gains defaults', async () => {
    const result = await loadResources([EXAMPLES + 'policies/production-policy.yaml']);
    const p = result.resources[0]?.resource as AIPolicy;
    expect(p.spec.costLimits).toEqual({
      enabled: true,
      daily: 100,
      monthly: 2500,
      currency: 'USD',
      enforcement: 'throttle',
    });
    expect(p.spec.modelGovernance?.allowedModels).toEqual(['gpt-4*', 'claude-3*']);
    expect(p.spec.dataClassification?.requireClassification).toBe(true);
  });
});

describe('applyDefaults', () => {
  it('fills defaults only inside sections that are present, without touching the input', () => {
    const input = policy({
      rateLimits: { requestsPerMinute: 30 },
      contentSafety: { minimumSafetyScore: 0.5 },
    });
    const before = structuredClone(input);
    const out = applyDefaults(input) as unknown as AIPolicy;
    expect(input).toEqual(before);
    expect(out.spec.rateLimits).toEqual({ enabled: true, requestsPerMinute: 30, enforcement: 'warn' });
    expect(out.spec.contentSafety?.enabled).toBe(true);
    expect(out.spec.costLimits).toBeUndefined();
    expect(out.spec.selector).toBeUndefined();
  });

  it('defaults a budget: USD, monthly, autoRenew, alert severity, enforcement', () => {
    const out = applyDefaults(
      budget({ allocation: { amount: 5 }, alerts: { thresholds: [{ percentage: 90 }] }, enforcement: {} }),
    ) as unknown as AIBudget;
    expect(out.spec.allocation).toEqual({ amount: 5, currency: 'USD', period: 'monthly', autoRenew: true });
    expect(out.spec.alerts).toEqual({ enabled: true, thresholds: [{ percentage: 90, severity: 'warning' }] });
    expect(out.spec.enforcement).toEqual({
      onBudgetExceeded: 'warn',
      gracePeriod: 0,
      approvalRequired: false,
    });
  });

  it('keeps explicit values, including enabled: false', () => {
    const out = applyDefaults(policy({ costLimits: { enabled: false, daily: 1 } })) as unknown as AIPolicy;
    expect(out.spec.costLimits?.enabled).toBe(false);
    expect(isEnabled(out.spec.costLimits)).toBe(false);
    expect(isEnabled({})).toBe(true);
    expect(isEnabled(undefined)).toBe(false);
  });

  it('drops nulls as the API server does', () => {
    const out = applyDefaults(
      policy({ costLimits: { daily: 1, monthly: null }, rateLimits: null }),
    ) as unknown as {
      spec: Record<string, unknown>;
    };
    expect(out.spec).toEqual({
      costLimits: { daily: 1, enabled: true, currency: 'USD', enforcement: 'warn' },
    });
  });

  it('returns other kinds copied and unchanged', () => {
    const d = { apiVersion: 'v1', kind: 'ConfigMap', data: { a: null } };
    expect(applyDefaults(d)).toEqual(d);
  });
});

/** Expects exactly one problem, at `path`, whose message contains `fragment`. */
function expectProblem(problems: Problem[], path: string, fragment: string): void {
  expect(problems, JSON.stringify(problems)).toHaveLength(1);
  expect(problems[0]?.path).toBe(path);
  expect(problems[0]?.message).toContain(fragment);
}

describe('schema problems', () => {
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    [
      'wrong enum',
      policy({ costLimits: { daily: 1, enforcement: 'deny' } }),
      'spec.costLimits.enforcement',
      'must be one of "warn", "throttle", "block" (got "deny")',
    ],
    [
      'wrong period',
      budget({ allocation: { amount: 1, period: 'hourly' } }),
      'spec.allocation.period',
      'hourly',
    ],
    [
      'wrong currency',
      budget({ allocation: { amount: 1, currency: 'EUR' } }),
      'spec.allocation.currency',
      '"USD"',
    ],
    [
      'negative amount',
      budget({ allocation: { amount: -5 } }),
      'spec.allocation.amount',
      'at least 0 (got -5)',
    ],
    [
      'negative daily cost limit',
      policy({ costLimits: { daily: -1 } }),
      'spec.costLimits.daily',
      'must be at least 0',
    ],
    [
      'score above 1',
      policy({ contentSafety: { minimumSafetyScore: 1.5 } }),
      'spec.contentSafety.minimumSafetyScore',
      'must be at most 1 (got 1.5)',
    ],
    [
      'score below 0',
      policy({ contentSafety: { minimumSafetyScore: -0.1 } }),
      'spec.contentSafety.minimumSafetyScore',
      'at least 0',
    ],
    [
      'string for a number',
      budget({ allocation: { amount: '5000' } }),
      'spec.allocation.amount',
      'must be a number (got string "5000")',
    ],
    [
      'fraction for an integer',
      policy({ rateLimits: { requestsPerMinute: 1.5 } }),
      'spec.rateLimits.requestsPerMinute',
      'must be an integer',
    ],
    [
      'number for a boolean',
      budget({ allocation: { amount: 1, autoRenew: 1 } }),
      'spec.allocation.autoRenew',
      'boolean',
    ],
    ['list for an object', policy({ costLimits: [1] }), 'spec.costLimits', 'must be an object (got a list)'],
    [
      'string for a list',
      policy({ modelGovernance: { allowedProviders: 'openai' } }),
      'spec.modelGovernance.allowedProviders',
      'must be a list',
    ],
    ['missing required section', budget({ attribution: { team: 'x' } }), 'spec.allocation', 'required'],
    [
      'missing spec',
      { apiVersion: 'genops.ai/v1alpha1', kind: 'AIBudget', metadata: { name: 'b' } },
      'spec',
      'required',
    ],
    ['missing amount', budget({ allocation: { period: 'daily' } }), 'spec.allocation.amount', 'required'],
    [
      'missing safety score',
      policy({ contentSafety: { enforcement: 'block' } }),
      'spec.contentSafety.minimumSafetyScore',
      'required',
    ],
    [
      'unknown field with a hint',
      policy({ costLimits: { daily: 1 }, rateLimit: {} }),
      'spec.rateLimit',
      'did you mean rateLimits?',
    ],
    [
      'duplicate provider',
      policy({ modelGovernance: { allowedProviders: ['openai', 'openai'] } }),
      'spec.modelGovernance.allowedProviders[1]',
      'duplicate value "openai"',
    ],
    [
      'capitalised provider',
      policy({ modelGovernance: { allowedProviders: ['OpenAI'] } }),
      'spec.modelGovernance.allowedProviders[0]',
      'does not match',
    ],
    [
      'empty model list',
      policy({ modelGovernance: { allowedModels: [] } }),
      'spec.modelGovernance.allowedModels',
      'empty',
    ],
    [
      'bad selector operator',
      policy({
        costLimits: { daily: 1 },
        selector: { matchExpressions: [{ key: 'a', operator: 'Equals' }] },
      }),
      'spec.selector.matchExpressions[0].operator',
      'must be one of "In", "NotIn", "Exists", "DoesNotExist"',
    ],
    [
      'label value not a string',
      policy({ costLimits: { daily: 1 }, selector: { matchLabels: { tier: 1 } } }),
      'spec.selector.matchLabels[tier]',
      'must be a string',
    ],
    [
      'threshold percentage zero',
      budget({ allocation: alloc, alerts: { thresholds: [{ percentage: 0 }] } }),
      'spec.alerts.thresholds[0].percentage',
      'greater than 0',
    ],
    [
      'grace period too long',
      budget({ allocation: alloc, enforcement: { gracePeriod: 20000 } }),
      'spec.enforcement.gracePeriod',
      'at most 10080',
    ],
    [
      'wrong apiVersion',
      policy({ costLimits: { daily: 1 } }, { apiVersion: 'genops.ai/v1' }),
      'apiVersion',
      'genops.ai/v1alpha1',
    ],
    [
      'bad name',
      policy({ costLimits: { daily: 1 } }, { metadata: { name: 'Prod_Policy' } }),
      'metadata.name',
      'not a valid name',
    ],
    [
      'status with a float money',
      budget({ allocation: alloc }, { status: { spend: 12.5 } }),
      'status.spend',
      'must be a string',
    ],
    // Absurd figures are refused here and by the API server, not discovered by the operator at run time.
    [
      'an absurd allocation',
      budget({ allocation: { amount: 1e30 } }),
      'spec.allocation.amount',
      'at most 1000000000',
    ],
    [
      'an absurd policy cost limit',
      policy({ costLimits: { monthly: 1e30 } }),
      'spec.costLimits.monthly',
      '1000000000',
    ],
    [
      'an absurd price per token',
      policy({ modelGovernance: { costPerToken: { input: 5 } } }),
      'spec.modelGovernance.costPerToken.input',
      'must be at most 1 (got 5)',
    ],
  ];

  it.each(cases)('%s', (_name, doc, path, fragment) => {
    expectProblem(validateResource(doc), path, fragment);
  });

  it('accepts the largest allowed figures', () => {
    expect(validateResource(budget({ allocation: { amount: 1_000_000_000 } }))).toEqual([]);
  });

  it('reports every problem of a document, each with its path', () => {
    const problems = validateResource(
      budget({ allocation: { amount: -1, period: 'hourly' }, limits: { requestsPerDay: 0 } }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      'spec.allocation.amount',
      'spec.allocation.period',
      'spec.limits.requestsPerDay',
    ]);
  });

  it('rejects things that are not resources', () => {
    expect(validateResource('text')).toEqual([{ path: '', message: 'must be a YAML/JSON object' }]);
    expectProblem(
      validateResource({ apiVersion: 'genops.ai/v1alpha1', kind: 'AIThing' }),
      'kind',
      'AIPolicy or AIBudget',
    );
  });

  it('typed checks return the defaulted resource', () => {
    const r = checkBudget(budget({ allocation: { amount: 10 } }));
    expect(r.ok && r.value.spec.allocation.currency).toBe('USD');
    expect(checkPolicy(budget({ allocation: { amount: 10 } })).ok).toBe(false);
  });
});

// Every CEL rule of the schema, with a document that breaks it. The test below fails when a rule is added
// without a case here, so each rule is proven to be evaluated offline.
const celCases: Array<[string, Record<string, unknown>, string]> = [
  [
    'values must be non-empty for operator In and NotIn, and empty for Exists and DoesNotExist',
    policy({
      costLimits: { daily: 1 },
      selector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
    }),
    'spec.selector.matchExpressions[0]',
  ],
  [
    'costLimits needs daily, monthly or both',
    policy({ costLimits: { enforcement: 'block' } }),
    'spec.costLimits',
  ],
  [
    'costLimits.daily must not be greater than costLimits.monthly',
    policy({ costLimits: { daily: 200, monthly: 100 } }),
    'spec.costLimits.daily',
  ],
  [
    'rateLimits needs requestsPerMinute, requestsPerHour or both',
    policy({ rateLimits: {} }),
    'spec.rateLimits',
  ],
  [
    'rateLimits.requestsPerMinute must not be greater than rateLimits.requestsPerHour',
    policy({ rateLimits: { requestsPerMinute: 100, requestsPerHour: 60 } }),
    'spec.rateLimits.requestsPerMinute',
  ],
  [
    'costPerToken needs input, output or both',
    policy({ modelGovernance: { costPerToken: {} } }),
    'spec.modelGovernance.costPerToken',
  ],
  [
    'modelGovernance needs allowedProviders, allowedModels or costPerToken',
    policy({ modelGovernance: { enabled: true } }),
    'spec.modelGovernance',
  ],
  [
    'an AIPolicy needs at least one of costLimits, rateLimits, contentSafety, dataClassification, modelGovernance',
    policy({ selector: {} }),
    'spec',
  ],
  [
    'limits needs at least one of dailySpendLimit, perRequestLimit, requestsPerDay',
    budget({ allocation: alloc, limits: {} }),
    'spec.limits',
  ],
  [
    'limits.perRequestLimit must not be greater than limits.dailySpendLimit',
    budget({ allocation: alloc, limits: { dailySpendLimit: 5, perRequestLimit: 6 } }),
    'spec.limits.perRequestLimit',
  ],
  [
    'alert threshold percentages must be unique',
    budget({ allocation: alloc, alerts: { thresholds: [{ percentage: 50 }, { percentage: 50 }] } }),
    'spec.alerts.thresholds',
  ],
  [
    'alert thresholds must be listed in ascending order of percentage',
    budget({ allocation: alloc, alerts: { thresholds: [{ percentage: 80 }, { percentage: 50 }] } }),
    'spec.alerts.thresholds',
  ],
  [
    'limits.dailySpendLimit must not be greater than allocation.amount',
    budget({ allocation: { amount: 10 }, limits: { dailySpendLimit: 20 } }),
    'spec.limits.dailySpendLimit',
  ],
  [
    'limits.perRequestLimit must not be greater than allocation.amount',
    budget({ allocation: { amount: 1 }, limits: { perRequestLimit: 2 } }),
    'spec.limits.perRequestLimit',
  ],
];

function collectRules(schema: StructuralSchema, out: CelRule[]): CelRule[] {
  out.push(...(schema['x-kubernetes-validations'] ?? []));
  for (const child of Object.values(schema.properties ?? {})) collectRules(child, out);
  if (schema.items !== undefined) collectRules(schema.items, out);
  if (schema.additionalProperties !== undefined) collectRules(schema.additionalProperties, out);
  return out;
}

describe('CEL rules', () => {
  const rules = [
    ...new Map(
      [...collectRules(schemaFor('AIPolicy'), []), ...collectRules(schemaFor('AIBudget'), [])].map((r) => [
        r.message,
        r,
      ]),
    ).values(),
  ];

  it('every rule compiles and has a breaking case', () => {
    for (const r of rules) expect(() => compileRule(r.rule), r.rule).not.toThrow();
    expect(rules.map((r) => r.message).sort()).toEqual(celCases.map((c) => c[0]).sort());
  });

  it.each(celCases)('%s', (message, doc, path) => {
    expectProblem(validateResource(doc), path, message);
  });

  it('rules hold for the boundary values', () => {
    expect(validateResource(policy({ costLimits: { daily: 100, monthly: 100 } }))).toEqual([]);
    expect(validateResource(policy({ rateLimits: { requestsPerMinute: 60, requestsPerHour: 60 } }))).toEqual(
      [],
    );
    expect(
      validateResource(
        budget({
          allocation: { amount: 10, period: 'daily' },
          limits: { dailySpendLimit: 10, perRequestLimit: 10 },
          alerts: { thresholds: [{ percentage: 50 }, { percentage: 100 }, { percentage: 150 }] },
        }),
      ),
    ).toEqual([]);
    expect(
      validateResource(
        policy({
          costLimits: { daily: 1 },
          selector: { matchExpressions: [{ key: 'a', operator: 'Exists' }] },
        }),
      ),
    ).toEqual([]);
  });

  it('rules run past a value out of range, but not past a wrong type (as the API server)', () => {
    const outOfRange = validateResource(
      budget({ allocation: { amount: 10 }, limits: { dailySpendLimit: 20, requestsPerDay: 0 } }),
    );
    expect(outOfRange.map((p) => p.path).sort()).toEqual([
      'spec.limits.dailySpendLimit',
      'spec.limits.requestsPerDay',
    ]);
    const wrongType = validateResource(
      budget({ allocation: { amount: 10 }, limits: { dailySpendLimit: 20, requestsPerDay: 'many' } }),
    );
    expect(wrongType.map((p) => p.path)).toEqual(['spec.limits.requestsPerDay']);
  });
});
