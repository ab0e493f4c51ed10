// Owns the instrumentation profiles: for every instrumentation the product knows, in one declarative
// table, where it puts provider, model, operation and token counts, whether its input count includes
// the cache tokens, its provider and operation aliases, and whether it is a provider SDK (the span
// closest to the wire) or a framework that may wrap one. Adding an instrumentation is one entry here
// (and one conformance case in test/compat*). The extractor compiles the table once into key ids.
// Rules and the reason for each entry: pipeline/genai/README.md, docs/compatibility.md.

/** Where one field is read, first present wins; the default profile's names follow these. */
export interface ProfileFields {
  readonly provider?: readonly string[];
  readonly model?: readonly string[];
  readonly input?: readonly string[];
  /** Input tokens without any cache tokens (then input := uncached + cache read + cache write). */
  readonly uncachedInput?: readonly string[];
  readonly output?: readonly string[];
  readonly cacheRead?: readonly string[];
  readonly cacheWrite?: readonly string[];
  readonly reasoning?: readonly string[];
}

/** An operation attribute and how its values map to gen_ai.operation.name. */
export interface OperationSource {
  readonly key: string;
  /** Exact value -> operation; values not listed are kept lower-cased (never charged). */
  readonly values?: Readonly<Record<string, string>>;
}

/**
 * `provider-sdk`: the instrumentation of a provider's client library, closest to the wire.
 * `framework`: an agent/LLM framework whose inference span may wrap a provider-SDK span of the
 * same call; when one does, the inner span is charged and the framework span is not (charge-once).
 */
export type ProfileRole = 'provider-sdk' | 'framework';

export interface InstrumentationProfile {
  /** Stable id: metric label `instrumentation`, warnings, docs. */
  readonly id: string;
  /** InstrumentationScope.name values, exact. */
  readonly scopes?: readonly string[];
  /** InstrumentationScope.name prefixes (botocore names its scope per AWS service). */
  readonly scopePrefixes?: readonly string[];
  /** telemetry.sdk.name values (span, else resource), lower-cased. */
  readonly sdkNames?: readonly string[];
  /** An attribute whose presence on a span identifies the profile when scope and SDK do not. */
  readonly namespaceKey?: string;
  readonly role: ProfileRole;
  /** Read before the default names (which still apply after them). */
  readonly fields?: ProfileFields;
  /** Read before gen_ai.operation.name / llm.request.type / openinference.span.kind. */
  readonly operations?: readonly OperationSource[];
  /**
   * True: the input count never includes cache tokens (a provider's raw figure); they are added.
   * A list: only for these providers. Absent: the semconv reading (input includes them) unless
   * cache tokens exceed the input, which cannot be.
   */
  readonly inputExcludesCache?: boolean | readonly string[];
  /** Lower-cased provider value -> provider name (before the global aliases of provider.ts). */
  readonly providerAliases?: Readonly<Record<string, string>>;
  /**
   * Provider values are `<provider>.<api>` (the Vercel AI SDK's `openai.chat`, `anthropic.messages`):
   * the longest dotted prefix found in providerAliases, else the first segment, names the provider.
   */
  readonly providerIsDotted?: boolean;
  /** Provider when the span names none (an SDK that can only talk to its own provider). */
  readonly defaultProvider?: string;
}

/** The semconv names and every legacy name seen in the field, first present wins. */
export const DEFAULT_FIELDS: Required<ProfileFields> = {
  provider: ['gen_ai.provider.name', 'gen_ai.system', 'llm.provider', 'llm.system'],
  model: [
    'gen_ai.response.model',
    'gen_ai.request.model',
    'llm.response.model_name',
    'llm.model_name',
    'embedding.model_name',
  ],
  input: [
    'gen_ai.usage.input_tokens',
    'gen_ai.usage.prompt_tokens',
    'llm.usage.prompt_tokens',
    'llm.token_count.prompt',
  ],
  uncachedInput: [],
  output: [
    'gen_ai.usage.output_tokens',
    'gen_ai.usage.completion_tokens',
    'llm.usage.completion_tokens',
    'llm.token_count.completion',
  ],
  cacheRead: [
    'gen_ai.usage.cache_read.input_tokens',
    'gen_ai.usage.cache_read_input_tokens',
    'llm.token_count.prompt_details.cache_read',
    'gen_ai.usage.prompt_tokens_details.cached_tokens',
  ],
  cacheWrite: [
    'gen_ai.usage.cache_creation.input_tokens',
    'gen_ai.usage.cache_creation_input_tokens',
    'llm.token_count.prompt_details.cache_write',
    'gen_ai.usage.cache_write.input_tokens',
  ],
  reasoning: [
    'gen_ai.usage.reasoning.output_tokens',
    'gen_ai.usage.reasoning_tokens',
    'llm.usage.reasoning_tokens',
    'llm.token_count.completion_details.reasoning',
  ],
};

