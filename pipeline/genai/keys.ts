// Owns the key table of span/event attributes the decoders materialise for GenAI extraction: each
// name gets a dense id, and the ordered lists say which legacy name wins when several are present.

import { createKeyTable } from '../otlp/key-table.ts';
import type { KeyTable } from '../otlp/key-table.ts';
import * as S from './semconv.ts';

const names: string[] = [];
function key(name: string): number {
  names.push(name);
  return names.length - 1;
}

export const K_OPERATION_NAME = key(S.GEN_AI_OPERATION_NAME);
export const K_LLM_REQUEST_TYPE = key(S.LLM_REQUEST_TYPE);
export const K_OPENINFERENCE_SPAN_KIND = key(S.OPENINFERENCE_SPAN_KIND);

export const K_PROVIDER_NAME = key(S.GEN_AI_PROVIDER_NAME);
export const K_SYSTEM = key(S.GEN_AI_SYSTEM);
export const K_LLM_PROVIDER = key(S.LLM_PROVIDER);
export const K_LLM_SYSTEM = key(S.LLM_SYSTEM);

export const K_RESPONSE_MODEL = key(S.GEN_AI_RESPONSE_MODEL);
export const K_REQUEST_MODEL = key(S.GEN_AI_REQUEST_MODEL);
export const K_LLM_RESPONSE_MODEL_NAME = key(S.LLM_RESPONSE_MODEL_NAME);
export const K_LLM_MODEL_NAME = key(S.LLM_MODEL_NAME);
const K_EMBEDDING_MODEL_NAME = key(S.EMBEDDING_MODEL_NAME);

const K_INPUT = key(S.GEN_AI_USAGE_INPUT_TOKENS);
const K_PROMPT = key(S.GEN_AI_USAGE_PROMPT_TOKENS);
const K_LLM_PROMPT = key(S.LLM_USAGE_PROMPT_TOKENS);
const K_LLM_COUNT_PROMPT = key(S.LLM_TOKEN_COUNT_PROMPT);
const K_OUTPUT = key(S.GEN_AI_USAGE_OUTPUT_TOKENS);
const K_COMPLETION = key(S.GEN_AI_USAGE_COMPLETION_TOKENS);
const K_LLM_COMPLETION = key(S.LLM_USAGE_COMPLETION_TOKENS);
const K_LLM_COUNT_COMPLETION = key(S.LLM_TOKEN_COUNT_COMPLETION);
const K_CACHE_READ = key(S.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS);
const K_CACHE_READ_LEGACY = key(S.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_LEGACY);
const K_LLM_CACHE_READ = key(S.LLM_TOKEN_COUNT_PROMPT_CACHE_READ);
const K_PROMPT_CACHED = key(S.GEN_AI_USAGE_PROMPT_CACHED_TOKENS);
const K_CACHE_WRITE = key(S.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS);
const K_CACHE_WRITE_LEGACY = key(S.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_LEGACY);
const K_LLM_CACHE_WRITE = key(S.LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE);
const K_CACHE_WRITE_UTIL_GENAI = key(S.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS);
const K_REASONING = key(S.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS);
const K_REASONING_LEGACY = key(S.GEN_AI_USAGE_REASONING_TOKENS);
const K_LLM_REASONING = key(S.LLM_USAGE_REASONING_TOKENS);
const K_LLM_COUNT_REASONING = key(S.LLM_TOKEN_COUNT_COMPLETION_REASONING);

export const K_CLASSIFICATION = key(S.GENOPS_DATA_CLASSIFICATION);
export const K_TELEMETRY_SDK_NAME = key(S.TELEMETRY_SDK_NAME);
export const K_EVAL_SAFETY_SCORE = key(S.GENOPS_EVAL_SAFETY_SCORE);
export const K_EVAL_TOXICITY_SCORE = key(S.GENOPS_EVAL_TOXICITY_SCORE);
export const K_EVALUATION_NAME = key(S.GEN_AI_EVALUATION_NAME);
export const K_EVALUATION_SCORE_VALUE = key(S.GEN_AI_EVALUATION_SCORE_VALUE);
export const K_EVALUATION_SCORE_LABEL = key(S.GEN_AI_EVALUATION_SCORE_LABEL);

/** First present wins, in this order (GENAI-TELEMETRY.md). */
export const OPERATION_KEYS = [K_OPERATION_NAME, K_LLM_REQUEST_TYPE, K_OPENINFERENCE_SPAN_KIND] as const;
export const PROVIDER_KEYS = [K_PROVIDER_NAME, K_SYSTEM, K_LLM_PROVIDER, K_LLM_SYSTEM] as const;
export const MODEL_KEYS = [
  K_RESPONSE_MODEL,
  K_REQUEST_MODEL,
  K_LLM_RESPONSE_MODEL_NAME,
  K_LLM_MODEL_NAME,
  K_EMBEDDING_MODEL_NAME,
] as const;
export const INPUT_TOKEN_KEYS = [K_INPUT, K_PROMPT, K_LLM_PROMPT, K_LLM_COUNT_PROMPT] as const;
export const OUTPUT_TOKEN_KEYS = [K_OUTPUT, K_COMPLETION, K_LLM_COMPLETION, K_LLM_COUNT_COMPLETION] as const;
export const CACHE_READ_TOKEN_KEYS = [
  K_CACHE_READ,
  K_CACHE_READ_LEGACY,
  K_LLM_CACHE_READ,
  K_PROMPT_CACHED,
] as const;
export const CACHE_WRITE_TOKEN_KEYS = [
  K_CACHE_WRITE,
  K_CACHE_WRITE_LEGACY,
  K_LLM_CACHE_WRITE,
  K_CACHE_WRITE_UTIL_GENAI,
] as const;
export const REASONING_TOKEN_KEYS = [
  K_REASONING,
  K_REASONING_LEGACY,
  K_LLM_REASONING,
  K_LLM_COUNT_REASONING,
] as const;

export const GENAI_KEY_NAMES: readonly string[] = Object.freeze(names.slice());

/** Event names materialised by the decoders; id 0 is the evaluation result. */
export const E_EVALUATION_RESULT = 0;
export const GENAI_EVENT_NAMES: readonly string[] = Object.freeze([S.GEN_AI_EVALUATION_RESULT_EVENT]);

/** The key and event tables in the shape the OTLP decoders take. */
export function createGenAiKeyTables(): { keys: KeyTable; eventNames: KeyTable } {
  return { keys: createKeyTable(GENAI_KEY_NAMES), eventNames: createKeyTable(GENAI_EVENT_NAMES) };
}
