// The prom-client registry built from the catalogue: per-instance registries, the adapters of the
// stages' ports, scrape-time gauges over snapshot and decisions, the series cap, and a lint of the
// exposition by the real promtool.

import { spawnSync } from 'node:child_process';
import { register as globalRegister } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import {
  CATALOGUE,
  createMetrics,
  MAX_LABEL_VALUE_LENGTH,
  type GenOpsMetrics,
} from '../../observability/metrics.ts';
import type { DecisionSet } from '../../decision/types.ts';
import type { UsageSnapshot } from '../../pipeline/snapshot.ts';
import { budget, decision, decisionSet, reason, snapshot, workload } from './observability-fixtures.ts';

async function values(m: GenOpsMetrics, name: string) {
  const metric = m.registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} not registered`);
  return (await metric.get()).values;
}

async function value(m: GenOpsMetrics, name: string, labels: Record<string, string> = {}) {
  const match = (await values(m, name)).filter((v) =>
    Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  if (match.length !== 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${match.length} series`);
  return match[0]!.value;
}

const chat = { namespace: 'ai-platform', kind: 'Deployment', name: 'chat-assistant' };
const batch = { namespace: 'ai-platform', kind: 'Deployment', name: 'batch' };

describe('metrics registry', () => {
  it('builds one registry per instance, with every catalogue metric and nothing global', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.ingest.spansReceived(5, 'otlp-grpc');
    expect(await value(a, 'genops_spans_received_total', { transport: 'otlp-grpc' })).toBe(5);
    expect(await values(b, 'genops_spans_received_total')).toEqual([]);
    expect(globalRegister.getMetricsAsArray().filter((m) => m.name.startsWith('genops_'))).toEqual([]);
    const names = a.registry.getMetricsAsArray().map((m) => m.name);
    expect(names.sort()).toEqual(CATALOGUE.map((d) => d.name).sort());
  });

  it('exports the seed names with the seed labels', async () => {
    const text = await createMetrics().render();
    for (const name of [
      'genops_policy_violations_total',
      'genops_budget_utilization_percent',
      'genops_cost_total_usd',
      'genops_requests_per_second',
      'genops_content_safety_score',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const byName = new Map(CATALOGUE.map((d) => [d.name, d]));
    expect(byName.get('genops_budget_utilization_percent')?.labels).toEqual(['budget_name', 'namespace']);
    expect(byName.get('genops_cost_total_usd')?.labels).toEqual([
      'namespace',
      'workload',
      'provider',
      'model',
    ]);
  });

  it('adds process metrics only when asked', async () => {
    expect(await createMetrics().render()).not.toContain('process_cpu_user_seconds_total');
    expect(await createMetrics({ defaultMetrics: true }).render()).toContain(
      'process_cpu_user_seconds_total',
    );
  });

  it('charges usage as USD, tokens by type and requests (usageCounters: events)', async () => {
    const m = createMetrics({ usageCounters: 'events' });
    const usage = {
      workload: chat,
      provider: 'openai',
      model: 'gpt-4o',
      requests: 3,
      costMicros: 1_250_000,
      inputTokens: 100,
      outputTokens: 40,
      cacheReadTokens: 10,
      cacheWriteTokens: 0,
      reasoningTokens: 7,
    };
    m.usage.charged(usage);
    m.usage.charged(usage);
    const labels = {
      namespace: 'ai-platform',
      workload: 'chat-assistant',
      provider: 'openai',
      model: 'gpt-4o',
    };
    expect(await value(m, 'genops_cost_total_usd', labels)).toBeCloseTo(2.5, 9);
    expect(await value(m, 'genops_requests_total', labels)).toBe(6);
    expect(await value(m, 'genops_tokens_total', { ...labels, token_type: 'input' })).toBe(200);
    expect(await value(m, 'genops_tokens_total', { ...labels, token_type: 'reasoning' })).toBe(14);
    // Zero counts create no series.
    expect((await values(m, 'genops_tokens_total')).map((v) => v.labels.token_type).sort()).toEqual([
      'cache_read',
      'input',
      'output',
      'reasoning',
    ]);
  });

  it('reads the usage counters from the own windows by default, on every replica', async () => {
    const current = snapshot([
      workload(chat, {
        models: [
          {
            provider: 'openai',
            model: 'gpt-4o',
            costMicros: 3_500_000,
            requests: 7,
            inputTokens: 700,
            outputTokens: 0,
            cacheReadTokens: 0,
            cacheWriteTokens: 0,
            reasoningTokens: 0,
            unpriced: false,
          },
        ],
      }),
    ]);
    const merged = snapshot([
      workload(chat, { requestsLastMinute: 60 }),
      workload(batch, { requestsLastMinute: 60 }),
    ]);
    // Not the leader: the cluster view is not exported, this replica's own usage is.
    const m = createMetrics({ snapshot: () => merged, usageSnapshot: () => current });
    m.usage.charged({
      workload: batch,
      provider: 'openai',
      model: 'gpt-4o',
      requests: 1,
      costMicros: 1,
      inputTokens: 1,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
    const labels = { workload: 'chat-assistant', provider: 'openai', model: 'gpt-4o' };
    expect(await value(m, 'genops_cost_total_usd', labels)).toBe(3.5);
    expect(await value(m, 'genops_requests_total', labels)).toBe(7);
    expect((await values(m, 'genops_tokens_total')).map((v) => [v.labels.token_type, v.value])).toEqual([
      ['input', 700],
    ]);
    expect((await values(m, 'genops_cost_total_usd')).length).toBe(1); // charged() is ignored in this mode
    expect(await m.render()).toContain('# TYPE genops_cost_total_usd counter');
    expect(await values(m, 'genops_requests_per_second')).toEqual([]);
    m.leader.leader(true);
    expect((await values(m, 'genops_requests_per_second')).length).toBe(2);
  });

  it('implements the ingest, work queue, kube client, informer and leader ports', async () => {
    const m = createMetrics();
    m.ingest.spansRejected(2, 'otlp-http-json', 'invalid');
    m.ingest.requestRefused('otlp-grpc', 'queue-full');
    m.ingest.spansDeduplicated(4);
    m.ingest.spansUnpriced(1, 'acme', 'mystery-1');
    m.ingest.queueDepth(7);
    m.ingest.requestDuration(0.003, 'otlp-grpc', 'ok');
    m.workQueue.reconciled('budgets', 'success', 0.01);
    m.workQueue.reconciled('budgets', 'retry', 0.02);
    m.workQueue.depth('budgets', 3);
    m.kubeClient.apiRequest('PATCH', 409, 0.05);
    m.informer.restart('aipolicies');
    m.leader.leader(true);
    m.leader.leader(true);
    m.leader.leader(false);
    expect(
      await value(m, 'genops_spans_rejected_total', { transport: 'otlp-http-json', reason: 'invalid' }),
    ).toBe(2);
    expect(await value(m, 'genops_otlp_requests_refused_total', { reason: 'queue-full' })).toBe(1);
    expect(await value(m, 'genops_spans_deduplicated_total')).toBe(4);
    expect(await value(m, 'genops_spans_unknown_model_total', { model: 'mystery-1' })).toBe(1);
    expect(await value(m, 'genops_ingest_queue_depth')).toBe(7);
    expect(await value(m, 'genops_reconcile_errors_total', { queue: 'budgets' })).toBe(1);
    expect(await value(m, 'genops_reconcile_total', { queue: 'budgets', outcome: 'success' })).toBe(1);
    expect(await value(m, 'genops_workqueue_depth', { queue: 'budgets' })).toBe(3);
    expect(await value(m, 'genops_kube_api_requests_total', { verb: 'PATCH', code: '409' })).toBe(1);
    expect(await value(m, 'genops_informer_restarts_total', { resource: 'aipolicies' })).toBe(1);
    expect(await value(m, 'genops_leader')).toBe(0);
    expect(await value(m, 'genops_leader_transitions_total')).toBe(2);
    const text = await m.render();
    expect(text).toContain(
      'genops_otlp_request_duration_seconds_bucket{le="0.005",transport="otlp-grpc",outcome="ok"} 1',
    );
  });

  it('implements the decision, webhook, enforcement and usage store ports', async () => {
    const m = createMetrics();
    m.decision.evaluated(0.004, { allow: 10, warn: 2, throttle: 1, block: 0 }, 1);
    m.webhook.reviewed('validate-workloads', 'denied', 0.003);
    m.webhook.reviewed('validate-workloads', 'allowed', 0.001);
    m.webhook.ruled('validate-workloads', 'BUDGET', 'denied');
    m.webhook.bypassUsed('ai-platform', 'Deployment');
    m.webhook.certificateLoaded(1_800_000_000_000);
    m.webhook.certificateError('rotate');
    m.enforcement.action('ai-platform', 'Deployment', 'scale', 'success');
    m.usageStore.usageRecordWrite('written', 2048);
    m.usageStore.usageRecordWrite('failed', 0);
    m.usageStore.usageRecordsMerged(1);
    expect(await value(m, 'genops_decision_evaluations_total')).toBe(1);
    expect(await value(m, 'genops_workloads_by_action', { action: 'warn' })).toBe(2);
    expect(await value(m, 'genops_workloads_bypassed')).toBe(1);
    expect(
      await value(m, 'genops_webhook_admissions_total', { webhook: 'validate-workloads', outcome: 'denied' }),
    ).toBe(1);
    expect(await value(m, 'genops_webhook_rulings_total', { reason: 'BUDGET', effect: 'denied' })).toBe(1);
    expect(
      await value(m, 'genops_webhook_bypasses_total', { namespace: 'ai-platform', kind: 'Deployment' }),
    ).toBe(1);
    expect(await value(m, 'genops_webhook_certificate_expiry_timestamp_seconds')).toBe(1_800_000_000);
    expect(await value(m, 'genops_webhook_certificate_errors_total', { stage: 'rotate' })).toBe(1);
    expect(await value(m, 'genops_enforcement_actions_total', { action: 'scale', outcome: 'success' })).toBe(
      1,
    );
    expect(await value(m, 'genops_usage_record_writes_total', { outcome: 'failed' })).toBe(1);
    expect(await value(m, 'genops_usage_record_bytes')).toBe(2048);
    expect(await value(m, 'genops_usage_records_merged')).toBe(1);
    const text = await m.render();
    expect(text).toContain('genops_webhook_admission_duration_seconds_count{webhook="validate-workloads"} 2');
  });

  it('counts a violation once when it appears, again only after it ended', async () => {
    const m = createMetrics({ clusterGauges: 'always' });
    const src = { kind: 'AIPolicy' as const, namespace: 'ai-platform', name: 'production-policy' };
    const violating = decisionSet({
      workloads: [decision(chat, 'throttle', [reason('RATE_LIMITED', 'throttle', src)])],
    });
    const clean = decisionSet({ workloads: [decision(chat, 'allow', [])] });
    m.violations.decisionsPublished(violating);
    m.violations.decisionsPublished(violating);
    const labels = { namespace: 'ai-platform', workload: 'chat-assistant', policy: 'production-policy' };
    expect(await value(m, 'genops_policy_violations_total', { ...labels, reason: 'RATE_LIMITED' })).toBe(1);
    m.violations.decisionsPublished(clean);
    m.violations.decisionsPublished(violating);
    expect(await value(m, 'genops_policy_violations_total', { ...labels, reason: 'RATE_LIMITED' })).toBe(2);
    expect((await values(m, 'genops_policy_violations_total')).length).toBe(1);
  });

  it('exports the cluster view only while leader, unless told to always', async () => {
    const current = decisionSet({
      budgets: [budget('team-budget', 'ai-platform', { spend: 96, limit: 100, projected: 120 })],
    });
    const src = { kind: 'AIBudget' as const, namespace: 'ai-platform', name: 'team-budget' };
    const violating = decisionSet({
      workloads: [decision(chat, 'block', [reason('BUDGET_EXCEEDED', 'block', src)])],
    });
    const m = createMetrics({ decisions: () => current });
    m.violations.decisionsPublished(violating);
    expect(await values(m, 'genops_budget_utilization_percent')).toEqual([]);
    expect(await values(m, 'genops_policy_violations_total')).toEqual([]);
    m.leader.leader(true);
    m.violations.decisionsPublished(violating);
    expect(await value(m, 'genops_budget_utilization_percent', { budget_name: 'team-budget' })).toBe(96);
    expect(await value(m, 'genops_policy_violations_total', { reason: 'BUDGET_EXCEEDED' })).toBe(1);
    m.leader.leader(false);
    expect(await values(m, 'genops_budget_utilization_percent')).toEqual([]);
    const always = createMetrics({ decisions: () => current, clusterGauges: 'always' });
    expect(await value(always, 'genops_budget_utilization_percent', { budget_name: 'team-budget' })).toBe(96);
  });

  it('caps series per metric and counts what it dropped', async () => {
    const m = createMetrics({ seriesCaps: { genops_spans_unknown_model_total: 2 } });
    m.ingest.spansUnpriced(1, 'p', 'a');
    m.ingest.spansUnpriced(1, 'p', 'b');
    m.ingest.spansUnpriced(1, 'p', 'c');
    m.ingest.spansUnpriced(1, 'p', 'd');
    m.ingest.spansUnpriced(5, 'p', 'a'); // an existing series keeps counting
    const series = await values(m, 'genops_spans_unknown_model_total');
    expect(series.map((v) => [v.labels.model, v.value])).toEqual([
      ['a', 6],
      ['b', 1],
    ]);
    expect(
      await value(m, 'genops_metrics_series_dropped_total', { metric: 'genops_spans_unknown_model_total' }),
    ).toBe(2);
  });

  it('cuts long label values', async () => {
    const m = createMetrics();
    m.ingest.spansUnpriced(1, 'p', 'x'.repeat(500));
    const [series] = await values(m, 'genops_spans_unknown_model_total');
    expect(String(series?.labels.model)).toHaveLength(MAX_LABEL_VALUE_LENGTH);
  });

  it('computes snapshot gauges at scrape time from the latest snapshot', async () => {
    let current: UsageSnapshot | undefined;
    const clock = createManualClock(0);
    const m = createMetrics({ clock, snapshot: () => current, clusterGauges: 'always' });
    expect(await values(m, 'genops_requests_per_second')).toEqual([]);
    current = snapshot([
      workload(chat, {
        requestsLastMinute: 120,
        labels: { team: 'ai-platform', 'genops.ai/project': 'chat' },
        safety: { min: 0.4, mean: 0.9, count: 10 },
        monthlyMicros: 12_500_000,
      }),
      workload(batch, { requestsLastMinute: 6 }),
    ]);
    expect(await value(m, 'genops_requests_per_second', { workload: 'chat-assistant' })).toBe(2);
    expect(await value(m, 'genops_requests_per_second', { workload: 'batch' })).toBe(0.1);
    expect(await value(m, 'genops_content_safety_score', { workload: 'chat-assistant' })).toBe(0.9);
    expect(await value(m, 'genops_content_safety_score_min', { workload: 'chat-assistant' })).toBe(0.4);
    expect((await values(m, 'genops_content_safety_score')).length).toBe(1);
    expect(
      await value(m, 'genops_workload_period_spend_usd', { workload: 'chat-assistant', period: 'monthly' }),
    ).toBe(12.5);
    expect(
      await value(m, 'genops_workload_info', {
        workload: 'chat-assistant',
        workload_kind: 'Deployment',
        team: 'ai-platform',
        project: 'chat',
      }),
    ).toBe(1);
    // A workload that left the snapshot leaves the scrape.
    current = snapshot([workload(batch, { requestsLastMinute: 60 })], 2);
    clock.advance(5000);
    expect((await values(m, 'genops_requests_per_second')).map((v) => [v.labels.workload, v.value])).toEqual([
      ['batch', 1],
    ]);
  });

  it('computes budget and autoscaling gauges from the latest decisions', async () => {
    const day = 86_400_000;
    let current: DecisionSet | undefined = decisionSet({
      computedAt: 10 * day,
      budgets: [
        budget('team-budget', 'ai-platform', {
          spend: 4000,
          limit: 5000,
          projected: 6000, // 2000 more to come, 1000 left: burn ratio 2
          resetAt: 30 * day,
          matched: [chat],
          action: 'warn',
        }),
      ],
    });
    const m = createMetrics({
      decisions: () => current,
      clusterGauges: 'always',
      derived: { replicasOf: (ref) => (ref.name === 'chat-assistant' ? 6 : undefined) },
    });
    const b = { budget_name: 'team-budget', namespace: 'ai-platform' };
    expect(await value(m, 'genops_budget_utilization_percent', b)).toBe(80);
    expect(await value(m, 'genops_budget_remaining_usd', b)).toBe(1000);
    expect(await value(m, 'genops_budget_action', { ...b, action: 'warn' })).toBe(1);
    expect(await value(m, 'genops_budget_action', { ...b, action: 'block' })).toBe(0);
    // 1000 left at 2000 per 20 days: runs out after 10 more days.
    expect(await value(m, 'genops_budget_projected_exhaustion_timestamp_seconds', b)).toBe((20 * day) / 1000);
    const w = { namespace: 'ai-platform', workload: 'chat-assistant', workload_kind: 'Deployment' };
    expect(await value(m, 'genops_workload_budget_headroom_ratio', w)).toBeCloseTo(0.2, 12);
    expect(await value(m, 'genops_workload_budget_burn_ratio', w)).toBe(2);
    expect(await value(m, 'genops_workload_allowed_replicas', w)).toBe(3);
    current = undefined;
    expect(await values(m, 'genops_budget_utilization_percent')).toEqual([]);
  });

  it('passes promtool check metrics, apart from the seed name genops_cost_total_usd', async () => {
    const m = createMetrics({ usageCounters: 'events' });
    m.usage.charged({
      workload: chat,
      provider: 'openai',
      model: 'gpt-4o',
      requests: 1,
      costMicros: 1,
      inputTokens: 1,
      outputTokens: 1,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
    m.webhook.reviewed('validate-workloads', 'allowed', 0.002);
    const result = spawnSync('promtool', ['check', 'metrics'], { input: await m.render(), encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    const output = `${result.stdout}\n${result.stderr}`;
    // The one known finding proves the linter really read the exposition.
    expect(output).toContain('genops_cost_total_usd counter metrics should have "_total" suffix');
    const problems = output
      .split('\n')
      .filter((l) => l.trim() !== '')
      .filter((l) => !l.startsWith('genops_cost_total_usd counter metrics should have "_total" suffix'));
    expect(problems).toEqual([]);
  });
});
