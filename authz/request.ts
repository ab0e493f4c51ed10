// Owns what a check learns about the LLM call itself: provider, model, the output tokens it may use
// (max_tokens) and its data classification, from headers the gateway sets, the request path and host
// (the shapes of the providers' own APIs), and the JSON body when the gateway forwards it.
//
// Order, first found wins: headers (X-Genops-Provider, X-Genops-Model, X-Genops-Max-Tokens,
// X-Genops-Data-Classification) -> path and host -> body. A body is read only up to MAX_BODY_BYTES
// and only as JSON; a body that is not JSON leaves the fields unknown (the check still runs).

import { normaliseProvider } from '../webhook/policy/models.ts';

export interface CallFacts {
  /** Normalised provider (gen_ai.provider.name values); undefined when nothing says. */
  readonly provider: string | undefined;
  readonly model: string | undefined;
  /** The most output tokens the call may produce, when the request states it. */
  readonly maxTokens: number | undefined;
  readonly classification: string | undefined;
}

export const MAX_BODY_BYTES = 256 * 1024;

/** Known hosts of the providers' APIs. */
const HOSTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(^|\.)openai\.azure\.com$/, 'azure.ai.openai'],
  [/(^|\.)api\.openai\.com$/, 'openai'],
  [/(^|\.)api\.anthropic\.com$/, 'anthropic'],
  [/(^|\.)generativelanguage\.googleapis\.com$/, 'gcp.gemini'],
  [/(^|\.)aiplatform\.googleapis\.com$/, 'gcp.vertex_ai'],
  [/^bedrock-runtime\..*\.amazonaws\.com$/, 'aws.bedrock'],
  [/(^|\.)api\.mistral\.ai$/, 'mistral_ai'],
  [/(^|\.)api\.cohere\.(ai|com)$/, 'cohere'],
  [/(^|\.)api\.groq\.com$/, 'groq'],
  [/(^|\.)api\.deepseek\.com$/, 'deepseek'],
  [/(^|\.)api\.x\.ai$/, 'x_ai'],
];

/** A first path segment naming a provider, as gateways route them: /openai/v1/..., /anthropic/v1/... */
const PREFIXES = new Set([
  'openai',
  'anthropic',
  'azure',
  'azure-openai',
  'gemini',
  'google',
  'vertex',
  'vertex_ai',
  'bedrock',
  'mistral',
  'cohere',
  'groq',
  'deepseek',
  'xai',
  'x_ai',
]);

interface PathFacts {
  provider?: string;
  model?: string;
}

/** Provider and model from a request path (query removed). */
export function factsFromPath(path: string): PathFacts {
  const clean = path.split('?')[0] ?? '';
  const segments = clean.split('/').filter((s) => s !== '');
  const out: PathFacts = {};
  let rest = segments;
  if (segments[0] !== undefined && PREFIXES.has(segments[0].toLowerCase())) {
    out.provider = normaliseProvider(segments[0]);
    rest = segments.slice(1);
  }
  const joined = `/${rest.join('/')}`;
  // Azure OpenAI: /openai/deployments/{deployment}/chat/completions (the deployment stands for the model).
  let m = /^\/(?:openai\/)?deployments\/([^/]+)\//.exec(joined);
  if (m && (out.provider === undefined || out.provider === 'azure.ai.openai' || out.provider === 'openai')) {
    out.provider = 'azure.ai.openai';
    out.model = decodeSegment(m[1]!);
    return out;
  }
  // Gemini / Vertex: .../models/{model}:generateContent (also streamGenerateContent, countTokens...).
  m = /\/models\/([^/:]+):[A-Za-z]+$/.exec(joined);
  if (m) {
    out.provider ??= joined.includes('/publishers/') ? 'gcp.vertex_ai' : 'gcp.gemini';
    out.model = decodeSegment(m[1]!);
    return out;
  }
  // Bedrock runtime: /model/{modelId}/invoke, /converse, /invoke-with-response-stream, /converse-stream.
  m = /^\/model\/([^/]+)\/(invoke|converse|invoke-with-response-stream|converse-stream)$/.exec(joined);
  if (m) {
    out.provider ??= 'aws.bedrock';
    out.model = decodeSegment(m[1]!);
    return out;
  }
  if (out.provider === undefined) {
    if (/^\/v1\/messages(\/|$)/.test(joined)) out.provider = 'anthropic';
    else if (/^\/v1\/(chat\/completions|completions|embeddings|responses)$/.test(joined))
      out.provider = 'openai';
  }
  return out;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function providerFromHost(host: string): string | undefined {
  const h = host.toLowerCase().replace(/:\d+$/, '');
  for (const [re, provider] of HOSTS) if (re.test(h)) return provider;
  return undefined;
}

interface BodyFacts {
  model?: string;
  maxTokens?: number;
}

const tokens = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 100_000_000 ? v : undefined;

export function factsFromBody(body: string | undefined): BodyFacts {
  if (body === undefined || body.length === 0 || body.length > MAX_BODY_BYTES) return {};
  const first = body.trimStart()[0];
  if (first !== '{') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  const o = parsed as Record<string, unknown>;
  const out: BodyFacts = {};
  if (typeof o['model'] === 'string' && o['model'].length > 0 && o['model'].length <= 253)
    out.model = o['model'];
  const gen = o['generationConfig'];
  const max =
    tokens(o['max_tokens']) ??
    tokens(o['max_completion_tokens']) ??
    tokens(o['max_output_tokens']) ??
    (typeof gen === 'object' && gen !== null
      ? tokens((gen as Record<string, unknown>)['maxOutputTokens'])
      : undefined);
  if (max !== undefined) out.maxTokens = max;
  return out;
}

export interface CallSource {
  readonly path: string;
  readonly host: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string | undefined;
}

// Gateways send the same few paths and hosts over and over: remember their facts (bounded).
const CACHE_SIZE = 1024;
const pathCache = new Map<string, PathFacts>();
const hostCache = new Map<string, string | undefined>();
function cached<T>(cache: Map<string, T>, key: string, compute: (k: string) => T): T {
  const hit = cache.get(key);
  if (hit !== undefined || cache.has(key)) return hit as T;
  const value = compute(key);
  if (cache.size >= CACHE_SIZE) cache.clear();
  cache.set(key, value);
  return value;
}

export function callFacts(source: CallSource): CallFacts {
  const h = source.headers;
  const path = cached(pathCache, source.path, factsFromPath);
  const body = factsFromBody(source.body);
  const headerProvider = nonEmpty(h['x-genops-provider']);
  const headerMax = h['x-genops-max-tokens'];
  const parsedMax = headerMax === undefined ? undefined : tokens(Number(headerMax.trim()));
  return {
    provider:
      headerProvider !== undefined
        ? normaliseProvider(headerProvider)
        : (path.provider ?? cached(hostCache, source.host, providerFromHost)),
    model: nonEmpty(h['x-genops-model']) ?? path.model ?? body.model,
    maxTokens: parsedMax ?? body.maxTokens,
    classification: nonEmpty(h['x-genops-data-classification'])?.toLowerCase(),
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t === undefined || t === '' ? undefined : t;
}
