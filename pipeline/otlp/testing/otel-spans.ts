// Test helper: real spans from the OpenTelemetry JS SDK (sdk-trace-base), serialized by the real
// OTLP exporter serializers (@opentelemetry/otlp-transformer), so decoder tests read what
// instrumented applications actually send rather than what our own encoder would write.

import type { Attributes, SpanKind, SpanStatus } from '@opentelemetry/api';
import { context, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface TestSpan {
  readonly name: string;
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  readonly events?: readonly {
    readonly name: string;
    readonly attributes?: Attributes;
    readonly timeMs?: number;
  }[];
  readonly status?: SpanStatus;
  readonly startMs?: number;
  readonly endMs?: number;
  /** Index (in this list) of the parent span, which must come earlier. */
  readonly parent?: number;
}

/** Spans as the SDK records them, for one resource. */
export function recordSpans(
  resource: Attributes,
  spans: readonly TestSpan[],
  scope = 'genops-test',
): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer(scope, '1.0.0');
  const started: ReturnType<typeof tracer.startSpan>[] = [];
  for (const s of spans) {
    const parent = s.parent === undefined ? undefined : started[s.parent];
    const ctx = parent === undefined ? context.active() : trace.setSpan(context.active(), parent);
    const span = tracer.startSpan(
      s.name,
      {
        ...(s.kind === undefined ? {} : { kind: s.kind }),
        ...(s.attributes === undefined ? {} : { attributes: s.attributes }),
        startTime: s.startMs ?? Date.UTC(2026, 10, 2, 10, 0, 0),
      },
      ctx,
    );
    for (const e of s.events ?? [])
      span.addEvent(e.name, e.attributes ?? {}, e.timeMs ?? s.startMs ?? Date.UTC(2026, 10, 2, 10, 0, 0));
    if (s.status) span.setStatus(s.status);
    started.push(span);
  }
  // End children before parents, as real traces do.
  for (let i = started.length - 1; i >= 0; i--)
    started[i]!.end(spans[i]!.endMs ?? Date.UTC(2026, 10, 2, 10, 0, 1));
  return exporter.getFinishedSpans().slice();
}

/** ExportTraceServiceRequest as the OTLP http/protobuf and gRPC exporters send it. */
export function toProtobuf(spans: ReadableSpan[]): Uint8Array {
  const body = ProtobufTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('serializer returned nothing');
  return body;
}

/** ExportTraceServiceRequest as the OTLP http/json exporter sends it. */
export function toJson(spans: ReadableSpan[]): Uint8Array {
  const body = JsonTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('serializer returned nothing');
  return body;
}

/** Lower-case hex of an id, as the SDK's span contexts carry it. */
export function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
