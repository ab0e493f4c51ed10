// Owns what one span means in money terms: whether it is a charged model call, and its provider,
// model, tokens and data classification, read from current and legacy attribute names (first
// present wins) and normalised so that input includes cache tokens and output includes reasoning
// tokens, as the current semantic conventions define them. Rules: pipeline/genai/README.md.

import type { AttrValue, AttributeSlots } from '../otlp/span-view.ts';
import {
  K_CLASSIFICATION,
  K_OPENAI_API_BASE,
  K_SERVER_ADDRESS,
  K_TELEMETRY_SDK_NAME,
  keyId,
} from './keys.ts';
import {
  isInferenceOperation,
  normalizeOperation,
  OPERATION_SOURCE_LLM_REQUEST_TYPE,
  OPERATION_SOURCE_OPENINFERENCE,
  OPERATION_SOURCE_SEMCONV,
} from './operation.ts';
import type { InstrumentationProfile, ProfileFields, ProfileRole } from './profiles.ts';
import {
  DEFAULT_FIELDS,
  DEFAULT_OPERATION_KEYS,
  INSTRUMENTATION_PROFILES,
  SEMCONV_OPERATION_ALIASES,
} from './profiles.ts';
import { normalizeProvider } from './provider.ts';

/** Provider or model when the span does not say. */
export const UNKNOWN = 'unknown';

/** Token counts above this are treated as this (keeps cost arithmetic exact and bounded). */
export const MAX_TOKENS_PER_SPAN = 1e12;
/** Longer model names are cut (bounded group keys); no real model name comes close. */
export const MAX_MODEL_LENGTH = 128;

/** Profile id of spans no profile claims (the semconv and legacy names alone). */
export const DEFAULT_PROFILE_ID = 'default';

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
  /** False when the span reports no token count of any kind (flagged, never silent). */
  hasUsage: boolean;
  /** Id of the instrumentation profile that read the span (profiles.ts), or "default". */
  instrumentation: string;
  /** The profile's role; "" for the default profile (no claim either way). */
  role: ProfileRole | '';
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
    hasUsage: false,
    instrumentation: DEFAULT_PROFILE_ID,
    role: '',
  };
}

export interface GenAiExtractor {
  /**
   * Fills `out` from the span's attributes; true when the span is a charged model call.
   * `resourceSdk` is the resource's telemetry.sdk.name and `scopeName` the span's
   * InstrumentationScope.name: they pick the instrumentation profile (profiles.ts).
   */
  read(attributes: AttributeSlots, out: GenAiCall, resourceSdk?: string, scopeName?: string): boolean;
}

export interface GenAiExtractorOptions {
  /** Provider behind an API host or base URL ("" when unknown); default: none resolved. */
  readonly hostProvider?: (hostOrUrl: string) => string;
  /** Default: INSTRUMENTATION_PROFILES. */
  readonly profiles?: readonly InstrumentationProfile[];
}

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

function firstCount(slots: AttributeSlots, keys: Int32Array): number {
  for (let i = 0; i < keys.length; i++) {
    const n = tokenCount(slots.get(keys[i]!));
    if (n >= 0) return n;
  }
  return -1;
}

