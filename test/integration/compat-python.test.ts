// Compatibility of real GenAI instrumentations from PyPI with the ingest pipeline: each scenario runs
// a Python process (test/compat/scenario.py) in which the instrumentation wraps the real `openai` /
// `anthropic` client, the client calls a fake provider on loopback (test/compat/fake_llm.py) that
// answers with the real APIs' response and `usage` shapes, and the standard OpenTelemetry Python SDK
// exports the spans over OTLP (gRPC or HTTP/protobuf) to an in-process ingest pipeline. Asserted per
// instrumentation: every span arrives, provider/model/tokens are read right, the cost is the exact
// micro-USD of the price table, agent/workflow spans are not charged and the workload comes from the
// resource attributes. The venvs come from test/compat/setup.ts (created on first use, ~2-4 min).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestPipeline } from '../../pipeline/ingest.ts';
import type { IngestPipeline } from '../../pipeline/ingest.ts';
import type { IngestMetrics, Transport } from '../../pipeline/ingest-metrics.ts';
import { noopIngestMetrics } from '../../pipeline/ingest-metrics.ts';
import { createPriceBook } from '../../pipeline/pricing/price-book.ts';
import { costMicros } from '../../pipeline/pricing/price.ts';
import type { TokenCounts } from '../../pipeline/pricing/price.ts';
import { COMPAT_DIR, ensurePythonEnv } from '../compat/setup.ts';
import type { PythonEnv, PythonEnvName } from '../compat/setup.ts';

const NAMESPACE = 'compat-python';

interface ExpectedCall extends TokenCounts {
  readonly provider: string;
  /** The model the provider answered with (gen_ai.response.model). */
  readonly model: string;
}

interface Case {
  /** Deployment name (resource attribute) and test title. */
  readonly id: string;
  readonly scenario: string;
  readonly env: PythonEnvName;
  readonly protocol: 'grpc' | 'http/protobuf';
  readonly gzip?: boolean;
  /** OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental */
  readonly latest?: boolean;
  readonly team: string;
  /** Charged calls, in any order. */
  readonly calls: readonly ExpectedCall[];
  /** Agent/workflow/trace wrapper spans the scenario makes (never charged). */
  readonly wrappers: number;
}

// ---------------------------------------------------------------------------------------------
// What the fake provider bills (fixtures.json), normalised the semconv way: input includes cache
// reads and writes, output includes reasoning.

interface Fixtures {
  openai: Record<string, { responseModel: string; usage: Record<string, unknown> }>;
  anthropic: Record<string, { responseModel: string; usage: Record<string, number> }>;
}
const fixtures = JSON.parse(readFileSync(join(COMPAT_DIR, 'fixtures.json'), 'utf8')) as Fixtures;

function billed(provider: 'openai' | 'anthropic', requestModel: string): ExpectedCall {
  if (provider === 'openai') {
    const f = fixtures.openai[requestModel]!;
    const u = f.usage as {
      prompt_tokens: number;
      completion_tokens?: number;
      prompt_tokens_details?: { cached_tokens?: number };
      completion_tokens_details?: { reasoning_tokens?: number };
    };
    return {
      provider,
      model: f.responseModel,
      inputTokens: u.prompt_tokens,
      outputTokens: u.completion_tokens ?? 0,
      cacheReadTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
      cacheWriteTokens: 0,
      reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
    };
  }
  const f = fixtures.anthropic[requestModel]!;
  const u = f.usage;
  // Anthropic's input_tokens excludes the cache; the semconv figure includes it.
  return {
    provider,
    model: f.responseModel,
    inputTokens: u.input_tokens! + u.cache_read_input_tokens! + u.cache_creation_input_tokens!,
    outputTokens: u.output_tokens!,
    cacheReadTokens: u.cache_read_input_tokens!,
    cacheWriteTokens: u.cache_creation_input_tokens!,
    reasoningTokens: 0,
  };
}

