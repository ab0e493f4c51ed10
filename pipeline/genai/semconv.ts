// Owns the attribute names the product reads from GenAI telemetry. The GenAI semantic conventions
// are still "development" stability and instrumentations emit older names, so the names are copied
// here (not imported from @opentelemetry/semantic-conventions, which moves under us).

// Current GenAI semantic conventions.
export const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
/** Deprecated since semconv 1.37 in favour of gen_ai.provider.name; still widely sent. */
export const GEN_AI_SYSTEM = 'gen_ai.system';
export const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
export const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
export const GEN_AI_EVALUATION_NAME = 'gen_ai.evaluation.name';
export const GEN_AI_EVALUATION_SCORE_VALUE = 'gen_ai.evaluation.score.value';
export const GEN_AI_EVALUATION_SCORE_LABEL = 'gen_ai.evaluation.score.label';
/** Event name of an evaluation result. */
export const GEN_AI_EVALUATION_RESULT_EVENT = 'gen_ai.evaluation.result';

// Older names still emitted (OpenLLMetry/Traceloop, OpenInference/Arize, OpenLIT, older semconv).
export const GEN_AI_USAGE_PROMPT_TOKENS = 'gen_ai.usage.prompt_tokens';
export const GEN_AI_USAGE_COMPLETION_TOKENS = 'gen_ai.usage.completion_tokens';
export const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_LEGACY = 'gen_ai.usage.cache_read_input_tokens';
export const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_LEGACY = 'gen_ai.usage.cache_creation_input_tokens';
export const GEN_AI_USAGE_PROMPT_CACHED_TOKENS = 'gen_ai.usage.prompt_tokens_details.cached_tokens';
export const GEN_AI_USAGE_REASONING_TOKENS = 'gen_ai.usage.reasoning_tokens';
export const LLM_USAGE_PROMPT_TOKENS = 'llm.usage.prompt_tokens';
export const LLM_USAGE_COMPLETION_TOKENS = 'llm.usage.completion_tokens';
export const LLM_USAGE_REASONING_TOKENS = 'llm.usage.reasoning_tokens';
export const LLM_REQUEST_TYPE = 'llm.request.type';
export const LLM_TOKEN_COUNT_PROMPT = 'llm.token_count.prompt';
export const LLM_TOKEN_COUNT_COMPLETION = 'llm.token_count.completion';
export const LLM_TOKEN_COUNT_PROMPT_CACHE_READ = 'llm.token_count.prompt_details.cache_read';
export const LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE = 'llm.token_count.prompt_details.cache_write';
export const LLM_TOKEN_COUNT_COMPLETION_REASONING = 'llm.token_count.completion_details.reasoning';
export const LLM_PROVIDER = 'llm.provider';
export const LLM_SYSTEM = 'llm.system';
export const LLM_MODEL_NAME = 'llm.model_name';
export const LLM_RESPONSE_MODEL_NAME = 'llm.response.model_name';
/** OpenInference embedding spans name their model only here. */
export const EMBEDDING_MODEL_NAME = 'embedding.model_name';
/** opentelemetry-util-genai 1.x spells cache writes this way. */
export const GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens';
export const OPENINFERENCE_SPAN_KIND = 'openinference.span.kind';

// GenOps' own attributes (documented in pipeline/genai/README.md).
export const GENOPS_DATA_CLASSIFICATION = 'genops.data.classification';
/** Content-safety score in [0, 1], 1 = safe. */
export const GENOPS_EVAL_SAFETY_SCORE = 'genops.eval.safety_score';
/** Toxicity score in [0, 1], 1 = toxic; taken as safety = 1 - toxicity. */
export const GENOPS_EVAL_TOXICITY_SCORE = 'genops.eval.toxicity_score';

/** Host of the API called (OpenAI-compatible endpoints: OpenRouter, Groq, Azure, ...). */
export const SERVER_ADDRESS = 'server.address';
/** OpenLLMetry's base URL of the OpenAI client. */
export const GEN_AI_OPENAI_API_BASE = 'gen_ai.openai.api_base';

/** SDK that produced the telemetry (resource; OpenLIT also sets it on spans). */
export const TELEMETRY_SDK_NAME = 'telemetry.sdk.name';

// Resource attributes (semconv k8s.*, service.*).
export const K8S_NAMESPACE_NAME = 'k8s.namespace.name';
export const K8S_POD_NAME = 'k8s.pod.name';
export const K8S_POD_UID = 'k8s.pod.uid';
export const K8S_POD_IP = 'k8s.pod.ip';
export const K8S_DEPLOYMENT_NAME = 'k8s.deployment.name';
export const K8S_REPLICASET_NAME = 'k8s.replicaset.name';
export const K8S_STATEFULSET_NAME = 'k8s.statefulset.name';
export const K8S_DAEMONSET_NAME = 'k8s.daemonset.name';
export const K8S_JOB_NAME = 'k8s.job.name';
export const K8S_CRONJOB_NAME = 'k8s.cronjob.name';
export const SERVICE_NAME = 'service.name';
/** Prefix of pod labels as resource attributes: k8s.pod.label.<key>. */
export const K8S_POD_LABEL_PREFIX = 'k8s.pod.label.';
/** The Collector's k8sattributes processor names extracted labels k8s.pod.labels.<key> by default. */
export const K8S_POD_LABELS_PREFIX = 'k8s.pod.labels.';
