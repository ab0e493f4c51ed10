import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { makeGenAiRequest } from '../../bench/fixtures.ts';
import { GenOpsError } from '../../kernel/errors.ts';
import { createKeyTable } from './key-table.ts';
import { collect } from './testing/collect.ts';
import type { Collected } from './testing/collect.ts';
import { recordSpans, toJson, toProtobuf } from './testing/otel-spans.ts';
import { createJsonTraceDecoder } from './trace-json.ts';
import { createJsonParseTraceDecoder } from './trace-json-parse.ts';
import { createProtobufTraceDecoder } from './trace-protobuf.ts';
import { GENAI_EVENT_NAMES, GENAI_KEY_NAMES } from '../genai/keys.ts';

const keys = createKeyTable([...GENAI_KEY_NAMES, 'gen_ai.request.temperature', 'flag', 'big']);
const eventNames = createKeyTable(GENAI_EVENT_NAMES);
const scanner = createJsonTraceDecoder({ keys, eventNames });
const reference = createJsonParseTraceDecoder({ keys, eventNames });
const protobuf = createProtobufTraceDecoder({ keys, eventNames });
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function outcome(decoder: typeof scanner, body: Uint8Array): Collected | { error: string } {
  try {
    return collect(decoder, body, keys, eventNames);
  } catch (err) {
    expect(err).toBeInstanceOf(GenOpsError);
    expect((err as GenOpsError).errorClass).toBe('invalid');
    return { error: 'invalid' };
  }
}

/** Both JSON decoders must agree: same data, or both refuse. */
function both(body: Uint8Array): Collected {
  const a = outcome(scanner, body);
  const b = outcome(reference, body);
  expect(a).toEqual(b);
  if ('error' in a) throw new Error('expected the body to decode');
  return a;
}

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';
function spanJson(extra: string, attributes = '[]'): string {
  return `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"${TRACE}","spanId":"${SPAN}","name":"chat","attributes":${attributes}${extra}}]}]}]}`;
}

describe('OTLP/JSON decoders on the OpenTelemetry JS exporter serializer', () => {
  const spans = recordSpans({ 'service.name': 'chatbot', 'k8s.pod.uid': 'u-1', replicas: 3 }, [
    { name: 'invoke_agent helper', kind: SpanKind.INTERNAL },
    {
      name: 'chat gpt-4o',
      kind: SpanKind.CLIENT,
      parent: 0,
      attributes: {
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.provider.name': 'openai',
        'gen_ai.usage.input_tokens': 1234,
        'gen_ai.usage.output_tokens': 56,
        'gen_ai.request.temperature': 0.25,
        flag: true,
        big: 2 ** 40 + 7,
        'not.read': 'x',
      },
      events: [
        {
          name: 'gen_ai.evaluation.result',
          attributes: { 'gen_ai.evaluation.name': 'safety', 'gen_ai.evaluation.score.value': 0.9 },
        },
      ],
      status: { code: SpanStatusCode.OK },
      startMs: Date.UTC(2026, 10, 2, 10, 0, 0, 250),
      endMs: Date.UTC(2026, 10, 2, 10, 0, 2),
    },
  ]);

  it('decode the JSON exporter body (intValue as a number) like the protobuf exporter body', () => {
    const fromJson = both(toJson(spans));
    const fromProtobuf = collect(protobuf, toProtobuf(spans), keys, eventNames);
    expect(fromJson).toEqual(fromProtobuf);
    const chat = fromJson.spans.find((s) => s.name === 'chat gpt-4o')!;
    expect(chat.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 1234,
      flag: true,
      big: 2 ** 40 + 7,
    });
    expect(chat.kind).toBe(3);
    expect(chat.statusCode).toBe(1);
    expect(chat.events[0]!.attributes).toEqual({
      'gen_ai.evaluation.name': 'safety',
      'gen_ai.evaluation.score.value': 0.9,
    });
    expect(fromJson.resources[0]).toEqual({ 'service.name': 'chatbot', 'k8s.pod.uid': 'u-1', replicas: 3 });
  });

  it('decode the benchmark fixtures identically to their protobuf form', () => {
    for (const seed of [1, 2, 3]) {
      const req = makeGenAiRequest({ spans: 120, workloads: 3, seed });
      expect(both(enc(req.json))).toEqual(collect(protobuf, req.protobuf, keys, eventNames));
    }
  });
});

