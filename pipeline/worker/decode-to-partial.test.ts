import { SpanKind } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { makeGenAiRequest } from '../../bench/fixtures.ts';
import { GenOpsError } from '../../kernel/errors.ts';
import { recordSpans, toJson, toProtobuf } from '../otlp/testing/otel-spans.ts';
import type { PartialAggregate } from '../partial.ts';
import { SPAN_RECORD_WIDTH } from '../partial.ts';
import { parsePriceTableConfig } from '../pricing/overrides.ts';
import { createPriceBook } from '../pricing/price-book.ts';
import { createDecodeDeps, decodeToPartial, MAX_PLAUSIBLE_TOKENS } from './decode-to-partial.ts';
import { idHashInto } from './hash.ts';

const deps = createDecodeDeps({ priceBook: createPriceBook() });
const AT = Date.UTC(2026, 10, 2, 10, 0, 0);

const POD = {
  'service.name': 'support-bot',
  'k8s.namespace.name': 'team-a',
  'k8s.pod.name': 'support-bot-6f7d9-xk2lp',
  'k8s.pod.uid': '7a1e-uid',
  'k8s.deployment.name': 'support-bot',
  'k8s.pod.label.app': 'support-bot',
};

function both(spans: ReturnType<typeof recordSpans>): PartialAggregate {
  const fromProtobuf = decodeToPartial({ body: toProtobuf(spans), encoding: 'protobuf' }, deps);
  const fromJson = decodeToPartial({ body: toJson(spans), encoding: 'json' }, deps);
  expect(plain(fromJson)).toEqual(plain(fromProtobuf));
  return fromProtobuf;
}

function plain(p: PartialAggregate): unknown {
  return {
    ...p,
    identities: p.identities.map((i) => ({ ...i, labels: { ...i.labels } })),
    spans: Array.from(p.spans),
  };
}

function records(p: PartialAggregate): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < p.spans.length; i += SPAN_RECORD_WIDTH)
    out.push(Array.from(p.spans.subarray(i, i + SPAN_RECORD_WIDTH)));
  return out;
}

