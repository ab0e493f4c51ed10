// A cardinality flood: every request names 2,000 new models (model names are whatever a client
// sends). Through the real ingest runtime: the per-request cost stays flat, a workload keeps at
// most 64 model rows plus one "other" row, the catalogue stops growing, every span is still
// charged, folding is counted, and the event loop keeps answering.
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestPipeline } from '../../pipeline/ingest.ts';
import type { IngestPipeline } from '../../pipeline/ingest.ts';
import { noopIngestMetrics } from '../../pipeline/ingest-metrics.ts';
import { recordSpans, toProtobuf } from '../../pipeline/otlp/testing/otel-spans.ts';
import { CANARY_COST_MICROS, POD, post, sendCanary } from './harness.ts';

let p: IngestPipeline;
let folded = 0;
beforeAll(async () => {
  p = createIngestPipeline({
    grpc: false,
    http: { port: 0 },
    maxBodyBytes: 16 * 1024 * 1024,
    metrics: { ...noopIngestMetrics, modelNamesFolded: (n) => (folded += n) },
    // Unknown models are charged the fallback: 1 USD per 1M input tokens, so 1,000 tokens = 1,000 micros.
    pricing: { overrides: [], fallback: { input: 1, output: 0 } },
    pool: { threads: 1 },
  });
  await p.start();
});
afterAll(async () => {
  await p.shutdown();
});

function flood(round: number): Uint8Array {
  return toProtobuf(
    recordSpans(
      POD,
      Array.from({ length: 2_000 }, (_, i) => ({
        name: 'chat',
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': `forged-${round}-${i}`,
          'gen_ai.usage.input_tokens': 1_000,
          'gen_ai.usage.output_tokens': 0,
        },
      })),
    ),
  );
}

describe('model-name cardinality flood', () => {
  it('keeps per-request cost flat and rows bounded over 10 requests of 2,000 new names each, charging every span', async () => {
    const bodies = Array.from({ length: 10 }, (_, r) => flood(r));
    let last = performance.now();
    let worstStall = 0;
    const probe = setInterval(() => {
      const now = performance.now();
      worstStall = Math.max(worstStall, now - last);
      last = now;
    }, 5);
    const applyTimes: number[] = [];
    for (const body of bodies) {
      const started = performance.now();
      expect((await post(p.ports().http, body)).status).toBe(200);
      applyTimes.push(performance.now() - started);
    }
    clearInterval(probe);
    const w = p.windows.publish().workloads.get('hostile/Deployment/canary')!;
    expect(w.spend.daily.requests).toBe(20_000);
    expect(w.spend.daily.costMicros).toBe(20_000 * 1_000);
    expect(w.models.length).toBeLessThanOrEqual(65);
    const other = w.models.find((m) => m.provider === 'other' && m.model === 'other');
    expect(other?.requests).toBe(20_000 - 64);
    expect(folded).toBeGreaterThan(0);
    // Flat: the last requests cost about what the first did (the old O(models) path grew ~10x).
    const early = (applyTimes[1]! + applyTimes[2]!) / 2;
    const late = (applyTimes[8]! + applyTimes[9]!) / 2;
    expect(late).toBeLessThan(early * 3 + 50);
    expect(worstStall).toBeLessThan(500);
    const c = await sendCanary(p);
    expect(c.status).toBe(200);
    expect(c.charged).toBe(CANARY_COST_MICROS);
  });
});
