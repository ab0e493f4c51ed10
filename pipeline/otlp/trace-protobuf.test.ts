import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { GenOpsError } from '../../kernel/errors.ts';
import { createKeyTable } from './key-table.ts';
import { collect } from './testing/collect.ts';
import { hexOf, recordSpans, toProtobuf } from './testing/otel-spans.ts';
import { createProtobufTraceDecoder } from './trace-protobuf.ts';

const keys = createKeyTable([
  'gen_ai.request.model',
  'gen_ai.usage.input_tokens',
  'gen_ai.request.temperature',
  'gen_ai.is_stream',
  'gen_ai.evaluation.score.value',
  'gen_ai.evaluation.name',
  'negative',
  'big',
  'x'.repeat(200),
]);
const eventNames = createKeyTable(['gen_ai.evaluation.result']);
const decoder = createProtobufTraceDecoder({ keys, eventNames });

// Minimal protobuf writer for hand-made (and deliberately broken) messages.
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
function len(field: number, payload: number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
}
function str(field: number, s: string): number[] {
  return len(field, [...new TextEncoder().encode(s)]);
}
function bytes(...parts: number[][]): Uint8Array {
  return new Uint8Array(parts.flat());
}
const TRACE_ID = Array.from({ length: 16 }, (_, i) => i + 1);
const SPAN_ID = Array.from({ length: 8 }, (_, i) => 0xa0 + i);
function request(spanFields: number[][], resourceFields: number[][] = []): Uint8Array {
  const span = len(2, spanFields.flat());
  const scopeSpans = len(2, span);
  const resource = len(1, resourceFields.flat());
  return bytes(len(1, [...resource, ...scopeSpans]));
}
function kv(key: string, value: number[]): number[] {
  return [...str(1, key), ...len(2, value)];
}

