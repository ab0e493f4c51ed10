import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { GenOpsError } from '../../kernel/errors.ts';
import { parsePriceTableConfig, parseUnknownModelPrice, withUnknownModelPrice } from './overrides.ts';
import {
  costMicros,
  costWithPartialOverride,
  costWithPerTokenOverride,
  rateFromUsdPerToken,
  scaledDecimal,
} from './price.ts';
import type { Price, TokenCounts } from './price.ts';
import { hostOf, providerForHost } from './hosts.ts';
import { createPriceBook } from './price-book.ts';

const book = createPriceBook();
const NOV_2026 = Date.UTC(2026, 10, 2, 20, 0, 0);

function tokens(t: Partial<TokenCounts>): TokenCounts {
  return {
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    ...t,
  };
}

function priced(provider: string, model: string, t: Partial<TokenCounts>, at = NOV_2026): number {
  const price = book.lookup(provider, model, at);
  if (!price) throw new Error(`no price for ${provider}/${model}`);
  return costMicros(tokens(t), price);
}

describe('prices from the maintained table', () => {
  it('gpt-4o: 2.50 input, 1.25 cached input, 10.00 output per 1M tokens', () => {
    const p = book.lookup('openai', 'gpt-4o', NOV_2026)!;
    expect(p.rates).toMatchObject({ input: 2_500_000, cacheRead: 1_250_000, output: 10_000_000 });
    // 1000 input of which 400 cached, 200 output: 600*2.5 + 400*1.25 + 200*10 = 1500 + 500 + 2000
    expect(priced('openai', 'gpt-4o', { inputTokens: 1000, cacheReadTokens: 400, outputTokens: 200 })).toBe(
      4000,
    );
    expect(priced('openai', 'gpt-4o-2024-08-06', { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBe(
      12_500_000,
    );
  });

  it('claude-sonnet-4: 3.00 input, 0.30 cache read, 3.75 cache write, 15.00 output', () => {
    const p = book.lookup('anthropic', 'claude-sonnet-4-20250514', NOV_2026)!;
    expect(p.rates).toMatchObject({
      input: 3_000_000,
      cacheRead: 300_000,
      cacheWrite: 3_750_000,
      output: 15_000_000,
    });
    // 10000 input = 2000 uncached + 6000 read + 2000 write; 500 output:
    // 2000*3 + 6000*0.3 + 2000*3.75 + 500*15 = 6000 + 1800 + 7500 + 7500
    expect(
      priced('anthropic', 'claude-sonnet-4-20250514', {
        inputTokens: 10_000,
        cacheReadTokens: 6000,
        cacheWriteTokens: 2000,
        outputTokens: 500,
      }),
    ).toBe(22_800);
    expect(priced('anthropic', 'claude-3-5-sonnet-20241022', { inputTokens: 1000, outputTokens: 1000 })).toBe(
      18_000,
    );
  });

  it('gpt-4o-mini and provider aliases (semconv names to table ids)', () => {
    expect(
      priced('openai', 'gpt-4o-mini', {
        inputTokens: 1_000_000,
        cacheReadTokens: 1_000_000,
        outputTokens: 1_000_000,
      }),
    ).toBe(75_000 + 600_000);
    expect(book.lookup('azure.ai.openai', 'gpt-4o', NOV_2026)?.rates.input).toBe(2_500_000);
    expect(
      book.lookup('aws.bedrock', 'anthropic.claude-3-5-sonnet-20240620-v1:0', NOV_2026)?.rates.output,
    ).toBe(15_000_000);
    expect(book.lookup('gcp.vertex_ai', 'gemini-2.5-pro', NOV_2026)?.rates.input).toBe(1_250_000);
    expect(book.lookup('x_ai', 'grok-3', NOV_2026)?.rates.input).toBe(3_000_000);
    expect(book.lookup('mistral_ai', 'mistral-large-latest', NOV_2026)).toBeDefined();
    // No provider sent: matched by model name alone.
    expect(book.lookup('unknown', 'gpt-4o', NOV_2026)?.rates.output).toBe(10_000_000);
  });

  it('applies tiered prices to the whole request above the threshold (gemini-2.5-pro > 200k input)', () => {
    expect(priced('gcp.gemini', 'gemini-2.5-pro', { inputTokens: 100_000, outputTokens: 1000 })).toBe(
      125_000 + 10_000,
    );
    expect(priced('gcp.gemini', 'gemini-2.5-pro', { inputTokens: 250_000, outputTokens: 1000 })).toBe(
      625_000 + 15_000,
    );
  });

  it('applies time-of-day prices at the time of the request (deepseek-chat)', () => {
    const peak = Date.UTC(2026, 10, 2, 10, 0, 0);
    const offPeak = Date.UTC(2026, 10, 2, 20, 0, 0);
    expect(priced('deepseek', 'deepseek-chat', { inputTokens: 1_000_000 }, peak)).toBe(270_000);
    expect(priced('deepseek', 'deepseek-chat', { inputTokens: 1_000_000 }, offPeak)).toBe(135_000);
  });

  it('agrees with the package calculator on ordinary requests', () => {
    const cases: [string, string, string][] = [
      ['openai', 'openai', 'gpt-4o'],
      ['openai', 'openai', 'o3'],
      ['anthropic', 'anthropic', 'claude-3-5-haiku-20241022'],
      ['anthropic', 'anthropic', 'claude-opus-4-1'],
      ['mistral_ai', 'mistral', 'mistral-large-latest'],
      ['groq', 'groq', 'llama-3.3-70b-versatile'],
      ['gcp.gen_ai', 'google', 'gemini-2.5-flash'],
    ];
    const usage = { inputTokens: 12_345, cacheReadTokens: 2_345, outputTokens: 678 };
    for (const [provider, tableId, model] of cases) {
      const ours = priced(provider, model, usage);
      const theirs = calcPrice(
        { input_tokens: 12_345, cache_read_tokens: 2_345, output_tokens: 678 },
        model,
        { providerId: tableId, timestamp: new Date(NOV_2026) },
      );
      expect(theirs, model).not.toBeNull();
      expect(Math.abs(ours - theirs!.total_price * 1e6), model).toBeLessThanOrEqual(0.5 + 1e-6);
    }
  });

  it('gives undefined for unknown models and a conservative (never zero) fallback by default', () => {
    expect(book.lookup('openai', 'gpt-nonexistent-9', NOV_2026)).toBeUndefined();
    expect(book.lookup('acme', 'acme-llm', NOV_2026)).toBeUndefined();
    expect(book.lookup('openai', 'unknown', NOV_2026)).toBeUndefined();
    // Issue 18 item 7: 0 only when the operator chooses it (pricing.test.ts, fallback cases).
    expect(costMicros(tokens({ inputTokens: 1000, outputTokens: 1000 }), book.fallback)).toBeGreaterThan(0);
    expect(book.fallback.source).toBe('fallback');
  });
});

describe('exact cost arithmetic', () => {
  const flat = (input: number, output: number): Price => ({
    provider: 'p',
    model: 'm',
    rates: { input, output, cacheRead: input, cacheWrite: input, reasoning: output },
    tiers: [],
    source: 'override',
  });

  it('rounds once per request, half up', () => {
    // 1 token at 2.5 USD/M = 2.5 micro-USD -> 3; 7 at 0.15 + 3 at 0.60 = 1.05 + 1.8 = 2.85 -> 3
    expect(costMicros(tokens({ inputTokens: 1 }), flat(2_500_000, 0))).toBe(3);
    expect(costMicros(tokens({ inputTokens: 7, outputTokens: 3 }), flat(150_000, 600_000))).toBe(3);
    expect(costMicros(tokens({ inputTokens: 1 }), flat(2_499_999, 0))).toBe(2);
    // 0.1 + 0.2 is exactly 0.3 here (integers): 1 token at 0.1 USD/M + 2 at 0.1 -> 0.3 micro -> 0
    expect(costMicros(tokens({ inputTokens: 3 }), flat(100_000, 0))).toBe(0);
  });

  it('prices reasoning at the output rate and never goes negative on inconsistent figures', () => {
    expect(costMicros(tokens({ outputTokens: 100, reasoningTokens: 40 }), flat(0, 10_000_000))).toBe(1000);
    expect(costMicros(tokens({ inputTokens: 5, cacheReadTokens: 10 }), flat(1_000_000, 0))).toBe(10);
  });

  it('stays exact beyond 2^53 pico-USD', () => {
    const huge = costMicros(tokens({ inputTokens: 1e12, outputTokens: 1e12 }), flat(75_000_000, 150_000_000));
    expect(huge).toBe(225_000_000_000_000);
  });

  it('reads decimal prices exactly', () => {
    expect(scaledDecimal(0.075, 6)).toBe(75_000);
    expect(scaledDecimal('3.75', 6)).toBe(3_750_000);
    expect(scaledDecimal(0.18000000000000002, 6)).toBe(180_000);
    expect(scaledDecimal(1e-7, 12)).toBe(100_000);
    expect(scaledDecimal('0.0000005', 6)).toBe(1);
    expect(() => scaledDecimal(-1, 6)).toThrow(RangeError);
  });
});

describe('AIPolicy costPerToken override', () => {
  it('prices input (cache included) and output per token, exactly', () => {
    // The README example: $0.01 per 1K input tokens, $0.03 per 1K output tokens.
    const override = { input: 0.00001, output: 0.00003 };
    expect(rateFromUsdPerToken(0.00001)).toBe(10_000_000);
    expect(costWithPerTokenOverride(1000, 1000, override)).toBe(40_000);
    expect(costWithPerTokenOverride(1, 0, { input: 0.0000025, output: 0 })).toBe(3); // 2.5 micro, half up
    expect(costWithPerTokenOverride(0, 0, override)).toBe(0);
    expect(costWithPerTokenOverride(-5, 10, override)).toBe(300);
  });
});

describe('operator overrides and fallback', () => {
  const config = parsePriceTableConfig(`
models:
  - provider: openai
    model: "gpt-4o*"
    usdPerMillionTokens: { input: 2.0, output: 8.0 }
  - model: "acme-*"
    usdPerMillionTokens: { input: 1, output: 2, cacheRead: 0.5 }
fallback:
  usdPerMillionTokens: { input: 0.5, output: 1.5 }
`);
  const custom = createPriceBook({ config });

  it('layers overrides before the table, by glob, case-insensitive', () => {
    expect(custom.lookup('openai', 'GPT-4o-2024-08-06', NOV_2026)).toMatchObject({
      source: 'override',
      rates: { input: 2_000_000, output: 8_000_000 },
    });
    expect(custom.lookup('azure.ai.openai', 'gpt-4o', NOV_2026)?.source).toBe('table');
    expect(custom.lookup('whoever', 'acme-large', NOV_2026)?.rates).toEqual({
      input: 1_000_000,
      output: 2_000_000,
      cacheRead: 500_000,
      cacheWrite: 1_000_000,
      reasoning: 2_000_000,
    });
    expect(custom.lookup('anthropic', 'claude-sonnet-4', NOV_2026)?.source).toBe('table');
  });

  it('has a configurable fallback for unknown models', () => {
    expect(custom.lookup('openai', 'gpt-nonexistent', NOV_2026)).toBeUndefined();
    expect(costMicros(tokens({ inputTokens: 1_000_000, outputTokens: 1_000_000 }), custom.fallback)).toBe(
      2_000_000,
    );
  });

  it('refuses malformed files with a clear message', () => {
    const bad = [
      ['models: {}', /models must be a list/],
      ['models: [{ model: "x" }]', /usdPerMillionTokens must be a map/],
      ['models: [{ model: "x", usdPerMillionTokens: { input: 1 } }]', /output is required/],
      ['models: [{ model: "x", usdPerMillionTokens: { input: -1, output: 1 } }]', /non-negative/],
      [
        'models: [{ model: "x", usdPerMillionTokens: { input: 1, output: 1, cached: 1 } }]',
        /cached is not a price field/,
      ],
      ['prices: []', /unknown key prices/],
      ['models: [', /price table/],
    ] as const;
    for (const [text, message] of bad) {
      let caught: unknown;
      try {
        parsePriceTableConfig(text, 'test.yaml');
      } catch (err) {
        caught = err;
      }
      expect(caught, text).toBeInstanceOf(GenOpsError);
      expect((caught as GenOpsError).errorClass).toBe('invalid');
      expect((caught as GenOpsError).message, text).toMatch(message);
    }
    expect(parsePriceTableConfig('')).toEqual({ overrides: [] });
    expect(
      parsePriceTableConfig('{"models": [{"model": "m", "usdPerMillionTokens": {"input": 1, "output": 2}}]}')
        .overrides,
    ).toHaveLength(1);
  });
});

describe('unknown model price (issue 18 item 7)', () => {
  const T = (inUsd: number, outUsd: number) => ({ input: inUsd * 1e6, output: outUsd * 1e6 });

  it('defaults to the highest price of the provider in the table, else of the first-party providers', () => {
    expect(book.fallbackFor('anthropic').rates).toMatchObject(T(15, 75));
    expect(book.fallbackFor('openai').rates).toMatchObject(T(150, 600));
    expect(book.fallbackFor('aws.bedrock').rates).toMatchObject(T(15, 75));
    // Not in the table, or not sent: the highest of all first-party providers.
    expect(book.fallbackFor('acme').rates).toMatchObject(T(150, 600));
    expect(book.fallbackFor('unknown').rates).toMatchObject(T(150, 600));
    expect(book.fallbackFor('anthropic').source).toBe('fallback');
  });

  it('the operator chooses: --unknown-model-price over the file fallback', () => {
    const file = parsePriceTableConfig('fallback: { usdPerMillionTokens: { input: 1, output: 4 } }', 'test');
    expect(createPriceBook({ config: file }).fallbackFor('anthropic').rates).toMatchObject(T(1, 4));
    const zero = withUnknownModelPrice(file, parseUnknownModelPrice('0'));
    expect(createPriceBook({ config: zero! }).fallbackFor('anthropic').rates).toMatchObject(T(0, 0));
    const highest = withUnknownModelPrice(file, parseUnknownModelPrice('highest'));
    expect(createPriceBook({ config: highest! }).fallbackFor('anthropic').rates).toMatchObject(T(15, 75));
    expect(parseUnknownModelPrice(' 2.5, 10 ')).toEqual({ input: 2.5, output: 10 });
    for (const bad of ['', 'cheap', '1', '1,2,3', '-1,2', '1,', 'NaN,1']) {
      expect(() => parseUnknownModelPrice(bad), bad).toThrow(RangeError);
    }
  });

  it('prices a model by name alone only when its providers agree', () => {
    // openai and azure price it the same: one price.
    expect(book.lookup('unknown', 'text-embedding-3-small', NOV_2026)?.rates.input).toBe(20_000);
    // Nobody has it.
    expect(book.lookup('unknown', 'acme-llm-7', NOV_2026)).toBeUndefined();
  });
});

describe('API hosts (OpenAI-compatible endpoints)', () => {
  it('reads hosts from server.address and base URLs', () => {
    expect(hostOf('openrouter.ai')).toBe('openrouter.ai');
    expect(hostOf('https://openrouter.ai/api/v1/')).toBe('openrouter.ai');
    expect(hostOf('HTTPS://user:pw@API.GROQ.COM:443/openai/v1')).toBe('api.groq.com');
    expect(hostOf('[::1]:8080')).toBe('[::1]');
  });

  it('names the provider of the hosts the price table knows, nothing else', () => {
    expect(providerForHost('openrouter.ai')).toBe('openrouter');
    expect(providerForHost('https://openrouter.ai/api/v1')).toBe('openrouter');
    expect(providerForHost('res.openai.azure.com')).toBe('azure.ai.openai');
    expect(providerForHost('api.mistral.ai')).toBe('mistral_ai');
    expect(providerForHost('api.x.ai')).toBe('x_ai');
    expect(providerForHost('api.openai.com')).toBe('openai');
    for (const h of ['127.0.0.1', 'localhost', '[::1]', 'vllm.svc.cluster.local', '', 'x'.repeat(300)]) {
      expect(providerForHost(h), h).toBe('');
    }
    // A lookalike is not the real host.
    expect(providerForHost('openrouter.ai.evil.example')).toBe('');
  });
});

describe('AIPolicy costPerToken with only one side set', () => {
  const table = book.lookup('openai', 'gpt-4o', NOV_2026)!;
  const t = tokens({
    inputTokens: 10_000,
    cacheReadTokens: 3_000,
    cacheWriteTokens: 1_000,
    outputTokens: 2_000,
    reasoningTokens: 500,
  });
  const r = table.rates;
  const inputSidePicos = 6_000 * r.input + 3_000 * r.cacheRead + 1_000 * r.cacheWrite;
  const outputSidePicos = 1_500 * r.output + 500 * r.reasoning;
  const micros = (picos: number): number => Math.floor((picos + 500_000) / 1_000_000);

  it('input only: input tokens (cache included) at the policy price, output at the table price', () => {
    const got = costWithPartialOverride(t, { input: 0.00001 }, table);
    expect(got).toBe(micros(10_000 * 10_000_000 + outputSidePicos));
    // Neither the full table price nor the input-only part: both halves are there.
    expect(got).not.toBe(costMicros(t, table));
    expect(got).not.toBe(costWithPerTokenOverride(10_000, 0, { input: 0.00001, output: 0 }));
  });

  it('output only: output tokens (reasoning included) at the policy price, input at the table price', () => {
    const got = costWithPartialOverride(t, { output: 0.00003 }, table);
    expect(got).toBe(micros(inputSidePicos + 2_000 * 30_000_000));
    expect(got).not.toBe(costMicros(t, table));
  });

  it('is the table price exactly when the set side has no tokens', () => {
    const inputOnly = tokens({ inputTokens: 1234, cacheReadTokens: 200 });
    expect(costWithPartialOverride(inputOnly, { output: 1 }, table)).toBe(costMicros(inputOnly, table));
  });
});
