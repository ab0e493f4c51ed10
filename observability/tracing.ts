// Owns the operator's own traces (reconcile, decision, enforcement, admission): an OpenTelemetry
// NodeSDK exporting over OTLP (gRPC by default; http/protobuf or http/json with
// OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL), configured by the standard OTEL_* variables that cmd/env.ts
// hands over as a record, and off unless OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) or
// OTEL_TRACES_EXPORTER=otlp is set. Stages receive the Tracer; shutdown flushes what is buffered.
//
// Only traces: the operator's metrics are the Prometheus registry (metrics.ts) and its logs are the
// JSON lines of kernel/logger.ts, so the SDK's metrics and logs pipelines are switched off here.

import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OTLPHttpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPHttpProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Metadata } from '@grpc/grpc-js';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import type { Component } from '../kernel/lifecycle.ts';
import type { Logger } from '../kernel/logger.ts';

/** Span names of the stages, one place so dashboards and tests agree. */
export const SPAN = {
  reconcile: 'genops.reconcile',
  decision: 'genops.decision.evaluate',
  enforcement: 'genops.enforce',
  admission: 'genops.admission',
} as const;

export interface SelfTracingOptions {
  /** The OTEL_* variables (cmd/env.ts GenOpsEnv.otel). */
  readonly env: Readonly<Record<string, string>>;
  readonly logger: Logger;
  readonly version: string;
  /** Pod identity for the resource (POD_NAME / POD_NAMESPACE from the downward API). */
  readonly podName?: string | undefined;
  readonly podNamespace?: string | undefined;
}

export interface SelfTracing extends Component {
  /** True when the OTEL_* variables ask for traces. */
  readonly enabled: boolean;
  /** Where spans are sent, for the startup log ('' when disabled). */
  readonly endpoint: string;
  /** The tracer to hand to stages; a no-op tracer when disabled. */
  readonly tracer: Tracer;
}

/** OTEL_EXPORTER_OTLP_PROTOCOL values the operator exports with. */
export type TracesProtocol = 'grpc' | 'http/protobuf' | 'http/json';
const PROTOCOLS: readonly string[] = ['grpc', 'http/protobuf', 'http/json'];

/** What the OTEL_* variables ask for; pure, so the rules are tested without the SDK. */
export interface TracingSettings {
  readonly enabled: boolean;
  /** Full URL of the traces endpoint (for HTTP with /v1/traces). */
  readonly endpoint: string;
  readonly protocol: TracesProtocol;
  readonly headers: Record<string, string>;
  readonly serviceName: string;
  readonly resourceAttributes: Record<string, string>;
  readonly sampler: Sampler;
  readonly samplerName: string;
  /** Problems worth a warning (unsupported protocol or exporter, bad sampler arg). */
  readonly warnings: string[];
}

/** Parses `k1=v1,k2=v2` (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS); values are URL-decoded. */
export function parseKeyValues(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (value ?? '').split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    const key = part.slice(0, at).trim();
    const raw = part.slice(at + 1).trim();
    let decoded = raw;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      // keep the raw value
    }
    if (key) out[key] = decoded;
  }
  return out;
}

