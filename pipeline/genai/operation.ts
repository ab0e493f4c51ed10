// Owns the meaning of a span's operation: which operations are model inference (charged) and which
// are agent/workflow/tool/retrieval spans that may repeat their children's usage (never charged).
// Reads gen_ai.operation.name, OpenLLMetry's llm.request.type and OpenInference's span kind.

/** Operations charged: one call to a model. */
export const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set([
  'chat',
  'generate_content',
  'text_completion',
  'embeddings',
]);

/** llm.request.type (OpenLLMetry) -> gen_ai.operation.name. */
const LLM_REQUEST_TYPES: Readonly<Record<string, string>> = {
  chat: 'chat',
  completion: 'text_completion',
  embedding: 'embeddings',
  rerank: 'rerank',
};

/** openinference.span.kind -> gen_ai.operation.name (or a descriptive non-inference name). */
const OPENINFERENCE_KINDS: Readonly<Record<string, string>> = {
  LLM: 'chat',
  EMBEDDING: 'embeddings',
  AGENT: 'invoke_agent',
  CHAIN: 'invoke_workflow',
  TOOL: 'execute_tool',
  RETRIEVER: 'retrieval',
  RERANKER: 'rerank',
  GUARDRAIL: 'guardrail',
  EVALUATOR: 'evaluate',
  PROMPT: 'prompt',
};

/** Which attribute the operation came from; they use different vocabularies. */
export const OPERATION_SOURCE_SEMCONV = 0;
export const OPERATION_SOURCE_LLM_REQUEST_TYPE = 1;
export const OPERATION_SOURCE_OPENINFERENCE = 2;

/**
 * The operation in gen_ai.operation.name vocabulary. Unknown values are kept lower-cased (never
 * charged); "" means the value says nothing (empty or "unknown").
 */
export function normalizeOperation(raw: string, source: number): string {
  const value = raw.trim();
  if (source === OPERATION_SOURCE_OPENINFERENCE) {
    return OPENINFERENCE_KINDS[value.toUpperCase()] ?? value.toLowerCase();
  }
  const lower = value.toLowerCase();
  if (lower === 'unknown') return '';
  if (source === OPERATION_SOURCE_LLM_REQUEST_TYPE) return LLM_REQUEST_TYPES[lower] ?? lower;
  return lower;
}

export function isInferenceOperation(operation: string): boolean {
  return INFERENCE_OPERATIONS.has(operation);
}
