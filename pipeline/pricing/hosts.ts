// Owns which provider an API host belongs to: OpenAI-compatible endpoints (OpenRouter, Azure OpenAI,
// Groq, Together, DeepSeek, Mistral, Fireworks, ...) are called with an OpenAI SDK, so the spans say
// provider `openai`; the host the call went to (server.address) says who bills it. Hosts are matched
// against the price table's own API URL patterns (@pydantic/genai-prices), so every host the table
// knows resolves, and a host it does not know (loopback, a self-hosted gateway) resolves to nothing.

import { findProvider } from '@pydantic/genai-prices';

/** genai-prices provider id -> semconv provider name (ids not listed are used as they are). */
const SEMCONV_NAMES: Readonly<Record<string, string>> = {
  aws: 'aws.bedrock',
  azure: 'azure.ai.openai',
  google: 'gcp.gen_ai',
  'x-ai': 'x_ai',
  mistral: 'mistral_ai',
};

/** Semconv provider name of a genai-prices provider id (the inverse of TABLE_PROVIDER_IDS). */
export function semconvProviderName(tableId: string): string {
  return SEMCONV_NAMES[tableId] ?? tableId;
}

/** Longest host (or URL) looked up; longer values are not an API host. */
const MAX_HOST_LENGTH = 256;

/** The host of `server.address` or of a base URL ("https://openrouter.ai/api/v1" -> "openrouter.ai"). */
export function hostOf(value: string): string {
  let v = value.trim().toLowerCase();
  const scheme = v.indexOf('://');
  if (scheme >= 0) v = v.slice(scheme + 3);
  const slash = v.indexOf('/');
  if (slash >= 0) v = v.slice(0, slash);
  const at = v.lastIndexOf('@');
  if (at >= 0) v = v.slice(at + 1);
  if (v.startsWith('[')) {
    // IPv6 literal (never a provider host): without its port.
    const close = v.indexOf(']');
    return close >= 0 ? v.slice(0, close + 1) : v;
  }
  const colon = v.indexOf(':');
  if (colon >= 0) v = v.slice(0, colon);
  return v;
}

/** Semconv provider name of the API at `value` (host or URL); "" when the table does not know it. */
export function providerForHost(value: string): string {
  if (value.length === 0 || value.length > MAX_HOST_LENGTH) return '';
  const host = hostOf(value);
  if (host.length === 0) return '';
  const url = `https://${host}`;
  let found: ReturnType<typeof findProvider>;
  try {
    found = findProvider({ providerApiUrl: url });
    // The table's patterns are anchored at the start only: "openrouter.ai.evil.example" must not
    // pass for openrouter.ai, so the match has to end where the host ends.
    if (found !== undefined && !new RegExp(`^(?:${found.api_pattern})(?:[/:?#]|$)`).test(url)) return '';
  } catch {
    return '';
  }
  if (found === undefined) return '';
  return semconvProviderName(found.id);
}

/** providerForHost with a bounded cache: the same few hosts repeat on every span. */
export function createHostResolver(maxEntries = 256): (value: string) => string {
  const cache = new Map<string, string>();
  return (value) => {
    let v = cache.get(value);
    if (v === undefined) {
      v = providerForHost(value);
      if (cache.size >= maxEntries) cache.clear();
      cache.set(value, v);
    }
    return v;
  };
}
