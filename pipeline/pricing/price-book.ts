// Owns price lookup per (provider, model): the operator's overrides first, then the maintained table
// of @pydantic/genai-prices (bundled data, synchronous), converted once into exact integer rates and
// cached per provider/model because a lookup happens for every charged span. Unknown models give
// undefined; callers charge `fallback` and flag the usage as unpriced.

import { calcPrice, findProvider } from '@pydantic/genai-prices';
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
  /**
   * Charged for a model of `provider` that no table knows; such usage is flagged unpriced. The
   * operator's fallback when configured (`fallback:` in the price file, `--unknown-model-price`),
   * else the conservative default: the highest price of that provider in the table, else the
   * highest of the first-party providers (GLOBAL_FALLBACK_PROVIDERS).
   */
  fallbackFor(provider: string): Price;
  /** The global fallback (provider not in the table, or not sent). */
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

/**
 * Provider ids (genai-prices) that bill their own API first-hand: asked, in turn, for a model sent
 * without a provider, and the source of the global fallback. Resellers and subscriptions
 * (openrouter, github-copilot, cursor, ...) are left out: their prices are not the model's.
 */
export const GLOBAL_FALLBACK_PROVIDERS: readonly string[] = [
  'openai',
  'anthropic',
  'google',
  'aws',
  'azure',
  'mistral',
  'cohere',
  'deepseek',
  'x-ai',
  'groq',
  'together',
  'fireworks',
  'perplexity',
  'moonshotai',
  'cerebras',
  'voyageai',
  'zai',
  'minimax',
];

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

function maxRates(a: TokenRates | undefined, b: TokenRates): TokenRates {
  if (a === undefined) return b;
  return {
    input: Math.max(a.input, b.input),
    output: Math.max(a.output, b.output),
    cacheRead: Math.max(a.cacheRead, b.cacheRead),
    cacheWrite: Math.max(a.cacheWrite, b.cacheWrite),
    reasoning: Math.max(a.reasoning, b.reasoning),
  };
}

function sameRates(a: TokenRates, b: TokenRates): boolean {
  return (
    a.input === b.input &&
    a.output === b.output &&
    a.cacheRead === b.cacheRead &&
    a.cacheWrite === b.cacheWrite &&
    a.reasoning === b.reasoning
  );
}

function samePrice(a: Entry, b: Entry): boolean {
  if (a.price === undefined || b.price === undefined) return false;
  if (!sameRates(a.price.rates, b.price.rates) || a.price.tiers.length !== b.price.tiers.length) return false;
  return a.price.tiers.every(
    (t, i) =>
      t.aboveInputTokens === b.price!.tiers[i]!.aboveInputTokens &&
      sameRates(t.rates, b.price!.tiers[i]!.rates),
  );
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
  const configured: Price | undefined =
    config.fallback === undefined ? undefined : priceFromUsdPerMillion('*', '*', config.fallback, 'fallback');
  const highestCache = new Map<string, Price>();
  let globalHighest: Price | undefined;

  function highestOf(tableProvider: string): Price | undefined {
    let p = highestCache.get(tableProvider);
    if (p !== undefined) return p;
    let info: ReturnType<typeof findProvider>;
    try {
      info = findProvider({ providerId: tableProvider });
    } catch {
      return undefined;
    }
    if (info === undefined || info.id !== tableProvider) return undefined;
    let rates: TokenRates | undefined;
    for (const m of info.models) {
      const mp = Array.isArray(m.prices) ? m.prices[m.prices.length - 1]?.prices : m.prices;
      if (mp === undefined) continue;
      rates = maxRates(rates, ratesAt(mp, -1));
    }
    if (rates === undefined) return undefined;
    p = { provider: tableProvider, model: '*', rates, tiers: [], source: 'fallback' };
    highestCache.set(tableProvider, p);
    return p;
  }

  function globalFallback(): Price {
    if (configured !== undefined) return configured;
    if (globalHighest === undefined) {
      let rates: TokenRates = ZERO_RATES;
      for (const id of GLOBAL_FALLBACK_PROVIDERS) {
        const h = highestOf(id);
        if (h !== undefined) rates = maxRates(rates, h.rates);
      }
      globalHighest = { provider: '*', model: '*', rates, tiers: [], source: 'fallback' };
    }
    return globalHighest;
  }

  /** Prices the model by name alone: the table's own model match, else one price among its providers. */
  function byModelOnly(model: string): Entry {
    const direct = calcPrice({ input_tokens: 0 }, model, {});
    if (direct !== null) return entryFromModel(direct.provider.id, direct.model);
    let found: Entry | undefined;
    for (const id of GLOBAL_FALLBACK_PROVIDERS) {
      const r = calcPrice({ input_tokens: 0 }, model, { providerId: id });
      if (r === null) continue;
      const e = entryFromModel(r.provider.id, r.model);
      if (found === undefined) found = e;
      // Two providers with different prices for this name: ambiguous, never guessed.
      else if (!samePrice(found, e)) return MISSING;
    }
    return found ?? MISSING;
  }

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
      if (providerId === undefined) return byModelOnly(model);
      result = calcPrice({ input_tokens: 0 }, model, { providerId });
    } catch {
      // Bad data in the table for one model must not stop pricing the others.
      return MISSING;
    }
    if (result === null) return MISSING;
    return entryFromModel(result.provider.id, result.model);
  }

  const fallbackByProvider = new Map<string, Price>();

  return {
    get fallback() {
      return globalFallback();
    },
    fallbackFor(provider) {
      if (configured !== undefined) return configured;
      let p = fallbackByProvider.get(provider);
      if (p === undefined) {
        const id =
          provider === 'unknown' || provider === '' ? '' : (TABLE_PROVIDER_IDS[provider] ?? provider);
        p = (id === '' ? undefined : highestOf(id)) ?? globalFallback();
        if (fallbackByProvider.size >= 256) fallbackByProvider.clear();
        fallbackByProvider.set(provider, p);
      }
      return p;
    },
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
