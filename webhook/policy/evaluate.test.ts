import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { createRecordingLogger } from '../../kernel/logger.ts';
import type { AdmissionReview } from '../admission/types.ts';
import type { HttpAnswer } from '../admission/respond.ts';
import type { AIPolicy } from '../../crds/index.ts';
import { createAdmissionHandler } from '../handler.ts';
import { injectionConfig } from '../inject/config.ts';
import { createRecordingWebhookMetrics } from '../metrics.ts';
import {
  budget,
  budgetState,
  decisionSet,
  deployment,
  policy,
  policyState,
  replicaSetPod,
  review,
  RESOURCES,
} from '../testing/fixtures.ts';
import { createStaticAdmissionView } from '../view.ts';

const NOW = Date.UTC(2026, 6, 20, 12);

/** These reviews need no API call, so the handler answers them synchronously. */
function sync(answer: HttpAnswer | Promise<HttpAnswer>): HttpAnswer {
  if (answer instanceof Promise) throw new Error('expected a synchronous answer');
  return answer;
}

function setup() {
  const view = createStaticAdmissionView();
  view.setNamespace('ai', { 'genops.ai/policy-enforcement': 'enabled' });
  view.setNamespace('free', {});
  const logger = createRecordingLogger();
  const metrics = createRecordingWebhookMetrics();
  const handler = createAdmissionHandler({
    view,
    injection: injectionConfig(),
    schema: () => [],
    clock: createManualClock(NOW),
    logger,
    metrics,
    exemptUsernames: ['system:serviceaccount:genops-system:genops-controller-manager'],
  });
  const call = (path: string, r: AdmissionReview) => {
    const answer = sync(handler.review(path, Buffer.from(JSON.stringify(r)), performance.now()));
    expect(answer.status).toBe(200);
    const out = JSON.parse(answer.body) as AdmissionReview;
    expect(out.response?.uid).toBe(r.request?.uid);
    return out.response!;
  };
  const workloads = (r: AdmissionReview) => call('/validate-workloads', r);
  return { view, logger, metrics, workloads, call };
}

function blockedTeamA() {
  const s = setup();
  s.view.setBudgets([
    budget({ name: 'team-a-budget', team: 'a' }),
    budget({ name: 'team-b-budget', team: 'b' }),
  ]);
  s.view.setDecisions(
    decisionSet({ budgets: [budgetState('team-a-budget', 'block'), budgetState('team-b-budget', 'allow')] }),
  );
  return s;
}

const create = (obj: Record<string, unknown>, namespace = 'ai') =>
  review({ resource: RESOURCES.deployments, namespace, object: obj, operation: 'CREATE' });