const GPT_4O = billed('openai', 'gpt-4o');
const O4_MINI_STREAM = billed('openai', 'o4-mini');
const EMBEDDING = billed('openai', 'text-embedding-3-small');
const SONNET = billed('anthropic', 'claude-sonnet-4-20250514');
const HAIKU_STREAM = billed('anthropic', 'claude-3-5-haiku-20241022');
/** Cache read smaller than the uncached input: a raw (cache-excluding) input figure is detectable. */
const SONNET_37 = billed('anthropic', 'claude-3-7-sonnet-20250219');

// Where an instrumentation itself reports less (or more) than the provider billed, the pipeline can
// only charge what the span says; each such deviation is named here and in docs/compatibility.md.
/** Sends no cached-token attribute: the cache hit is charged at the full input price. */
const noCacheRead = (c: ExpectedCall): ExpectedCall => ({ ...c, cacheReadTokens: 0 });
/** Sends no reasoning-token attribute (same cost: the table prices reasoning as output). */
const noReasoning = (c: ExpectedCall): ExpectedCall => ({ ...c, reasoningTokens: 0 });

const CASES: readonly Case[] = [
  {
    id: 'otel-openai-v2',
    scenario: 'otel-openai-v2',
    env: 'openai-v2',
    protocol: 'http/protobuf',
    team: 'search',
    calls: [noCacheRead(GPT_4O), noReasoning(O4_MINI_STREAM), EMBEDDING],
    wrappers: 2,
  },
  {
    id: 'otel-openai-v2-latest',
    scenario: 'otel-openai-v2',
    env: 'openai-v2',
    protocol: 'grpc',
    latest: true,
    team: 'search',
    calls: [noCacheRead(GPT_4O), noReasoning(O4_MINI_STREAM), EMBEDDING],
    wrappers: 2,
  },
  {
    id: 'otel-genai-openai',
    scenario: 'otel-genai-openai',
    env: 'main',
    protocol: 'http/protobuf',
    gzip: true,
    team: 'chat',
    calls: [GPT_4O, O4_MINI_STREAM, EMBEDDING],
    wrappers: 2,
  },
  {
    id: 'otel-genai-openai-latest',
    scenario: 'otel-genai-openai',
    env: 'main',
    protocol: 'grpc',
    gzip: true,
    latest: true,
    team: 'chat',
    calls: [GPT_4O, O4_MINI_STREAM, EMBEDDING],
    wrappers: 2,
  },
  {
    id: 'openllmetry-openai',
    scenario: 'openllmetry-openai',
    env: 'main',
    protocol: 'grpc',
    team: 'support',
    calls: [GPT_4O, noReasoning(O4_MINI_STREAM), EMBEDDING],
    wrappers: 0,
  },
  {
    id: 'openllmetry-anthropic',
    scenario: 'openllmetry-anthropic',
    env: 'main',
    protocol: 'http/protobuf',
    team: 'support',
    // On a stream it adds message_start's placeholder output_tokens (1) to message_delta's
    // cumulative figure: one output token too many.
    calls: [SONNET, { ...HAIKU_STREAM, outputTokens: HAIKU_STREAM.outputTokens + 1 }, SONNET_37],
    wrappers: 0,
  },
  {
    id: 'openinference-openai',
    scenario: 'openinference-openai',
    env: 'main',
    protocol: 'http/protobuf',
    team: 'research',
    calls: [GPT_4O, O4_MINI_STREAM, EMBEDDING],
    wrappers: 2,
  },
  {
    id: 'openlit',
    scenario: 'openlit',
    env: 'main',
    protocol: 'grpc',
    team: 'platform',
    calls: [GPT_4O, noReasoning(O4_MINI_STREAM), EMBEDDING, SONNET, HAIKU_STREAM, SONNET_37],
    wrappers: 1,
  },
];

// ---------------------------------------------------------------------------------------------

interface SpanDump {
  name: string;
  kind: string;
  scope: string;
  parentId: string | null;
  attributes: Record<string, unknown>;
}

interface ScenarioResult {
  scenario: string;
  flushed: boolean;
  versions: Record<string, string>;
  calls: { provider: string; path: string; model: string; stream: boolean }[];
  resource: Record<string, unknown>;
  spans: SpanDump[];
}

const priceBook = createPriceBook();
const expectedCost = (c: ExpectedCall): number => {
  const price = priceBook.lookup(c.provider, c.model);
  if (!price) throw new Error(`no price for ${c.provider}/${c.model}`);
  return costMicros(c, price);
};

