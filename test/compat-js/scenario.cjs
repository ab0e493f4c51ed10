// One JavaScript compatibility scenario: a real GenAI instrumentation from npm wraps the real `openai`
// client (or the Vercel AI SDK calls its providers), the calls go to the fake provider
// (test/compat/fake_llm.py, started by the test, its base URL in FAKE_LLM_URL), and the standard
// OpenTelemetry Node SDK (@opentelemetry/sdk-node) exports the spans over OTLP, configured only by the
// standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), as in an instrumented pod.
//
//   node scenario.cjs <scenario>
//
// CommonJS on purpose: the instrumentations patch `openai` through require hooks, as they do in most
// Node services. The last line of stdout is `COMPAT_RESULT {json}`, the same shape as
// test/compat/scenario.py's. Run from the cached install of test/compat-js (NODE_PATH points there).
'use strict';

const FAKE = process.env.FAKE_LLM_URL;
if (!FAKE) throw new Error('FAKE_LLM_URL is not set');
const QUESTION = 'How does Kubernetes schedule pods?';

const PACKAGES = [
  'openai',
  'ai',
  '@ai-sdk/otel',
  '@ai-sdk/openai',
  '@ai-sdk/anthropic',
  '@opentelemetry/sdk-node',
  '@opentelemetry/instrumentation-openai',
  '@traceloop/instrumentation-openai',
  '@arizeai/openinference-instrumentation-openai',
];

function instrumentations(name) {
  switch (name) {
    case 'otel-js-openai':
    case 'otel-js-openai-unknown-model': {
      const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');
      return [new OpenAIInstrumentation()];
    }
    case 'traceloop-js-openai': {
      const { OpenAIInstrumentation } = require('@traceloop/instrumentation-openai');
      return [new OpenAIInstrumentation({ enrichTokens: false })];
    }
    case 'openinference-js-openai': {
      const { OpenAIInstrumentation } = require('@arizeai/openinference-instrumentation-openai');
      return [new OpenAIInstrumentation()];
    }
    default:
      return [];
  }
}

function otlpExporter() {
  const protocol =
    process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ||
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL ||
    'http/protobuf';
  // Built with no arguments: endpoint, headers and compression come from the environment.
  if (protocol === 'grpc')
    return new (require('@opentelemetry/exporter-trace-otlp-grpc').OTLPTraceExporter)();
  if (protocol === 'http/protobuf')
    return new (require('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter)();
  if (protocol === 'http/json')
    return new (require('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter)();
  throw new Error(`unsupported OTEL_EXPORTER_OTLP_PROTOCOL ${protocol}`);
}

// -- the application code the instrumentations observe ------------------------------------------

async function openaiCalls() {
  const { default: OpenAI } = require('openai');
  const client = new OpenAI({ baseURL: `${FAKE}/v1`, apiKey: 'sk-fake', maxRetries: 0 });
  // 1. chat with a prompt-cache hit
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: QUESTION }] });
  // 2. streamed reasoning-model chat, usage in the last chunk
  const stream = await client.chat.completions.create({
    model: 'o4-mini',
    messages: [{ role: 'user', content: QUESTION }],
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _ of stream) void _;
  // 3. embeddings
  await client.embeddings.create({ model: 'text-embedding-3-small', input: ['pods', 'nodes'] });
}

const telemetry = { isEnabled: true, functionId: 'compat' };

/**
 * ai 7 sends spans through a registered telemetry integration (@ai-sdk/otel): `LegacyOpenTelemetry`
 * makes the `ai.*` spans of earlier versions (ai.generateText, ai.generateText.doGenerate, ...),
 * `OpenTelemetry` the GenAI semconv ones. COMPAT_AI_TELEMETRY picks one (default legacy).
 */
async function registerAiTelemetry() {
  const { registerTelemetry } = await import('ai');
  const otel = await import('@ai-sdk/otel');
  const mode = process.env.COMPAT_AI_TELEMETRY ?? 'legacy';
  if (mode === 'legacy') registerTelemetry(new otel.LegacyOpenTelemetry());
  else if (mode === 'semconv') registerTelemetry(new otel.OpenTelemetry());
  else throw new Error(`COMPAT_AI_TELEMETRY=${mode}: legacy or semconv`);
}

async function weatherTool() {
  const { tool } = await import('ai');
  const { z } = require('zod');
  return {
    weather: tool({
      description: 'The weather in a city.',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => `Sunny in ${city}.`,
    }),
  };
}

async function vercelOpenAICalls() {
  await registerAiTelemetry();
  const { generateText, streamText, embed, stepCountIs } = await import('ai');
  const { createOpenAI } = await import('@ai-sdk/openai');
  const openai = createOpenAI({ baseURL: `${FAKE}/v1`, apiKey: 'sk-fake' });
  // 1. Chat Completions, cache hit
  await generateText({ model: openai.chat('gpt-4o'), prompt: QUESTION, experimental_telemetry: telemetry });
  // 2. Responses API (the provider's default), streamed, reasoning tokens
  const result = streamText({
    model: openai('o4-mini'),
    prompt: QUESTION,
    experimental_telemetry: telemetry,
  });
  for await (const _ of result.textStream) void _;
  await result.usage;
  // 3. a tool loop: two model calls in one generateText
  await generateText({
    model: openai('gpt-4.1-mini'),
    prompt: 'Weather in Paris?',
    tools: await weatherTool(),
    stopWhen: stepCountIs(3),
    experimental_telemetry: telemetry,
  });
  // 4. embeddings
  await embed({
    model: openai.embedding('text-embedding-3-small'),
    value: 'pods',
    experimental_telemetry: telemetry,
  });
}

async function vercelAnthropicCalls() {
  await registerAiTelemetry();
  const { generateText, streamText, stepCountIs } = await import('ai');
  const { createAnthropic } = await import('@ai-sdk/anthropic');
  const anthropic = createAnthropic({ baseURL: `${FAKE}/v1`, apiKey: 'sk-ant-fake' });
  // 1. cache read and write
  await generateText({
    model: anthropic('claude-sonnet-4-20250514'),
    prompt: 'How are budgets reset?',
    experimental_telemetry: telemetry,
  });
  // 2. streamed
  const result = streamText({
    model: anthropic('claude-3-5-haiku-20241022'),
    prompt: 'How are budgets reset?',
    experimental_telemetry: telemetry,
  });
  for await (const _ of result.textStream) void _;
  await result.usage;
  // 3. a tool loop with a cache read smaller than the uncached input
  await generateText({
    model: anthropic('claude-3-7-sonnet-20250219'),
    prompt: 'Weather in Paris?',
    tools: await weatherTool(),
    stopWhen: stepCountIs(3),
    experimental_telemetry: telemetry,
  });
}

/** A self-hosted model behind an OpenAI-compatible API: not in any price table. */
async function unknownModelCalls() {
  const { default: OpenAI } = require('openai');
  const client = new OpenAI({ baseURL: `${FAKE}/v1`, apiKey: 'sk-fake', maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: QUESTION }] });
  await client.chat.completions.create({
    model: 'acme-llm-7b',
    messages: [{ role: 'user', content: QUESTION }],
  });
}