describe('decodeToPartial on spans from the OpenTelemetry JS SDK', () => {
  const spans = recordSpans(POD, [
    // An agent that repeats the usage of its two model calls: charged once, through the calls.
    {
      name: 'invoke_agent support',
      kind: SpanKind.INTERNAL,
      attributes: {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 2000,
        'gen_ai.usage.output_tokens': 400,
      },
      startMs: AT,
    },
    {
      name: 'chat gpt-4o',
      kind: SpanKind.CLIENT,
      parent: 0,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
        'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.cache_read.input_tokens': 400,
        'gen_ai.usage.output_tokens': 200,
      },
      events: [
        {
          name: 'gen_ai.evaluation.result',
          attributes: { 'gen_ai.evaluation.name': 'toxicity', 'gen_ai.evaluation.score.value': 0.2 },
        },
      ],
      startMs: AT,
    },
    {
      name: 'chat gpt-4o',
      kind: SpanKind.CLIENT,
      parent: 0,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
        'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.output_tokens': 200,
        'genops.eval.safety_score': 0.9,
      },
      startMs: AT,
    },
    {
      name: 'execute_tool search',
      kind: SpanKind.INTERNAL,
      parent: 0,
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' },
      startMs: AT,
    },
    // OpenLLMetry style Anthropic call with raw (uncached) input tokens, classified on the span.
    {
      name: 'anthropic.chat',
      kind: SpanKind.CLIENT,
      attributes: {
        'llm.request.type': 'chat',
        'gen_ai.system': 'Anthropic',
        'gen_ai.request.model': 'claude-sonnet-4-20250514',
        'gen_ai.usage.prompt_tokens': 2000,
        'gen_ai.usage.cache_read_input_tokens': 6000,
        'gen_ai.usage.cache_creation_input_tokens': 2000,
        'gen_ai.usage.completion_tokens': 500,
        'genops.data.classification': 'Confidential',
      },
      startMs: AT,
    },
    // OpenInference embedding with a model nobody prices.
    {
      name: 'embed',
      kind: SpanKind.CLIENT,
      attributes: {
        'openinference.span.kind': 'EMBEDDING',
        'llm.provider': 'acme',
        'llm.model_name': 'acme-embed-1',
        'llm.token_count.prompt': 5000,
      },
      startMs: AT,
    },
    // Plain HTTP span: counted, not charged.
    {
      name: 'POST /v1/assist',
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 },
      startMs: AT,
    },
  ]);
  const result = both(spans);

  it('counts every span and charges only the model calls', () => {
    expect(result.spansTotal).toBe(7);
    expect(result.spansCharged).toBe(4);
    expect(result.spansRejected).toBe(0);
    expect(result.rejectMessage).toBe('');
  });

  it('reads the sender identity from the resource', () => {
    expect(result.identities).toHaveLength(1);
    expect(result.identities[0]).toMatchObject({
      namespace: 'team-a',
      podName: 'support-bot-6f7d9-xk2lp',
      podUid: '7a1e-uid',
      workloadKind: 'Deployment',
      workloadName: 'support-bot',
      serviceName: 'support-bot',
      labels: { app: 'support-bot' },
    });
  });

  it('sums usage and exact cost per (identity, provider, model, classification)', () => {
    const byModel = Object.fromEntries(
      result.groups.map((g) => [`${g.provider}/${g.model}/${g.classification}`, g]),
    );
    expect(Object.keys(byModel).sort()).toEqual([
      'acme/acme-embed-1/',
      'anthropic/claude-sonnet-4-20250514/confidential',
      'openai/gpt-4o-2024-08-06/',
    ]);
    // gpt-4o: (600*2.5 + 400*1.25 + 200*10) + (1000*2.5 + 200*10) = 4000 + 4500
    expect(byModel['openai/gpt-4o-2024-08-06/']).toMatchObject({
      identity: 0,
      requests: 2,
      inputTokens: 2000,
      outputTokens: 400,
      cacheReadTokens: 400,
      costMicros: 8500,
      maxRequestCostMicros: 4500,
      unpriced: false,
    });
    // claude-sonnet-4, input 2000 raw + 6000 read + 2000 write = 10000:
    // 2000*3 + 6000*0.3 + 2000*3.75 + 500*15 = 22800
    expect(byModel['anthropic/claude-sonnet-4-20250514/confidential']).toMatchObject({
      requests: 1,
      inputTokens: 10_000,
      cacheReadTokens: 6000,
      cacheWriteTokens: 2000,
      outputTokens: 500,
      costMicros: 22_800,
      unpriced: false,
    });
    // A provider the table does not know: the global conservative fallback (issue 18 item 7,
    // the highest first-party price, 150 USD per 1M input tokens), flagged unpriced.
    expect(byModel['acme/acme-embed-1/']).toMatchObject({
      requests: 1,
      inputTokens: 5000,
      costMicros: 750_000,
      unpriced: true,
    });
  });

  it('reports content-safety scores per sender', () => {
    expect(result.safety).toEqual([{ identity: 0, min: 0.8, sum: 1.7000000000000002, count: 2 }]);
  });

  it('writes one dedupe record per charged span, stable across retries', () => {
    const rs = records(result);
    expect(rs).toHaveLength(4);
    const chats = spans.filter(
      (s) => s.name === 'chat gpt-4o' || s.name === 'anthropic.chat' || s.name === 'embed',
    );
    const expectedKeys = chats.map((s) => {
      const ids = new Uint8Array(24);
      ids.set(Buffer.from(s.spanContext().traceId, 'hex'), 0);
      ids.set(Buffer.from(s.spanContext().spanId, 'hex'), 16);
      const out = new Float64Array(2);
      idHashInto(new DataView(ids.buffer), out, 0);
      return `${out[0]}/${out[1]}`;
    });
    expect(rs.map((r) => `${r[0]}/${r[1]}`).sort()).toEqual(expectedKeys.sort());
    const claude = rs.find((r) => r[3] === 22_800)!;
    expect(claude.slice(4)).toEqual([10_000, 500, 8000, 0]);
    expect(result.groups[claude[2]!]!.model).toBe('claude-sonnet-4-20250514');
    const again = decodeToPartial({ body: toProtobuf(spans), encoding: 'protobuf' }, deps);
    expect(records(again)).toEqual(rs);
  });

  it('charges the fallback price to unknown models when one is configured', () => {
    const withFallback = createDecodeDeps({
      priceBook: createPriceBook({
        config: parsePriceTableConfig('fallback: { usdPerMillionTokens: { input: 1, output: 2 } }'),
      }),
    });
    const r = decodeToPartial({ body: toProtobuf(spans), encoding: 'protobuf' }, withFallback);
    expect(r.groups.find((g) => g.model === 'acme-embed-1')).toMatchObject({
      costMicros: 5000,
      unpriced: true,
    });
  });
});

