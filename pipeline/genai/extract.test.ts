import { describe, expect, it } from 'vitest';
import { AttributeSlots } from '../otlp/span-view.ts';
import type { AttrValue } from '../otlp/span-view.ts';
import { createGenAiExtractor, emptyGenAiCall, tokenCount } from './extract.ts';
import type { GenAiCall } from './extract.ts';
import { GENAI_KEY_NAMES } from './keys.ts';
import {
  normalizeOperation,
  OPERATION_SOURCE_LLM_REQUEST_TYPE,
  OPERATION_SOURCE_OPENINFERENCE,
} from './operation.ts';
import { normalizeProvider } from './provider.ts';

const extractor = createGenAiExtractor();

function read(
  attributes: Record<string, AttrValue>,
  resourceSdk?: string,
): { charged: boolean; call: GenAiCall } {
  const slots = new AttributeSlots(GENAI_KEY_NAMES.length);
  for (const [k, v] of Object.entries(attributes)) {
    const id = GENAI_KEY_NAMES.indexOf(k);
    if (id < 0) throw new Error(`not a GenAI key: ${k}`);
    slots.set(id, v);
  }
  const call = emptyGenAiCall();
  const charged = extractor.read(slots, call, resourceSdk);
  // The figures these cases assert; profile id, role and the usage flag: profiles.test.ts.
  const { hasUsage: _u, instrumentation: _i, role: _r, ...figures } = call;
  return { charged, call: figures as GenAiCall };
}

describe('GenAI span extraction by instrumentation style', () => {
  it('current semantic conventions', () => {
    const { charged, call } = read({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 200,
      'gen_ai.usage.cache_read.input_tokens': 400,
      'gen_ai.usage.cache_creation.input_tokens': 100,
      'gen_ai.usage.reasoning.output_tokens': 50,
    });
    expect(charged).toBe(true);
    expect(call).toEqual({
      operation: 'chat',
      provider: 'openai',
      model: 'gpt-4o-2024-08-06',
      classification: '',
      inputTokens: 1000,
      outputTokens: 200,
      cacheReadTokens: 400,
      cacheWriteTokens: 100,
      reasoningTokens: 50,
    });
  });

  it('OpenLLMetry (Traceloop): llm.request.type, gen_ai.system "Anthropic", prompt/completion tokens', () => {
    const { charged, call } = read({
      'llm.request.type': 'chat',
      'gen_ai.system': 'Anthropic',
      'gen_ai.request.model': 'claude-3-5-haiku-20241022',
      'gen_ai.usage.prompt_tokens': 300,
      'gen_ai.usage.completion_tokens': 40,
      'gen_ai.usage.cache_read_input_tokens': 100,
      'gen_ai.usage.cache_creation_input_tokens': 50,
    });
    expect(charged).toBe(true);
    expect(call).toMatchObject({
      operation: 'chat',
      provider: 'anthropic',
      model: 'claude-3-5-haiku-20241022',
      inputTokens: 300,
      outputTokens: 40,
      cacheReadTokens: 100,
      cacheWriteTokens: 50,
    });
  });

  it('OpenLLMetry completions and embeddings map to text_completion and embeddings', () => {
    expect(
      read({
        'llm.request.type': 'completion',
        'gen_ai.system': 'openai',
        'gen_ai.request.model': 'gpt-3.5-turbo-instruct',
      }).call.operation,
    ).toBe('text_completion');
    expect(
      read({
        'llm.request.type': 'embedding',
        'gen_ai.system': 'openai',
        'gen_ai.request.model': 'text-embedding-3-small',
      }),
    ).toMatchObject({
      charged: true,
      call: { operation: 'embeddings' },
    });
  });

  it('OpenInference (Arize): span kind LLM, llm.provider, llm.model_name, llm.token_count.*', () => {
    const { charged, call } = read({
      'openinference.span.kind': 'LLM',
      'llm.provider': 'openai',
      'llm.system': 'openai',
      'llm.model_name': 'gpt-4o-mini',
      'llm.token_count.prompt': 800,
      'llm.token_count.completion': 120,
      'llm.token_count.prompt_details.cache_read': 300,
      'llm.token_count.prompt_details.cache_write': 20,
      'llm.token_count.completion_details.reasoning': 64,
    });
    expect(charged).toBe(true);
    expect(call).toMatchObject({
      operation: 'chat',
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 800,
      outputTokens: 120,
      cacheReadTokens: 300,
      cacheWriteTokens: 20,
      reasoningTokens: 64,
    });
  });

  it('OpenInference embeddings name the model only in embedding.model_name', () => {
    const { charged, call } = read({
      'openinference.span.kind': 'EMBEDDING',
      'llm.system': 'openai',
      'embedding.model_name': 'text-embedding-3-small',
      'llm.token_count.prompt': 800,
    });
    expect(charged).toBe(true);
    expect(call).toMatchObject({
      operation: 'embeddings',
      provider: 'openai',
      model: 'text-embedding-3-small',
      inputTokens: 800,
    });
  });

  it('opentelemetry-util-genai 1.x cache writes (gen_ai.usage.cache_write.input_tokens)', () => {
    const { call } = read({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4',
      'gen_ai.usage.input_tokens': 3000,
      'gen_ai.usage.output_tokens': 100,
      'gen_ai.usage.cache_write.input_tokens': 1000,
    });
    expect(call).toMatchObject({ inputTokens: 3000, cacheWriteTokens: 1000 });
  });

  it('OpenLIT: gen_ai.system with current token names; old llm.usage.* names', () => {
    expect(
      read({
        'gen_ai.operation.name': 'chat',
        'gen_ai.system': 'az.ai.openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 10,
        'gen_ai.usage.output_tokens': 5,
        'gen_ai.usage.reasoning_tokens': 2,
        'gen_ai.usage.prompt_tokens_details.cached_tokens': 4,
      }).call,
    ).toMatchObject({
      provider: 'azure.ai.openai',
      inputTokens: 10,
      outputTokens: 5,
      reasoningTokens: 2,
      cacheReadTokens: 4,
    });
    expect(
      read({
        'gen_ai.system': 'openai',
        'llm.model_name': 'gpt-4',
        'llm.usage.prompt_tokens': 7,
        'llm.usage.completion_tokens': 3,
        'llm.usage.reasoning_tokens': 1,
      }),
    ).toMatchObject({
      charged: true,
      call: { inputTokens: 7, outputTokens: 3, reasoningTokens: 1, operation: '' },
    });
  });

  it('first present name wins, in the documented order', () => {
    const { call } = read({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'requested',
      'llm.model_name': 'openinference',
      'gen_ai.usage.input_tokens': 1,
      'gen_ai.usage.prompt_tokens': 2,
      'llm.token_count.prompt': 3,
      'gen_ai.usage.output_tokens': 4,
      'llm.usage.completion_tokens': 5,
    });
    expect(call).toMatchObject({
      provider: 'anthropic',
      model: 'requested',
      inputTokens: 1,
      outputTokens: 4,
    });
  });

  it('accepts token counts sent as doubles or strings, clamps negatives, ignores garbage', () => {
    expect(tokenCount(12.9)).toBe(12);
    expect(tokenCount('345')).toBe(345);
    expect(tokenCount(' 6 ')).toBe(6);
    expect(tokenCount(-5)).toBe(0);
    expect(tokenCount('lots')).toBe(-1);
    expect(tokenCount(NaN)).toBe(-1);
    expect(tokenCount(true)).toBe(-1);
    expect(tokenCount(1e15)).toBe(1e12);
    // An unusable first name does not hide a usable second one.
    expect(
      read({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.usage.input_tokens': 'n/a',
        'gen_ai.usage.prompt_tokens': 9,
      }).call.inputTokens,
    ).toBe(9);
  });
});

