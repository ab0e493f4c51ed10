// Owns the arithmetic of prices: rates are integers in micro-USD per 1M tokens (the same number as
// pico-USD per token), so tokens x rate is an exact integer and a request's cost is rounded once,
// half up, to integer micro-USD. Also the AIPolicy modelGovernance.costPerToken override helper.

import type { Micros } from '../../kernel/money.ts';

/** Integer micro-USD per 1M tokens for each kind of token. */
export interface TokenRates {
  /** Uncached input tokens. */
  readonly input: number;
  /** Output tokens other than reasoning. */
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly reasoning: number;
}

/** Rates that replace the base rates for the whole request when its input tokens exceed a threshold. */
export interface PriceTier {
  readonly aboveInputTokens: number;
  readonly rates: TokenRates;
}

export type PriceSource = 'override' | 'table' | 'fallback';

export interface Price {
  /** Provider and model as priced (the table's ids, or the override's patterns). */
  readonly provider: string;
  readonly model: string;
  readonly rates: TokenRates;
  /** Ascending by threshold; empty for flat prices. */
  readonly tiers: readonly PriceTier[];
  readonly source: PriceSource;
}

/** Token figures of one request, normalised: input includes cache tokens, output includes reasoning. */
export interface TokenCounts {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
}

/** USD per 1M tokens as written in price tables and the operator's override file. */
export interface UsdPerMillionTokens {
  readonly input: number;
  readonly output: number;
  /** Defaults to the input price. */
  readonly cacheRead?: number;
  /** Defaults to the input price. */
  readonly cacheWrite?: number;
  /** Defaults to the output price. */
  readonly reasoning?: number;
}

const DECIMAL = /^(\d+)(?:\.(\d*))?$/;

/**
 * An exact non-negative decimal amount scaled by 10^decimals and rounded half up, e.g.
 * scaledDecimal(2.5, 6) = 2_500_000. Numbers are read through their shortest decimal form, so
 * 0.075 is 0.075 and not its binary neighbour.
 */
export function scaledDecimal(value: number | string, decimals: number): number {
  let s = typeof value === 'number' ? String(value) : value.trim();
  if (!DECIMAL.test(s)) {
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0)
      throw new RangeError(`not a non-negative decimal amount: ${String(value)}`);
    s = n.toFixed(Math.min(100, decimals + 1));
  }
  const m = DECIMAL.exec(s);
  if (!m) throw new RangeError(`not a non-negative decimal amount: ${String(value)}`);
  const frac = (m[2] ?? '').padEnd(decimals + 1, '0');
  let scaled = Number(m[1]) * 10 ** decimals + Number(frac.slice(0, decimals) || '0');
  if (Number(frac[decimals]) >= 5) scaled += 1;
  if (!Number.isSafeInteger(scaled)) throw new RangeError(`amount too large: ${String(value)}`);
  return scaled;
}

/** USD per 1M tokens -> integer micro-USD per 1M tokens. */
export function rateFromUsdPerMillion(usd: number | string): number {
  return scaledDecimal(usd, 6);
}

/** USD per token (AIPolicy costPerToken) -> integer micro-USD per 1M tokens. */
export function rateFromUsdPerToken(usd: number | string): number {
  return scaledDecimal(usd, 12);
}

export function ratesFromUsdPerMillion(p: UsdPerMillionTokens): TokenRates {
  const input = rateFromUsdPerMillion(p.input);
  const output = rateFromUsdPerMillion(p.output);
  return {
    input,
    output,
    cacheRead: p.cacheRead === undefined ? input : rateFromUsdPerMillion(p.cacheRead),
    cacheWrite: p.cacheWrite === undefined ? input : rateFromUsdPerMillion(p.cacheWrite),
    reasoning: p.reasoning === undefined ? output : rateFromUsdPerMillion(p.reasoning),
  };
}

export const ZERO_RATES: TokenRates = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 };

const PICOS_PER_MICRO = 1_000_000;
const PICOS_PER_MICRO_BIG = 1_000_000n;

/** n / 10^6 rounded half up, exact for any non-negative safe integer n. */
function picosToMicros(n: number): Micros {
  let q = Math.floor(n / PICOS_PER_MICRO);
  let r = n - q * PICOS_PER_MICRO;
  if (r < 0) {
    q -= 1;
    r += PICOS_PER_MICRO;
  } else if (r >= PICOS_PER_MICRO) {
    q += 1;
    r -= PICOS_PER_MICRO;
  }
  return r * 2 >= PICOS_PER_MICRO ? q + 1 : q;
}

/** The same sum with BigInt, for the (absurd) requests whose pico-USD total passes 2^53. */
function bigCost(parts: readonly (readonly [number, number])[]): Micros {
  let sum = 0n;
  for (const [tokens, rate] of parts) sum += BigInt(tokens) * BigInt(rate);
  const q = sum / PICOS_PER_MICRO_BIG;
  const r = sum % PICOS_PER_MICRO_BIG;
  return Number(r * 2n >= PICOS_PER_MICRO_BIG ? q + 1n : q);
}

/** Rates that apply to a request with this many input tokens. */
export function ratesFor(price: Price, inputTokens: number): TokenRates {
  let rates = price.rates;
  const tiers = price.tiers;
  for (let i = 0; i < tiers.length; i++) {
    if (inputTokens > tiers[i]!.aboveInputTokens) rates = tiers[i]!.rates;
  }
  return rates;
}