function firstString(slots: AttributeSlots, keys: Int32Array): string {
  for (let i = 0; i < keys.length; i++) {
    const v = slots.get(keys[i]!);
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return '';
}

/** Operation attribute with its vocabulary: a profile's own map, or one of operation.ts's sources. */
interface CompiledOperation {
  readonly key: number;
  readonly values: Readonly<Record<string, string>> | undefined;
  readonly source: number;
  /** Normalised value per raw value; values repeat on every span. */
  readonly cache: Map<string, string>;
}

/** A profile with its attribute names turned into key ids, built once per extractor. */
interface CompiledProfile {
  readonly id: string;
  readonly role: ProfileRole | '';
  readonly operations: readonly CompiledOperation[];
  readonly provider: Int32Array;
  readonly model: Int32Array;
  readonly input: Int32Array;
  readonly uncachedInput: Int32Array;
  readonly output: Int32Array;
  readonly cacheRead: Int32Array;
  readonly cacheWrite: Int32Array;
  readonly reasoning: Int32Array;
  readonly excludesCacheAlways: boolean;
  readonly excludesCacheFor: ReadonlySet<string>;
  readonly defaultProvider: string;
  /** Raw provider value -> provider name ("" = none), cached. */
  readonly providerOf: (raw: string) => string;
}

const DEFAULT_OPERATION_SOURCES = [
  OPERATION_SOURCE_SEMCONV,
  OPERATION_SOURCE_LLM_REQUEST_TYPE,
  OPERATION_SOURCE_OPENINFERENCE,
];

function ids(profileNames: readonly string[] | undefined, defaults: readonly string[]): Int32Array {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const n of [...(profileNames ?? []), ...defaults]) {
    const id = keyId(n);
    if (id < 0) throw new Error(`instrumentation profile reads ${n}, which keys.ts does not materialise`);
    if (!seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  return Int32Array.from(out);
}

function providerNormalizer(p: InstrumentationProfile | undefined): (raw: string) => string {
  const aliases = p?.providerAliases ?? {};
  const dotted = p?.providerIsDotted === true;
  const cache = new Map<string, string>();
  const named = (v: string): string => {
    const alias = aliases[v];
    const out = normalizeProvider(alias ?? v);
    return out === UNKNOWN ? '' : out;
  };
  const compute = (raw: string): string => {
    const lower = raw.trim().toLowerCase();
    if (lower.length === 0) return '';
    if (aliases[lower] !== undefined || !dotted) return named(lower);
    // `<provider>.<api>`: the longest dotted prefix that is an alias, else the first segment.
    let cut = lower.lastIndexOf('.');
    while (cut > 0) {
      const prefix = lower.slice(0, cut);
      if (aliases[prefix] !== undefined) return named(prefix);
      cut = prefix.lastIndexOf('.');
    }
    const dot = lower.indexOf('.');
    return named(dot > 0 ? lower.slice(0, dot) : lower);
  };
  return (raw) => {
    let v = cache.get(raw);
    if (v === undefined) {
      v = compute(raw);
      if (cache.size >= 1024) cache.clear();
      cache.set(raw, v);
    }
    return v;
  };
}

function compile(p: InstrumentationProfile | undefined): CompiledProfile {
  const f: ProfileFields = p?.fields ?? {};
  const operations: CompiledOperation[] = [];
  for (const o of p?.operations ?? []) {
    operations.push({ key: ids([o.key], [])[0]!, values: o.values ?? {}, source: -1, cache: new Map() });
  }
  DEFAULT_OPERATION_KEYS.forEach((name, i) => {
    operations.push({
      key: ids([name], [])[0]!,
      values: undefined,
      source: DEFAULT_OPERATION_SOURCES[i]!,
      cache: new Map(),
    });
  });
  const excludes = p?.inputExcludesCache;
  return {
    id: p?.id ?? DEFAULT_PROFILE_ID,
    role: p?.role ?? '',
    operations,
    provider: ids(f.provider, DEFAULT_FIELDS.provider),
    model: ids(f.model, DEFAULT_FIELDS.model),
    input: ids(f.input, DEFAULT_FIELDS.input),
    uncachedInput: ids(f.uncachedInput, DEFAULT_FIELDS.uncachedInput),
    output: ids(f.output, DEFAULT_FIELDS.output),
    cacheRead: ids(f.cacheRead, DEFAULT_FIELDS.cacheRead),
    cacheWrite: ids(f.cacheWrite, DEFAULT_FIELDS.cacheWrite),
    reasoning: ids(f.reasoning, DEFAULT_FIELDS.reasoning),
    excludesCacheAlways: excludes === true,
    excludesCacheFor: new Set(Array.isArray(excludes) ? excludes : []),
    defaultProvider: p?.defaultProvider ?? '',
    providerOf: providerNormalizer(p),
  };
}

function operationValue(op: CompiledOperation, raw: string): string {
  let v = op.cache.get(raw);
  if (v === undefined) {
    if (op.values !== undefined) {
      const value = raw.trim();
      v = op.values[value] ?? value.toLowerCase();
    } else {
      v = normalizeOperation(raw, op.source);
      if (op.source === OPERATION_SOURCE_SEMCONV) v = SEMCONV_OPERATION_ALIASES[v] ?? v;
    }
    if (op.cache.size >= 256) op.cache.clear();
    op.cache.set(raw, v);
  }
  return v;
}

/** Providers whose spans may really be another provider's OpenAI-compatible endpoint. */
function mayBeCompatibleEndpoint(provider: string): boolean {
  return provider === '' || provider === 'openai';
}

export function createGenAiExtractor(options: GenAiExtractorOptions = {}): GenAiExtractor {
  const hostProvider = options.hostProvider;
  const profiles = options.profiles ?? INSTRUMENTATION_PROFILES;
  const fallback = compile(undefined);
  const byScope = new Map<string, CompiledProfile>();
  const scopePrefixes: { prefix: string; profile: CompiledProfile }[] = [];
  const bySdk = new Map<string, CompiledProfile>();
  const byNamespace: { key: number; profile: CompiledProfile }[] = [];
  for (const p of profiles) {
    const c = compile(p);
    for (const s of p.scopes ?? []) if (!byScope.has(s)) byScope.set(s, c);
    for (const prefix of p.scopePrefixes ?? []) scopePrefixes.push({ prefix, profile: c });
    for (const s of p.sdkNames ?? []) if (!bySdk.has(s)) bySdk.set(s, c);
    if (p.namespaceKey !== undefined) byNamespace.push({ key: keyId(p.namespaceKey), profile: c });
  }
  // Resolution per (scope, resource SDK), remembered: the decoders intern both strings and they
  // change once per ScopeSpans, so the common case is one identity comparison per span.
  const resolved = new Map<string, Map<string, CompiledProfile>>();
  let lastScope: string | undefined;
  let lastSdk: string | undefined;
  let lastProfile = fallback;
  const classificationCache = new Map<string, string>();

  function sdkProfile(sdk: string): CompiledProfile | undefined {
    if (sdk.length === 0) return undefined;
    return bySdk.get(sdk) ?? bySdk.get(sdk.trim().toLowerCase());
  }

  function resolve(scope: string, sdk: string): CompiledProfile {
    let bySdkName = resolved.get(scope);
    let p = bySdkName?.get(sdk);
    if (p !== undefined) return p;
    p = byScope.get(scope);
    if (p === undefined && scope.length > 0) {
      for (const e of scopePrefixes) {
        if (scope.startsWith(e.prefix)) {
          p = e.profile;
          break;
        }
      }
    }
    p ??= sdkProfile(sdk) ?? fallback;
    if (resolved.size >= 256) resolved.clear();
    if (bySdkName === undefined) {
      bySdkName = new Map();
      resolved.set(scope, bySdkName);
    }
    if (bySdkName.size >= 64) bySdkName.clear();
    bySdkName.set(sdk, p);
    return p;
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
    read(slots, out, resourceSdk = '', scopeName = '') {
      let profile: CompiledProfile;
      if (scopeName === lastScope && resourceSdk === lastSdk) profile = lastProfile;
      else {
        profile = resolve(scopeName, resourceSdk);
        lastScope = scopeName;
        lastSdk = resourceSdk;
        lastProfile = profile;
      }
      // OpenLIT also names itself on every span; a span-level SDK name wins over scope and resource.
      const spanSdk = slots.get(K_TELEMETRY_SDK_NAME);
      if (typeof spanSdk === 'string') profile = sdkProfile(spanSdk) ?? profile;
      if (profile === fallback) {
        for (let i = 0; i < byNamespace.length; i++) {
          if (slots.get(byNamespace[i]!.key) !== undefined) {
            profile = byNamespace[i]!.profile;
            break;
          }
        }
      }

      let operation = '';
      const ops = profile.operations;
      for (let i = 0; i < ops.length; i++) {
        const v = slots.get(ops[i]!.key);
        if (typeof v !== 'string') continue;
        operation = operationValue(ops[i]!, v);
        if (operation !== '') break;
      }
      let providerName = '';
      for (let i = 0; i < profile.provider.length; i++) {
        const v = slots.get(profile.provider[i]!);
        if (typeof v !== 'string') continue;
        providerName = profile.providerOf(v);
        if (providerName !== '') break;
      }
      if (providerName === '') providerName = profile.defaultProvider;
      if (hostProvider !== undefined && mayBeCompatibleEndpoint(providerName)) {
        const host = slots.get(K_SERVER_ADDRESS) ?? slots.get(K_OPENAI_API_BASE);
        if (typeof host === 'string' && host.length > 0) {
          const real = hostProvider(host);
          if (real !== '') providerName = real;
        }
      }
      let model = firstString(slots, profile.model);
      if (model.length > MAX_MODEL_LENGTH) model = model.slice(0, MAX_MODEL_LENGTH);
      let input = firstCount(slots, profile.input);
      let output = firstCount(slots, profile.output);
      const uncached = firstCount(slots, profile.uncachedInput);
      const cacheRead = firstCount(slots, profile.cacheRead);
      const cacheWrite = firstCount(slots, profile.cacheWrite);
      const reasoning = firstCount(slots, profile.reasoning);
      const hasUsage =
        input >= 0 || output >= 0 || uncached >= 0 || cacheRead >= 0 || cacheWrite >= 0 || reasoning >= 0;
      const identified = providerName !== '' || model !== '';
      let charged: boolean;
      if (operation !== '') charged = identified && isInferenceOperation(operation);
      // No operation attribute (semconv before 1.27, early instrumentations): a span naming a
      // provider or model and reporting usage is a model call.
      else charged = identified && hasUsage;

      const cr = cacheRead > 0 ? cacheRead : 0;
      const cw = cacheWrite > 0 ? cacheWrite : 0;
      const rs = reasoning > 0 ? reasoning : 0;
      if (input < 0) input = 0;
      if (output < 0) output = 0;
      if (uncached >= 0) {
        // The emitter says what was not cached: the input is exactly that plus the cache tokens.
        input = Math.min(MAX_TOKENS_PER_SPAN, uncached + cr + cw);
      } else if (
        // Input includes cache reads and writes (semconv). Emitters that pass a provider's raw
        // uncached figure say so in their profile; any other emitter whose cache tokens exceed
        // its input cannot have included them.
        cr + cw > input ||
        (cr + cw > 0 && (profile.excludesCacheAlways || profile.excludesCacheFor.has(providerName)))
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
      out.hasUsage = hasUsage;
      out.instrumentation = profile.id;
      out.role = profile.role;
      return charged;
    },
  };
}

/** Classification levels are compared lower-cased and trimmed; absurd values count as none. */
export function normalizeClassification(raw: string): string {
  const c = raw.trim().toLowerCase();
  return c.length > 64 ? '' : c;
}
