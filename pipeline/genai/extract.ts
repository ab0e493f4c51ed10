// Owns what one span means in money terms: whether it is a charged model call, and its provider,
// model, tokens and data classification, read from current and legacy attribute names (first
// present wins) and normalised so that input includes cache tokens and output includes reasoning
// tokens, as the current semantic conventions define them. Rules: pipeline/genai/README.md.

import type { AttrValue, AttributeSlots } from '../otlp/span-view.ts';
import {
  CACHE_READ_TOKEN_KEYS,
  CACHE_WRITE_TOKEN_KEYS,
  INPUT_TOKEN_KEYS,
  K_CLASSIFICATION,
  K_TELEMETRY_SDK_NAME,
  MODEL_KEYS,
  OPERATION_KEYS,
  OUTPUT_TOKEN_KEYS,
  PROVIDER_KEYS,
  REASONING_TOKEN_KEYS,
} from './keys.ts';
import { isInferenceOperation, normalizeOperation } from './operation.ts';
import { createProviderNormalizer } from './provider.ts';

/** Provider or model when the span does not say. */
export const UNKNOWN = 'unknown';

/** Token counts above this are treated as this (keeps cost arithmetic exact and bounded). */
export const MAX_TOKENS_PER_SPAN = 1e12;
/** Longer model names are cut (bounded group keys); no real model name comes close. */
export const MAX_MODEL_LENGTH = 128;

/** One model call, normalised. Reused between spans: copy what must outlive the call. */
export interface GenAiCall {
  /** gen_ai.operation.name vocabulary; "" when no operation attribute was sent. */
  operation: string;
  /** Current semconv provider name, or "unknown". */
  provider: string;
  /** Response model, else request model, else "unknown". */
  model: string;
  /** genops.data.classification on the span, lower-cased; "" when absent. */
  classification: string;
  /** Includes cache reads and writes. */
  inputTokens: number;
  /** Includes reasoning tokens. */
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

export function emptyGenAiCall(): GenAiCall {
  return {
    operation: '',
    provider: UNKNOWN,
    model: UNKNOWN,
    classification: '',
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
  };
}

export interface GenAiExtractor {
  /**
   * Fills `out` from the span's attributes; true when the span is a charged model call.
   * `resourceSdk` is the resource's telemetry.sdk.name (some emitters need their own token rules).
   */
  read(attributes: AttributeSlots, out: GenAiCall, resourceSdk?: string): boolean;
}

/**
 * Emitters known to report Anthropic's raw input_tokens (cache reads and writes excluded) under
 * the semconv name, whatever the figures: OpenLIT does so deliberately (its anthropic utils), as
 * the compatibility runs against openlit 1.45 show (docs/compatibility.md).
 */
const RAW_ANTHROPIC_INPUT_SDKS: ReadonlySet<string> = new Set(['openlit']);

const DECIMAL = /^\s*\d+(?:\.\d*)?\s*$/;

/** A token count from an attribute value; -1 when absent or not a count. */
export function tokenCount(v: AttrValue | undefined): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && DECIMAL.test(v)) n = Number(v);
  else return -1;
  if (!(n >= 0)) return n < 0 ? 0 : -1; // negative: clamp; NaN: not a count
  if (n > MAX_TOKENS_PER_SPAN) return MAX_TOKENS_PER_SPAN;
  return Math.trunc(n);
}

function firstCount(slots: AttributeSlots, keys: readonly number[]): number {
  for (let i = 0; i < keys.length; i++) {
    const n = tokenCount(slots.get(keys[i]!));
    if (n >= 0) return n;
  }
  return -1;
}

