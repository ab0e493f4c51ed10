// The Collector configurations of otel-config/ checked by a real OpenTelemetry Collector
// (otelcol-genops, built by test/collector/build.ts): each passes `validate`, a broken one does not;
// the sidecar config relays SDK spans to a genops ingest pipeline with the pod identity stamped on;
// the gateway's load-balancing exporter keeps every workload on one operator replica.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../observability/metrics.ts';
import { createIngestPipeline, type IngestPipeline } from '../../pipeline/ingest.ts';
import { ensureCollector } from './build.ts';
import { VALIDATE_ENV } from './validate-env.ts';

const configDir = fileURLToPath(new URL('../../otel-config/', import.meta.url));
const collectorConfigs = readdirSync(configDir).filter(
  (f) => f.endsWith('.yaml') && f !== 'instrumentation.yaml',
);
const work = mkdtempSync(join(tmpdir(), 'genops-collector-'));
let binary = '';
const children: ChildProcess[] = [];
const pipelines: IngestPipeline[] = [];

beforeAll(async () => {
  binary = await ensureCollector({ log: (m) => process.stderr.write(`[collector] ${m}\n`) });
});

afterAll(async () => {
  const exited = children
    .filter((c) => c.exitCode === null)
    .map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(exited);
  await Promise.all(pipelines.map((p) => p.shutdown(5000)));
  rmSync(work, { recursive: true, force: true });
});