describe('workload admission: budgets and policies in block state', () => {
  it('refuses a Deployment of a blocked team, naming the budget, spend, limit and reset; admits another team', () => {
    const { workloads, logger } = blockedTeamA();
    const refused = workloads(create(deployment({ name: 'chat', labels: { team: 'a' } })));
    expect(refused.allowed).toBe(false);
    expect(refused.status?.code).toBe(403);
    expect(refused.status?.message).toBe(
      'AIBudget "team-a-budget" is blocking the workloads it selects: spend 5012.30 USD of 5000.00 USD limit (100%); resets at 2026-08-01T00:00:00Z',
    );
    expect(logger.records.some((r) => r['msg'] === 'admission refused' && r['name'] === 'chat')).toBe(true);

    const admitted = workloads(create(deployment({ name: 'search', labels: { team: 'b' } })));
    expect(admitted).toEqual({ uid: admitted.uid, allowed: true });
  });

  it('refuses pods of a blocked workload (the ReplicaSet controller creating them)', () => {
    const { workloads } = blockedTeamA();
    const pod = replicaSetPod({ labels: { team: 'a' } });
    expect(workloads(review({ resource: RESOURCES.pods, namespace: 'ai', object: pod })).allowed).toBe(false);
  });

  it('refuses a scale-up through the scale subresource by the decision of the workload; admits scale-down', () => {
    const s = setup();
    s.view.setDecisions(
      decisionSet({ budgets: [budgetState('team-a-budget', 'block', { matched: ['ai/Deployment/chat'] })] }),
    );
    const scale = (from: number, to: number) =>
      review({
        resource: RESOURCES.deployments,
        subResource: 'scale',
        namespace: 'ai',
        name: 'chat',
        operation: 'UPDATE',
        kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
        object: { metadata: { name: 'chat', namespace: 'ai' }, spec: { replicas: to } },
        oldObject: {
          metadata: { name: 'chat', namespace: 'ai' },
          spec: { replicas: from },
          status: { selector: 'app=chat' },
        },
      });
    const up = s.workloads(scale(0, 3));
    expect(up.allowed).toBe(false);
    expect(up.status?.message).toContain('AIBudget "team-a-budget"');
    expect(s.workloads(scale(3, 1)).allowed).toBe(true);
  });

  it('treats replicas raised in a Deployment update as a scale-up, and other updates as admitted', () => {
    const { workloads } = blockedTeamA();
    const before = deployment({ name: 'chat', labels: { team: 'a' }, replicas: 0 });
    const up = deployment({ name: 'chat', labels: { team: 'a' }, replicas: 2 });
    const annotated = deployment({
      name: 'chat',
      labels: { team: 'a' },
      replicas: 0,
      annotations: { x: 'y' },
    });
    const upd = (o: Record<string, unknown>) =>
      review({
        resource: RESOURCES.deployments,
        namespace: 'ai',
        operation: 'UPDATE',
        object: o,
        oldObject: before,
      });
    expect(workloads(upd(up)).allowed).toBe(false);
    expect(workloads(upd(annotated)).allowed).toBe(true);
  });

  it('admits with a warning for throttle and warn states', () => {
    const s = setup();
    s.view.setBudgets([budget({ name: 'team-a-budget', team: 'a' })]);
    s.view.setDecisions(decisionSet({ budgets: [budgetState('team-a-budget', 'warn')] }));
    const out = s.workloads(create(deployment({ name: 'chat', labels: { team: 'a' } })));
    expect(out.allowed).toBe(true);
    expect(out.warnings).toEqual([
      expect.stringContaining('AIBudget "team-a-budget" is warning: spend 5012.30 USD'),
    ]);
  });

  it('turns refusals of a resource annotated genops.ai/admission=warn into warnings', () => {
    const s = setup();
    s.view.setBudgets([
      budget({ name: 'team-a-budget', team: 'a', annotations: { 'genops.ai/admission': 'warn' } }),
    ]);
    s.view.setDecisions(decisionSet({ budgets: [budgetState('team-a-budget', 'block')] }));
    const out = s.workloads(create(deployment({ name: 'chat', labels: { team: 'a' } })));
    expect(out.allowed).toBe(true);
    expect(out.warnings?.[0]).toContain('AIBudget "team-a-budget" is blocking');
  });

  it('names a blocking AIPolicy with the reason of the decision', () => {
    const s = setup();
    s.view.setPolicies([
      policy('prod-policy', {
        costLimits: { daily: 500, enforcement: 'block' },
        selector: { matchLabels: { env: 'prod' } },
      }),
    ]);
    s.view.setDecisions(
      decisionSet({
        policies: [
          {
            ...policyState('prod-policy', 'block'),
            violations: [
              {
                workload: 'ai/Deployment/old',
                category: 'costLimits',
                reason: {
                  code: 'DAILY_LIMIT_EXCEEDED',
                  action: 'block',
                  source: { kind: 'AIPolicy', namespace: 'ai', name: 'prod-policy' },
                  message: 'daily spend 512.00 USD exceeds 500.00 USD',
                  figures: {},
                  until: Date.UTC(2026, 6, 21),
                },
              },
            ],
          },
        ],
      }),
    );
    const out = s.workloads(create(deployment({ name: 'chat', labels: { env: 'prod' } })));
    expect(out.status?.message).toBe(
      'AIPolicy "prod-policy" is blocking the workloads it selects: daily spend 512.00 USD exceeds 500.00 USD; until 2026-07-21T00:00:00Z',
    );
  });

  it('a per-request violation refuses only the violating workload, a shared cost limit all selected', () => {
    const s = setup();
    s.view.setPolicies([
      policy('prod-policy', {
        modelGovernance: { allowedModels: ['gpt-4*'] },
        costLimits: { daily: 500, enforcement: 'block' },
        selector: { matchLabels: { env: 'prod' } },
      }),
    ]);
    const violation = (workload: string, category: 'modelGovernance' | 'costLimits') => ({
      workload,
      category,
      reason: {
        code: category === 'costLimits' ? ('COST_LIMIT_EXCEEDED' as const) : ('POLICY_DENY_MODEL' as const),
        action: 'block' as const,
        source: { kind: 'AIPolicy' as const, namespace: 'ai', name: 'prod-policy' },
        message: category === 'costLimits' ? 'daily spend exceeds 500.00 USD' : 'model gpt-3.5 not allowed',
        figures: {},
        until: Date.UTC(2026, 6, 21),
      },
    });
    const matched = ['ai/Deployment/chat', 'ai/Deployment/neighbour'];
    s.view.setDecisions(
      decisionSet({
        policies: [
          {
            ...policyState('prod-policy', 'block', matched),
            violations: [violation('ai/Deployment/chat', 'modelGovernance')],
          },
        ],
      }),
    );
    // The neighbour (selected, no violation of its own) is admitted, without a warning about blocking.
    const neighbour = s.workloads(create(deployment({ name: 'neighbour', labels: { env: 'prod' } })));
    expect(neighbour.allowed).toBe(true);
    expect(neighbour.warnings ?? []).toEqual([]);
    // The violating workload is refused.
    const chat = s.workloads(create(deployment({ name: 'chat', labels: { env: 'prod' } })));
    expect(chat.allowed).toBe(false);
    expect(chat.status?.message).toContain('model gpt-3.5 not allowed');
    // A shared cost limit acts on every workload the policy selects.
    s.view.setDecisions(
      decisionSet({
        policies: [
          {
            ...policyState('prod-policy', 'block', matched),
            violations: [violation('ai/Deployment/chat', 'costLimits')],
          },
        ],
      }),
    );
    const after = s.workloads(create(deployment({ name: 'neighbour', labels: { env: 'prod' } })));
    expect(after.allowed).toBe(false);
    expect(after.status?.message).toContain('daily spend exceeds 500.00 USD');
  });

  it('honours and audits a valid bypass annotation; ignores an expired one', () => {
    const s = blockedTeamA();
    const bypass = `reason=incident 42;expires=${new Date(NOW + 3600_000).toISOString()};by=oncall@example.com`;
    const out = s.workloads(
      create(
        deployment({ name: 'chat', labels: { team: 'a' }, annotations: { 'genops.ai/bypass': bypass } }),
      ),
    );
    expect(out.allowed).toBe(true);
    expect(out.warnings?.[0]).toContain('genops.ai/bypass by oncall@example.com');
    expect(s.metrics.bypasses).toEqual([{ namespace: 'ai', kind: 'Deployment' }]);
    expect(s.metrics.reviews.at(-1)?.outcome).toBe('bypassed');
    const audit = s.logger.records.find((r) => r['msg'] === 'admission bypass used');
    expect(audit).toMatchObject({
      audit: true,
      bypassBy: 'oncall@example.com',
      bypassReason: 'incident 42',
      name: 'chat',
    });

    const expired = `reason=old;expires=${new Date(NOW - 1000).toISOString()};by=someone`;
    const refused = s.workloads(
      create(
        deployment({ name: 'chat', labels: { team: 'a' }, annotations: { 'genops.ai/bypass': expired } }),
      ),
    );
    expect(refused.allowed).toBe(false);
  });

  it('honours a namespace bypass and the bypass of the owning workload for its pods', () => {
    const s = blockedTeamA();
    s.view.setNamespace(
      'ai',
      { 'genops.ai/policy-enforcement': 'enabled' },
      {
        'genops.ai/bypass': `{"reason":"launch","expires":"${new Date(NOW + 60_000).toISOString()}","by":"cto"}`,
      },
    );
    expect(s.workloads(create(deployment({ name: 'chat', labels: { team: 'a' } }))).allowed).toBe(true);

    const t = blockedTeamA();
    t.view.setDecisions(
      decisionSet({
        budgets: [budgetState('team-a-budget', 'block')],
        workloads: [
          {
            workload: { namespace: 'ai', kind: 'Deployment', name: 'chat' },
            key: 'ai/Deployment/chat',
            action: 'allow',
            reasons: [],
            bypass: { reason: 'incident', expires: NOW + 60_000, by: 'oncall' },
          },
        ],
      }),
    );
    const pod = replicaSetPod({ deployment: 'chat', labels: { team: 'a' } });
    expect(t.workloads(review({ resource: RESOURCES.pods, namespace: 'ai', object: pod })).allowed).toBe(
      true,
    );
  });

  it('does not judge namespaces without enforcement, deletes, or the operator itself', () => {
    const s = blockedTeamA();
    expect(
      s.workloads(create(deployment({ name: 'chat', namespace: 'free', labels: { team: 'a' } }), 'free'))
        .allowed,
    ).toBe(true);
    const del = review({
      resource: RESOURCES.deployments,
      namespace: 'ai',
      operation: 'DELETE',
      oldObject: deployment({ name: 'chat', labels: { team: 'a' } }),
    });
    expect(s.workloads(del).allowed).toBe(true);
    const byOperator = create(deployment({ name: 'chat', labels: { team: 'a' } }));
    byOperator.request = {
      ...byOperator.request!,
      userInfo: { username: 'system:serviceaccount:genops-system:genops-controller-manager' },
    };
    expect(s.workloads(byOperator).allowed).toBe(true);
  });
});