describe('OTLP/JSON as the specification allows it', () => {
  it('reads int64 as strings, upper-case hex ids, enum names, snake_case keys and ignores unknown fields', () => {
    const body = enc(
      `{"resource_spans":[{"unknown":{"deep":[1,2,{"x":null}]},"resource":{"attributes":[{"key":"k8s.pod.uid","value":{"string_value":"u-9"}}]},` +
        `"scope_spans":[{"spans":[{"trace_id":"${TRACE.toUpperCase()}","span_id":"${SPAN.toUpperCase()}","parent_span_id":"","kind":"SPAN_KIND_CLIENT",` +
        `"start_time_unix_nano":"1762077600000000000","endTimeUnixNano":1762077601000000000,"status":{"code":"STATUS_CODE_ERROR","message":"x"},` +
        `"attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"4096"}},{"value":{"int_value":"-7"},"key":"big"},` +
        `{"key":"gen_ai.request.temperature","value":{"doubleValue":"NaN"}},{"key":"flag","value":{"bool_value":false}},` +
        `{"key":"gen_ai.request.model","value":{"stringValue":"gpt\\u002d4o \\"q\\""}},{"key":"gen_ai.response.model","value":null},` +
        `{"key":"gen_ai.provider.name","value":{"arrayValue":{"values":[]}}}],"droppedAttributesCount":0,"futureField":true}]}]}]}`,
    );
    const r = both(body);
    expect(r.resources[0]).toEqual({ 'k8s.pod.uid': 'u-9' });
    const s = r.spans[0]!;
    expect(s.traceId).toBe(TRACE);
    expect(s.spanId).toBe(SPAN);
    expect(s.hasParent).toBe(false);
    expect(s.kind).toBe(3);
    expect(s.statusCode).toBe(2);
    expect(s.startTimeUnixNano).toBe(1762077600000000000);
    expect(s.endTimeUnixNano).toBe(1762077601000000000);
    expect(s.attributes).toEqual({
      'gen_ai.usage.input_tokens': 4096,
      big: -7,
      'gen_ai.request.temperature': NaN,
      flag: false,
      'gen_ai.request.model': 'gpt-4o "q"',
    });
  });

  it('accepts a resource given after its spans, an empty request and a byte-order mark', () => {
    const late = enc(
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${TRACE}","spanId":"${SPAN}"}]}],"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"late"}}]}}]}`,
    );
    const order: string[] = [];
    scanner.decode(late, {
      resource: (a) => order.push(`resource ${String(a.get('service.name'))}`),
      span: () => order.push('span'),
    });
    expect(order).toEqual(['resource late', 'span']);
    expect(both(enc('{}'))).toEqual({ resources: [], spans: [] });
    expect(
      both(enc(spanJson(',"status":{"code":null,"message":"m"},"kind":null,"events":null'))).spans[0],
    ).toMatchObject({ statusCode: 0, kind: 0 });
    expect(both(enc(' {"resourceSpans":null} '))).toEqual({ resources: [], spans: [] });
    expect(both(new Uint8Array([0xef, 0xbb, 0xbf, ...enc('{"resourceSpans":[]}')]))).toEqual({
      resources: [],
      spans: [],
    });
  });

  it('marks bad ids on the span instead of failing the request', () => {
    const bad = both(
      enc(
        spanJson('')
          .replace(TRACE, 'zz' + TRACE.slice(2))
          .replace(SPAN, SPAN.slice(0, 6)),
      ),
    );
    expect(bad.spans[0]!.traceIdLength).toBe(-1);
    expect(bad.spans[0]!.spanIdLength).toBe(3);
    const empty = both(enc(spanJson('').replace(TRACE, '')));
    expect(empty.spans[0]!.traceIdLength).toBe(0);
  });

  it('refuses malformed JSON and wrong types with the position', () => {
    const cases = [
      '',
      '[]',
      '{"resourceSpans":{}}',
      '{"resourceSpans":[1]}',
      '{"resourceSpans":[]} x',
      '{"resourceSpans":[],}',
      '{"resourceSpans":[{"scopeSpans":[{"spans":["x"]}]}]}',
      spanJson('', '{"key":"x"}'),
      spanJson('', '[1]'),
      spanJson(',"kind":1.5'),
      spanJson(',"startTimeUnixNano":"12x"'),
      spanJson(',"startTimeUnixNano":1e400'),
      spanJson('', '[{"key":"gen_ai.request.model","value":{"stringValue":5}}]'),
      spanJson('', '[{"key":"flag","value":{"boolValue":"true"}}]'),
      spanJson('', '[{"key":"big","value":{"intValue":"1.5"}}]'),
      spanJson('', '[{"key":"gen_ai.request.temperature","value":{"doubleValue":"abc"}}]'),
      spanJson(',"events":[{"name":"gen_ai.evaluation.result","timeUnixNano":"soon"}]'),
      spanJson(',"name":"unterminated'),
      spanJson(',"name":"bad \\x escape"'),
      spanJson(',"x":01'),
      spanJson(',"x":tru'),
    ];
    for (const c of cases) {
      const body = enc(c);
      expect(outcome(reference, body), c).toEqual({ error: 'invalid' });
      expect(outcome(scanner, body), c).toEqual({ error: 'invalid' });
    }
    expect(() => scanner.decode(enc('{"resourceSpans":[1]}'), { resource() {}, span() {} })).toThrow(
      /at byte 18/,
    );
  });

  it('agrees with the JSON.parse reference on mutated bodies', () => {
    const req = makeGenAiRequest({ spans: 6, workloads: 2, seed: 9 });
    const valid = enc(req.json);
    const alphabet = enc('{}[]:,"\\0123456789.-eE tnfu"aA');
    let seed = 99;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      const body = valid.slice();
      for (let j = 0; j < 1 + random(2); j++) body[random(body.length)] = alphabet[random(alphabet.length)]!;
      const a = outcome(scanner, body);
      const b = outcome(reference, body);
      expect(a).toEqual(b);
      if (!('error' in a)) accepted++;
    }
    // Mutations that keep the JSON valid (inside strings, digits) must be among the cases.
    expect(accepted).toBeGreaterThan(25);
  });
});
