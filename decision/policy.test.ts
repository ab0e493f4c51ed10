import { describe, expect, it } from 'vitest';
import type { AIPolicySpec } from '../crds/index.ts';
import type { DecisionResult } from './engine.ts';
import { harness, policy } from './test-fixtures.ts';
import type { UsageOptions } from './test-fixtures.ts';
import type { Reason, ReasonCode } from './types.ts';

const prod = { selector: { matchLabels: { env: 'prod' } } };
const labels = { env: 'prod' };
const key = (name: string): string => `ai/Deployment/${name}`;

function reasons(r: DecisionResult, name: string): Reason[] {
  return [...(r.decisions.workloads.get(key(name))?.reasons ?? [])];
}
function codes(r: DecisionResult, name: string): ReasonCode[] {
  return reasons(r, name).map((x) => x.code);
}
function run(
  spec: AIPolicySpec,
  usage: Record<string, UsageOptions>,
  at = '2025-03-20T12:00:00Z',
): DecisionResult {
  return harness(at).run({ policies: [policy('p', { ...prod, ...spec })], usage });
}

describe('costLimits (shared by the selected workloads)', () => {
  it('sums daily and monthly spend across workloads and reports to each of them', () => {
    const r = run(
      { costLimits: { daily: 10, monthly: 100, enforcement: 'throttle' } },
      {
        a: { labels, spend: { daily: 6, monthly: 60 } },
        b: { labels, spend: { daily: '4.000001', monthly: 40 } },
        c: { labels: { env: 'dev' }, spend: { daily: 100, monthly: 100 } },
      },
    );
    expect(codes(r, 'a')).toEqual(['COST_LIMIT_EXCEEDED']);
    expect(codes(r, 'b')).toEqual(['COST_LIMIT_EXCEEDED']);
    expect(codes(r, 'c')).toEqual([]);
    const reason = reasons(r, 'a')[0];
    expect(reason?.action).toBe('throttle');
    expect(reason?.figures).toMatchObject({ window: 'daily', spend: '10.000001', limit: '10.000000' });
    expect(reason?.until).toBe(Date.parse('2025-03-21T00:00:00Z'));
    expect(r.decisions.policies.get('ai/p')?.action).toBe('throttle');
  });

  it('reports the monthly limit with the month end, and defaults to warn', () => {
    const r = run({ costLimits: { monthly: 100 } }, { a: { labels, spend: { daily: 1, monthly: 100.5 } } });
    expect(reasons(r, 'a').map((x) => [x.figures['window'], x.action, x.until])).toEqual([
      ['monthly', 'warn', Date.parse('2025-04-01T00:00:00Z')],
    ]);
  });
});

describe('rateLimits (per workload)', () => {
  it('compares the last minute and hour strictly, per workload', () => {
    const r = run(
      { rateLimits: { requestsPerMinute: 60, requestsPerHour: 1000, enforcement: 'throttle' } },
      {
        ok: { labels, requestsLastMinute: 60, requestsLastHour: 1000 },
        fast: { labels, requestsLastMinute: 61, requestsLastHour: 500 },
        busy: { labels, requestsLastMinute: 10, requestsLastHour: 1001 },
      },
    );
    expect(codes(r, 'ok')).toEqual([]);
    expect(reasons(r, 'fast').map((x) => [x.code, x.figures['window'], x.action])).toEqual([
      ['RATE_LIMITED', 'minute', 'throttle'],
    ]);
    expect(reasons(r, 'fast')[0]?.until).toBe(Date.parse('2025-03-20T12:01:00Z'));
    expect(reasons(r, 'busy').map((x) => x.figures['window'])).toEqual(['hour']);
  });

  it('ignores minute counts of a snapshot older than a minute', () => {
    const h = harness('2025-03-20T12:00:00Z');
    const r = h.run({
      policies: [policy('p', { ...prod, rateLimits: { requestsPerMinute: 5, requestsPerHour: 50 } })],
      usage: { a: { labels, requestsLastMinute: 100, requestsLastHour: 100 } },
      takenAt: Date.parse('2025-03-20T11:58:00Z'),
    });
    expect(reasons(r, 'a').map((x) => x.figures['window'])).toEqual(['hour']);
  });
});

describe('contentSafety', () => {
  it('blocks on the lowest score of the day below the minimum, equal is fine', () => {
    const r = run(
      { contentSafety: { minimumSafetyScore: 0.85, enforcement: 'block' } },
      {
        ok: { labels, safety: { min: 0.85, mean: 0.95, count: 10 } },
        bad: { labels, safety: { min: 0.4, mean: 0.9, count: 20 } },
        none: { labels },
      },
    );
    expect(codes(r, 'ok')).toEqual([]);
    expect(codes(r, 'none')).toEqual([]);
    const reason = reasons(r, 'bad')[0];
    expect(reason?.code).toBe('POLICY_DENY_CONTENT');
    expect(reason?.action).toBe('block');
    expect(reason?.figures).toMatchObject({
      minScore: 0.4,
      meanScore: 0.9,
      evaluations: 20,
      minimumSafetyScore: 0.85,
    });
    expect(reason?.until).toBe(Date.parse('2025-03-21T00:00:00Z'));
  });
});