describe('workload admission: classification and model rules', () => {
  const rules = () => {
    const s = setup();
    s.view.setPolicies([
      policy('data', {
        dataClassification: { allowedLevels: ['public', 'internal'], requireClassification: true },
        selector: { matchLabels: { env: 'prod' } },
      }),
      policy('models', {
        modelGovernance: {
          allowedProviders: ['openai', 'anthropic'],
          allowedModels: ['gpt-4*', 'claude-3*'],
        },
        selector: { matchLabels: { env: 'prod' } },
      }),
    ]);
    return s;
  };
  const prod = (labels: Record<string, string>, extra: Parameters<typeof deployment>[0] | object = {}) =>
    deployment({ name: 'chat', labels: { env: 'prod', ...labels }, ...extra });

  it('refuses a workload without classification, or with a level not allowed', () => {
    const { workloads } = rules();
    expect(workloads(create(prod({}))).status?.message).toBe(
      'AIPolicy "data" requires the pod template label genops.ai/data-classification (one of public, internal)',
    );
    expect(workloads(create(prod({ 'genops.ai/data-classification': 'secret' }))).status?.message).toBe(
      'AIPolicy "data" allows data classification public, internal; pod template label genops.ai/data-classification is "secret"',
    );
    expect(workloads(create(prod({ 'genops.ai/data-classification': 'internal' }))).allowed).toBe(true);
  });

  it('refuses models and providers outside the allowlist, from the annotation and env conventions', () => {
    const { workloads } = rules();
    const ok = { 'genops.ai/data-classification': 'public' };
    const annotated = (value: string) => create(prod(ok, { annotations: { 'genops.ai/models': value } }));
    expect(workloads(annotated('openai/gpt-4o, anthropic/claude-3-haiku')).allowed).toBe(true);
    expect(workloads(annotated('openai/gpt-4o,mistral_ai/mistral-large')).status?.message).toBe(
      'AIPolicy "models" allows providers openai, anthropic; annotation genops.ai/models declares provider "mistral_ai"',
    );
    expect(workloads(annotated('openai/gpt-3.5-turbo')).status?.message).toContain(
      'declares "openai/gpt-3.5-turbo"',
    );
    const env = create(prod(ok, { env: [{ name: 'ANTHROPIC_MODEL', value: 'claude-2.1' }] }));
    expect(workloads(env).status?.message).toBe(
      'AIPolicy "models" allows models gpt-4*, claude-3*; env ANTHROPIC_MODEL of container app declares "anthropic/claude-2.1"',
    );
  });

  it('on update, refuses only violations the old object did not have', () => {
    const { workloads } = rules();
    const old = prod({});
    const annotatedOld = prod({}, { annotations: { note: 'enforcer' } });
    const upd = (o: Record<string, unknown>) =>
      review({
        resource: RESOURCES.deployments,
        namespace: 'ai',
        operation: 'UPDATE',
        object: o,
        oldObject: old,
      });
    expect(workloads(upd(annotatedOld)).allowed).toBe(true);
    expect(workloads(upd(prod({}, { annotations: { 'genops.ai/models': 'groq/llama' } }))).allowed).toBe(
      false,
    );
  });

  it('answers a warn-only policy with warnings', () => {
    const s = setup();
    s.view.setPolicies([
      policy(
        'data',
        { dataClassification: { requireClassification: true } },
        { annotations: { 'genops.ai/admission': 'warn' } },
      ),
    ]);
    const out = s.workloads(create(deployment({ name: 'chat' })));
    expect(out.allowed).toBe(true);
    expect(out.warnings).toEqual([
      'AIPolicy "data" requires the pod template label genops.ai/data-classification',
    ]);
  });
});