function samplerFrom(name: string, arg: string | undefined, warnings: string[]): Sampler {
  const ratio = () => {
    const r = arg === undefined ? 1 : Number(arg);
    if (!(r >= 0 && r <= 1)) {
      warnings.push(`OTEL_TRACES_SAMPLER_ARG ${arg} is not a ratio in [0, 1]; using 1`);
      return 1;
    }
    return r;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    default:
      warnings.push(`OTEL_TRACES_SAMPLER ${name} is not supported; using parentbased_always_on`);
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

export function tracingSettings(
  env: Readonly<Record<string, string>>,
  podName?: string,
  podNamespace?: string,
): TracingSettings {
  const warnings: string[] = [];
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const explicitEndpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const disabled = env['OTEL_SDK_DISABLED']?.toLowerCase() === 'true' || exporters.includes('none');
  for (const e of exporters) {
    if (e !== 'otlp' && e !== 'none') warnings.push(`OTEL_TRACES_EXPORTER ${e} is not supported; only otlp`);
  }
  const enabled = !disabled && (explicitEndpoint !== undefined || exporters.includes('otlp'));
  const asked = env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'];
  // gRPC stays the default (the spec's is http/protobuf): the operator's traces went over gRPC before
  // the variable was read, and Collectors' gateway configs here listen on 4317.
  let protocol: TracesProtocol = 'grpc';
  if (asked !== undefined && PROTOCOLS.includes(asked)) protocol = asked as TracesProtocol;
  else if (enabled && asked !== undefined) {
    warnings.push(
      `OTEL_EXPORTER_OTLP_PROTOCOL ${asked} is not supported (grpc, http/protobuf, http/json); using grpc`,
    );
  }
  const http = protocol !== 'grpc';
  // The signal-specific endpoint is used as is; the generic one is a base URL that HTTP extends by
  // /v1/traces (OTLP exporter specification).
  const tracesEndpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const endpoint = !enabled
    ? ''
    : tracesEndpoint !== undefined
      ? tracesEndpoint
      : http
        ? `${(base ?? 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`
        : (base ?? 'http://localhost:4317');
  const samplerName = env['OTEL_TRACES_SAMPLER'] ?? 'parentbased_always_on';
  const resourceAttributes = parseKeyValues(env['OTEL_RESOURCE_ATTRIBUTES']);
  if (podName) resourceAttributes['k8s.pod.name'] ??= podName;
  if (podNamespace) resourceAttributes['k8s.namespace.name'] ??= podNamespace;
  return {
    enabled,
    endpoint,
    protocol,
    headers: {
      ...parseKeyValues(env['OTEL_EXPORTER_OTLP_HEADERS']),
      ...parseKeyValues(env['OTEL_EXPORTER_OTLP_TRACES_HEADERS']),
    },
    serviceName: env['OTEL_SERVICE_NAME'] ?? resourceAttributes['service.name'] ?? 'genops-operator',
    resourceAttributes,
    sampler: samplerFrom(samplerName, env['OTEL_TRACES_SAMPLER_ARG'], warnings),
    samplerName,
    warnings,
  };
}

function traceExporter(settings: TracingSettings) {
  switch (settings.protocol) {
    case 'http/protobuf':
      return new OTLPHttpProtoTraceExporter({ url: settings.endpoint, headers: settings.headers });
    case 'http/json':
      return new OTLPHttpJsonTraceExporter({ url: settings.endpoint, headers: settings.headers });
    case 'grpc': {
      const metadata = new Metadata();
      for (const [k, v] of Object.entries(settings.headers)) metadata.set(k, v);
      return new OTLPTraceExporter({ url: settings.endpoint, metadata });
    }
  }
}

export function createSelfTracing(options: SelfTracingOptions): SelfTracing {
  const settings = tracingSettings(options.env, options.podName, options.podNamespace);
  const log = options.logger.child({ component: 'self-tracing' });
  let sdk: NodeSDK | undefined;
  let state: 'new' | 'started' | 'stopped' = 'new';

  return {
    enabled: settings.enabled,
    endpoint: settings.endpoint,
    // The API hands out a proxy tracer: no-op until the SDK registers its provider at start.
    tracer: trace.getTracer('genops-operator', options.version),
    start() {
      if (state !== 'new') return Promise.resolve();
      state = 'started';
      for (const w of settings.warnings) log.warn(w);
      if (!settings.enabled) return Promise.resolve();
      // TLS files and compression (OTEL_EXPORTER_OTLP_CERTIFICATE, ..._COMPRESSION) are read by the exporter itself.
      const exporter = traceExporter(settings);
      // The NodeSDK (the project's chosen SDK) for traces only: the operator's metrics are the
      // Prometheus registry and its logs the JSON lines, so its metrics and logs pipelines stay empty.
      sdk = new NodeSDK({
        serviceName: settings.serviceName,
        resource: resourceFromAttributes({
          ...settings.resourceAttributes,
          'service.version': options.version,
        }),
        autoDetectResources: false,
        sampler: settings.sampler,
        spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 2000 })],
        metricReaders: [],
        logRecordProcessors: [],
      });
      sdk.start();
      log.info('self-tracing on', {
        endpoint: settings.endpoint,
        protocol: settings.protocol,
        sampler: settings.samplerName,
      });
      return Promise.resolve();
    },
    async shutdown(deadlineMs = 5000) {
      if (state === 'stopped') return;
      state = 'stopped';
      if (!sdk) return;
      const running = sdk;
      sdk = undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        // Flushes the batch processor, then closes the exporter.
        await Promise.race([
          running.shutdown(),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, deadlineMs);
          }),
        ]);
      } catch (err) {
        log.warn('self-tracing shutdown failed', { err });
      } finally {
        clearTimeout(timer);
        // Unregister the globals so a later instance (tests, restarts in-process) can register again.
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/**
 * Runs `fn` in a span named `name` (active for nested spans), records an exception and error status
 * when it throws, and ends the span. For stages: `await inSpan(tracer, SPAN.reconcile, {...}, async (span) => ...)`.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : new Error(String(err)));
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message : String(err),
      });
      throw err;
    } finally {
      span.end();
    }
  });
}
