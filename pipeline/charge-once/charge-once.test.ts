// One provider call, two spans (issue 18 item 1): pydantic-ai's `chat` span and, nested under it,
// the anthropic Python SDK's own `chat` span (scope com.anthropic.sdk.python), as the real OTel SDK
// serializes them, decoded by the real worker code and charged by the real usage windows.

import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { createRecordingLogger } from '../../kernel/logger.ts';
import type { ScopedSpan } from '../genai/testing/scoped-spans.ts';
import { AT, protobufOf, recordScopedSpans } from '../genai/testing/scoped-spans.ts';
import type { PartialAggregate } from '../partial.ts';
import { createPriceBook } from '../pricing/price-book.ts';
import type { UsageWindows } from '../windows/windows.ts';
import { createUsageWindows } from '../windows/windows.ts';
import { createDecodeDeps, decodeToPartial } from '../worker/decode-to-partial.ts';
import type { ChargeOnceMetrics } from './charge-once.ts';
import { createChargeOnce } from './charge-once.ts';
import { KeyRing } from './key-ring.ts';

const POD = {
  'service.name': 'agent',
  'k8s.namespace.name': 'team-a',
  'k8s.pod.name': 'agent-1',
  'k8s.deployment.name': 'agent',
};
const deps = createDecodeDeps({ priceBook: createPriceBook() });

const MODEL = 'claude-sonnet-4-20250514';
/** Claude Sonnet 4: 2000 uncached x 3 + 6000 reads x 0.3 + 2000 writes x 3.75 + 500 out x 15. */
const CALL_COST = 22_800;

const agent: ScopedSpan = {
  scope: 'pydantic-ai',
  name: 'invoke_agent agent',
  attributes: {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.usage.input_tokens': 10_000,
    'gen_ai.usage.output_tokens': 500,
  },
};
const frameworkChat: ScopedSpan = {
  scope: 'pydantic-ai',
  name: `chat ${MODEL}`,
  kind: SpanKind.CLIENT,
  parent: 0,
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.system': 'anthropic',
    'gen_ai.request.model': MODEL,
    'gen_ai.response.model': MODEL,
    // pydantic-ai sums the cache into input_tokens but, in this version, reports no cache split.
    'gen_ai.usage.input_tokens': 10_000,
    'gen_ai.usage.output_tokens': 500,
  },
};
const sdkChat: ScopedSpan = {
  scope: 'com.anthropic.sdk.python',
  name: `chat ${MODEL}`,
  kind: SpanKind.CLIENT,
  parent: 1,
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': MODEL,
    'gen_ai.response.model': MODEL,
    'gen_ai.usage.input_tokens': 10_000,
    'gen_ai.usage.cache_read.input_tokens': 6000,
    'gen_ai.usage.cache_write.input_tokens': 2000,
    'gen_ai.usage.output_tokens': 500,
  },
};

function partialOf(spans: ReadableSpan[]): PartialAggregate {
  return decodeToPartial({ body: protobufOf(spans), encoding: 'protobuf' }, deps);
}

function byScope(spans: ReadableSpan[], scope: string): ReadableSpan[] {
  return spans.filter((s) => s.instrumentationScope.name === scope && s.name.startsWith('chat'));
}

interface Rig {
  submit(spans: ReadableSpan[]): void;
  advance(ms: number): void;
  spend(): { cost: number; requests: number; cacheRead: number };
  nested: Map<string, number>;
  withoutUsage: Map<string, number>;
  logger: ReturnType<typeof createRecordingLogger>;
  heldCount(): number;
  shutdown(): Promise<void>;
}

function rig(options: { holdMs?: number; maxHeld?: number } = {}): Rig {
  const clock = createManualClock(AT + 5000);
  const windows: UsageWindows = createUsageWindows({ clock });
  const nested = new Map<string, number>();
  const withoutUsage = new Map<string, number>();
  const metrics: ChargeOnceMetrics = {
    spansNested: (c, i) => nested.set(i, (nested.get(i) ?? 0) + c),
    spansWithoutUsage: (c, i) => withoutUsage.set(i, (withoutUsage.get(i) ?? 0) + c),
  };
  const logger = createRecordingLogger();
  const stage = createChargeOnce({
    apply: (p, meta) => windows.apply(p, meta),
    clock,
    holdMs: options.holdMs ?? 1000,
    ...(options.maxHeld === undefined ? {} : { maxHeld: options.maxHeld }),
    metrics,
    logger,
  });
  return {
    submit: (spans) => stage.submit(partialOf(spans), { peer: undefined }),
    advance(ms) {
      clock.set(clock.now() + ms);
      stage.tick();
    },
    spend() {
      const w = [...windows.publish().workloads.values()][0];
      if (w === undefined) return { cost: 0, requests: 0, cacheRead: 0 };
      return {
        cost: w.spend.daily.costMicros,
        requests: w.spend.daily.requests,
        cacheRead: w.models.reduce((s, m) => s + m.cacheReadTokens, 0),
      };
    },
    nested,
    withoutUsage,
    logger,
    heldCount: () => stage.heldCount(),
    shutdown: () => stage.shutdown(),
  };
}