describe('review envelope', () => {
  it('answers 400 to what is not an AdmissionReview and never echoes internal errors', () => {
    const s = setup();
    const handler = createAdmissionHandler({
      view: {
        ...s.view,
        decisions: () => {
          throw new Error('secret internal detail');
        },
      },
      injection: injectionConfig(),
      schema: () => [],
      clock: createManualClock(NOW),
      logger: s.logger,
      metrics: s.metrics,
    });
    expect(sync(handler.review('/validate-workloads', Buffer.from('{"kind":"nope"}'), 0)).status).toBe(400);
    const r = create(deployment({ name: 'chat', labels: { team: 'a' } }));
    const answer = sync(handler.review('/validate-workloads', Buffer.from(JSON.stringify(r)), 0));
    expect(answer.body).not.toContain('secret internal detail');
    const res = (JSON.parse(answer.body) as AdmissionReview).response!;
    expect(res.allowed).toBe(false);
    expect(res.status?.code).toBe(500);
    expect(s.logger.records.some((x) => x['msg'] === 'admission review failed')).toBe(true);
  });

  it('validates AIPolicy/AIBudget with the schema and refuses overlapping budgets in another currency', () => {
    const s = setup();
    s.view.setBudgets(
      [budget({ name: 'eur', team: 'a' })].map((b) => ({
        ...b,
        spec: { ...b.spec, allocation: { ...b.spec.allocation, currency: 'EUR' as 'USD' } },
      })),
    );
    const out = s.call(
      '/validate-genops',
      review({ resource: RESOURCES.aibudgets, namespace: 'ai', object: budget({ name: 'usd', team: 'a' }) }),
    );
    expect(out.allowed).toBe(false);
    expect(out.status).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(out.status?.message).toContain('AIBudget "eur"');
    const other = s.call(
      '/validate-genops',
      review({ resource: RESOURCES.aibudgets, namespace: 'ai', object: budget({ name: 'usd', team: 'b' }) }),
    );
    expect(other.allowed).toBe(true);
  });
});

describe('the examples agree with each other', () => {
  it('the example workload is admitted by the example production policy (and refused without its classification)', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const root = new URL('../../examples/', import.meta.url);
    const prodPolicy = parse(
      readFileSync(new URL('policies/production-policy.yaml', root), 'utf8'),
    ) as AIPolicy;
    const workload = parse(readFileSync(new URL('workloads/chat-assistant.yaml', root), 'utf8')) as Record<
      string,
      unknown
    >;
    const s = setup();
    s.view.setNamespace('ai-platform', { 'genops.ai/policy-enforcement': 'enabled' });
    s.view.setPolicies([prodPolicy]);
    const ok = s.workloads(create({ ...workload }, 'ai-platform'));
    expect(ok.allowed, ok.status?.message).toBe(true);
    const bare = structuredClone(workload) as {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    delete bare.spec.template.metadata.labels['genops.ai/data-classification'];
    expect(s.workloads(create(bare as unknown as Record<string, unknown>, 'ai-platform')).allowed).toBe(
      false,
    );
  });
});
