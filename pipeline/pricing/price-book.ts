// Owns price lookup per (provider, model): the operator's overrides first, then the maintained table
// of @pydantic/genai-prices (bundled data, synchronous), converted once into exact integer rates and
// cached per provider/model because a lookup happens for every charged span. Unknown models give
// undefined; callers charge `fallback` and flag the usage as unpriced.

import { calcPrice } from '@pydantic/genai-prices';
import type { ConditionalPrice, ModelInfo, ModelPrice, TieredPrices } from '@pydantic/genai-prices';
import type { Clock } from '../../kernel/clock.ts';
import type { Glob } from '../../kernel/glob.ts';
import { systemClock } from '../../kernel/clock.ts';
import type { PriceTableConfig } from './overrides.ts';
import { compilePriceGlob } from './overrides.ts';
import type { Price, PriceTier, TokenRates } from './price.ts';
import { ZERO_RATES, priceFromUsdPerMillion, rateFromUsdPerMillion } from './price.ts';

export interface PriceBook {
  /**
   * Price of a model at a time (ms epoch; default now): the table has date- and time-of-day
   * dependent prices. `provider` is the semconv provider name ("unknown" when not sent).
   */
  lookup(provider: string, model: string, atMs?: number): Price | undefined;
  /** Charged for models no table knows (zero unless configured); such usage is flagged unpriced. */
  readonly fallback: Price;
}

export interface PriceBookOptions {
  readonly config?: PriceTableConfig;
  /** Time for date-dependent prices when the caller gives none. */
  readonly clock?: Clock;
  /** Distinct (provider, model) pairs remembered; the cache is emptied when full. */
  readonly cacheSize?: number;
}

/**
 * Semconv provider name -> genai-prices provider id. Providers not listed are passed as they are
 * (the package matches some names itself); "unknown" (no provider sent) matches by model name only.
 */
export const TABLE_PROVIDER_IDS: Readonly<Record<string, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  'aws.bedrock': 'aws',
  'azure.ai.openai': 'azure',
  'azure.ai.inference': 'azure',
  'gcp.vertex_ai': 'google',
  'gcp.gemini': 'google',
  'gcp.gen_ai': 'google',
  cohere: 'cohere',
  perplexity: 'perplexity',
  x_ai: 'x-ai',
  deepseek: 'deepseek',
  groq: 'groq',
  mistral_ai: 'mistral',
};

/** A cached answer: one price, or prices that depend on the time of the request. */
interface Entry {
  readonly price: Price | undefined;
  readonly variants: readonly Variant[] | undefined;
}

interface Variant {
  readonly constraint: ConditionalPrice['constraint'];
  readonly price: Price;
}

const MISSING: Entry = { price: undefined, variants: undefined };

/** Longest model name the table is asked about; longer ones are never real model ids. */
const MAX_MODEL_LENGTH = 128;

function isTiered(v: number | TieredPrices | undefined): v is TieredPrices {
  return typeof v === 'object' && v !== null;
}

/** Price value of a key for requests with input above `threshold` (-1 = base). */
function priceAt(v: number | TieredPrices | undefined, threshold: number): number | undefined {
  if (v === undefined) return undefined;
  if (!isTiered(v)) return v;
  let p = v.base;
  for (const tier of v.tiers) if (threshold >= tier.start) p = tier.price;
  return p;
}

function ratesAt(mp: ModelPrice, threshold: number): TokenRates {
  const rate = (key: string): number | undefined => {
    const v = priceAt(mp[key], threshold);
    return v === undefined ? undefined : rateFromUsdPerMillion(v);
  };
  const input = rate('input_mtok') ?? 0;
  const output = rate('output_mtok') ?? 0;
  // A missing cache or reasoning price means those tokens cost what their parent kind costs
  // (the package prices them the same way).
  return {
    input,
    output,
    cacheRead: rate('cache_read_mtok') ?? input,
    cacheWrite: rate('cache_write_mtok') ?? input,
    reasoning: rate('output_reasoning_mtok') ?? output,
  };
}

function priceFromModelPrice(provider: string, model: string, mp: ModelPrice): Price {
  const thresholds = new Set<number>();
  for (const key of [
    'input_mtok',
    'output_mtok',
    'cache_read_mtok',
    'cache_write_mtok',
    'output_reasoning_mtok',
  ]) {
    const v = mp[key];
    if (isTiered(v)) for (const tier of v.tiers) thresholds.add(tier.start);
  }
  const tiers: PriceTier[] = [...thresholds]
    .sort((a, b) => a - b)
    .map((t) => ({ aboveInputTokens: t, rates: ratesAt(mp, t) }));
  return { provider, model, rates: ratesAt(mp, -1), tiers, source: 'table' };
}