const SCENARIOS = {
  'otel-js-openai-unknown-model': unknownModelCalls,
  'otel-js-openai': openaiCalls,
  'traceloop-js-openai': openaiCalls,
  'openinference-js-openai': openaiCalls,
  'vercel-ai-openai': vercelOpenAICalls,
  'vercel-ai-anthropic': vercelAnthropicCalls,
};

function short(value) {
  if (typeof value === 'string' && value.length > 160) return `${value.slice(0, 157)}...`;
  if (Array.isArray(value)) return value.map(short);
  return value;
}

const KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function describe(span) {
  const parent = span.parentSpanContext?.spanId ?? span.parentSpanId ?? null;
  return {
    name: span.name,
    kind: KINDS[span.kind] ?? String(span.kind),
    scope: (span.instrumentationScope ?? span.instrumentationLibrary)?.name ?? '',
    spanId: span.spanContext().spanId,
    parentId: parent || null,
    attributes: Object.fromEntries(
      Object.entries(span.attributes)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, short(v)]),
    ),
    events: span.events.map((e) => e.name),
  };
}

function versions() {
  const fs = require('node:fs');
  const path = require('node:path');
  const out = {};
  for (const p of PACKAGES) {
    // Many packages do not export ./package.json: find it from the resolved entry point.
    const file = path.join(__dirname, 'node_modules', ...p.split('/'), 'package.json');
    try {
      out[p] = JSON.parse(fs.readFileSync(file, 'utf8')).version;
    } catch {
      // not installed
    }
  }
  return out;
}

async function calls() {
  const res = await fetch(`${FAKE}/_calls`);
  return (await res.json()).calls;
}

async function main() {
  const name = process.argv[2];
  if (!SCENARIOS[name]) throw new Error(`usage: scenario.cjs {${Object.keys(SCENARIOS).join('|')}}`);
  const { NodeSDK } = require('@opentelemetry/sdk-node');
  const tracing = require('@opentelemetry/sdk-trace');
  const memory = new tracing.InMemorySpanExporter();
  const sdk = new NodeSDK({
    // The resource comes from OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME (the SDK's env detector).
    spanProcessors: [
      new tracing.BatchSpanProcessor({ exporter: otlpExporter() }),
      new tracing.SimpleSpanProcessor({ exporter: memory }),
    ],
    instrumentations: instrumentations(name),
  });
  sdk.start();
  const before = (await calls()).length;
  await SCENARIOS[name]();
  const answered = (await calls()).slice(before);
  // Read before shutdown: shutting down the in-memory exporter empties it.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const spans = memory.getFinishedSpans().map(describe);
  let flushed = true;
  try {
    await sdk.shutdown();
  } catch (error) {
    flushed = false;
    process.stderr.write(`shutdown: ${error}\n`);
  }
  const result = {
    scenario: name,
    protocol: process.env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
    flushed,
    versions: versions(),
    calls: answered,
    resource: {},
    spans,
  };
  process.stdout.write(`COMPAT_RESULT ${JSON.stringify(result)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