function firstString(slots: AttributeSlots, keys: readonly number[]): string {
  for (let i = 0; i < keys.length; i++) {
    const v = slots.get(keys[i]!);
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return '';
}

export function createGenAiExtractor(): GenAiExtractor {
  const provider = createProviderNormalizer();
  // Normalised operation per (source, raw value); values repeat on every span.
  const operationCache = [new Map<string, string>(), new Map<string, string>(), new Map<string, string>()];
  const classificationCache = new Map<string, string>();

  function operationOf(slots: AttributeSlots): string {
    for (let source = 0; source < OPERATION_KEYS.length; source++) {
      const v = slots.get(OPERATION_KEYS[source]!);
      if (typeof v !== 'string') continue;
      const cache = operationCache[source]!;
      let op = cache.get(v);
      if (op === undefined) {
        op = normalizeOperation(v, source);
        if (cache.size >= 256) cache.clear();
        cache.set(v, op);
      }
      if (op !== '') return op;
    }
    return '';
  }

  function providerOf(slots: AttributeSlots): string {
    for (let i = 0; i < PROVIDER_KEYS.length; i++) {
      const v = slots.get(PROVIDER_KEYS[i]!);
      if (typeof v !== 'string') continue;
      const p = provider(v);
      if (p !== '') return p;
    }
    return '';
  }

  function classificationOf(slots: AttributeSlots): string {
    const v = slots.get(K_CLASSIFICATION);
    if (typeof v !== 'string') return '';
    let c = classificationCache.get(v);
    if (c === undefined) {
      c = normalizeClassification(v);
      if (classificationCache.size >= 256) classificationCache.clear();
      classificationCache.set(v, c);
    }
    return c;
  }

  return {
    read(slots, out, resourceSdk = '') {
      const operation = operationOf(slots);
      const providerName = providerOf(slots);
      let model = firstString(slots, MODEL_KEYS);
      if (model.length > MAX_MODEL_LENGTH) model = model.slice(0, MAX_MODEL_LENGTH);
      let input = firstCount(slots, INPUT_TOKEN_KEYS);
      let output = firstCount(slots, OUTPUT_TOKEN_KEYS);
      const cacheRead = firstCount(slots, CACHE_READ_TOKEN_KEYS);
      const cacheWrite = firstCount(slots, CACHE_WRITE_TOKEN_KEYS);
      const reasoning = firstCount(slots, REASONING_TOKEN_KEYS);
      const identified = providerName !== '' || model !== '';
      let charged: boolean;
      if (operation !== '') charged = identified && isInferenceOperation(operation);
      // No operation attribute (semconv before 1.27, early instrumentations): a span naming a
      // provider or model and reporting usage is a model call.
      else charged = identified && (input >= 0 || output >= 0);

      const cr = cacheRead > 0 ? cacheRead : 0;
      const cw = cacheWrite > 0 ? cacheWrite : 0;
      const rs = reasoning > 0 ? reasoning : 0;
      if (input < 0) input = 0;
      if (output < 0) output = 0;
      // Input includes cache reads and writes (semconv). Emitters that pass a provider's raw
      // uncached figure (Anthropic's input_tokens) give cache > input; only then add them back,
      // except for emitters known to always send the raw figure.
      if (
        cr + cw > input ||
        (providerName === 'anthropic' && cr + cw > 0 && rawAnthropicInput(slots, resourceSdk))
      ) {
        input = Math.min(MAX_TOKENS_PER_SPAN, input + cr + cw);
      }
      // Output includes reasoning; same rule for emitters that report them apart (Gemini thoughts).
      if (rs > output) output = Math.min(MAX_TOKENS_PER_SPAN, output + rs);

      out.operation = operation;
      out.provider = providerName === '' ? UNKNOWN : providerName;
      out.model = model === '' ? UNKNOWN : model;
      out.classification = classificationOf(slots);
      out.inputTokens = input;
      out.outputTokens = output;
      out.cacheReadTokens = cr;
      out.cacheWriteTokens = cw;
      out.reasoningTokens = rs;
      return charged;
    },
  };
}

function rawAnthropicInput(slots: AttributeSlots, resourceSdk: string): boolean {
  const onSpan = slots.get(K_TELEMETRY_SDK_NAME);
  const sdk = typeof onSpan === 'string' ? onSpan : resourceSdk;
  return RAW_ANTHROPIC_INPUT_SDKS.has(sdk.trim().toLowerCase());
}

/** Classification levels are compared lower-cased and trimmed; absurd values count as none. */
export function normalizeClassification(raw: string): string {
  const c = raw.trim().toLowerCase();
  return c.length > 64 ? '' : c;
}
