// Conformance of real Python GenAI instrumentations from PyPI with the ingest pipeline: each case
// runs a Python process (test/compat/scenario.py) in which the instrumentation wraps the real client
// (openai, anthropic, google-genai, boto3, or a framework over them: pydantic-ai, LangChain, the
// OpenAI Agents SDK, LiteLLM), the client calls a fake provider on loopback (test/compat/fake_llm.py)
// with the real APIs' response and usage shapes, and the standard OpenTelemetry Python SDK exports
// the spans over OTLP to an in-process ingest pipeline. Asserted per case (test/compat/harness.ts):
// every span arrives, each provider call is charged once at the exact micro-USD of the price table,
// nested spans of one call are not charged again, spans without usage are flagged, agent/workflow
// spans are not charged, the workload comes from the resource attributes. The venvs come from
// test/compat/setup.ts (cached; `.ci/run` prepares them). The results table of
// docs/compatibility.md is generated from these runs and checked for drift.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON_CASES } from '../compat/cases.ts';
import { anthropicCall, bedrockCall, googleCall, openaiCall } from '../compat/expected.ts';
import type { Harness, Outcome } from '../compat/harness.ts';
import {
  checkCase,
  expectedCost,
  pythonRunner,
  renderTable,
  replaceSection,
  startHarness,
} from '../compat/harness.ts';
import { PYTHON_ENVS, ensurePythonEnv } from '../compat/setup.ts';
import type { PythonEnv, PythonEnvName } from '../compat/setup.ts';

const DOC = new URL('../../docs/compatibility.md', import.meta.url);
let harness: Harness;
const envs = new Map<string, PythonEnv>();
const outcomes: Outcome[] = [];
const log = (m: string) => process.stderr.write(`[compat] ${m}\n`);

beforeAll(async () => {
  // Every venv the cases use (cached; made here only when .ci/run's setup step did not run).
  const names = [...new Set(PYTHON_CASES.map((c) => c.env))] as PythonEnvName[];
  for (const name of names) expect(Object.keys(PYTHON_ENVS)).toContain(name);
  const made = await Promise.all(names.map((name) => ensurePythonEnv(name, { log })));
  for (const env of made) envs.set(env.name, env);
  harness = await startHarness();
}, 40 * 60_000);

afterAll(async () => {
  await harness?.pipeline.shutdown();
});

describe('the price table agrees with the published prices the fixtures were chosen for', () => {
  it('prices each fixture call at its hand-computed cost', () => {
    // gpt-4o $2.50/$1.25 cached/$10; o4-mini $1.10/$4.40; gpt-4.1-mini $0.40/$0.10/$1.60;
    // text-embedding-3-small $0.02; claude-sonnet-4 and claude-3-7-sonnet $3/$0.30 read/$3.75
    // write/$15; claude-3-5-haiku $0.80/$4; gemini-2.5-flash $0.30/$0.03/$2.50; Bedrock
    // claude-sonnet-4 as Anthropic's, nova-pro $0.80/$0.20/$3.20 (per 1M tokens).
    expect(expectedCost(openaiCall('gpt-4o'))).toBe(176 * 2.5 + 1024 * 1.25 + 300 * 10); // 4720
    expect(expectedCost(openaiCall('o4-mini'))).toBe(600 * 1.1 + 900 * 4.4); // 4620
    expect(expectedCost(openaiCall('gpt-4.1-mini'))).toBe(500 * 0.4 + 1500 * 0.1 + 125 * 1.6); // 550
    expect(expectedCost(openaiCall('text-embedding-3-small'))).toBe(16);
    expect(expectedCost(anthropicCall('claude-sonnet-4-20250514'))).toBe(
      200 * 3 + 3000 * 0.3 + 1000 * 3.75 + 400 * 15,
    ); // 11250
    expect(expectedCost(anthropicCall('claude-3-5-haiku-20241022'))).toBe(2500 * 0.8 + 250 * 4); // 3000
    expect(expectedCost(anthropicCall('claude-3-7-sonnet-20250219'))).toBe(5000 * 3 + 2000 * 0.3 + 100 * 15); // 17100
    expect(expectedCost(googleCall('gemini-2.5-flash'))).toBe(1000 * 0.3 + 3000 * 0.03 + 700 * 2.5); // 2140
    expect(expectedCost(bedrockCall('us.anthropic.claude-sonnet-4-20250514-v1:0'))).toBe(
      500 * 3 + 4000 * 0.3 + 1000 * 3.75 + 300 * 15, // 10950
    );
    expect(expectedCost(bedrockCall('amazon.nova-pro-v1:0'))).toBe(3000 * 0.8 + 1000 * 0.2 + 200 * 3.2); // 3240
  });
});

describe('real Python GenAI instrumentations -> OTLP -> ingest pipeline', () => {
  it.each(PYTHON_CASES.map((c) => [c.id, c] as const))(
    '%s: every call charged once, exactly, and attributed to the workload',
    async (_id, c) => {
      const env = envs.get(c.env)!;
      await checkCase(harness, c, pythonRunner(env.python, c.scenario), outcomes);
    },
    120_000,
  );

  it('docs/compatibility.md has the table of these runs', async () => {
    // Every case ran (passed or not: a failed case fails on its own).
    expect(outcomes.map((o) => o.case.id).sort()).toEqual(PYTHON_CASES.map((c) => c.id).sort());
    const doc = await readFile(DOC, 'utf8');
    const next = replaceSection(doc, 'python-results', renderTable(outcomes));
    if (process.env.GENOPS_COMPAT_WRITE_DOCS === '1') await writeFile(DOC, next);
    else expect(doc, 'regenerate with GENOPS_COMPAT_WRITE_DOCS=1').toBe(next);
  });
});