function validate(path: string) {
  return spawnSync(binary, ['validate', `--config=${path}`], {
    encoding: 'utf8',
    env: { ...process.env, ...VALIDATE_ENV },
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function startPipeline(): Promise<{
  pipeline: IngestPipeline;
  metrics: ReturnType<typeof createMetrics>;
}> {
  const metrics = createMetrics();
  const pipeline = createIngestPipeline({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    metrics: metrics.ingest,
    pool: { threads: 1 },
  });
  await pipeline.start();
  pipelines.push(pipeline);
  return { pipeline, metrics };
}

/** Runs the Collector with a config file; resolves once its OTLP/HTTP receiver accepts connections. */
async function runCollector(config: unknown, name: string, env: Record<string, string>, httpPort: number) {
  const path = join(work, `${name}.yaml`);
  // The Collector's own metrics endpoint (:8888) would collide between two Collectors in one test.
  const withTelemetry = config as { service: Record<string, unknown> };
  withTelemetry.service.telemetry = { metrics: { level: 'none' }, logs: { level: 'warn' } };
  writeFileSync(path, stringify(withTelemetry));
  let output = '';
  const child = spawn(binary, [`--config=${path}`], { env: { ...process.env, ...env }, stdio: 'pipe' });
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  children.push(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`collector ${name} exited ${child.exitCode}:\n${output}`);
    const up = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, { method: 'GET' }).then(
      () => true,
      () => false,
    );
    if (up) return { child, output: () => output };
    if (Date.now() > deadline) throw new Error(`collector ${name} did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Sends `count` GenAI chat spans with the given resource through OTLP/HTTP protobuf. */
async function sendSpans(endpoint: string, resource: Record<string, string>, count: number) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }))],
  });
  const tracer = provider.getTracer('genops-collector-test');
  for (let i = 0; i < count; i++) {
    const span = tracer.startSpan('chat gpt-4o', {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.output_tokens': 100,
      },
    });
    span.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
}

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('otel-config with a real Collector', () => {
  it.each(collectorConfigs)('%s passes otelcol validate', (file) => {
    const r = validate(join(configDir, file));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('validate rejects a broken config (the check has teeth)', () => {
    const gateway = parse(readFileSync(join(configDir, 'gateway.yaml'), 'utf8')) as {
      exporters: Record<string, { routing_key?: string }>;
    };
    gateway.exporters['loadbalancing/genops']!.routing_key = 'workload';
    const path = join(work, 'broken.yaml');
    writeFileSync(path, stringify(gateway));
    const r = validate(path);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('routing_key');
  });

  it('sidecar.yaml relays SDK spans to genops with the pod identity from the downward API', async () => {
    const { pipeline, metrics } = await startPipeline();
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const config = parse(readFileSync(join(configDir, 'sidecar.yaml'), 'utf8')) as {
      receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
      exporters: Record<string, { endpoint: string }>;
    };
    config.receivers.otlp.protocols.http.endpoint = `127.0.0.1:${httpPort}`;
    config.receivers.otlp.protocols.grpc.endpoint = `127.0.0.1:${grpcPort}`;
    config.exporters['otlphttp/genops']!.endpoint = `http://127.0.0.1:${pipeline.ports().http}`;
    await runCollector(config, 'sidecar', VALIDATE_ENV, httpPort);

    // The application only says who it is as a service; the sidecar adds namespace and pod.
    await sendSpans(`http://127.0.0.1:${httpPort}`, { 'service.name': 'chat-assistant' }, 5);
    const usage = await eventually('the relayed spans', () => {
      const w = pipeline.windows.current().workloads.get('ai-platform/Service/chat-assistant');
      return w && w.spend.monthly.requests >= 5 ? w : undefined;
    });
    expect(usage.spend.monthly.requests).toBe(5);
    expect(usage.models.map((m) => [m.provider, m.model, m.inputTokens])).toEqual([
      ['openai', 'gpt-4o', 5000],
    ]);
    expect(usage.spend.monthly.costMicros).toBeGreaterThan(0);
    expect(await metrics.render()).toMatch(
      /genops_spans_received_total\{transport="otlp-http-protobuf"\} 5\n/,
    );
  });

  it('gateway.yaml routes each workload to exactly one operator replica', async () => {
    const replicas = [await startPipeline(), await startPipeline()];
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const config = parse(readFileSync(join(configDir, 'gateway.yaml'), 'utf8')) as {
      extensions: { health_check: { endpoint: string } };
      receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
      exporters: Record<string, { resolver: Record<string, unknown> }>;
      service: { pipelines: { traces: { processors: string[] } } };
    };
    config.extensions.health_check.endpoint = `127.0.0.1:${await freePort()}`;
    config.receivers.otlp.protocols.http.endpoint = `127.0.0.1:${httpPort}`;
    config.receivers.otlp.protocols.grpc.endpoint = `127.0.0.1:${grpcPort}`;
    // No cluster here: the replicas are listed statically instead of by the headless Service's DNS,
    // and k8sattributes (which needs the API server) is left out; the routing is the shipped one.
    config.exporters['loadbalancing/genops']!.resolver = {
      static: { hostnames: replicas.map((r) => `127.0.0.1:${r.pipeline.ports().grpc}`) },
    };
    config.service.pipelines.traces.processors = config.service.pipelines.traces.processors.filter(
      (p) => p !== 'k8sattributes',
    );
    await runCollector(config, 'gateway', { MY_POD_IP: '127.0.0.1' }, httpPort);

    // 24 workloads: the ring's placement depends on the replicas' random ports, so with few workloads
    // "all on one replica" is a real (if rare) outcome; with 24 it is about one in eight million.
    const workloads = Array.from({ length: 24 }, (_, i) => `workload-${i}`);
    for (const name of workloads) {
      // Two pods per workload: routing is by workload, not by pod.
      for (const pod of ['a', 'b']) {
        await sendSpans(
          `http://127.0.0.1:${httpPort}`,
          {
            'service.name': name,
            'k8s.namespace.name': 'ai-platform',
            'k8s.deployment.name': name,
            'k8s.pod.name': `${name}-7d9c8b6f5-${pod}`,
          },
          3,
        );
      }
    }
    const seenBy = await eventually('every workload at some replica', () => {
      const by = replicas.map(
        (r) =>
          new Map(
            [...r.pipeline.windows.current().workloads.values()].map((w) => [
              w.ref.name,
              w.spend.monthly.requests,
            ]),
          ),
      );
      const total = by.reduce((s, m) => s + [...m.values()].reduce((a, b) => a + b, 0), 0);
      return total >= workloads.length * 6 ? by : undefined;
    });
    for (const name of workloads) {
      const holders = seenBy.filter((m) => m.has(name));
      expect(holders, name).toHaveLength(1);
      expect(holders[0]!.get(name), name).toBe(6);
    }
    // Both replicas got work.
    expect(seenBy.every((m) => m.size > 0)).toBe(true);
  });
});
