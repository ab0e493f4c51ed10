// Owns how a workload declares the AI providers and models it uses, and glob matching against allowlists.
//
// Declarations (documented in webhook/README.md):
// - annotation `genops.ai/models` on the workload or its pod template: entries separated by commas or
//   whitespace, each `provider/model` (split at the first "/"), `provider/*` (a provider, any model) or
//   `model` (provider unknown), e.g. "openai/gpt-4o, anthropic/claude-3-haiku";
// - literal container env values: <PROVIDER>_MODEL (OPENAI_MODEL, ANTHROPIC_MODEL, GEMINI_MODEL, ...) name a model
//   of that provider; MODEL_NAME, LLM_MODEL, GENAI_MODEL and AI_MODEL hold an entry in the annotation's format.

import { compiledGlob } from '../../decision/glob.ts';
import type { Container } from '../admission/types.ts';

export const MODELS_ANNOTATION = 'genops.ai/models';

export interface ModelDeclaration {
  /** Normalised provider name (gen_ai.provider.name values), undefined when not declared. */
  readonly provider: string | undefined;
  /** Model name, undefined when only the provider is declared. */
  readonly model: string | undefined;
  /** Where it was declared, for messages: "annotation genops.ai/models" or "env OPENAI_MODEL of container app". */
  readonly source: string;
}

const PROVIDER_ENV: Readonly<Record<string, string>> = {
  OPENAI_MODEL: 'openai',
  AZURE_OPENAI_MODEL: 'azure.ai.openai',
  ANTHROPIC_MODEL: 'anthropic',
  GEMINI_MODEL: 'gcp.gemini',
  GOOGLE_MODEL: 'gcp.gemini',
  VERTEX_MODEL: 'gcp.vertex_ai',
  BEDROCK_MODEL: 'aws.bedrock',
  MISTRAL_MODEL: 'mistral_ai',
  COHERE_MODEL: 'cohere',
  GROQ_MODEL: 'groq',
  DEEPSEEK_MODEL: 'deepseek',
  XAI_MODEL: 'x_ai',
  PERPLEXITY_MODEL: 'perplexity',
};

const GENERIC_ENV = ['MODEL_NAME', 'LLM_MODEL', 'GENAI_MODEL', 'AI_MODEL'];

/** Older or informal provider names mapped to gen_ai.provider.name values. */
const PROVIDER_ALIASES: Readonly<Record<string, string>> = {
  'az.ai.openai': 'azure.ai.openai',
  azure: 'azure.ai.openai',
  'azure-openai': 'azure.ai.openai',
  'az.ai.inference': 'azure.ai.inference',
  vertex_ai: 'gcp.vertex_ai',
  vertex: 'gcp.vertex_ai',
  gemini: 'gcp.gemini',
  google: 'gcp.gemini',
  bedrock: 'aws.bedrock',
  xai: 'x_ai',
  mistral: 'mistral_ai',
};

export function normaliseProvider(name: string): string {
  const lower = name.trim().toLowerCase();
  return PROVIDER_ALIASES[lower] ?? lower;
}

function parseEntry(entry: string, source: string, provider?: string): ModelDeclaration | undefined {
  const text = entry.trim();
  if (!text) return undefined;
  if (provider !== undefined) return { provider, model: text, source };
  const slash = text.indexOf('/');
  if (slash < 0) return { provider: undefined, model: text, source };
  const p = text.slice(0, slash);
  const m = text.slice(slash + 1);
  return {
    provider: p ? normaliseProvider(p) : undefined,
    model: m === '' || m === '*' ? undefined : m,
    source,
  };
}

export function parseModelsAnnotation(
  value: string,
  source = `annotation ${MODELS_ANNOTATION}`,
): ModelDeclaration[] {
  return value
    .split(/[\s,]+/)
    .map((e) => parseEntry(e, source))
    .filter((d): d is ModelDeclaration => d !== undefined);
}

/** Every declaration of a workload: its annotations (workload and pod template) and its containers' env. */
export function declaredModels(
  annotations: ReadonlyArray<Readonly<Record<string, string>> | undefined>,
  containers: readonly Container[],
): ModelDeclaration[] {
  const out: ModelDeclaration[] = [];
  const seen = new Set<string>();
  const push = (d: ModelDeclaration | undefined) => {
    if (!d) return;
    const key = `${d.provider ?? ''}/${d.model ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(d);
  };
  for (const a of annotations) {
    const value = a?.[MODELS_ANNOTATION];
    if (value !== undefined) parseModelsAnnotation(value).forEach(push);
  }
  for (const c of containers) {
    for (const e of c.env ?? []) {
      if (e.value === undefined || e.value === '') continue;
      const source = `env ${e.name} of container ${c.name ?? '?'}`;
      const provider = PROVIDER_ENV[e.name];
      if (provider !== undefined) push(parseEntry(e.value, source, provider));
      else if (GENERIC_ENV.includes(e.name)) parseModelsAnnotation(e.value, source).forEach(push);
    }
  }
  return out;
}

/** Glob match with the decision stage's semantics (decision/glob.ts): * any run, ? one, no case. */
export function globMatch(glob: string, value: string): boolean {
  return compiledGlob(glob).test(value);
}

/** Whether a model is allowed by a list of globs; a glob with "/" is matched against "provider/model". */
export function modelAllowed(
  allowed: readonly string[],
  provider: string | undefined,
  model: string,
): boolean {
  return allowed.some((glob) =>
    glob.includes('/')
      ? provider !== undefined && globMatch(glob, `${provider}/${model}`)
      : globMatch(glob, model),
  );
}
