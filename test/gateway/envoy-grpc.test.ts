// The gRPC API against Envoy's own protos: `genops local` (real pipeline, decisions from spans sent
// with the real OTel SDK exporter) answers Authorization/Check called through the client generated
// from envoyproxy/data-plane-api (PyPI xds-protos), for the allow, deny and error paths.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocal, type LocalRuntime } from '../../cmd/commands/local.ts';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { POLICIES, sendChatSpans, teamHeaders, waitForBudget } from './fixtures.ts';
import { ensureEnvoyPython, GATEWAY_TEST_DIR } from './python-env.ts';

interface CaseResult {
  name: string;
  grpc: string;
  status?: number;
  kind?: string;
  http_status?: number;
  headers?: Record<string, string>;
  response_headers?: Record<string, string>;
  body?: Record<string, unknown>;
  details?: string;
}

let python: string;
let dir: string;
let local: LocalRuntime;

/** Runs the generated client in a child process (asynchronously: the server runs in this process). */
async function callEnvoyClient(cases: object[]): Promise<Map<string, CaseResult>> {
  const child = spawn(
    python,
    [join(GATEWAY_TEST_DIR, 'envoy_check.py'), `127.0.0.1:${local.ports().authz}`],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', resolve);
    child.stdin.end(JSON.stringify(cases));
  });
  clearTimeout(timer);
  if (code !== 0) throw new Error(`envoy_check.py failed (${code}): ${stderr}`);
  const out = new Map<string, CaseResult>();
  for (const line of stdout.trim().split('\n')) {
    const result = JSON.parse(line) as CaseResult;
    out.set(result.name, result);
  }
  return out;
}

beforeAll(async () => {
  python = await ensureEnvoyPython((m) => process.stderr.write(`[gateway] ${m}\n`));
  dir = await mkdtemp(join(tmpdir(), 'genops-envoy-'));
  await writeFile(join(dir, 'policies.yaml'), POLICIES);
  local = await startLocal(
    {
      policies: dir,
      host: '127.0.0.1',
      otlpGrpcPort: 0,
      otlpHttpPort: 0,
      metricsPort: 0,
      healthPort: 0,
      authzPort: 0,
      timeZone: 'UTC',
      workers: 1,
    },
    { logger: silentLogger, clock: systemClock },
  );
}, 20 * 60_000);

afterAll(async () => {
  await local?.shutdown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Envoy ext_authz (gRPC) with the generated client', () => {
  it('allows, denies (budget 429, model 403, per-request 429) and refuses malformed requests', async () => {
    const chat = (team: 'a' | 'b', body: object, name: string) => ({
      name,
      source: '10.0.0.9',
      method: 'POST',
      path: '/v1/chat/completions',
      host: 'api.openai.com',
      headers: { ...teamHeaders(team), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const cases = [
      chat('a', { model: 'gpt-4o', max_tokens: 100 }, 'a-before'),
      chat('b', { model: 'gpt-4o-mini', max_tokens: 100 }, 'b-allowed'),
      chat('b', { model: 'claude-3-opus', max_tokens: 100 }, 'b-model'),
      // 100k output tokens of gpt-4o-mini (0.60 USD/M) may cost 0.06 USD > the 0.01 per-request limit.
      chat('b', { model: 'gpt-4o-mini', max_tokens: 100_000 }, 'b-per-request'),
      { name: 'malformed', raw: '0aff' },
      { name: 'garbage-field', raw: '0a0322010a' },
    ];
    const before = await callEnvoyClient(cases);
    expect(before.get('a-before')).toMatchObject({ grpc: 'OK', status: 0, kind: 'ok_response' });
    const allowed = before.get('b-allowed')!;
    expect(allowed).toMatchObject({ grpc: 'OK', status: 0, kind: 'ok_response' });
    expect(allowed.headers?.['x-genops-budget']).toBe('ai/team-b-budget');
    expect(allowed.headers?.['x-genops-budget-remaining']).toBe('100.000000');
    expect(allowed.response_headers?.['x-genops-budget-remaining']).toBe('100.000000');
    expect(before.get('b-model')).toMatchObject({
      grpc: 'OK',
      status: 7,
      kind: 'denied_response',
      http_status: 403,
      body: { code: 'POLICY_DENY_MODEL', kind: 'AIPolicy', name: 'team-b-models' },
    });
    expect(before.get('b-per-request')).toMatchObject({
      status: 8,
      http_status: 429,
      body: { code: 'PER_REQUEST_LIMIT_EXCEEDED', name: 'team-b-budget', limit: '0.010000' },
    });
    expect(before.get('malformed')).toMatchObject({ grpc: 'INVALID_ARGUMENT' });
    expect(before.get('garbage-field')?.grpc).not.toBe('OK');

    // Team a spends past its 0.01 USD (3 x ~0.0075 USD of gpt-4o): the next check is refused.
    await sendChatSpans(local.ports().http, 'a', 3);
    await waitForBudget(local, 'team-a-budget', (s) => s.action === 'block');
    const after = await callEnvoyClient([
      chat('a', { model: 'gpt-4o', max_tokens: 100 }, 'a-after'),
      chat('b', { model: 'gpt-4o-mini', max_tokens: 100 }, 'b-after'),
    ]);
    const denied = after.get('a-after')!;
    expect(denied).toMatchObject({ grpc: 'OK', status: 8, kind: 'denied_response', http_status: 429 });
    expect(denied.body).toMatchObject({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
      kind: 'AIBudget',
      namespace: 'ai',
      name: 'team-a-budget',
      limit: '0.010000',
      currency: 'USD',
      workload: 'ai/Deployment/chat-a',
    });
    expect(Number(denied.body?.['spend'])).toBeGreaterThan(0.01);
    expect(typeof denied.body?.['resetAt']).toBe('string');
    expect(denied.headers?.['retry-after']).toMatch(/^\d+$/);
    expect(after.get('b-after')).toMatchObject({ status: 0, kind: 'ok_response' });
  });
});
