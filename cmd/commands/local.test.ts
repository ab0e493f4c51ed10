// `genops local` end to end: policies from a directory, spans from the real SDK exporter, the
// Prometheus text on /metrics (policy price override applied, budget utilisation), health
// endpoints, and a reload when a file changes.
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { LocalRuntime } from './local.ts';
import { startLocal } from './local.ts';

const POLICY = `apiVersion: genops.ai/v1alpha1
kind: AIPolicy
metadata:
  name: ml-prices
  namespace: ai
spec:
  modelGovernance:
    costPerToken:
      input: 0.00001
      output: 0.00003
  selector:
    matchLabels:
      team: ml
`;

const budget = (amount: number) => `apiVersion: genops.ai/v1alpha1
kind: AIBudget
metadata:
  name: ml-budget
  namespace: ai
spec:
  allocation:
    amount: ${amount}
    period: monthly
  selector:
    matchLabels:
      team: ml
---
apiVersion: genops.ai/v1alpha1
kind: AIBudget
metadata:
  name: research
  namespace: ai
spec:
  allocation:
    amount: 10
  selector:
    matchLabels:
      team: research
`;

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

describe('genops local', () => {
  let dir: string;
  let local: LocalRuntime;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genops-local-'));
    await writeFile(join(dir, 'policy.yaml'), POLICY);
    await writeFile(join(dir, 'budgets.yaml'), budget(1));
    local = await startLocal(
      {
        policies: dir,
        host: '127.0.0.1',
        otlpGrpcPort: 0,
        otlpHttpPort: 0,
        metricsPort: 0,
        healthPort: 0,
        timeZone: 'UTC',
        workers: 1,
        reloadDelayMs: 50,
      },
      { logger: silentLogger, clock: systemClock },
    );
  });

  afterAll(async () => {
    await local?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves health, loads the resources, prices with the policy override and reports budget use', async () => {
    const ports = local.ports();
    expect(await get(ports.health, '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await get(ports.health, '/readyz')).status).toBe(200);
    expect(local.resources().policies).toHaveLength(1);
    expect(local.resources().budgets.map((b) => b.metadata.name)).toEqual(['ml-budget', 'research']);

    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'k8s.namespace.name': 'ai',
        'k8s.deployment.name': 'chat',
        'k8s.pod.label.team': 'ml',
      }),
      spanProcessors: [
        new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${ports.http}/v1/traces` })),
      ],
    });
    const tracer = provider.getTracer('local-test');
    for (let i = 0; i < 2; i++) {
      tracer
        .startSpan('chat gpt-4o', {
          kind: SpanKind.CLIENT,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': 'gpt-4o',
            'gen_ai.usage.input_tokens': 1000,
            'gen_ai.usage.output_tokens': 500,
          },
        })
        .end();
    }
    await provider.forceFlush();
    await provider.shutdown();
    await new Promise((r) => setTimeout(r, 100));

    // 2 x (1000 x $0.00001 + 500 x $0.00003) = $0.05 of a $1 budget. Budget gauges come from the
    // latest decisions, which are coalesced: evaluate now instead of waiting for the next round.
    local.decisions.evaluateNow();
    const metrics = await get(ports.metrics, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain(
      'genops_cost_total_usd{namespace="ai",workload="chat",provider="openai",model="gpt-4o"} 0.05\n',
    );
    expect(metrics.text).toContain(
      'genops_budget_utilization_percent{budget_name="ml-budget",namespace="ai"} 5\n',
    );
    expect(metrics.text).toContain(
      'genops_budget_utilization_percent{budget_name="research",namespace="ai"} 0\n',
    );
    expect(metrics.text).toContain('# TYPE genops_budget_utilization_percent gauge');

    // The statuses the operator would write, for `genops status --local`.
    local.decisions.evaluateNow();
    const status = JSON.parse((await get(ports.health, '/status')).text);
    const mlBudget = status.budgets.find(
      (b: { metadata: { name: string } }) => b.metadata.name === 'ml-budget',
    );
    expect(mlBudget.status.spend).toBe('0.050000');
  });

  it('reloads the resources when a file changes', async () => {
    const reloaded = new Promise<void>((resolve) => local.onReload(() => resolve()));
    await writeFile(join(dir, 'budgets.yaml'), budget(0.5));
    await reloaded;
    local.decisions.evaluateNow();
    const metrics = await get(local.ports().metrics, '/metrics');
    expect(metrics.text).toContain(
      'genops_budget_utilization_percent{budget_name="ml-budget",namespace="ai"} 10\n',
    );
  });

  it('refuses a missing policy directory', async () => {
    await expect(
      startLocal(
        {
          policies: join(dir, 'nope'),
          host: '127.0.0.1',
          otlpGrpcPort: 0,
          otlpHttpPort: 0,
          metricsPort: 0,
          healthPort: 0,
          timeZone: 'UTC',
        },
        { logger: silentLogger, clock: systemClock },
      ),
    ).rejects.toThrow(/policy directory not found/);
  });
});