/** Operation names and their vocabularies, after any profile's own (operation.ts maps them). */
export const DEFAULT_OPERATION_KEYS = [
  'gen_ai.operation.name',
  'llm.request.type',
  'openinference.span.kind',
];

/** Vercel AI SDK operation ids: the do* spans are the model calls; the outer spans repeat their usage. */
const VERCEL_AI_OPERATIONS: Readonly<Record<string, string>> = {
  'ai.generateText.doGenerate': 'chat',
  'ai.streamText.doStream': 'chat',
  'ai.generateObject.doGenerate': 'chat',
  'ai.streamObject.doStream': 'chat',
  'ai.embed.doEmbed': 'embeddings',
  'ai.embedMany.doEmbed': 'embeddings',
  'ai.generateText': 'invoke_workflow',
  'ai.streamText': 'invoke_workflow',
  'ai.generateObject': 'invoke_workflow',
  'ai.streamObject': 'invoke_workflow',
  'ai.embed': 'invoke_workflow',
  'ai.embedMany': 'invoke_workflow',
  'ai.toolCall': 'execute_tool',
  'ai.rerank': 'invoke_workflow',
  'ai.rerank.doRerank': 'rerank',
};

/** LiteLLM call types (integrations/otel/model/semconv.py) that are model calls. */
const LITELLM_CALL_TYPES: Readonly<Record<string, string>> = {
  completion: 'chat',
  acompletion: 'chat',
  completion_with_retries: 'chat',
  responses: 'chat',
  aresponses: 'chat',
  text_completion: 'text_completion',
  atext_completion: 'text_completion',
  embedding: 'embeddings',
  aembedding: 'embeddings',
};

