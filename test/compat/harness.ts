// The conformance harness shared by test/integration/compat-python.test.ts and compat-js.test.ts:
// runs one scenario (a Python or Node process in which a real instrumentation wraps the real client,
// calling the fake provider on loopback and exporting with the standard OTel SDK variables to an
// in-process ingest pipeline), then asserts per case: every span arrived over the chosen transport,
// each provider call is charged once (nested spans of one call are not charged again), the exact
// micro-USD per model against the price table, and the flags (spans without usage, unknown models).
// It also renders the results table of docs/compatibility.md from the runs.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createIngestPipeline } from '../../pipeline/ingest.ts';
import type { IngestPipeline } from '../../pipeline/ingest.ts';
import type { IngestMetrics, Transport } from '../../pipeline/ingest-metrics.ts';
import { noopIngestMetrics } from '../../pipeline/ingest-metrics.ts';
import { createPriceBook } from '../../pipeline/pricing/price-book.ts';
import { costMicros } from '../../pipeline/pricing/price.ts';
import type { ExpectedCall } from './expected.ts';
import { COMPAT_DIR, COMPAT_JS_DIR } from './setup.ts';

export interface Case {
  /** Deployment name (resource attribute) and test title. */
  readonly id: string;
  /** Instrumentation (package) for the docs table. */
  readonly instrumentation: string;
  readonly lang: 'Python' | 'JavaScript';
  readonly scenario: string;
  /** Python env name (setup.ts PYTHON_ENVS) or 'js'. */
  readonly env: string;
  readonly protocol: 'grpc' | 'http/protobuf';
  readonly gzip?: boolean;
  /** Extra environment of the scenario process (e.g. OTEL_SEMCONV_STABILITY_OPT_IN). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  readonly team: string;
  /** One entry per provider call that has a span: charged once, in any order. */
  readonly calls: readonly ExpectedCall[];
  /** Inference spans that describe a call already charged (framework span over SDK span). */
  readonly nested?: number;
  /** Agent/workflow/step/tool spans (never charged). */
  readonly wrappers: number;
  /** Provider calls the instrumentation makes no span for at all (invisible to any backend). */
  readonly untraced?: number;
  /** Packages whose versions the docs table shows. */
  readonly packages: readonly string[];
  /** What the instrumentation does not put on the wire (docs); empty: everything billed is sent. */
  readonly notOnWire: readonly string[];
}

export interface SpanDump {
  name: string;
  kind: string;
  scope: string;
  spanId?: string;
  parentId: string | null;
  attributes: Record<string, unknown>;
}

export interface ScenarioResult {
  scenario: string;
  flushed: boolean;
  versions: Record<string, string>;
  calls: { provider: string; path: string; model: string; stream: boolean }[];
  spans: SpanDump[];
}

export const NAMESPACE = 'compat';
export const priceBook = createPriceBook();

export function expectedCost(c: ExpectedCall): number {
  if (c.usageMissing) return 0;
  // The default fallback for a model without a price: conservative (the provider's highest price).
  if (c.unpriced) return costMicros(c, priceBook.fallbackFor(c.provider));
  const price = priceBook.lookup(c.provider, c.model);
  if (!price) throw new Error(`no price for ${c.provider}/${c.model}`);
  return costMicros(c, price);
}

export interface Counted {
  received: Map<Transport, number>;
  rejected: number;
  charged: number;
  nested: number;
  withoutUsage: number;
  unpriced: string[];
  /** Export requests answered (any transport). */
  requests: number;
}

export interface Harness {
  readonly pipeline: IngestPipeline;
  readonly counted: Counted;
}

