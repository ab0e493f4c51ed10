// Test helper: real spans from the OpenTelemetry JS SDK, each from the tracer (instrumentation
// scope) an instrumentation uses, in one trace tree, serialized by the real OTLP serializers. The
// instrumentation profiles are keyed by scope, so their tests need spans of several scopes.

import type { Attributes, SpanKind } from '@opentelemetry/api';
import { context, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface ScopedSpan {
  /** InstrumentationScope.name: the tracer name the instrumentation uses. */
  readonly scope: string;
  readonly name: string;
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  /** Index (in this list) of the parent span, which must come earlier. */
  readonly parent?: number | undefined;
}

export const AT = Date.UTC(2026, 10, 2, 10, 0, 0);

/** Finished spans, children ended before parents (the order a BatchSpanProcessor exports them). */
export function recordScopedSpans(resource: Attributes, spans: readonly ScopedSpan[]): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const started: ReturnType<ReturnType<typeof provider.getTracer>['startSpan']>[] = [];
  for (const s of spans) {
    const tracer = provider.getTracer(s.scope, '1.0.0');
    const parent = s.parent === undefined ? undefined : started[s.parent];
    const ctx = parent === undefined ? context.active() : trace.setSpan(context.active(), parent);
    started.push(
      tracer.startSpan(
        s.name,
        { ...(s.kind === undefined ? {} : { kind: s.kind }), attributes: s.attributes ?? {}, startTime: AT },
        ctx,
      ),
    );
  }
  for (let i = started.length - 1; i >= 0; i--) started[i]!.end(AT + 1000);
  return exporter.getFinishedSpans().slice();
}

export function protobufOf(spans: ReadableSpan[]): Uint8Array {
  const body = ProtobufTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('serializer returned nothing');
  return body;
}

export function jsonOf(spans: ReadableSpan[]): Uint8Array {
  const body = JsonTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('serializer returned nothing');
  return body;
}
