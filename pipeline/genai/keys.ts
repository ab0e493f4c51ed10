// Owns the key table of span/event attributes the decoders materialise for GenAI extraction: each
// name gets a dense id, and the ordered lists say which legacy name wins when several are present.

import { createKeyTable } from '../otlp/key-table.ts';
import type { KeyTable } from '../otlp/key-table.ts';
import {
  DEFAULT_FIELDS,
  DEFAULT_OPERATION_KEYS,
  INSTRUMENTATION_PROFILES,
  profileAttributeNames,
} from './profiles.ts';
import * as S from './semconv.ts';

const names: string[] = [];
const ids = new Map<string, number>();
function key(name: string): number {
  const known = ids.get(name);
  if (known !== undefined) return known;
  names.push(name);
  ids.set(name, names.length - 1);
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

export const K_CLASSIFICATION = key(S.GENOPS_DATA_CLASSIFICATION);
export const K_TELEMETRY_SDK_NAME = key(S.TELEMETRY_SDK_NAME);
export const K_EVAL_SAFETY_SCORE = key(S.GENOPS_EVAL_SAFETY_SCORE);
export const K_EVAL_TOXICITY_SCORE = key(S.GENOPS_EVAL_TOXICITY_SCORE);
export const K_EVALUATION_NAME = key(S.GEN_AI_EVALUATION_NAME);
export const K_EVALUATION_SCORE_VALUE = key(S.GEN_AI_EVALUATION_SCORE_VALUE);
export const K_EVALUATION_SCORE_LABEL = key(S.GEN_AI_EVALUATION_SCORE_LABEL);

export const K_SERVER_ADDRESS = key(S.SERVER_ADDRESS);
export const K_OPENAI_API_BASE = key(S.GEN_AI_OPENAI_API_BASE);

// Every name the instrumentation profiles read (profiles.ts), default names first.
for (const list of Object.values(DEFAULT_FIELDS)) for (const n of list) key(n);
for (const n of DEFAULT_OPERATION_KEYS) key(n);
for (const n of profileAttributeNames(INSTRUMENTATION_PROFILES)) key(n);

/** Key id of an attribute name the decoders materialise; -1 when not one. */
export function keyId(name: string): number {
  return ids.get(name) ?? -1;
}

export const GENAI_KEY_NAMES: readonly string[] = Object.freeze(names.slice());

/** Event names materialised by the decoders; id 0 is the evaluation result. */
export const E_EVALUATION_RESULT = 0;
export const GENAI_EVENT_NAMES: readonly string[] = Object.freeze([S.GEN_AI_EVALUATION_RESULT_EVENT]);

/** The key and event tables in the shape the OTLP decoders take. */
export function createGenAiKeyTables(): { keys: KeyTable; eventNames: KeyTable } {
  return { keys: createKeyTable(GENAI_KEY_NAMES), eventNames: createKeyTable(GENAI_EVENT_NAMES) };
}