let pipeline: IngestPipeline;
const envs = new Map<PythonEnvName, PythonEnv>();
const counted = {
  received: new Map<Transport, number>(),
  rejected: 0,
  charged: 0,
  unpriced: [] as string[],
};
const metrics: IngestMetrics = {
  ...noopIngestMetrics,
  spansReceived: (n, transport) =>
    counted.received.set(transport, (counted.received.get(transport) ?? 0) + n),
  spansRejected: (n) => (counted.rejected += n),
  spansCharged: (n) => (counted.charged += n),
  spansUnpriced: (n, provider, model) => counted.unpriced.push(`${n} x ${provider}/${model}`),
};
const totalReceived = () => [...counted.received.values()].reduce((a, b) => a + b, 0);

const log = (m: string) => process.stderr.write(`[compat] ${m}\n`);

beforeAll(async () => {
  // Both venvs at once: creating them is mostly waiting on downloads.
  const names: PythonEnvName[] = ['main', 'openai-v2'];
  const made = await Promise.all(names.map((name) => ensurePythonEnv(name, { log })));
  for (const env of made) envs.set(env.name as PythonEnvName, env);
  pipeline = createIngestPipeline({ grpc: { port: 0 }, http: { port: 0 }, pool: { threads: 1 }, metrics });
  await pipeline.start();
}, 25 * 60_000);

afterAll(async () => {
  await pipeline?.shutdown();
});

