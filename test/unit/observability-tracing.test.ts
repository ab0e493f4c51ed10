// Self-telemetry: the OTEL_* rules, off by default, and spans exported over OTLP/gRPC to a real
// receiver (genops' own ingest pipeline on a loopback port), flushed by shutdown.

import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createRecordingLogger, silentLogger } from '../../kernel/logger.ts';
import { createMetrics } from '../../observability/metrics.ts';
import {
  createSelfTracing,
  inSpan,
  parseKeyValues,
  SPAN,
  tracingSettings,
} from '../../observability/tracing.ts';
import { createIngestPipeline, type IngestPipeline } from '../../pipeline/ingest.ts';

let pipeline: IngestPipeline | undefined;
afterEach(async () => {
  await pipeline?.shutdown(5000);
  pipeline = undefined;
});

describe('self-tracing settings', () => {
  it('is off unless an endpoint or the otlp exporter is configured', () => {
    expect(tracingSettings({}).enabled).toBe(false);
    expect(tracingSettings({ OTEL_SERVICE_NAME: 'x' }).enabled).toBe(false);
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }).endpoint).toBe(
      'http://collector:4317',
    );
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' }).endpoint).toBe('http://localhost:4317');
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4317',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4317',
      }).endpoint,
    ).toBe('http://t:4317');
    expect(
      tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_TRACES_EXPORTER: 'none' }).enabled,
    ).toBe(false);
    expect(
      tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_SDK_DISABLED: 'true' }).enabled,
    ).toBe(false);
  });

  it('reads service name, resource attributes, headers and sampler', () => {
    const s = tracingSettings(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=platform%20ops',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      },
      'genops-controller-manager-abc',
      'genops-system',
    );
    expect(s.serviceName).toBe('genops-operator');
    expect(s.resourceAttributes).toEqual({
      'deployment.environment': 'prod',
      team: 'platform ops',
      'k8s.pod.name': 'genops-controller-manager-abc',
      'k8s.namespace.name': 'genops-system',
    });
    expect(s.headers).toEqual({ authorization: 'Bearer abc' });
    expect(s.sampler.toString()).toContain('TraceIdRatioBased{0.25}');
    // http/protobuf is honoured now (it used to warn and export over gRPC anyway).
    expect(s.warnings).toEqual([]);
    expect(s.protocol).toBe('http/protobuf');
    expect(parseKeyValues('a=1,,=x,b = 2')).toEqual({ a: '1', b: '2' });
  });
});

describe('self-tracing protocol', () => {
  it('honours OTEL_EXPORTER_OTLP_PROTOCOL and the per-signal variables, HTTP endpoints end in /v1/traces', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' })).toMatchObject({
      protocol: 'grpc',
      endpoint: 'http://c:4317',
    });
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      }),
    ).toMatchObject({ protocol: 'http/protobuf', endpoint: 'http://c:4318/v1/traces', warnings: [] });
    expect(
      tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
    ).toMatchObject({
      protocol: 'http/json',
      endpoint: 'http://localhost:4318/v1/traces',
    });
    // The signal-specific endpoint is taken as is; the signal-specific protocol wins over the generic one.
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9999/custom',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      }),
    ).toMatchObject({ protocol: 'http/protobuf', endpoint: 'http://t:9999/custom' });
    const unknown = tracingSettings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'udp',
    });
    expect(unknown.protocol).toBe('grpc');
    expect(unknown.warnings).toEqual([expect.stringContaining('udp is not supported')]);
  });

  it.each(['http/protobuf', 'http/json'] as const)(
    'exports stage spans over OTLP %s to a real HTTP receiver, none over gRPC',
    async (protocol) => {
      const metrics = createMetrics();
      pipeline = createIngestPipeline({
        grpc: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        metrics: metrics.ingest,
        pool: { threads: 1 },
      });
      await pipeline.start();
      const tracing = createSelfTracing({
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${pipeline.ports().http}`,
          OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        },
        logger: silentLogger,
        version: 'test',
      });
      await tracing.start();
      await inSpan(tracing.tracer, SPAN.reconcile, {}, async () => {
        await inSpan(tracing.tracer, SPAN.decision, {}, () => undefined);
      });
      await tracing.shutdown(10_000);
      const text = await metrics.render();
      // The receiver tells the encodings apart: the spans came in the one the variable asked for.
      const transport = protocol === 'http/json' ? 'otlp-http-json' : 'otlp-http-protobuf';
      const other = protocol === 'http/json' ? 'otlp-http-protobuf' : 'otlp-http-json';
      expect(text).toContain(`genops_spans_received_total{transport="${transport}"} 2\n`);
      expect(text).not.toContain(`genops_spans_received_total{transport="${other}"}`);
      expect(text).not.toContain('genops_spans_received_total{transport="otlp-grpc"}');
    },
  );
});

describe('self-tracing', () => {
  it('gives a no-op tracer when off, and shuts down without start', async () => {
    const tracing = createSelfTracing({ env: {}, logger: silentLogger, version: 'test' });
    await tracing.shutdown();
    await tracing.start();
    expect(tracing.enabled).toBe(false);
    const span = tracing.tracer.startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
    await tracing.shutdown();
  });

  it('exports stage spans over OTLP/gRPC and flushes them on shutdown', async () => {
    const metrics = createMetrics();
    pipeline = createIngestPipeline({
      grpc: { host: '127.0.0.1', port: 0 },
      http: false,
      metrics: metrics.ingest,
      pool: { threads: 1 },
    });
    await pipeline.start();
    const logger = createRecordingLogger();
    const tracing = createSelfTracing({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${pipeline.ports().grpc}` },
      logger,
      version: 'test',
      podName: 'genops-controller-manager-0',
      podNamespace: 'genops-system',
    });
    await tracing.start();
    expect(tracing.enabled).toBe(true);

    await inSpan(tracing.tracer, SPAN.reconcile, { 'genops.queue': 'budgets' }, async () => {
      await inSpan(tracing.tracer, SPAN.decision, {}, (span) => {
        expect(span.isRecording()).toBe(true);
        // Nested: the decision span's parent is the reconcile span.
        expect(trace.getActiveSpan()).toBe(span);
      });
    });
    await expect(
      inSpan(tracing.tracer, SPAN.enforcement, {}, () => {
        throw new Error('scale refused');
      }),
    ).rejects.toThrow('scale refused');

    // Nothing exported yet (batched); shutdown flushes all three.
    await tracing.shutdown(10_000);
    const text = await metrics.render();
    expect(text).toMatch(/genops_spans_received_total\{transport="otlp-grpc"\} 3\n/);
    expect(logger.records.some((r) => r.msg === 'self-tracing on')).toBe(true);
  });
});