export async function startHarness(): Promise<Harness> {
  const counted: Counted = {
    received: new Map(),
    rejected: 0,
    charged: 0,
    nested: 0,
    withoutUsage: 0,
    unpriced: [],
    requests: 0,
  };
  const metrics: IngestMetrics = {
    ...noopIngestMetrics,
    spansReceived: (n, transport) =>
      counted.received.set(transport, (counted.received.get(transport) ?? 0) + n),
    spansRejected: (n) => (counted.rejected += n),
    spansCharged: (n) => (counted.charged += n),
    spansNested: (n) => (counted.nested += n),
    spansWithoutUsage: (n) => (counted.withoutUsage += n),
    spansUnpriced: (n, provider, model) => counted.unpriced.push(`${n} x ${provider}/${model}`),
    requestDuration: () => (counted.requests += 1),
  };
  const pipeline = createIngestPipeline({
    grpc: { port: 0 },
    http: { port: 0 },
    pool: { threads: 1 },
    metrics,
  });
  await pipeline.start();
  return { pipeline, counted };
}

export interface Runner {
  /** The interpreter or node binary. */
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** A Python scenario in the venv `python`. */
export function pythonRunner(python: string, scenario: string): Runner {
  return { command: python, args: [join(COMPAT_DIR, 'scenario.py'), scenario], cwd: COMPAT_DIR };
}

/**
 * A JavaScript scenario run from the cached install (so `require` finds test/compat-js's
 * dependencies there, never the project's node_modules); the script is copied in each run.
 */
export async function jsRunner(nodeEnvDir: string, scenario: string, fakeUrl: string): Promise<Runner> {
  await copyFile(join(COMPAT_JS_DIR, 'scenario.cjs'), join(nodeEnvDir, 'scenario.cjs'));
  return {
    command: process.execPath,
    args: [join(nodeEnvDir, 'scenario.cjs'), scenario],
    cwd: nodeEnvDir,
    env: { FAKE_LLM_URL: fakeUrl },
  };
}

export function runScenario(h: Harness, c: Case, runner: Runner): Promise<ScenarioResult> {
  const ports = h.pipeline.ports();
  const env: NodeJS.ProcessEnv = {};
  // The scenario sees only the standard variables set here, not whatever OTEL_* the runner has.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_')) env[k] = v;
  Object.assign(env, {
    PYTHONDONTWRITEBYTECODE: '1',
    LITELLM_LOCAL_MODEL_COST_MAP: 'True',
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
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    ...c.extraEnv,
    ...runner.env,
  });
  return new Promise((resolve, reject) => {
    const child = spawn(runner.command, [...runner.args], {
      cwd: runner.cwd,
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
      resolve(JSON.parse(line.slice('COMPAT_RESULT '.length)) as ScenarioResult);
    });
  });
}

const MONEY_ATTRIBUTES =
  /(^gen_ai\.(operation|provider|system|request\.model|response\.model|usage)|^llm\.(system|provider|model_name|request\.type|usage|token_count)|^embedding\.model_name|^openinference\.span\.kind|^ai\.(model|usage|response\.model|operationId)|^server\.address)/;

/** The attributes that matter for money, for readable failure messages. */
export function usageAttributes(spans: readonly SpanDump[]): string {
  return spans
    .map((s) => {
      const attrs = Object.entries(s.attributes).filter(([k]) => MONEY_ATTRIBUTES.test(k));
      return `  ${s.name} [${s.kind}, ${s.scope}] ${JSON.stringify(Object.fromEntries(attrs))}`;
    })
    .join('\n');
}

const TOKEN_ATTRIBUTE = /(usage|token_count|Tokens$|tokens$)/i;

/** Token attribute names the run's spans carried (for the docs table). */
export function tokenAttributes(spans: readonly SpanDump[]): string[] {
  const names = new Set<string>();
  for (const s of spans)
    for (const k of Object.keys(s.attributes))
      if (TOKEN_ATTRIBUTE.test(k) && /^(gen_ai|llm|ai)\./.test(k) && !/total/.test(k)) names.add(k);
  return [...names].sort();
}

export interface Outcome {
  readonly case: Case;
  readonly versions: Record<string, string>;
  readonly tokenAttributes: readonly string[];
}

interface ModelTotal {
  provider: string;
  model: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costMicros: number;
  unpriced: boolean;
}

/** Expected usage per provider/model: calls summed, each call's cost rounded on its own. */
export function expectedModels(calls: readonly ExpectedCall[]): Map<string, ModelTotal> {
  const out = new Map<string, ModelTotal>();
  for (const c of calls) {
    const key = `${c.provider}/${c.model}`;
    const t = out.get(key) ?? {
      provider: c.provider,
      model: c.model,
      requests: 0,
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      costMicros: 0,
      unpriced: c.unpriced === true,
    };
    t.requests += 1;
    t.inputTokens += c.inputTokens;
    t.outputTokens += c.outputTokens;
    t.cacheReadTokens += c.cacheReadTokens;
    t.cacheWriteTokens += c.cacheWriteTokens;
    t.reasoningTokens += c.reasoningTokens;
    t.costMicros += expectedCost(c);
    out.set(key, t);
  }
  return out;
}

async function settle(h: Harness, target: number, timeoutMs: number): Promise<void> {
  // The charge-once stage holds framework spans for up to its hold time (1 s by default) before
  // they are charged: wait, bounded, until the expected spans are charged or nested.
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && h.counted.charged + h.counted.nested < target) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300));
}