describe('emitter-specific token rules', () => {
  it('charges OpenLIT Anthropic spans with the cache added to the raw input (resource telemetry.sdk.name)', () => {
    const spans = recordSpans({ ...POD, 'telemetry.sdk.name': 'openlit' }, [
      {
        name: 'chat claude-3-7-sonnet',
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'anthropic',
          'gen_ai.response.model': 'claude-3-7-sonnet-20250219',
          'gen_ai.usage.input_tokens': 5000,
          'gen_ai.usage.cache_read.input_tokens': 2000,
          'gen_ai.usage.output_tokens': 100,
        },
      },
    ]);
    const r = both(spans);
    // 5000*3 + 2000*0.3 + 100*15 = 15000 + 600 + 1500
    expect(r.groups[0]).toMatchObject({ inputTokens: 7000, cacheReadTokens: 2000, costMicros: 17_100 });
  });
});

describe('decodeToPartial rejections and senders', () => {
  const spans = recordSpans(POD, [
    {
      name: 'a',
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 10,
      },
    },
    {
      name: 'b',
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 20,
      },
    },
    {
      name: 'c',
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 40,
      },
    },
  ]);

  it('rejects spans with bad ids, keeps the others and says why', () => {
    const json = JSON.parse(new TextDecoder().decode(toJson(spans))) as {
      resourceSpans: { scopeSpans: { spans: { name: string; traceId: string; spanId: string }[] }[] }[];
    };
    const list = json.resourceSpans[0]!.scopeSpans[0]!.spans;
    list.find((s) => s.name === 'a')!.traceId = 'abcd';
    list.find((s) => s.name === 'b')!.spanId = '0000000000000000';
    const r = decodeToPartial(
      { body: new TextEncoder().encode(JSON.stringify(json)), encoding: 'json' },
      deps,
    );
    expect(r).toMatchObject({ spansTotal: 3, spansRejected: 2, spansCharged: 1 });
    expect(r.rejectMessage).toMatch(/trace_id has 2 bytes, expected 16|span_id is all zeros/);
    expect(r.groups[0]).toMatchObject({ inputTokens: 40, requests: 1 });
  });

  it('shares one identity between resource spans of the same sender', () => {
    const req = makeGenAiRequest({ spans: 300, workloads: 4, seed: 5 });
    const r = decodeToPartial({ body: req.protobuf, encoding: 'protobuf' }, deps);
    expect(r.identities).toHaveLength(4);
    expect(r.spansTotal).toBe(300);
    expect(r.spansCharged).toBe(req.chargedSpans);
    expect(r.spans.length).toBe(req.chargedSpans * SPAN_RECORD_WIDTH);
    expect(r.groups.reduce((n, g) => n + g.requests, 0)).toBe(req.chargedSpans);
    const json = decodeToPartial({ body: new TextEncoder().encode(req.json), encoding: 'json' }, deps);
    expect(plain(json)).toEqual(plain(r));
  });

  it('treats empty bodies as empty requests and refuses undecodable ones', () => {
    expect(decodeToPartial({ body: new Uint8Array(0), encoding: 'protobuf' }, deps)).toMatchObject({
      spansTotal: 0,
      groups: [],
    });
    expect(
      decodeToPartial({ body: new TextEncoder().encode(' \n'), encoding: 'json' }, deps).spansTotal,
    ).toBe(0);
    expect(() => decodeToPartial({ body: new Uint8Array([0x0a, 0x09]), encoding: 'protobuf' }, deps)).toThrow(
      GenOpsError,
    );
    expect(() =>
      decodeToPartial({ body: new TextEncoder().encode('{"resourceSpans":'), encoding: 'json' }, deps),
    ).toThrow(/malformed OTLP\/JSON/);
  });
});