function expectInvalid(body: Uint8Array, pattern: RegExp): void {
  let caught: unknown;
  try {
    collect(decoder, body, keys, eventNames);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(GenOpsError);
  expect((caught as GenOpsError).errorClass).toBe('invalid');
  expect((caught as GenOpsError).message).toMatch(pattern);
}

describe('protobuf trace decoder on the OpenTelemetry JS exporter serializer', () => {
  const spans = recordSpans(
    {
      'service.name': 'chatbot',
      'k8s.namespace.name': 'team-a',
      'k8s.pod.uid': 'u-1',
      replicas: 3,
      ratio: 0.5,
      canary: true,
    },
    [
      {
        name: 'invoke_agent helper',
        kind: SpanKind.INTERNAL,
      },
      {
        name: 'chat gpt-4o',
        kind: SpanKind.CLIENT,
        parent: 0,
        attributes: {
          'gen_ai.request.model': 'gpt-4o',
          'gen_ai.usage.input_tokens': 1234,
          'gen_ai.request.temperature': 0.25,
          'gen_ai.is_stream': false,
          negative: -42,
          big: 2 ** 40 + 7,
          'ignored.attribute': 'not in the key table',
          'gen_ai.response.finish_reasons': ['stop'],
        },
        events: [
          {
            name: 'gen_ai.evaluation.result',
            attributes: { 'gen_ai.evaluation.name': 'toxicity', 'gen_ai.evaluation.score.value': 0.125 },
            timeMs: Date.UTC(2026, 10, 2, 10, 0, 0, 500),
          },
          { name: 'some.other.event', attributes: { 'gen_ai.evaluation.name': 'ignored' } },
        ],
        status: { code: SpanStatusCode.ERROR, message: 'rate limited' },
        startMs: Date.UTC(2026, 10, 2, 10, 0, 0, 250),
        endMs: Date.UTC(2026, 10, 2, 10, 0, 2),
      },
    ],
  );
  const body = toProtobuf(spans);
  const result = collect(decoder, body, keys, eventNames);

  it('reads resource attributes of every type', () => {
    expect(result.resources).toHaveLength(1);
    expect(result.resources[0]).toMatchObject({
      'service.name': 'chatbot',
      'k8s.namespace.name': 'team-a',
      'k8s.pod.uid': 'u-1',
      replicas: 3,
      ratio: 0.5,
      canary: true,
    });
  });

  it('reads ids, name, kind, times, status and parent', () => {
    expect(result.spans).toHaveLength(2);
    const chat = result.spans.find((s) => s.name === 'chat gpt-4o')!;
    const agent = result.spans.find((s) => s.name === 'invoke_agent helper')!;
    const sdkChat = spans.find((s) => s.name === 'chat gpt-4o')!;
    expect(chat.traceId).toBe(sdkChat.spanContext().traceId);
    expect(chat.spanId).toBe(sdkChat.spanContext().spanId);
    expect(chat.traceIdLength).toBe(16);
    expect(chat.spanIdLength).toBe(8);
    expect(chat.hasParent).toBe(true);
    expect(agent.hasParent).toBe(false);
    expect(chat.kind).toBe(3); // CLIENT: SDK enum 2 becomes OTLP 3
    expect(agent.kind).toBe(1);
    expect(chat.startTimeUnixNano).toBe(Date.UTC(2026, 10, 2, 10, 0, 0, 250) * 1e6);
    expect(chat.endTimeUnixNano).toBe(Date.UTC(2026, 10, 2, 10, 0, 2) * 1e6);
    expect(chat.statusCode).toBe(2);
    expect(agent.statusCode).toBe(0);
  });

  it('keeps only attributes in the key table, with their types', () => {
    const chat = result.spans.find((s) => s.name === 'chat gpt-4o')!;
    expect(chat.attributes).toEqual({
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 1234,
      'gen_ai.request.temperature': 0.25,
      'gen_ai.is_stream': false,
      negative: -42,
      big: 2 ** 40 + 7,
    });
  });

  it('materialises only the named events', () => {
    const chat = result.spans.find((s) => s.name === 'chat gpt-4o')!;
    expect(chat.events).toEqual([
      {
        name: 'gen_ai.evaluation.result',
        timeUnixNano: Date.UTC(2026, 10, 2, 10, 0, 0, 500) * 1e6,
        attributes: { 'gen_ai.evaluation.name': 'toxicity', 'gen_ai.evaluation.score.value': 0.125 },
      },
    ]);
  });

  it('gives the same result when decoding again (no state leaks between requests)', () => {
    expect(collect(decoder, body, keys, eventNames)).toEqual(result);
  });

  it('accepts an empty body as an empty request', () => {
    expect(collect(decoder, new Uint8Array(0), keys, eventNames)).toEqual({ resources: [], spans: [] });
  });

  it('rejects every truncation inside the request, never with another kind of error', () => {
    const first = body.length;
    let invalid = 0;
    for (let cut = 1; cut < first; cut++) {
      try {
        collect(decoder, body.subarray(0, cut), keys, eventNames);
      } catch (err) {
        expect(err).toBeInstanceOf(GenOpsError);
        expect((err as GenOpsError).errorClass).toBe('invalid');
        expect((err as GenOpsError).message).toMatch(/at offset \d+/);
        invalid++;
      }
    }
    // One ResourceSpans: every cut falls inside it.
    expect(invalid).toBe(first - 1);
  });
});

describe('protobuf trace decoder on hand-made messages', () => {
  const base = [len(1, TRACE_ID), len(2, SPAN_ID), str(5, 'chat')];

  it('skips unknown fields of every wire type and reads fields in any order', () => {
    const body = request(
      [
        [...varint((99 << 3) | 0), ...varint(12345)],
        [...varint((98 << 3) | 1), 1, 2, 3, 4, 5, 6, 7, 8],
        [...varint((97 << 3) | 5), 1, 2, 3, 4],
        len(96, [1, 2, 3]),
        str(5, 'chat'),
        len(9, kv('gen_ai.request.model', str(1, 'gpt-4o'))),
        len(2, SPAN_ID),
        len(1, TRACE_ID),
        // group (wire type 3) with a nested field, closed by end group (wire type 4)
        [...varint((95 << 3) | 3), ...varint((1 << 3) | 0), 7, ...varint((95 << 3) | 4)],
      ],
      [len(1, kv('service.name', str(1, 'svc')))],
    );
    const r = collect(decoder, body, keys, eventNames);
    expect(r.resources).toEqual([{ 'service.name': 'svc' }]);
    expect(r.spans[0]).toMatchObject({
      name: 'chat',
      traceId: hexOf(new Uint8Array(TRACE_ID)),
      attributes: { 'gen_ai.request.model': 'gpt-4o' },
    });
  });

  it('keeps a known AnyValue when the value also carries unknown fields (issue 13 item 4)', () => {
    const unknownVarint = [...varint((50 << 3) | 0), ...varint(7)];
    const unknownLen = len(51, [1, 2, 3]);
    const unknownFixed = [...varint((52 << 3) | 5), 1, 2, 3, 4];
    const body = request(
      [
        ...base,
        // unknown fields after, before and on both sides of the known value
        len(9, kv('gen_ai.request.model', [...str(1, 'gpt-4o'), ...unknownVarint])),
        len(9, kv('gen_ai.usage.input_tokens', [...unknownLen, ...varint((3 << 3) | 0), ...varint(1234)])),
        len(9, kv('gen_ai.is_stream', [...unknownFixed, ...varint((2 << 3) | 0), 1, ...unknownLen])),
      ],
      [len(1, kv('service.name', [...unknownLen, ...str(1, 'svc'), ...unknownVarint]))],
    );
    const r = collect(decoder, body, keys, eventNames);
    expect(r.resources).toEqual([{ 'service.name': 'svc' }]);
    expect(r.spans[0]!.attributes).toEqual({
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 1234,
      'gen_ai.is_stream': true,
    });
  });

  it('lets a later member of the value oneof (array, kvlist, bytes) replace an earlier scalar', () => {
    const body = request([
      ...base,
      len(9, kv('gen_ai.request.model', [...str(1, 'gpt-4o'), ...len(7, [1])])),
    ]);
    expect(collect(decoder, body, keys, eventNames).spans[0]!.attributes).toEqual({});
  });

  it('reads the resource even when it comes after the spans', () => {
    const span = len(2, base.flat());
    const body = bytes(len(1, [...len(2, span), ...len(1, len(1, kv('service.name', str(1, 'late'))))]));
    const seen: string[] = [];
    decoder.decode(body, {
      resource: (a) => seen.push(`resource ${String(a.get('service.name'))}`),
      span: (s) => seen.push(`span ${s.name}`),
    });
    expect(seen).toEqual(['resource late', 'span chat']);
  });

  it('handles keys and values longer than 127 bytes (two-byte lengths) and value before key', () => {
    const longKey = 'x'.repeat(200);
    const longValue = 'm'.repeat(300);
    const body = request([...base, len(9, [...len(2, str(1, longValue)), ...str(1, longKey)])]);
    expect(collect(decoder, body, keys, eventNames).spans[0]!.attributes).toEqual({ [longKey]: longValue });
  });

  it('decodes non-ASCII strings', () => {
    const body = request([...base, len(9, kv('gen_ai.request.model', str(1, 'modèle-日本')))]);
    expect(collect(decoder, body, keys, eventNames).spans[0]!.attributes['gen_ai.request.model']).toBe(
      'modèle-日本',
    );
  });

  it('reports ids of the wrong length instead of failing the request', () => {
    const body = request([len(1, [1, 2, 3]), len(2, SPAN_ID)]);
    const span = collect(decoder, body, keys, eventNames).spans[0]!;
    expect(span.traceIdLength).toBe(3);
    expect(span.spanIdLength).toBe(8);
  });

  it('rejects malformed framing with the field and offset', () => {
    expectInvalid(
      bytes([0x0a, 0x05, 0x01]),
      /length 5 exceeds the 1 bytes left in ExportTraceServiceRequest.resource_spans at offset 1/,
    );
    expectInvalid(bytes([0x0a]), /truncated varint in ExportTraceServiceRequest.resource_spans at offset 1/);
    expectInvalid(bytes([0x17]), /invalid wire type 7 in ExportTraceServiceRequest at offset 0/);
    expectInvalid(bytes([0x0f]), /field 1 has wire type 7, expected 2/);
    expectInvalid(bytes([0x02, 0x00]), /field number 0/);
    expectInvalid(bytes(Array(11).fill(0xff)), /varint longer than 10 bytes/);
    expectInvalid(
      request([...base, [...varint((1 << 3) | 0), 5]]),
      /field 1 has wire type 0, expected 2 in Span/,
    );
    expectInvalid(
      request([...base, [...varint((7 << 3) | 1), 1, 2, 3]]),
      /truncated fixed64 in Span.start_time_unix_nano/,
    );
    expectInvalid(request([...base, [...varint((95 << 3) | 4)]]), /invalid wire type 4 in Span/);
    expectInvalid(
      request([...base, [...varint((95 << 3) | 3), ...varint((94 << 3) | 4)]]),
      /mismatched end group/,
    );
    expectInvalid(
      request([...base, len(9, [...str(1, 'negative'), ...len(2, [0x18, 0xff])])]),
      /truncated varint in AnyValue.int_value/,
    );
  });

  it('never throws anything but GenOpsError("invalid") on random bytes', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    };
    const valid = request([...base, len(9, kv('gen_ai.usage.input_tokens', [0x18, 0x96, 0x01]))]);
    for (let i = 0; i < 3000; i++) {
      const body = valid.slice();
      // Flip a few bytes of a valid message (random noise alone is rejected at the first byte).
      for (let j = 0; j < 3; j++) body[random() % body.length] = random();
      try {
        collect(decoder, body, keys, eventNames);
      } catch (err) {
        expect(err).toBeInstanceOf(GenOpsError);
        expect((err as GenOpsError).errorClass).toBe('invalid');
      }
    }
  });
});