/**
 * Runs one case and asserts everything. What the docs table needs is added to `outcomes` as soon as
 * the scenario ran, before the assertions, so the table shows every run, passed or not.
 */
export async function checkCase(h: Harness, c: Case, runner: Runner, outcomes: Outcome[]): Promise<void> {
  const transport: Transport = c.protocol === 'grpc' ? 'otlp-grpc' : 'otlp-http-protobuf';
  const total = () => [...h.counted.received.values()].reduce((a, b) => a + b, 0);
  const before = {
    received: total(),
    transport: h.counted.received.get(transport) ?? 0,
    rejected: h.counted.rejected,
    charged: h.counted.charged,
    nested: h.counted.nested,
    withoutUsage: h.counted.withoutUsage,
    unpriced: h.counted.unpriced.length,
    requests: h.counted.requests,
  };
  const result = await runScenario(h, c, runner);
  outcomes.push({ case: c, versions: result.versions, tokenAttributes: tokenAttributes(result.spans) });
  const nested = c.nested ?? 0;
  await settle(h, before.charged + before.nested + c.calls.length + nested, 5000);
  const dump = `spans sent by ${c.scenario} (${JSON.stringify(result.versions)}):\n${usageAttributes(result.spans)}`;

  // The fake provider answered every call and the SDK flushed.
  expect(result.flushed, dump).toBe(true);
  expect(result.calls.length, dump).toBe(c.calls.length + (c.untraced ?? 0));
  expect(result.spans.length, dump).toBe(c.calls.length + nested + c.wrappers);

  // Every span the SDK finished reached the pipeline over the chosen transport, none rejected.
  expect(total() - before.received, dump).toBe(result.spans.length);
  expect((h.counted.received.get(transport) ?? 0) - before.transport, dump).toBe(result.spans.length);
  expect(h.counted.rejected - before.rejected).toBe(0);
  if (c.extraEnv?.OTEL_BSP_MAX_EXPORT_BATCH_SIZE === '1') {
    // Really one span per export request: parent and child of one call never share a request.
    expect(h.counted.requests - before.requests, dump).toBe(result.spans.length);
  }
  // One charge per provider call: wrappers are not charged, nested spans of a charged call neither.
  expect(h.counted.charged - before.charged, `charged spans\n${dump}`).toBe(c.calls.length);
  expect(h.counted.nested - before.nested, `nested (not charged) spans\n${dump}`).toBe(nested);
  // Flags: spans without usage are counted, never a silent $0; models without a price are flagged.
  expect(h.counted.withoutUsage - before.withoutUsage, `spans without usage\n${dump}`).toBe(
    c.calls.filter((x) => x.usageMissing).length,
  );
  expect(h.counted.unpriced.slice(before.unpriced).sort(), `unpriced\n${dump}`).toEqual(
    c.calls
      .filter((x) => x.unpriced)
      .map((x) => `1 x ${x.provider}/${x.model}`)
      .sort(),
  );

  const usage = h.pipeline.windows.publish().workloads.get(`${NAMESPACE}/Deployment/${c.id}`);
  expect(usage, dump).toBeDefined();
  expect(usage!.ref).toEqual({ namespace: NAMESPACE, kind: 'Deployment', name: c.id });
  expect(usage!.labels).toEqual({ team: c.team, app: c.id });

  const expected = expectedModels(c.calls);
  const byModel = Object.fromEntries(usage!.models.map((m) => [`${m.provider}/${m.model}`, m]));
  expect(Object.keys(byModel).sort(), dump).toEqual([...expected.keys()].sort());
  for (const [key, e] of expected) {
    expect(byModel[key], `${key}\n${dump}`).toMatchObject(e);
  }
  const totalCost = [...expected.values()].reduce((sum, e) => sum + e.costMicros, 0);
  expect(usage!.spend.daily.costMicros, dump).toBe(totalCost);
  expect(usage!.spend.daily.requests).toBe(c.calls.length);
  expect(usage!.spend.monthly.costMicros).toBe(totalCost);
  expect(usage!.requestsLastMinute).toBe(c.calls.length);
  expect(usage!.maxRequestCostMicrosToday).toBe(Math.max(...c.calls.map(expectedCost)));
}

