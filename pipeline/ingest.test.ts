// The whole ingest runtime (receivers -> piscina pool with the real worker -> windows) fed by the
// real OpenTelemetry JS SDK exporters, with exact costs asserted in the published snapshot.
import { SpanKind } from '@opentelemetry/api';
import type { Attributes } from '@opentelemetry/api';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGenAiRequest } from '../bench/fixtures.ts';
import type { IngestPipeline } from './ingest.ts';
import { createIngestPipeline } from './ingest.ts';
import type { IngestMetrics } from './ingest-metrics.ts';
import { noopIngestMetrics } from './ingest-metrics.ts';

let pipeline: IngestPipeline;
const counted = { received: 0, charged: 0, deduplicated: 0 };
const metrics: IngestMetrics = {
  ...noopIngestMetrics,
  spansReceived: (n) => (counted.received += n),
  spansCharged: (n) => (counted.charged += n),
  spansDeduplicated: (n) => (counted.deduplicated += n),
};

beforeAll(async () => {
  pipeline = createIngestPipeline({ grpc: { port: 0 }, http: { port: 0 }, pool: { threads: 1 }, metrics });
  await pipeline.start();
});
afterAll(async () => {
  await pipeline.shutdown();
});

function resource(deployment: string): Attributes {
  return {
    'service.name': deployment,
    'k8s.namespace.name': 'ai',
    'k8s.deployment.name': deployment,
    'k8s.pod.name': `${deployment}-5d8f7-x2x9q`,
    'k8s.pod.label.team': 'ml',
  };
}

/** Three gpt-4o calls (7500 micros each), one Claude call with cache reads (4800), an agent span
 * repeating a child's usage and a plain HTTP span: 27300 micros, 4 requests. */
function emitScenario(provider: BasicTracerProvider): void {
  const tracer = provider.getTracer('ingest-test');
  const agent = tracer.startSpan('invoke_agent planner', {
    kind: SpanKind.INTERNAL,
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 3000,
      'gen_ai.usage.output_tokens': 1500,
    },
  });
  agent.end();
  for (let i = 0; i < 3; i++) {
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
  // input includes the 1000 cache-read tokens: 1000 x $3 + 1000 x $0.30 + 100 x $15 per 1M.
  tracer
    .startSpan('chat claude-sonnet-4', {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': 'claude-sonnet-4',
        'gen_ai.usage.input_tokens': 2000,
        'gen_ai.usage.cache_read.input_tokens': 1000,
        'gen_ai.usage.output_tokens': 100,
      },
    })
    .end();
  tracer.startSpan('GET /healthz', { kind: SpanKind.SERVER }).end();
}

const usageOf = (deployment: string) =>
  pipeline.windows.publish().workloads.get(`ai/Deployment/${deployment}`);

const exporters: [string, (port: { grpc: number; http: number }) => SpanExporter, 'simple' | 'batch'][] = [
  ['http/protobuf', (p) => new ProtoExporter({ url: `http://127.0.0.1:${p.http}/v1/traces` }), 'batch'],
  [
    'http/json gzip',
    (p) =>
      new JsonExporter({
        url: `http://127.0.0.1:${p.http}/v1/traces`,
        compression: CompressionAlgorithm.GZIP,
      }),
    'simple',
  ],
  ['grpc', (p) => new GrpcExporter({ url: `http://127.0.0.1:${p.grpc}` }), 'batch'],
  [
    'grpc gzip',
    (p) => new GrpcExporter({ url: `http://127.0.0.1:${p.grpc}`, compression: CompressionAlgorithm.GZIP }),
    'simple',
  ],
];

