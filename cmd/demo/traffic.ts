// Owns the demo traffic generator: realistic GenAI spans for the demo scenario, sent through the
// real OpenTelemetry JS SDK (tracer provider + batch processor + OTLP exporter) to any endpoint.

import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { DemoCall, DemoWorkload } from './scenario.ts';
import { demoWorkloads } from './scenario.ts';

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';

export interface DemoTrafficOptions {
  /** Base endpoint, e.g. http://127.0.0.1:4318 (HTTP) or http://127.0.0.1:4317 (gRPC). */
  readonly endpoint: string;
  readonly protocol: OtlpProtocol;
  /** Multiplies every workload's request rate. */
  readonly rate: number;
  readonly logger: Logger;
  readonly workloads?: readonly DemoWorkload[];
  /** Seed for the deterministic pseudo-random figures. */
  readonly seed?: number;
}

export interface DemoTraffic extends Component {
  /** Spans handed to the SDK so far (one per request plus its agent parent span every few requests). */
  requestsSent(): number;
  /** Sends `count` requests per workload at once and flushes; used by tests and `genops demo --once`. */
  burst(count: number): Promise<void>;
}

interface Sender {
  readonly workload: DemoWorkload;
  readonly provider: BasicTracerProvider;
  credit: number;
}

export function createDemoTraffic(options: DemoTrafficOptions): DemoTraffic {
  const random = mulberry32(options.seed ?? 42);
  const workloads = options.workloads ?? demoWorkloads;
  let senders: Sender[] = [];
  let timer: NodeJS.Timeout | undefined;
  let sent = 0;
  let started = false;

  const makeExporter = (): SpanExporter => {
    const base = options.endpoint.replace(/\/$/, '');
    if (options.protocol === 'grpc') return new GrpcExporter({ url: base });
    if (options.protocol === 'http/json') return new JsonExporter({ url: `${base}/v1/traces` });
    return new ProtoExporter({ url: `${base}/v1/traces` });
  };

  const ensureSenders = (): void => {
    if (senders.length > 0) return;
    senders = workloads.map((workload) => {
      const attributes: Record<string, string> = {
        'service.name': workload.deployment,
        'k8s.namespace.name': workload.namespace,
        'k8s.deployment.name': workload.deployment,
        'k8s.pod.name': `${workload.deployment}-7d9c8b6f5-${podSuffix(workload.deployment)}`,
      };
      for (const [k, v] of Object.entries(workload.labels)) attributes[`k8s.pod.label.${k}`] = v;
      if (workload.classification !== undefined) {
        attributes['genops.data.classification'] = workload.classification;
      }
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes(attributes),
        spanProcessors: [
          new BatchSpanProcessor(makeExporter(), { scheduledDelayMillis: 500, maxExportBatchSize: 512 }),
        ],
      });
      return { workload, provider, credit: 0 };
    });
  };

  const pick = (calls: readonly DemoCall[]): DemoCall => {
    const total = calls.reduce((s, c) => s + c.weight, 0);
    let r = random() * total;
    for (const c of calls) {
      r -= c.weight;
      if (r <= 0) return c;
    }
    return calls[calls.length - 1]!;
  };

  const between = ([min, max]: readonly [number, number]): number => Math.round(min + random() * (max - min));

  const emit = (sender: Sender): void => {
    const { workload } = sender;
    const call = pick(workload.calls);
    const tracer = sender.provider.getTracer('genops-demo');
    const input = between(call.inputTokens);
    const output = between(call.outputTokens);
    const end = Date.now();
    const start = end - 200 - Math.round(random() * 1500);
    // Every fourth request runs inside an agent span that repeats the usage, as agent frameworks do:
    // the operator must charge the inner inference span only.
    const agent =
      sent % 4 === 0
        ? tracer.startSpan('invoke_agent assistant', {
            kind: SpanKind.INTERNAL,
            startTime: start - 5,
            attributes: {
              'gen_ai.operation.name': 'invoke_agent',
              'gen_ai.provider.name': call.provider,
              'gen_ai.agent.name': 'assistant',
              'gen_ai.usage.input_tokens': input,
              'gen_ai.usage.output_tokens': output,
            },
          })
        : undefined;
    const parent = agent ? trace.setSpan(context.active(), agent) : context.active();
    const span = tracer.startSpan(
      `${call.operation} ${call.model}`,
      {
        kind: SpanKind.CLIENT,
        startTime: start,
        attributes: {
          'gen_ai.operation.name': call.operation,
          'gen_ai.provider.name': call.provider,
          'gen_ai.request.model': call.model,
          'gen_ai.response.model': call.model,
          'gen_ai.usage.input_tokens': input,
          'gen_ai.usage.output_tokens': output,
          ...(call.cacheReadShare !== undefined
            ? { 'gen_ai.usage.cache_read.input_tokens': Math.floor(input * call.cacheReadShare) }
            : {}),
          'server.address': `api.${call.provider}.example`,
        },
      },
      parent,
    );
    if (workload.safety) {
      span.addEvent('gen_ai.evaluation.result', {
        'gen_ai.evaluation.name': 'content_safety',
        'gen_ai.evaluation.score.value':
          Math.round(between([workload.safety[0] * 1000, workload.safety[1] * 1000])) / 1000,
      });
    }
    span.setStatus({ code: SpanStatusCode.OK });
    span.end(end);
    agent?.end(end + 5);
    sent += 1;
  };

  const tick = (elapsedSeconds: number): void => {
    for (const sender of senders) {
      sender.credit += sender.workload.requestsPerSecond * options.rate * elapsedSeconds;
      while (sender.credit >= 1) {
        sender.credit -= 1;
        emit(sender);
      }
    }
  };

  return {
    async start() {
      if (started) return;
      started = true;
      ensureSenders();
      let last = Date.now();
      timer = setInterval(() => {
        const now = Date.now();
        tick((now - last) / 1000);
        last = now;
      }, 100);
      options.logger.info('demo traffic started', {
        endpoint: options.endpoint,
        protocol: options.protocol,
        workloads: workloads.length,
      });
      return Promise.resolve();
    },
    async shutdown() {
      if (timer) clearInterval(timer);
      timer = undefined;
      const all = senders;
      senders = [];
      await Promise.allSettled(all.map((s) => s.provider.shutdown()));
    },
    requestsSent: () => sent,
    async burst(count) {
      ensureSenders();
      for (const sender of senders) for (let i = 0; i < count; i++) emit(sender);
      await Promise.all(senders.map((s) => s.provider.forceFlush()));
    },
  };
}

function podSuffix(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(36).slice(0, 5).padEnd(5, 'x');
}

/** Small deterministic PRNG so demo runs and tests are repeatable. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
