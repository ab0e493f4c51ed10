// `genops local --wal-dir`: usage survives a restart (usage file + write-ahead log), and what
// Prometheus reads stays right across it: the counter counts what this process charged since it
// started (no restored month counted again by increase()), the month-to-date gauge holds the month.
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
import { startLocal, type LocalRuntime } from './local.ts';

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

async function send(port: number, count: number): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'k8s.namespace.name': 'ai',
      'k8s.deployment.name': 'chat',
      'k8s.pod.label.team': 'ml',
    }),
    spanProcessors: [
      new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` })),
    ],
  });
  const tracer = provider.getTracer('local-wal-test');
  for (let i = 0; i < count; i++) {
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
}

const series = '{namespace="ai",workload="chat",provider="openai",model="gpt-4o"}';
const month = '{namespace="ai",workload="chat"}';

describe('genops local --wal-dir', () => {
  let dir: string;
  let wal: string;
  const running: LocalRuntime[] = [];
  const start = () =>
    startLocal(
      {
        policies: dir,
        host: '127.0.0.1',
        otlpGrpcPort: 0,
        otlpHttpPort: 0,
        metricsPort: 0,
        healthPort: 0,
        timeZone: 'UTC',
        workers: 1,
        walDir: wal,
      },
      { logger: silentLogger, clock: systemClock },
    ).then((l) => {
      running.push(l);
      return l;
    });
  const metrics = async (l: LocalRuntime) =>
    (await fetch(`http://127.0.0.1:${l.ports().metrics}/metrics`)).text();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genops-local-wal-'));
    wal = join(dir, 'wal');
    await writeFile(join(dir, 'policy.yaml'), POLICY);
  });
  afterAll(async () => {
    for (const l of running) await l.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('continues the month after a restart; the counter restarts at what this process charged', async () => {
    const first = await start();
    // 2 x (1000 x $0.00001 + 500 x $0.00003) = $0.05; answered only once on disk.
    await send(first.ports().http, 2);
    await new Promise((r) => setTimeout(r, 100));
    const before = await metrics(first);
    expect(before).toContain(`genops_cost_total_usd${series} 0.05\n`);
    expect(before).toContain(`genops_cost_month_to_date_usd${month} 0.05\n`);
    await first.shutdown();
    running.splice(running.indexOf(first), 1);

    const second = await start();
    expect(
      second.pipeline.windows.current().workloads.get('ai/Deployment/chat')?.spend.monthly.costMicros,
    ).toBe(50_000);
    const restored = await metrics(second);
    // The month is back, but this process has charged nothing yet: no counter series to re-count.
    expect(restored).toContain(`genops_cost_month_to_date_usd${month} 0.05\n`);
    expect(restored).not.toContain(`genops_cost_total_usd${series}`);
    await send(second.ports().http, 1);
    await new Promise((r) => setTimeout(r, 100));
    const after = await metrics(second);
    expect(after).toContain(`genops_cost_total_usd${series} 0.025\n`);
    expect(after).toContain(`genops_cost_month_to_date_usd${month} 0.075\n`);
  });
});
