// Conformance of real JavaScript GenAI instrumentations from npm with the ingest pipeline: each case
// runs a Node process (test/compat-js/scenario.cjs, from the cached install of test/compat-js made
// by test/compat/setup.ts) in which the instrumentation wraps the real `openai` client, or the Vercel
// AI SDK calls its OpenAI and Anthropic providers, against the fake provider (test/compat/fake_llm.py,
// one process for the file), exporting with the standard OTel Node SDK variables to an in-process
// ingest pipeline. Same assertions as compat-python.test.ts (test/compat/harness.ts).
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JS_CASES } from '../compat/cases.ts';
import { openaiCall, unknownModel } from '../compat/expected.ts';
import type { Harness, Outcome } from '../compat/harness.ts';
import {
  checkCase,
  expectedCost,
  priceBook,
  jsRunner,
  renderTable,
  replaceSection,
  startFakeProvider,
  startHarness,
} from '../compat/harness.ts';
import { ensureNodeEnv, ensurePythonEnv } from '../compat/setup.ts';
import type { NodeEnv } from '../compat/setup.ts';

const DOC = new URL('../../docs/compatibility.md', import.meta.url);
let harness: Harness;
let nodeEnv: NodeEnv;
let fake: { url: string; child: ChildProcess } | undefined;
const outcomes: Outcome[] = [];
const log = (m: string) => process.stderr.write(`[compat] ${m}\n`);

beforeAll(async () => {
  const [env, python] = await Promise.all([ensureNodeEnv({ log }), ensurePythonEnv('main', { log })]);
  nodeEnv = env;
  fake = await startFakeProvider(python.python);
  harness = await startHarness();
}, 40 * 60_000);

afterAll(async () => {
  fake?.child.kill('SIGTERM');
  await harness?.pipeline.shutdown();
});

describe('a model without a price', () => {
  it("costs the provider's conservative fallback by default, never 0", () => {
    // acme-llm-7b (1000 in / 100 out) is in no table; the default fallback is the highest price of
    // that provider's models, so an unknown model cannot slip under a budget.
    const call = unknownModel(openaiCall('acme-llm-7b'));
    expect(priceBook.lookup('openai', 'acme-llm-7b')).toBeUndefined();
    const fallback = priceBook.fallbackFor('openai');
    expect(fallback.rates.input).toBeGreaterThan(0);
    expect(expectedCost(call)).toBeGreaterThan(expectedCost({ ...call, unpriced: false, model: 'gpt-4o' }));
  });
});

describe('real JavaScript GenAI instrumentations -> OTLP -> ingest pipeline', () => {
  it.each(JS_CASES.map((c) => [c.id, c] as const))(
    '%s: every call charged once, exactly, and attributed to the workload',
    async (_id, c) => {
      await checkCase(harness, c, await jsRunner(nodeEnv.dir, c.scenario, fake!.url), outcomes);
    },
    120_000,
  );

  it('docs/compatibility.md has the table of these runs', async () => {
    expect(outcomes.map((o) => o.case.id).sort()).toEqual(JS_CASES.map((c) => c.id).sort());
    const doc = await readFile(DOC, 'utf8');
    const next = replaceSection(doc, 'js-results', renderTable(outcomes));
    if (process.env.GENOPS_COMPAT_WRITE_DOCS === '1') await writeFile(DOC, next);
    else expect(doc, 'regenerate with GENOPS_COMPAT_WRITE_DOCS=1').toBe(next);
  });
});