describe('charge-once: one provider call, several spans', () => {
  const trace = (): ReadableSpan[] => recordScopedSpans(POD, [agent, frameworkChat, sdkChat]);

  it('in one export request: the provider-SDK span is charged, the framework span is not', () => {
    const r = rig();
    r.submit(trace());
    // The SDK span's figures (cache split known): exactly one call.
    expect(r.spend()).toEqual({ cost: CALL_COST, requests: 1, cacheRead: 6000 });
    expect(r.nested).toEqual(new Map([['pydantic-ai', 1]]));
    expect(r.heldCount()).toBe(0);
    // Nothing more appears later.
    r.advance(5000);
    expect(r.spend()).toEqual({ cost: CALL_COST, requests: 1, cacheRead: 6000 });
  });

  it('child in an earlier request than its parent (the export timer fired between them)', () => {
    const r = rig();
    const spans = trace();
    r.submit(byScope(spans, 'com.anthropic.sdk.python'));
    expect(r.spend()).toMatchObject({ cost: CALL_COST, requests: 1 });
    r.advance(30_000);
    r.submit(byScope(spans, 'pydantic-ai'));
    r.advance(5000);
    expect(r.spend()).toEqual({ cost: CALL_COST, requests: 1, cacheRead: 6000 });
  });

  it('parent first (out of order): held, then dropped when the child arrives within the hold', () => {
    const r = rig();
    const spans = trace();
    r.submit(byScope(spans, 'pydantic-ai'));
    expect(r.heldCount()).toBe(1);
    expect(r.spend()).toMatchObject({ cost: 0, requests: 0 });
    r.advance(400);
    r.submit(byScope(spans, 'com.anthropic.sdk.python'));
    r.advance(5000);
    expect(r.spend()).toEqual({ cost: CALL_COST, requests: 1, cacheRead: 6000 });
    expect(r.heldCount()).toBe(0);
  });

  it('a framework span alone is charged once its hold is over, never before, never twice', () => {
    const r = rig();
    const spans = recordScopedSpans(POD, [agent, frameworkChat]);
    r.submit(spans);
    r.advance(999);
    expect(r.spend().requests).toBe(0);
    r.advance(1);
    // pydantic-ai's own figures: 10_000 input at 3 + 500 out at 15 (no cache split sent).
    expect(r.spend()).toEqual({ cost: 30_000 + 7500, requests: 1, cacheRead: 0 });
    // Retried export of the same span: the windows' dedupe drops it after its own hold.
    r.submit(spans);
    r.advance(2000);
    expect(r.spend()).toMatchObject({ cost: 37_500, requests: 1 });
  });

  it('a child arriving after its parent was released is not charged again', () => {
    const r = rig();
    const spans = trace();
    r.submit(byScope(spans, 'pydantic-ai'));
    r.advance(1500);
    expect(r.spend().requests).toBe(1);
    r.submit(byScope(spans, 'com.anthropic.sdk.python'));
    expect(r.spend()).toMatchObject({ cost: 37_500, requests: 1 });
    expect(r.nested.get('anthropic-sdk-python')).toBe(1);
  });

  it('a framework span that retried: each provider call (child) charged, the parent not', () => {
    const r = rig();
    r.submit(recordScopedSpans(POD, [agent, frameworkChat, sdkChat, { ...sdkChat, parent: 1 }]));
    expect(r.spend()).toMatchObject({ cost: 2 * CALL_COST, requests: 2 });
  });

  it('provider-SDK and unknown instrumentations are charged at once (no hold)', () => {
    const r = rig();
    r.submit(recordScopedSpans(POD, [{ ...sdkChat, parent: undefined }]));
    expect(r.spend().requests).toBe(1);
    r.submit(recordScopedSpans(POD, [{ ...sdkChat, scope: 'some-app', parent: undefined }]));
    expect(r.spend().requests).toBe(2);
    expect(r.heldCount()).toBe(0);
  });

  it('two sibling calls under one agent span are two calls', () => {
    const r = rig();
    r.submit(recordScopedSpans(POD, [agent, { ...sdkChat, parent: 0 }, { ...sdkChat, parent: 0 }]));
    expect(r.spend()).toMatchObject({ cost: 2 * CALL_COST, requests: 2 });
  });

  it('a full hold never loses spend: beyond maxHeld they are charged at once', () => {
    const r = rig({ maxHeld: 1 });
    r.submit(recordScopedSpans(POD, [agent, frameworkChat]));
    r.submit(recordScopedSpans(POD, [agent, frameworkChat]));
    expect(r.heldCount()).toBe(1);
    expect(r.spend().requests).toBe(1);
    r.advance(1000);
    expect(r.spend().requests).toBe(2);
  });

  it('shutdown charges what is still held', async () => {
    const r = rig();
    r.submit(recordScopedSpans(POD, [agent, frameworkChat]));
    await r.shutdown();
    expect(r.spend().requests).toBe(1);
    expect(r.heldCount()).toBe(0);
  });
});

