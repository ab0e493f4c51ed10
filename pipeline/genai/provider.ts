// Owns provider naming: every alias an instrumentation may send (older semconv values, OpenLLMetry's
// capitalised names, OpenInference's llm.provider/llm.system values) maps to the current
// gen_ai.provider.name value, so policies and prices see one name per provider.

/** Current semconv provider names (gen_ai.provider.name well-known values). */
export const KNOWN_PROVIDERS = [
  'openai',
  'anthropic',
  'aws.bedrock',
  'azure.ai.openai',
  'azure.ai.inference',
  'gcp.vertex_ai',
  'gcp.gemini',
  'gcp.gen_ai',
  'cohere',
  'ibm.watsonx.ai',
  'perplexity',
  'x_ai',
  'deepseek',
  'groq',
  'mistral_ai',
] as const;

/** Lower-cased alias -> current name. Names already current are not listed. */
const ALIASES: Readonly<Record<string, string>> = {
  // Azure
  'az.ai.openai': 'azure.ai.openai',
  'az.ai.inference': 'azure.ai.inference',
  azure: 'azure.ai.openai',
  azure_openai: 'azure.ai.openai',
  'azure-openai': 'azure.ai.openai',
  azureopenai: 'azure.ai.openai',
  'azure openai': 'azure.ai.openai',
  azure_ai_inference: 'azure.ai.inference',
  // Google
  vertex_ai: 'gcp.vertex_ai',
  vertexai: 'gcp.vertex_ai',
  'vertex-ai': 'gcp.vertex_ai',
  vertex: 'gcp.vertex_ai',
  'google vertex ai': 'gcp.vertex_ai',
  gemini: 'gcp.gemini',
  google_genai: 'gcp.gen_ai',
  'google.genai': 'gcp.gen_ai',
  'google-genai': 'gcp.gen_ai',
  google: 'gcp.gen_ai',
  // xAI
  xai: 'x_ai',
  'x.ai': 'x_ai',
  'x-ai': 'x_ai',
  grok: 'x_ai',
  // AWS
  aws: 'aws.bedrock',
  bedrock: 'aws.bedrock',
  aws_bedrock: 'aws.bedrock',
  'aws-bedrock': 'aws.bedrock',
  'amazon bedrock': 'aws.bedrock',
  amazon_bedrock: 'aws.bedrock',
  // Mistral
  mistral: 'mistral_ai',
  mistralai: 'mistral_ai',
  'mistral-ai': 'mistral_ai',
  // IBM
  watsonx: 'ibm.watsonx.ai',
  'watsonx.ai': 'ibm.watsonx.ai',
  ibm_watsonx: 'ibm.watsonx.ai',
  ibm: 'ibm.watsonx.ai',
  // Others
  'cohere.ai': 'cohere',
  'deepseek.ai': 'deepseek',
  'groq.com': 'groq',
};

/** Longest provider value kept; longer values are not a provider name (bounded group keys). */
const MAX_PROVIDER_LENGTH = 64;

/** Current provider name for any sent value; "" when the value is empty or absurd. */
export function normalizeProvider(raw: string): string {
  const lower = raw.trim().toLowerCase();
  if (lower.length === 0 || lower.length > MAX_PROVIDER_LENGTH) return '';
  return ALIASES[lower] ?? lower;
}

/**
 * normalizeProvider with a cache of recent results; provider strings repeat on every span and the
 * decoders intern them, so the cache is hit almost always.
 */
export function createProviderNormalizer(maxEntries = 1024): (raw: string) => string {
  const cache = new Map<string, string>();
  return (raw) => {
    let v = cache.get(raw);
    if (v === undefined) {
      v = normalizeProvider(raw);
      if (cache.size >= maxEntries) cache.clear();
      cache.set(raw, v);
    }
    return v;
  };
}
