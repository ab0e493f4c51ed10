// Owns the operator-level price table file: per provider/model glob prices in USD per 1M tokens,
// layered before the maintained table, and the fallback price for unknown models. Parsing is pure
// (YAML, so JSON too); the result is plain data that crosses to the workers as piscina workerData.
//
//   models:
//     - provider: openai          # optional glob on the semconv provider name (openai, aws.bedrock, ...)
//       model: "gpt-4o*"          # glob on the model name, case-insensitive; * and ? only
//       usdPerMillionTokens: { input: 2.5, output: 10, cacheRead: 1.25 }
//   fallback:                     # for models no table knows; default 0 (spans still flagged unpriced)
//     usdPerMillionTokens: { input: 1, output: 4 }

import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { GenOpsError } from '../../kernel/errors.ts';
import type { Glob } from '../../kernel/glob.ts';
import { compileGlob } from '../../kernel/glob.ts';
import type { UsdPerMillionTokens } from './price.ts';
import { ratesFromUsdPerMillion } from './price.ts';

export interface PriceOverride {
  /** Glob on the provider name; absent matches any provider. */
  readonly provider?: string;
  /** Glob on the model name. */
  readonly model: string;
  readonly usdPerMillionTokens: UsdPerMillionTokens;
}

/** Plain data: safe to structured-clone into workers. */
export interface PriceTableConfig {
  readonly overrides: readonly PriceOverride[];
  readonly fallback?: UsdPerMillionTokens;
}

export const EMPTY_PRICE_TABLE_CONFIG: PriceTableConfig = { overrides: [] };

function invalid(source: string, message: string): never {
  throw new GenOpsError('invalid', 'price-table-invalid', `price table ${source}: ${message}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const PRICE_FIELDS = ['input', 'output', 'cacheRead', 'cacheWrite', 'reasoning'] as const;

function usdRates(v: unknown, source: string, where: string): UsdPerMillionTokens {
  if (!isRecord(v)) invalid(source, `${where}.usdPerMillionTokens must be a map`);
  for (const k of Object.keys(v)) {
    if (!(PRICE_FIELDS as readonly string[]).includes(k))
      invalid(source, `${where}.usdPerMillionTokens.${k} is not a price field`);
  }
  const out: Record<string, number> = {};
  for (const k of PRICE_FIELDS) {
    const p = v[k];
    if (p === undefined) {
      if (k === 'input' || k === 'output') invalid(source, `${where}.usdPerMillionTokens.${k} is required`);
      continue;
    }
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) {
      invalid(source, `${where}.usdPerMillionTokens.${k} must be a non-negative number`);
    }
    out[k] = p;
  }
  const rates = out as unknown as UsdPerMillionTokens;
  try {
    ratesFromUsdPerMillion(rates);
  } catch (err) {
    invalid(source, `${where}: ${(err as Error).message}`);
  }
  return rates;
}

/** Parses and validates the price table file content; throws GenOpsError('invalid'). */
export function parsePriceTableConfig(text: string, source = 'file'): PriceTableConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    invalid(source, (err as Error).message);
  }
  if (doc === null || doc === undefined) return EMPTY_PRICE_TABLE_CONFIG;
  if (!isRecord(doc)) invalid(source, 'top level must be a map with models and/or fallback');
  for (const k of Object.keys(doc)) {
    if (k !== 'models' && k !== 'fallback') invalid(source, `unknown key ${k}`);
  }
  const overrides: PriceOverride[] = [];
  const models = doc['models'] ?? [];
  if (!Array.isArray(models)) invalid(source, 'models must be a list');
  models.forEach((entry: unknown, i) => {
    const where = `models[${i}]`;
    if (!isRecord(entry)) invalid(source, `${where} must be a map`);
    const model = entry['model'];
    const provider = entry['provider'];
    if (typeof model !== 'string' || model.trim() === '')
      invalid(source, `${where}.model must be a non-empty string`);
    if (provider !== undefined && (typeof provider !== 'string' || provider.trim() === '')) {
      invalid(source, `${where}.provider must be a non-empty string`);
    }
    const usd = usdRates(entry['usdPerMillionTokens'], source, where);
    overrides.push(
      provider === undefined
        ? { model, usdPerMillionTokens: usd }
        : { provider, model, usdPerMillionTokens: usd },
    );
  });
  const fallbackDoc = doc['fallback'];
  if (fallbackDoc === undefined || fallbackDoc === null) return { overrides };
  if (!isRecord(fallbackDoc)) invalid(source, 'fallback must be a map');
  return { overrides, fallback: usdRates(fallbackDoc['usdPerMillionTokens'], source, 'fallback') };
}

/** Reads and parses the operator's price table file. */
export async function loadPriceTableConfig(path: string): Promise<PriceTableConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GenOpsError(
      'invalid',
      'price-table-unreadable',
      `price table ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return parsePriceTableConfig(text, path);
}

/**
 * Case-insensitive anchored glob with * and ?; everything else literal. Linear-time matcher shared
 * with AIPolicy globs (kernel/glob.ts): a price file glob is matched against sender-chosen names.
 */
export function compilePriceGlob(glob: string): Glob {
  return compileGlob(glob.trim());
}

/** What a span of a model no table knows costs (`--unknown-model-price`). */
export type UnknownModelPrice = 'highest' | UsdPerMillionTokens;

/**
 * Parses `--unknown-model-price`: `highest` (the default: the highest price of the span's provider
 * in the table, else of the first-party providers), `0` (free: only when the operator says so), or
 * `<input>,<output>` USD per 1M tokens. Throws RangeError with a message for the flag parser.
 */
export function parseUnknownModelPrice(text: string): UnknownModelPrice {
  const v = text.trim().toLowerCase();
  if (v === 'highest') return 'highest';
  if (v === '0') return { input: 0, output: 0 };
  const parts = v.split(',').map((p) => p.trim());
  const nums = parts.map(Number);
  if (parts.length !== 2 || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n) || n < 0)) {
    throw new RangeError('expected highest, 0, or <input>,<output> USD per 1M tokens (e.g. 15,75)');
  }
  const rates = { input: nums[0]!, output: nums[1]! };
  ratesFromUsdPerMillion(rates);
  return rates;
}

/** The config with the flag's choice applied: it wins over the price file's `fallback`. */
export function withUnknownModelPrice(
  config: PriceTableConfig | undefined,
  choice: UnknownModelPrice | undefined,
): PriceTableConfig | undefined {
  if (choice === undefined) return config;
  const overrides = config?.overrides ?? [];
  return choice === 'highest' ? { overrides } : { overrides, fallback: choice };
}