/** Seconds since midnight UTC of an "HH:MM:SS[.fff](Z|+HH:MM)" time (the package's format). */
function secondsOfDay(t: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(t);
  if (!m) return NaN;
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(`0.${m[4] ?? '0'}`);
  const offset = m[5] === 'Z' ? 0 : (m[6] === '+' ? 1 : -1) * (Number(m[7]) * 3600 + Number(m[8]) * 60);
  return (((local - offset) % 86400) + 86400) % 86400;
}

/** The variant in force at `atMs`, with the package's rule: the last matching constraint wins. */
function variantAt(variants: readonly Variant[], atMs: number): Price {
  for (let i = variants.length - 1; i >= 0; i--) {
    const v = variants[i]!;
    const c = v.constraint;
    if (c === undefined) return v.price;
    if (c.type === 'start_date') {
      if (atMs >= Date.parse(`${c.start_date}T00:00:00Z`)) return v.price;
    } else {
      const d = new Date(atMs);
      const now =
        d.getUTCHours() * 3600 + d.getUTCMinutes() * 60 + d.getUTCSeconds() + d.getUTCMilliseconds() / 1000;
      const start = secondsOfDay(c.start_time);
      const end = secondsOfDay(c.end_time);
      if (end < start ? now >= start || now < end : now >= start && now < end) return v.price;
    }
  }
  return variants[0]!.price;
}

function entryFromModel(provider: string, info: ModelInfo): Entry {
  const prices = info.prices;
  if (!Array.isArray(prices))
    return { price: priceFromModelPrice(provider, info.id, prices), variants: undefined };
  const variants = prices.map((cp) => ({
    constraint: cp.constraint,
    price: priceFromModelPrice(provider, info.id, cp.prices),
  }));
  if (variants.length === 1 && variants[0]!.constraint === undefined)
    return { price: variants[0]!.price, variants: undefined };
  return { price: undefined, variants };
}

interface CompiledOverride {
  readonly provider: Glob | undefined;
  readonly model: Glob;
  readonly price: Price;
}

export function createPriceBook(options: PriceBookOptions = {}): PriceBook {
  const clock = options.clock ?? systemClock;
  const cacheSize = options.cacheSize ?? 4096;
  const config = options.config ?? { overrides: [] };
  const overrides: CompiledOverride[] = config.overrides.map((o) => ({
    provider: o.provider === undefined ? undefined : compilePriceGlob(o.provider),
    model: compilePriceGlob(o.model),
    price: priceFromUsdPerMillion(o.provider ?? '*', o.model, o.usdPerMillionTokens, 'override'),
  }));
  const fallback: Price =
    config.fallback === undefined
      ? { provider: '*', model: '*', rates: ZERO_RATES, tiers: [], source: 'fallback' }
      : priceFromUsdPerMillion('*', '*', config.fallback, 'fallback');

  // provider -> model -> entry. Two levels so the per-span lookup builds no key string; provider
  // and model strings come interned from the decoders.
  const cache = new Map<string, Map<string, Entry>>();
  let cached = 0;

  function resolve(provider: string, model: string): Entry {
    for (const o of overrides) {
      if ((o.provider === undefined || o.provider.test(provider)) && o.model.test(model)) {
        return { price: o.price, variants: undefined };
      }
    }
    if (model.length === 0 || model.length > MAX_MODEL_LENGTH || model === 'unknown') return MISSING;
    const providerId =
      provider === 'unknown' || provider === '' ? undefined : (TABLE_PROVIDER_IDS[provider] ?? provider);
    let result: ReturnType<typeof calcPrice>;
    try {
      result = calcPrice({ input_tokens: 0 }, model, providerId === undefined ? {} : { providerId });
    } catch {
      // Bad data in the table for one model must not stop pricing the others.
      return MISSING;
    }
    if (result === null) return MISSING;
    return entryFromModel(result.provider.id, result.model);
  }

  return {
    fallback,
    lookup(provider, model, atMs) {
      let byModel = cache.get(provider);
      let entry = byModel?.get(model);
      if (entry === undefined) {
        entry = resolve(provider, model);
        if (cached >= cacheSize) {
          cache.clear();
          cached = 0;
          byModel = undefined;
        }
        if (byModel === undefined) {
          byModel = new Map();
          cache.set(provider, byModel);
        }
        byModel.set(model, entry);
        cached++;
      }
      if (entry.variants === undefined) return entry.price;
      return variantAt(entry.variants, atMs ?? clock.now());
    },
  };
}