/**
 * Cost of one request in integer micro-USD: uncached input, cache reads, cache writes, output
 * other than reasoning and reasoning, each at its rate, summed exactly, rounded once half up.
 */
export function costMicros(tokens: TokenCounts, price: Price): Micros {
  const input = tokens.inputTokens;
  const cacheRead = tokens.cacheReadTokens;
  const cacheWrite = tokens.cacheWriteTokens;
  const reasoning = tokens.reasoningTokens;
  const uncached = Math.max(0, input - cacheRead - cacheWrite);
  const plainOutput = Math.max(0, tokens.outputTokens - reasoning);
  const r = price.tiers.length === 0 ? price.rates : ratesFor(price, input);
  const picos =
    uncached * r.input +
    cacheRead * r.cacheRead +
    cacheWrite * r.cacheWrite +
    plainOutput * r.output +
    reasoning * r.reasoning;
  if (picos <= Number.MAX_SAFE_INTEGER) return picosToMicros(picos);
  return bigCost([
    [uncached, r.input],
    [cacheRead, r.cacheRead],
    [cacheWrite, r.cacheWrite],
    [plainOutput, r.output],
    [reasoning, r.reasoning],
  ]);
}

/** AIPolicy spec.modelGovernance.costPerToken: USD per token. */
export interface CostPerToken {
  readonly input: number;
  readonly output: number;
}

interface PerTokenRates {
  readonly input: number;
  readonly output: number;
}

// Policy objects are stable between policy updates: convert each once.
const perTokenRates = new WeakMap<CostPerToken, PerTokenRates>();

function ratesOfCostPerToken(override: CostPerToken): PerTokenRates {
  let rates = perTokenRates.get(override);
  if (rates === undefined) {
    rates = { input: rateFromUsdPerToken(override.input), output: rateFromUsdPerToken(override.output) };
    perTokenRates.set(override, rates);
  }
  return rates;
}

/**
 * Cost of one request under an AIPolicy costPerToken override, integer micro-USD, rounded once half
 * up. The override has one input and one output price: cache tokens are input tokens and reasoning
 * tokens are output tokens at those prices (input/output are the normalised totals).
 */
export function costWithPerTokenOverride(
  inputTokens: number,
  outputTokens: number,
  override: CostPerToken,
): Micros {
  const r = ratesOfCostPerToken(override);
  const i = Math.max(0, inputTokens);
  const o = Math.max(0, outputTokens);
  const picos = i * r.input + o * r.output;
  if (picos <= Number.MAX_SAFE_INTEGER) return picosToMicros(picos);
  return bigCost([
    [i, r.input],
    [o, r.output],
  ]);
}

/** An AIPolicy costPerToken that may set only one side (USD per token). */
export interface PartialCostPerToken {
  readonly input?: number | undefined;
  readonly output?: number | undefined;
}

const partialRates = new WeakMap<PartialCostPerToken, { input?: number; output?: number }>();

/**
 * Cost of one request under a costPerToken that sets one side only: that side's tokens at the
 * policy's price (as in costWithPerTokenOverride: cache tokens are input, reasoning output), the
 * other side at `table` (the price the request had: uncached input, cache reads and writes, or
 * plain output and reasoning, each at its rate). Exact, rounded once half up.
 */
export function costWithPartialOverride(
  tokens: TokenCounts,
  override: PartialCostPerToken,
  table: Price,
): Micros {
  let r = partialRates.get(override);
  if (r === undefined) {
    r = {
      ...(override.input === undefined ? {} : { input: rateFromUsdPerToken(override.input) }),
      ...(override.output === undefined ? {} : { output: rateFromUsdPerToken(override.output) }),
    };
    partialRates.set(override, r);
  }
  const input = Math.max(0, tokens.inputTokens);
  const output = Math.max(0, tokens.outputTokens);
  const cacheRead = Math.max(0, tokens.cacheReadTokens);
  const cacheWrite = Math.max(0, tokens.cacheWriteTokens);
  const reasoning = Math.max(0, tokens.reasoningTokens);
  const t = table.tiers.length === 0 ? table.rates : ratesFor(table, input);
  const parts: (readonly [number, number])[] =
    r.input === undefined
      ? [
          [Math.max(0, input - cacheRead - cacheWrite), t.input],
          [cacheRead, t.cacheRead],
          [cacheWrite, t.cacheWrite],
        ]
      : [[input, r.input]];
  if (r.output === undefined)
    parts.push([Math.max(0, output - reasoning), t.output], [reasoning, t.reasoning]);
  else parts.push([output, r.output]);
  let picos = 0;
  for (const [n, rate] of parts) picos += n * rate;
  if (picos <= Number.MAX_SAFE_INTEGER) return picosToMicros(picos);
  return bigCost(parts);
}

/** A price from USD-per-1M rates (overrides, fallback, tests). */
export function priceFromUsdPerMillion(
  provider: string,
  model: string,
  usd: UsdPerMillionTokens,
  source: PriceSource,
): Price {
  return { provider, model, rates: ratesFromUsdPerMillion(usd), tiers: [], source };
}
