import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { makeGenAiRequest } from '../../bench/fixtures.ts';
import type { DecodeTask } from '../partial.ts';
import { SPAN_RECORD_WIDTH } from '../partial.ts';
import { parsePriceTableConfig } from '../pricing/overrides.ts';
import decode from './entry.ts';
import type { DecodeResult } from './result.ts';
import type { IngestWorkerData } from './worker-data.ts';

describe('piscina worker entry', () => {
  const workerData: IngestWorkerData = {
    pricing: parsePriceTableConfig(
      'models: [{ provider: openai, model: "gpt-4o*", usdPerMillionTokens: { input: 1, output: 1 } }]',
    ),
  };
  const pool = new Piscina<DecodeTask, DecodeResult>({
    filename: fileURLToPath(new URL('./entry.ts', import.meta.url)),
    minThreads: 1,
    maxThreads: 1,
    workerData,
  });
  afterAll(async () => {
    await pool.destroy();
  });

  it('decodes a transferred request with the price overrides from workerData', async () => {
    const req = makeGenAiRequest({ spans: 200, workloads: 2, seed: 3 });
    const body = req.protobuf.slice();
    const answer = await pool.run({ body, encoding: 'protobuf' }, { transferList: [body.buffer] });
    if (!answer.ok) throw new Error(answer.error.message);
    const result = answer.value;
    expect(body.byteLength).toBe(0); // the request bytes moved to the worker
    expect(result.spansTotal).toBe(200);
    expect(result.spansCharged).toBe(req.chargedSpans);
    expect(result.spans).toBeInstanceOf(Float64Array);
    expect(result.spans.length).toBe(req.chargedSpans * SPAN_RECORD_WIDTH);
    // The override prices gpt-4o* at 1 USD per 1M tokens, i.e. 1 micro-USD per token of any kind.
    const gpt4o = result.groups.filter((g) => g.provider === 'openai' && g.model.startsWith('gpt-4o'));
    expect(gpt4o.length).toBeGreaterThan(0);
    for (const g of gpt4o) expect(g.costMicros).toBe(g.inputTokens + g.outputTokens);
    const claude = result.groups.find((g) => g.model.startsWith('claude-sonnet-4'));
    expect(claude!.costMicros).toBeGreaterThan(claude!.inputTokens + claude!.outputTokens);
  });

  it('answers undecodable requests with the code and the decoder message (never a rejection)', async () => {
    expect(await pool.run({ body: new Uint8Array([0x0a, 0x7f, 0x01]), encoding: 'protobuf' })).toEqual({
      ok: false,
      error: {
        code: 'undecodable',
        message: expect.stringMatching(/malformed OTLP protobuf: length 127 exceeds/),
      },
    });
    expect(
      await pool.run({ body: new TextEncoder().encode('{"resourceSpans":[1]}'), encoding: 'json' }),
    ).toEqual({
      ok: false,
      error: { code: 'undecodable', message: expect.stringMatching(/malformed OTLP\/JSON/) },
    });
  });

  it('answers a decoder bug (not a verdict on the input) as decoder-bug, not as bad input', async () => {
    // A task that is not bytes makes the decoder fault (a TypeError, not a GenOpsError verdict).
    const answer = (await decode({
      body: undefined as unknown as Uint8Array,
      encoding: 'protobuf',
    })) as unknown;
    expect(answer).toMatchObject({ ok: false, error: { code: 'decoder-bug' } });
    expect(answer).not.toMatchObject({ error: { code: 'undecodable' } });
  });

  it('marks the span records for transfer', async () => {
    const req = makeGenAiRequest({ spans: 100, seed: 4 });
    const moved = (await decode({ body: req.protobuf, encoding: 'protobuf' })) as unknown as Record<
      symbol,
      unknown
    >;
    const answer = moved[Piscina.valueSymbol] as DecodeResult;
    if (!answer.ok) throw new Error(answer.error.message);
    const value = answer.value;
    expect(value.spansTotal).toBe(100);
    // The charge-once links move with the records (issue 18); nothing is copied.
    expect(moved[Piscina.transferableSymbol]).toEqual([value.spans.buffer, value.links!.buffer]);
  });
});