describe('absurd token counts (issue 13 item 5)', () => {
  function call(name: string, tokens: number | string): Parameters<typeof recordSpans>[1][number] {
    return {
      name,
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': tokens,
        'gen_ai.usage.output_tokens': 10,
      },
      startMs: AT,
    };
  }

  it('refuses spans beyond the plausible bound in partial_success, still charging the sane ones', () => {
    const spans = recordSpans(POD, [
      call('sane', 1000),
      call('at-bound', MAX_PLAUSIBLE_TOKENS),
      call('just-over', MAX_PLAUSIBLE_TOKENS + 1),
      call('1e12', 1e12),
      call('2^53', 2 ** 53),
      call('400 digits', '9'.repeat(400)),
    ]);
    const r = both(spans);
    expect(r).toMatchObject({ spansTotal: 6, spansCharged: 2, spansRejected: 4, spansImplausible: 4 });
    expect(r.rejectMessage).toMatch(
      /^span \d: input tokens \d+ exceeds the plausible bound of 100000000 per span$/,
    );
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0]).toMatchObject({
      requests: 2,
      inputTokens: 1000 + MAX_PLAUSIBLE_TOKENS,
      outputTokens: 20,
    });
  });

  it('refuses +Infinity and NaN-free doubles beyond the bound (protobuf double_value)', () => {
    // The JSON serializer cannot carry Infinity (JSON.stringify gives null); protobuf can.
    const spans = recordSpans(POD, [call('sane', 7), call('infinity', Infinity), call('huge double', 5e15)]);
    const r = decodeToPartial({ body: toProtobuf(spans), encoding: 'protobuf' }, deps);
    expect(r).toMatchObject({ spansTotal: 3, spansCharged: 1, spansRejected: 2, spansImplausible: 2 });
    expect(r.groups[0]).toMatchObject({ requests: 1, inputTokens: 7 });
  });

  it('refuses a JSON request whose intValue is outside int64, in number and string form', () => {
    const base = new TextDecoder().decode(toJson(recordSpans(POD, [call('x', 1234)])));
    expect(base).toContain('"intValue":1234');
    for (const forged of [
      '"9223372036854775808"',
      '9.3e18',
      '1e400',
      `"${'9'.repeat(400)}"`,
      '"-9223372036854775809"',
    ]) {
      const body = new TextEncoder().encode(base.replace('"intValue":1234', `"intValue":${forged}`));
      expect(() => decodeToPartial({ body, encoding: 'json' }, deps), forged).toThrow(
        /intValue: integer (out of int64 range|is not finite)/,
      );
    }
    // int64 max itself is an integer of the protocol: decoded (and then refused as implausible).
    for (const edge of ['"9223372036854775807"', '"-9223372036854775808"', '9223372036854775807']) {
      const body = new TextEncoder().encode(base.replace('"intValue":1234', `"intValue":${edge}`));
      const r = decodeToPartial({ body, encoding: 'json' }, deps);
      expect(r.spansTotal, edge).toBe(1);
      expect(r.spansCharged, edge).toBe(edge.startsWith('"-') ? 1 : 0);
    }
  });
});

describe('dedupe key hash', () => {
  it('is spread over 64 bits without collisions on many random ids', () => {
    const ids = new Uint8Array(24);
    const view = new DataView(ids.buffer);
    const out = new Float64Array(2);
    const seen = new Set<string>();
    let allUint32 = true;
    let seed = 7;
    for (let n = 0; n < 50_000; n++) {
      for (let i = 0; i < 24; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        ids[i] = seed >>> 24;
      }
      idHashInto(view, out, 0);
      for (const half of out) if (!Number.isInteger(half) || half < 0 || half >= 2 ** 32) allUint32 = false;
      seen.add(`${out[0]}/${out[1]}`);
    }
    expect(allUint32).toBe(true);
    expect(seen.size).toBe(50_000);
    // Sequential ids (some SDKs) differ in one byte only: still distinct keys.
    const seq = new Set<string>();
    ids.fill(0);
    for (let n = 0; n < 256; n++) {
      ids[23] = n;
      idHashInto(view, out, 0);
      seq.add(`${out[0]}`);
    }
    expect(seq.size).toBe(256);
  });
});
