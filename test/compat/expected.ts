// What the fake provider bills per call (test/compat/fixtures.json), normalised the semconv way:
// input includes cache reads and writes, output includes reasoning. The conformance cases build
// their expectations from these, so a fixture change moves the expected cost with it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenCounts } from '../../pipeline/pricing/price.ts';
import { COMPAT_DIR } from './setup.ts';

export interface ExpectedCall extends TokenCounts {
  /** Provider name the usage is recorded under (semconv name). */
  readonly provider: string;
  /** Model the usage is recorded under (the response model when the span has one). */
  readonly model: string;
  /** The span carries no token counts: charged 0 and flagged (spansWithoutUsage). */
  readonly usageMissing?: boolean;
  /** No price in the table: charged at the provider's fallback price and flagged unpriced. */
  readonly unpriced?: boolean;
}

interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
}
interface GoogleUsage {
  promptTokenCount: number;
  cachedContentTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
}
interface BedrockUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}
interface Fixtures {
  openai: Record<string, { responseModel: string; usage: OpenAIUsage }>;
  anthropic: Record<string, { responseModel: string; usage: Record<string, number> }>;
  google: Record<string, { responseModel: string; usageMetadata: GoogleUsage | null }>;
  bedrock: Record<string, { usage: BedrockUsage }>;
}

export const fixtures = JSON.parse(readFileSync(join(COMPAT_DIR, 'fixtures.json'), 'utf8')) as Fixtures;

export function openaiCall(requestModel: string): ExpectedCall {
  const f = fixtures.openai[requestModel]!;
  const u = f.usage;
  return {
    provider: 'openai',
    model: f.responseModel,
    inputTokens: u.prompt_tokens,
    outputTokens: u.completion_tokens ?? 0,
    cacheReadTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

export function anthropicCall(requestModel: string): ExpectedCall {
  const f = fixtures.anthropic[requestModel]!;
  const u = f.usage;
  // Anthropic's input_tokens excludes the cache; the semconv figure includes it.
  return {
    provider: 'anthropic',
    model: f.responseModel,
    inputTokens: u.input_tokens! + u.cache_read_input_tokens! + u.cache_creation_input_tokens!,
    outputTokens: u.output_tokens!,
    cacheReadTokens: u.cache_read_input_tokens!,
    cacheWriteTokens: u.cache_creation_input_tokens!,
    reasoningTokens: 0,
  };
}

export function googleCall(requestModel: string): ExpectedCall {
  const f = fixtures.google[requestModel]!;
  const u = f.usageMetadata;
  if (!u) return { ...ZERO, provider: 'gcp.gemini', model: f.responseModel, usageMissing: true };
  // Gemini's promptTokenCount includes the cached content; thoughts are billed as output but
  // counted apart from the candidates.
  const thoughts = u.thoughtsTokenCount ?? 0;
  return {
    provider: 'gcp.gemini',
    model: f.responseModel,
    inputTokens: u.promptTokenCount,
    outputTokens: (u.candidatesTokenCount ?? 0) + thoughts,
    cacheReadTokens: u.cachedContentTokenCount ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: thoughts,
  };
}

export function bedrockCall(modelId: string): ExpectedCall {
  const u = fixtures.bedrock[modelId]!.usage;
  const read = u.cacheReadInputTokens ?? 0;
  const write = u.cacheWriteInputTokens ?? 0;
  // Bedrock's inputTokens excludes the cache (as Anthropic's does).
  return {
    provider: 'aws.bedrock',
    model: modelId,
    inputTokens: u.inputTokens + read + write,
    outputTokens: u.outputTokens,
    cacheReadTokens: read,
    cacheWriteTokens: write,
    reasoningTokens: 0,
  };
}

const ZERO = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };

// Where an instrumentation itself sends less than the provider billed, the pipeline can only
// charge what the span says; each such deviation is named in the case and in docs/compatibility.md.

/** Sends no cached-token attribute: the cache hit is charged at the full input price. */
export const noCacheRead = (c: ExpectedCall): ExpectedCall => ({ ...c, cacheReadTokens: 0 });
/** Sends no cache attributes at all (reads or writes). */
export const noCache = (c: ExpectedCall): ExpectedCall => ({ ...c, cacheReadTokens: 0, cacheWriteTokens: 0 });
/** Sends no reasoning-token attribute (same cost: the table prices reasoning as output). */
export const noReasoning = (c: ExpectedCall): ExpectedCall => ({ ...c, reasoningTokens: 0 });
/** Names the request model, not the response model (e.g. on streams). */
export const requestModel =
  (model: string) =>
  (c: ExpectedCall): ExpectedCall => ({ ...c, model });
/** Sends no token counts at all: charged 0, flagged. */
export const noUsage = (c: ExpectedCall): ExpectedCall => ({ ...c, ...ZERO, usageMissing: true });
/** A model the price table does not know (a self-hosted model behind an OpenAI-compatible API). */
export const unknownModel = (c: ExpectedCall): ExpectedCall => ({ ...c, unpriced: true });