describe('what is charged', () => {
  const usage = {
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.provider.name': 'openai',
    'gen_ai.usage.input_tokens': 5000,
    'gen_ai.usage.output_tokens': 900,
  };

  it('charges inference operations only', () => {
    for (const op of ['chat', 'generate_content', 'text_completion', 'embeddings', 'CHAT']) {
      expect(read({ ...usage, 'gen_ai.operation.name': op }).charged, op).toBe(true);
    }
    for (const op of [
      'invoke_agent',
      'invoke_workflow',
      'create_agent',
      'execute_tool',
      'retrieval',
      'something_new',
    ]) {
      expect(read({ ...usage, 'gen_ai.operation.name': op }).charged, op).toBe(false);
    }
  });

  it('never charges OpenInference agent, chain, tool or retriever spans even with usage', () => {
    for (const kind of ['AGENT', 'CHAIN', 'TOOL', 'RETRIEVER', 'RERANKER', 'GUARDRAIL', 'EVALUATOR']) {
      expect(read({ ...usage, 'openinference.span.kind': kind }).charged, kind).toBe(false);
    }
    expect(read({ ...usage, 'openinference.span.kind': 'EMBEDDING' }).charged).toBe(true);
  });

  it('needs a provider or a model', () => {
    expect(read({ 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 5 }).charged).toBe(false);
    expect(read({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'mystery' })).toMatchObject({
      charged: true,
      call: { provider: 'unknown', model: 'mystery' },
    });
    expect(read({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai' })).toMatchObject({
      charged: true,
      call: { provider: 'openai', model: 'unknown' },
    });
  });

  it('charges spans without any operation attribute only when they report usage', () => {
    expect(read({ 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4' }).charged).toBe(false);
    expect(
      read({
        'gen_ai.system': 'openai',
        'gen_ai.request.model': 'gpt-4',
        'gen_ai.usage.completion_tokens': 1,
      }).charged,
    ).toBe(true);
    // "unknown" says nothing: treated as no operation.
    expect(
      read({ 'llm.request.type': 'unknown', 'gen_ai.system': 'openai', 'gen_ai.usage.prompt_tokens': 1 })
        .charged,
    ).toBe(true);
  });

  it('reads the span classification, lower-cased', () => {
    expect(
      read({ ...usage, 'gen_ai.operation.name': 'chat', 'genops.data.classification': ' Confidential ' }).call
        .classification,
    ).toBe('confidential');
  });
});

describe('token normalisation (input includes cache, output includes reasoning)', () => {
  const base = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4',
  };

  it('keeps input as sent when it already includes the cache tokens (semconv)', () => {
    expect(
      read({
        ...base,
        'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.cache_read.input_tokens': 600,
        'gen_ai.usage.cache_creation.input_tokens': 300,
      }).call,
    ).toMatchObject({ inputTokens: 1000, cacheReadTokens: 600, cacheWriteTokens: 300 });
  });

  it("adds cache tokens back when they exceed input (Anthropic's raw uncached input_tokens)", () => {
    expect(
      read({
        ...base,
        'gen_ai.usage.input_tokens': 12,
        'gen_ai.usage.cache_read.input_tokens': 4000,
        'gen_ai.usage.cache_creation.input_tokens': 800,
      }).call,
    ).toMatchObject({ inputTokens: 4812, cacheReadTokens: 4000, cacheWriteTokens: 800 });
  });

  it('adds cache tokens back for OpenLIT Anthropic spans, which always send the raw input figure', () => {
    const raw = {
      ...base,
      'gen_ai.system': 'anthropic',
      'gen_ai.usage.input_tokens': 5000,
      'gen_ai.usage.cache_read.input_tokens': 2000,
    };
    expect(read({ ...raw, 'telemetry.sdk.name': 'openlit' }).call.inputTokens).toBe(7000);
    expect(read(raw, 'openlit').call.inputTokens).toBe(7000);
    expect(read(raw, 'opentelemetry').call.inputTokens).toBe(5000);
    expect(
      read({ ...raw, 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o' }, 'openlit').call
        .inputTokens,
    ).toBe(5000);
  });

  it('adds reasoning back when it exceeds output (Gemini thoughts reported apart)', () => {
    expect(
      read({ ...base, 'gen_ai.usage.output_tokens': 100, 'gen_ai.usage.reasoning.output_tokens': 300 }).call,
    ).toMatchObject({
      outputTokens: 400,
      reasoningTokens: 300,
    });
    expect(
      read({ ...base, 'gen_ai.usage.output_tokens': 500, 'gen_ai.usage.reasoning.output_tokens': 300 }).call
        .outputTokens,
    ).toBe(500);
  });
});

describe('provider and operation names', () => {
  it('normalises aliases and case to the current provider names', () => {
    const cases: [string, string][] = [
      ['az.ai.openai', 'azure.ai.openai'],
      ['az.ai.inference', 'azure.ai.inference'],
      ['vertex_ai', 'gcp.vertex_ai'],
      ['VertexAI', 'gcp.vertex_ai'],
      ['gemini', 'gcp.gemini'],
      ['google', 'gcp.gen_ai'],
      ['xai', 'x_ai'],
      ['Anthropic', 'anthropic'],
      ['AWS', 'aws.bedrock'],
      ['bedrock', 'aws.bedrock'],
      ['MistralAI', 'mistral_ai'],
      ['watsonx', 'ibm.watsonx.ai'],
      ['OpenAI', 'openai'],
      ['aws.bedrock', 'aws.bedrock'],
      ['some-new-provider', 'some-new-provider'],
      ['   ', ''],
      ['x'.repeat(65), ''],
    ];
    for (const [raw, want] of cases) expect(normalizeProvider(raw), raw).toBe(want);
  });

  it('maps OpenLLMetry request types and OpenInference kinds', () => {
    expect(normalizeOperation('embedding', OPERATION_SOURCE_LLM_REQUEST_TYPE)).toBe('embeddings');
    expect(normalizeOperation('rerank', OPERATION_SOURCE_LLM_REQUEST_TYPE)).toBe('rerank');
    expect(normalizeOperation('llm', OPERATION_SOURCE_OPENINFERENCE)).toBe('chat');
    expect(normalizeOperation('AGENT', OPERATION_SOURCE_OPENINFERENCE)).toBe('invoke_agent');
  });
});