describe('ingest pipeline with the OpenTelemetry JS SDK exporters', () => {
  it.each(exporters)('charges exact costs sent over %s', async (name, makeExporter, processor) => {
    const deployment = `chat-${name.replace(/[^a-z]+/g, '-')}`;
    const exporter = makeExporter(pipeline.ports());
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes(resource(deployment)),
      spanProcessors: [
        processor === 'simple' ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter),
      ],
    });
    emitScenario(provider);
    await provider.forceFlush();
    await provider.shutdown();
    const u = usageOf(deployment)!;
    expect(u).toBeDefined();
    expect(u.ref).toEqual({ namespace: 'ai', kind: 'Deployment', name: deployment });
    expect(u.labels).toEqual({ team: 'ml' });
    expect(u.spend.daily.costMicros).toBe(27_300);
    expect(u.spend.monthly.requests).toBe(4);
    expect(u.maxRequestCostMicrosToday).toBe(7_500);
    const byModel = Object.fromEntries(u.models.map((m) => [m.model, m]));
    expect(byModel['gpt-4o']).toMatchObject({
      provider: 'openai',
      costMicros: 22_500,
      requests: 3,
      inputTokens: 3000,
    });
    expect(byModel['claude-sonnet-4']).toMatchObject({
      provider: 'anthropic',
      costMicros: 4_800,
      requests: 1,
      cacheReadTokens: 1000,
    });
  });

  it('does not charge a retried export twice', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes(resource('retry')),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    emitScenario(provider);
    await provider.forceFlush();
    const spans = memory.getFinishedSpans();
    const exporter = new ProtoExporter({ url: `http://127.0.0.1:${pipeline.ports().http}/v1/traces` });
    const send = () => new Promise<number>((resolve) => exporter.export(spans, (r) => resolve(r.code)));
    const before = counted.deduplicated;
    expect(await send()).toBe(0);
    expect(await send()).toBe(0);
    const grpc = new GrpcExporter({ url: `http://127.0.0.1:${pipeline.ports().grpc}` });
    expect(await new Promise<number>((resolve) => grpc.export(spans, (r) => resolve(r.code)))).toBe(0);
    await exporter.shutdown();
    await grpc.shutdown();
    await provider.shutdown();
    expect(usageOf('retry')!.spend.daily.costMicros).toBe(27_300);
    expect(counted.deduplicated - before).toBe(8);
  });

  it('counts inference spans without token usage per model, once each, retries included', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes(resource('streamer')),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    const tracer = provider.getTracer('stream-test');
    const chat = (usage: boolean) =>
      tracer
        .startSpan('chat gpt-4o', {
          kind: SpanKind.CLIENT,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': 'gpt-4o',
            // A streamed call whose instrumentation records no usage has no token attribute at all.
            ...(usage ? { 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 500 } : {}),
          },
        })
        .end();
    chat(false);
    chat(false);
    chat(true);
    await provider.forceFlush();
    const spans = memory.getFinishedSpans();
    const exporter = new ProtoExporter({ url: `http://127.0.0.1:${pipeline.ports().http}/v1/traces` });
    const send = () => new Promise<number>((resolve) => exporter.export(spans, (r) => resolve(r.code)));
    expect(await send()).toBe(0);
    expect(await send()).toBe(0); // the exporter's retry: nothing more is counted
    await exporter.shutdown();
    await provider.shutdown();
    const u = usageOf('streamer')!;
    const gpt4o = u.models.find((m) => m.model === 'gpt-4o');
    expect(gpt4o).toMatchObject({ requests: 3, costMicros: 7_500, requestsWithoutUsage: 2 });
  });

  it('answers malformed and truncated bodies with 400 while good requests alongside are counted', async () => {
    const good = makeGenAiRequest({ spans: 200, seed: 77, startMs: Date.now() });
    const post = (body: Uint8Array | string, type: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: pipeline.ports().http,
            method: 'POST',
            path: '/v1/traces',
            headers: { 'content-type': type },
          },
          (res) => {
            let text = '';
            res.setEncoding('latin1');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const chargedBefore = counted.charged;
    const results = await Promise.all([
      post(good.protobuf.subarray(0, Math.floor(good.protobuf.length / 2)), 'application/x-protobuf'),
      post(good.json.slice(0, good.json.length - 10), 'application/json'),
      post('{"resourceSpans": 42}', 'application/json'),
      post(good.protobuf, 'application/x-protobuf'),
      post(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), 'application/x-protobuf'),
    ]);
    expect(results.map((r) => r.status)).toEqual([400, 400, 400, 200, 400]);
    expect(JSON.parse(results[1].body)).toMatchObject({ code: 3 });
    expect(counted.charged - chargedBefore).toBe(good.chargedSpans);
  });
});