describe('dataClassification', () => {
  it('denies levels outside allowedLevels and unclassified requests when required (default block)', () => {
    const r = run(
      { dataClassification: { allowedLevels: ['public', 'internal'], requireClassification: true } },
      {
        ok: { labels, classifications: ['public', 'INTERNAL'] },
        secret: { labels, classifications: ['public', 'restricted'] },
        anon: { labels, classifications: [''] },
        idle: { labels },
      },
    );
    expect(codes(r, 'ok')).toEqual([]);
    expect(codes(r, 'idle')).toEqual([]);
    const secret = reasons(r, 'secret')[0];
    expect(secret?.code).toBe('POLICY_DENY_CLASSIFICATION');
    expect(secret?.action).toBe('block');
    expect(secret?.figures).toMatchObject({ deniedLevels: 'restricted', unclassified: 'false' });
    expect(reasons(r, 'anon')[0]?.figures['unclassified']).toBe('true');
  });

  it('allows unclassified requests when classification is not required', () => {
    const r = run(
      { dataClassification: { allowedLevels: ['public'] } },
      { anon: { labels, classifications: ['', 'public'] } },
    );
    expect(codes(r, 'anon')).toEqual([]);
  });
});

describe('modelGovernance', () => {
  const spec: AIPolicySpec = {
    modelGovernance: {
      allowedProviders: ['openai', 'anthropic'],
      allowedModels: ['gpt-4*', 'claude-3-?aiku*'],
    },
  };

  it('matches model globs with * and ?, case-insensitively, and denies other providers', () => {
    const r = run(spec, {
      good: {
        labels,
        models: [
          { provider: 'openai', model: 'gpt-4o-2024-08-06' },
          { provider: 'Anthropic', model: 'Claude-3-Haiku-20240307' },
        ],
      },
      badModel: {
        labels,
        models: [
          { provider: 'openai', model: 'gpt-3.5-turbo' },
          { provider: 'anthropic', model: 'claude-3-opus' },
        ],
      },
      badProvider: { labels, models: [{ provider: 'mistral', model: 'gpt-4-clone' }] },
    });
    expect(codes(r, 'good')).toEqual([]);
    const model = reasons(r, 'badModel')[0];
    expect(model?.code).toBe('POLICY_DENY_MODEL');
    expect(model?.action).toBe('block');
    expect(model?.figures['models']).toBe('claude-3-opus,gpt-3.5-turbo');
    // A disallowed provider is reported once, under the provider.
    expect(codes(r, 'badProvider')).toEqual(['POLICY_DENY_PROVIDER']);
    expect(reasons(r, 'badProvider')[0]?.figures['providers']).toBe('mistral');
    expect(reasons(r, 'badProvider')[0]?.until).toBe(Date.parse('2025-04-01T00:00:00Z'));
  });

  it('lets a glob name the provider too, and honours an enforcement field', () => {
    const r = run(
      {
        modelGovernance: { allowedModels: ['openai/*'], enforcement: 'warn' },
      },
      {
        a: { labels, models: [{ provider: 'openai', model: 'o3' }] },
        b: { labels, models: [{ provider: 'x', model: 'o3' }] },
      },
    );
    expect(codes(r, 'a')).toEqual([]);
    expect(reasons(r, 'b')[0]?.action).toBe('warn');
  });

  it('uses ModelUsage.lastUsed when present: only models used today count, until the daily reset', () => {
    const now = Date.parse('2025-03-20T12:00:00Z');
    const r = run(spec, {
      a: {
        labels,
        models: [
          { provider: 'openai', model: 'davinci', lastUsed: now - 24 * 3_600_000 },
          { provider: 'openai', model: 'babbage', lastUsed: now - 60_000 },
        ],
      },
    });
    expect(reasons(r, 'a').map((x) => [x.figures['models'], x.until])).toEqual([
      ['babbage', Date.parse('2025-03-21T00:00:00Z')],
    ]);
  });
});

describe('sections', () => {
  it('ignores sections with enabled: false and applies present sections without enabled', () => {
    const r = run(
      {
        costLimits: { enabled: false, daily: 1, enforcement: 'block' },
        rateLimits: { requestsPerMinute: 1 },
      },
      { a: { labels, spend: { daily: 50 }, requestsLastMinute: 2 } },
    );
    expect(codes(r, 'a')).toEqual(['RATE_LIMITED']);
  });

  it('reports a policy without matched workloads', () => {
    const r = run(
      { rateLimits: { requestsPerMinute: 1 } },
      { a: { labels: { env: 'dev' }, requestsLastMinute: 5 } },
    );
    expect(r.decisions.policies.get('ai/p')).toMatchObject({
      action: 'allow',
      matchedWorkloads: [],
      violations: [],
    });
  });
});