/** The profiles, most specific first. The default profile (no entry) is DEFAULT_FIELDS alone. */
export const INSTRUMENTATION_PROFILES: readonly InstrumentationProfile[] = [
  {
    // Vercel AI SDK, experimental_telemetry (npm `ai`): tracer "ai"; ai.* attributes everywhere,
    // gen_ai.* only on doGenerate/doStream, nothing but ai.* on doEmbed.
    id: 'vercel-ai',
    scopes: ['ai'],
    namespaceKey: 'ai.operationId',
    role: 'framework',
    operations: [{ key: 'ai.operationId', values: VERCEL_AI_OPERATIONS }],
    fields: {
      provider: ['gen_ai.system', 'ai.model.provider'],
      model: ['gen_ai.response.model', 'ai.response.model', 'gen_ai.request.model', 'ai.model.id'],
      input: [
        'gen_ai.usage.input_tokens',
        'ai.usage.inputTokens',
        'ai.usage.promptTokens',
        'ai.usage.tokens',
      ],
      uncachedInput: ['ai.usage.inputTokenDetails.noCacheTokens'],
      output: ['gen_ai.usage.output_tokens', 'ai.usage.outputTokens', 'ai.usage.completionTokens'],
      cacheRead: ['ai.usage.inputTokenDetails.cacheReadTokens', 'ai.usage.cachedInputTokens'],
      cacheWrite: ['ai.usage.inputTokenDetails.cacheWriteTokens'],
      reasoning: ['ai.usage.outputTokenDetails.reasoningTokens', 'ai.usage.reasoningTokens'],
    },
    // ai 6 sends noCacheTokens (then input = uncached + cache); ai 5's Anthropic provider sent the
    // API's raw input_tokens (cache excluded) with only ai.usage.cachedInputTokens.
    inputExcludesCache: ['anthropic'],
    providerIsDotted: true,
    providerAliases: {
      'google.vertex': 'gcp.vertex_ai',
      'google.generative-ai': 'gcp.gemini',
      'amazon-bedrock': 'aws.bedrock',
      'azure-openai': 'azure.ai.openai',
      azure: 'azure.ai.openai',
      togetherai: 'together',
      'openai-compatible': 'unknown',
    },
  },
  {
    // anthropic Python SDK 2.x: traces itself (scope com.anthropic.sdk.python) whenever a tracer
    // provider exists; input_tokens = raw input + cache reads + writes (lib/_tracing/_response.py).
    id: 'anthropic-sdk-python',
    scopes: ['com.anthropic.sdk.python'],
    role: 'provider-sdk',
    defaultProvider: 'anthropic',
  },
  {
    // opentelemetry-instrumentation-botocore: Bedrock's raw usage.inputTokens, which never includes
    // cacheReadInputTokens / cacheWriteInputTokens (extensions/bedrock.py); scope per AWS service.
    id: 'botocore',
    scopePrefixes: ['opentelemetry.instrumentation.botocore'],
    role: 'provider-sdk',
    inputExcludesCache: true,
    defaultProvider: 'aws.bedrock',
  },
  {
    // OpenLIT: passes Anthropic's raw input_tokens under the semconv name (its anthropic utils).
    id: 'openlit',
    sdkNames: ['openlit'],
    scopePrefixes: ['openlit.'],
    role: 'provider-sdk',
    inputExcludesCache: ['anthropic'],
  },
  {
    // pydantic-ai puts the provider's usage details under gen_ai.usage.details.*: reasoning only there.
    id: 'pydantic-ai',
    scopes: ['pydantic-ai'],
    role: 'framework',
    fields: { reasoning: ['gen_ai.usage.details.reasoning_tokens'] },
  },
  {
    // LiteLLM's OTel callback (tracer "litellm", OTEL_TRACER_NAME): without the semconv opt-in,
    // gen_ai.operation.name is LiteLLM's call type ("embedding", "acompletion", ...).
    id: 'litellm',
    scopes: ['litellm'],
    role: 'framework',
    operations: [{ key: 'gen_ai.operation.name', values: LITELLM_CALL_TYPES }],
  },
  {
    id: 'langchain',
    scopes: ['opentelemetry.instrumentation.langchain', 'openinference.instrumentation.langchain'],
    role: 'framework',
  },
  {
    id: 'llamaindex',
    scopes: ['opentelemetry.instrumentation.llamaindex', 'openinference.instrumentation.llama_index'],
    role: 'framework',
  },
  {
    id: 'openai-agents',
    scopes: ['openinference.instrumentation.openai_agents', 'openai.agents'],
    role: 'framework',
  },
  {
    id: 'opentelemetry-openai',
    scopes: ['@opentelemetry/instrumentation-openai', 'opentelemetry.instrumentation.openai_v2'],
    role: 'provider-sdk',
  },
  {
    id: 'openllmetry-openai',
    scopes: ['@traceloop/instrumentation-openai', 'opentelemetry.instrumentation.openai'],
    scopePrefixes: ['opentelemetry.instrumentation.openai.'],
    role: 'provider-sdk',
  },
  {
    id: 'openinference-openai',
    scopes: ['@arizeai/openinference-instrumentation-openai', 'openinference.instrumentation.openai'],
    role: 'provider-sdk',
  },
  {
    id: 'openllmetry-anthropic',
    scopes: ['@traceloop/instrumentation-anthropic', 'opentelemetry.instrumentation.anthropic'],
    role: 'provider-sdk',
    defaultProvider: 'anthropic',
  },
  {
    id: 'google-genai',
    scopes: [
      'opentelemetry.instrumentation.google_genai',
      'opentelemetry.instrumentation.google_generativeai',
    ],
    role: 'provider-sdk',
  },
];

/** Operation aliases of the semconv attribute, for every profile (LiteLLM's singular form). */
export const SEMCONV_OPERATION_ALIASES: Readonly<Record<string, string>> = {
  embedding: 'embeddings',
};

/** Every attribute name any profile reads (the decoders materialise exactly these). */
export function profileAttributeNames(profiles: readonly InstrumentationProfile[]): string[] {
  const names = new Set<string>();
  for (const p of profiles) {
    if (p.namespaceKey !== undefined) names.add(p.namespaceKey);
    for (const o of p.operations ?? []) names.add(o.key);
    const f = p.fields ?? {};
    for (const list of Object.values(f) as (readonly string[] | undefined)[]) {
      for (const n of list ?? []) names.add(n);
    }
  }
  return [...names];
}