function runScenario(c: Case): Promise<{ result: ScenarioResult; stderr: string }> {
  const ports = pipeline.ports();
  const env: NodeJS.ProcessEnv = {};
  // The scenario sees only the standard variables set here, not whatever OTEL_* the runner has.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_')) env[k] = v;
  Object.assign(env, {
    PYTHONDONTWRITEBYTECODE: '1',
    OTEL_SERVICE_NAME: c.id,
    OTEL_RESOURCE_ATTRIBUTES: [
      `k8s.namespace.name=${NAMESPACE}`,
      `k8s.deployment.name=${c.id}`,
      `k8s.pod.name=${c.id}-7c9d8f6b5-x2x9q`,
      `k8s.pod.label.team=${c.team}`,
      `k8s.pod.label.app=${c.id}`,
    ].join(','),
    OTEL_EXPORTER_OTLP_PROTOCOL: c.protocol,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${c.protocol === 'grpc' ? ports.grpc : ports.http}`,
    ...(c.gzip ? { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' } : {}),
    ...(c.latest ? { OTEL_SEMCONV_STABILITY_OPT_IN: 'gen_ai_latest_experimental' } : {}),
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  });
  const python = envs.get(c.env)!.python;
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(COMPAT_DIR, 'scenario.py'), c.scenario], {
      cwd: COMPAT_DIR,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('COMPAT_RESULT '));
      if (code !== 0 || !line) {
        reject(new Error(`scenario ${c.scenario} failed (${signal ?? `exit ${code}`}):\n${stderr}`));
        return;
      }
      resolve({ result: JSON.parse(line.slice('COMPAT_RESULT '.length)) as ScenarioResult, stderr });
    });
  });
}

/** The attributes that matter for money, for readable failure messages. */
function usageAttributes(spans: readonly SpanDump[]): string {
  const keep =
    /(^gen_ai\.(operation|provider|system|request\.model|response\.model|usage)|^llm\.(system|provider|model_name|request\.type|usage|token_count)|^embedding\.model_name|^openinference\.span\.kind)/;
  return spans
    .map((s) => {
      const attrs = Object.entries(s.attributes).filter(([k]) => keep.test(k));
      return `  ${s.name} [${s.kind}, ${s.scope}] ${JSON.stringify(Object.fromEntries(attrs))}`;
    })
    .join('\n');
}

describe('the price table agrees with the published prices the fixtures were chosen for', () => {
  it('prices each fixture call at its hand-computed cost', () => {
    // gpt-4o $2.50/$1.25 cached/$10; o4-mini $1.10/$4.40; text-embedding-3-small $0.02;
    // claude-sonnet-4 and claude-3-7-sonnet $3/$0.30 read/$3.75 write/$15; claude-3-5-haiku $0.80/$4
    // (per 1M tokens).
    expect(expectedCost(GPT_4O)).toBe(176 * 2.5 + 1024 * 1.25 + 300 * 10); // 4720
    expect(expectedCost(O4_MINI_STREAM)).toBe(600 * 1.1 + 900 * 4.4); // 4620
    expect(expectedCost(EMBEDDING)).toBe(16);
    expect(expectedCost(SONNET)).toBe(200 * 3 + 3000 * 0.3 + 1000 * 3.75 + 400 * 15); // 11250
    expect(expectedCost(HAIKU_STREAM)).toBe(2500 * 0.8 + 250 * 4); // 3000
    expect(expectedCost(SONNET_37)).toBe(5000 * 3 + 2000 * 0.3 + 100 * 15); // 17100
  });
});

describe('real Python GenAI instrumentations -> OTLP -> ingest pipeline', () => {
  it.each(CASES.map((c) => [c.id, c] as const))(
    '%s: spans arrive, are priced exactly and attributed to the workload',
    async (_id, c) => {
      const receivedBefore = totalReceived();
      const transport: Transport = c.protocol === 'grpc' ? 'otlp-grpc' : 'otlp-http-protobuf';
      const transportBefore = counted.received.get(transport) ?? 0;
      const rejectedBefore = counted.rejected;
      const chargedBefore = counted.charged;

      const { result } = await runScenario(c);
      const dump = `spans sent by ${c.scenario} (${JSON.stringify(result.versions)}):\n${usageAttributes(result.spans)}`;

      // The fake provider answered every call and the SDK flushed.
      expect(result.flushed, dump).toBe(true);
      expect(result.calls.length, dump).toBe(c.calls.length);
      expect(result.spans.length, dump).toBe(c.calls.length + c.wrappers);

      // Every span the SDK finished reached the pipeline over the chosen transport, none rejected.
      expect(totalReceived() - receivedBefore, dump).toBe(result.spans.length);
      expect((counted.received.get(transport) ?? 0) - transportBefore, dump).toBe(result.spans.length);
      expect(counted.rejected - rejectedBefore).toBe(0);
      // Only the model calls are charged: agent/workflow wrappers are not.
      expect(counted.charged - chargedBefore, dump).toBe(c.calls.length);

      const usage = pipeline.windows.publish().workloads.get(`${NAMESPACE}/Deployment/${c.id}`);
      expect(usage, dump).toBeDefined();
      expect(usage!.ref).toEqual({ namespace: NAMESPACE, kind: 'Deployment', name: c.id });
      expect(usage!.labels).toEqual({ team: c.team, app: c.id });

      const expected = c.calls.map((call) => ({ ...call, costMicros: expectedCost(call) }));
      const byModel = Object.fromEntries(usage!.models.map((m) => [`${m.provider}/${m.model}`, m]));
      expect(Object.keys(byModel).sort(), dump).toEqual(
        expected.map((e) => `${e.provider}/${e.model}`).sort(),
      );
      for (const e of expected) {
        expect(byModel[`${e.provider}/${e.model}`], `${e.provider}/${e.model}\n${dump}`).toMatchObject({
          provider: e.provider,
          model: e.model,
          requests: 1,
          inputTokens: e.inputTokens,
          outputTokens: e.outputTokens,
          cacheReadTokens: e.cacheReadTokens,
          cacheWriteTokens: e.cacheWriteTokens,
          reasoningTokens: e.reasoningTokens,
          costMicros: e.costMicros,
          unpriced: false,
        });
      }
      const total = expected.reduce((sum, e) => sum + e.costMicros, 0);
      expect(usage!.spend.daily.costMicros, dump).toBe(total);
      expect(usage!.spend.monthly.costMicros).toBe(total);
      expect(usage!.spend.daily.requests).toBe(c.calls.length);
      expect(usage!.requestsLastMinute).toBe(c.calls.length);
      expect(usage!.maxRequestCostMicrosToday).toBe(Math.max(...expected.map((e) => e.costMicros)));
    },
    120_000,
  );
});