// -- docs/compatibility.md ----------------------------------------------------------------------

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The results table, one row per case, from the runs (versions and attributes as observed). */
export function renderTable(outcomes: readonly Outcome[]): string {
  const rows = [
    '| Case | Instrumentation | Lang. | Versions | OTLP | Token attributes sent | Not on the wire | Charged |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const o of [...outcomes].sort((a, b) => a.case.id.localeCompare(b.case.id))) {
    const c = o.case;
    const versions = c.packages.map((p) => `${p} ${o.versions[p] ?? '?'}`).join(', ');
    const protocol = `${c.protocol}${c.gzip ? ' + gzip' : ''}${
      c.extraEnv?.OTEL_SEMCONV_STABILITY_OPT_IN ? ', semconv opt-in' : ''
    }${c.extraEnv?.COMPAT_AI_TELEMETRY ? `, ${c.extraEnv.COMPAT_AI_TELEMETRY} telemetry` : ''}${
      c.extraEnv?.OTEL_BSP_MAX_EXPORT_BATCH_SIZE ? ', one span per request' : ''
    }`;
    const flagged = c.calls.filter((x) => x.usageMissing).length;
    const unpriced = c.calls.filter((x) => x.unpriced).length;
    const charged = [
      `${c.calls.length} calls charged once`,
      ...(c.nested ? [`${c.nested} nested spans not charged again`] : []),
      ...(flagged ? [`${flagged} without usage flagged`] : []),
      ...(unpriced ? [`${unpriced} unknown model flagged, charged at the provider's fallback price`] : []),
      ...(c.untraced ? [`${c.untraced} without any span (not billable by anyone)`] : []),
    ].join('; ');
    rows.push(
      `| ${cell(c.id)} | ${cell(c.instrumentation)} | ${c.lang} | ${cell(versions)} | ${protocol} | ${cell(
        o.tokenAttributes.map((a) => `\`${a}\``).join(', ') || 'none',
      )} | ${cell(c.notOnWire.join('; ') || '-')} | ${charged} |`,
    );
  }
  return rows.join('\n');
}

/** Replaces the text between `<!-- BEGIN name -->` and `<!-- END name -->`. */
export function replaceSection(doc: string, name: string, body: string): string {
  const begin = `<!-- BEGIN ${name} (generated by the compat tests; GENOPS_COMPAT_WRITE_DOCS=1 rewrites it) -->`;
  const end = `<!-- END ${name} -->`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/compatibility.md has no section ${name}`);
  return `${doc.slice(0, i + begin.length)}\n${body}\n${doc.slice(j)}`;
}

/** Starts the fake provider in its own process (for the JavaScript scenarios). */
export function startFakeProvider(python: string): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(COMPAT_DIR, 'fake_llm.py'), '--port', '0'], {
      cwd: COMPAT_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fake provider did not start: ${out}`));
    }, 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port=(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${m[1]}`, child });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