describe('charge-once: the provider-SDK span has no usage, the framework span has', () => {
  // e.g. a streamed call whose SDK instrumentation records no stream usage under LangChain.
  const withoutUsage = Object.fromEntries(
    Object.entries(sdkChat.attributes!).filter(([k]) => !k.startsWith('gen_ai.usage.')),
  );
  const bareChild: ScopedSpan = { ...sdkChat, attributes: withoutUsage };
  const FRAMEWORK_COST = 30_000 + 7500;

  it('same request: the framework span (with the figures) is charged, the child is not', () => {
    const r = rig();
    r.submit(recordScopedSpans(POD, [agent, frameworkChat, bareChild]));
    r.advance(1000);
    expect(r.spend()).toEqual({ cost: FRAMEWORK_COST, requests: 1, cacheRead: 0 });
    expect(r.withoutUsage.size).toBe(0);
  });

  it('parent first, held: the late child without usage is not charged, the parent is', () => {
    const r = rig();
    const spans = recordScopedSpans(POD, [agent, frameworkChat, bareChild]);
    r.submit(byScope(spans, 'pydantic-ai'));
    r.advance(300);
    r.submit(byScope(spans, 'com.anthropic.sdk.python'));
    r.advance(1000);
    expect(r.spend()).toEqual({ cost: FRAMEWORK_COST, requests: 1, cacheRead: 0 });
  });

  it('child without usage first: flagged at once, the parent still charged (the cost is never lost)', () => {
    const r = rig();
    const spans = recordScopedSpans(POD, [agent, frameworkChat, bareChild]);
    r.submit(byScope(spans, 'com.anthropic.sdk.python'));
    expect(r.withoutUsage.get('anthropic-sdk-python')).toBe(1);
    r.submit(byScope(spans, 'pydantic-ai'));
    r.advance(1000);
    // Two requests counted (the child's could not be known to be the same call), one call's cost.
    expect(r.spend()).toEqual({ cost: FRAMEWORK_COST, requests: 2, cacheRead: 0 });
  });
});

describe('charge-once: inference spans without usage', () => {
  const noUsage = (pod: string): ReadableSpan[] =>
    recordScopedSpans({ ...POD, 'k8s.deployment.name': pod }, [
      {
        scope: '@opentelemetry/instrumentation-openai',
        name: 'chat gpt-4o',
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': 'gpt-4o',
        },
      },
    ]);

  it('counted, metric per instrumentation, one warning per workload and instrumentation', () => {
    const r = rig();
    r.submit(noUsage('agent'));
    r.submit(noUsage('agent'));
    r.submit(noUsage('other'));
    expect(r.withoutUsage).toEqual(new Map([['opentelemetry-openai', 3]]));
    const warnings = r.logger.records.filter((x) => x['level'] === 'warn');
    expect(warnings.map((w) => w['workload'])).toEqual([
      'team-a/Deployment/agent',
      'team-a/Deployment/other',
    ]);
    expect(warnings[0]).toMatchObject({ instrumentation: 'opentelemetry-openai', model: 'gpt-4o' });
  });

  it('a span with usage raises nothing', () => {
    const r = rig();
    r.submit(recordScopedSpans(POD, [{ ...sdkChat, parent: undefined }]));
    expect(r.withoutUsage.size).toBe(0);
    expect(r.logger.records.filter((x) => x['level'] === 'warn')).toEqual([]);
  });
});

describe('KeyRing', () => {
  it('remembers keys until they expire and stays within its capacity', () => {
    const ring = new KeyRing(16);
    ring.add(1, 2, 100, 0);
    expect(ring.has(1, 2, 99)).toBe(true);
    expect(ring.has(1, 2, 100)).toBe(false);
    expect(ring.has(2, 1, 50)).toBe(false);
    // Far more keys than slots: never grows, the newest are found.
    for (let i = 0; i < 10_000; i++) ring.add(i, i * 7, 1e9, 0);
    expect(ring.capacity).toBe(16);
    expect(ring.has(9999, 9999 * 7, 1)).toBe(true);
  });
});
