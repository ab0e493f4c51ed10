// A real nginx (Debian's package, run in the foreground with its config in a temp dir) with the
// auth_request config of examples/gateway/nginx/genops.conf in front of a fake provider, asking
// `genops local` on loopback: a blocked workload gets 429 with its budget's message and never reaches
// the provider, others pass, the allowed calls' spans (real OTel SDK exporter) still charge the
// budget, a model the policy forbids gets 403, and with the operator gone nginx fails open as the
// example documents.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocal, type LocalRuntime } from '../../cmd/commands/local.ts';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { POLICIES, sendChatSpans, teamHeaders, waitForBudget } from './fixtures.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/gateway/nginx/genops.conf', import.meta.url));

let dir: string;
let local: LocalRuntime;
let localStopped = false;
let provider: Server;
let nginx: ChildProcess;
let nginxPort: number;
let nginxLog = '';
const providerCalls: { path: string; headers: Record<string, unknown> }[] = [];

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The example as written, pointed at loopback: the only changes are addresses and the local-mode note. */
function localConfig(example: string, authzPort: number, providerPort: number, port: number): string {
  const replaced = example
    .replace('genops-authz.genops-system.svc.cluster.local:9191', `127.0.0.1:${authzPort}`)
    .replace('api.openai.com:443', `127.0.0.1:${providerPort}`)
    .replaceAll('https://llm_provider', 'http://llm_provider')
    .replace('listen 8000;', `listen 127.0.0.1:${port};`)
    .replace('proxy_set_header X-Genops-Namespace "";', '')
    .replace('proxy_set_header X-Genops-Workload "";', '');
  return replaced;
}

async function call(team: 'a' | 'b', extra: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${nginxPort}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...teamHeaders(team), 'content-type': 'application/json', ...extra },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

beforeAll(async () => {
  const version = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (version.status !== 0)
    throw new Error('nginx is not installed (apt-get install -y nginx, as .ci/run does)');
  dir = await mkdtemp(join(tmpdir(), 'genops-nginx-'));
  await mkdir(join(dir, 'policies'));
  await writeFile(join(dir, 'policies', 'policies.yaml'), POLICIES);
  local = await startLocal(
    {
      policies: join(dir, 'policies'),
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
  provider = createServer((req, res) => {
    providerCalls.push({ path: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          model: 'gpt-4o',
          choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
        }),
      );
    });
  });
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  const providerPort = (provider.address() as AddressInfo).port;

  nginxPort = await freePort();
  const example = await readFile(EXAMPLE, 'utf8');
  await writeFile(
    join(dir, 'genops.conf'),
    localConfig(example, local.ports().authz, providerPort, nginxPort),
  );
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, t));
  await writeFile(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log stderr warn;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  include ${join(dir, 'genops.conf')};
}
`,
  );
  const test = spawnSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t refused the example: ${test.stderr}`);
  nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  nginx.stderr?.on('data', (c: Buffer) => (nginxLog += c.toString()));
  // Bounded wait until nginx accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${nginxPort}/`);
      break;
    } catch {
      if (Date.now() > deadline || nginx.exitCode !== null)
        throw new Error(`nginx did not start:\n${nginxLog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}, 60_000);

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGQUIT');
    await exited;
  }
  if (!localStopped) await local?.shutdown();
  await new Promise((r) => (provider ? provider.close(r) : r(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nginx auth_request in front of a provider', () => {
  it('429s a blocked workload with its budget, passes the others, and their spans still charge', async () => {
    // Before any spend both teams pass; the provider sees each call.
    const first = await call('a');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.text)).toMatchObject({ object: 'chat.completion' });
    expect(first.headers.get('x-genops-budget')).toBe('ai/team-a-budget');
    expect(first.headers.get('x-genops-budget-remaining')).toBe('0.010000');
    expect((await call('b')).status).toBe(200);
    expect(providerCalls).toHaveLength(2);

    // The app reports its calls: spans of team a's calls use up its 0.01 USD, one of team b's is charged.
    await sendChatSpans(local.ports().http, 'a', 2);
    await sendChatSpans(local.ports().http, 'b', 1);
    await waitForBudget(local, 'team-a-budget', (s) => s.action === 'block');
    await waitForBudget(local, 'team-b-budget', (s) => s.spendMicros > 0);

    const blocked = await call('a');
    expect(blocked.status).toBe(429);
    const body = JSON.parse(blocked.text) as Record<string, unknown>;
    expect(body).toMatchObject({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
      kind: 'AIBudget',
      namespace: 'ai',
      name: 'team-a-budget',
      limit: '0.010000',
      workload: 'ai/Deployment/chat-a',
    });
    expect(body['message']).toMatch(
      /AIBudget "team-a-budget" is blocking this workload: spend 0\.0\d USD of 0\.01 USD/,
    );
    expect(Number(body['spend'])).toBeGreaterThan(0.01);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    // Refused at the gateway: the provider never saw it.
    expect(providerCalls).toHaveLength(2);

    // Team b still passes, with what is left of its budget.
    const other = await call('b');
    expect(other.status).toBe(200);
    expect(Number(other.headers.get('x-genops-budget-remaining'))).toBeLessThan(100);
    expect(providerCalls).toHaveLength(3);

    // Its allowed calls keep being charged from their spans.
    const before = local.decisions.decisions().budgets.get('ai/team-b-budget')!.spendMicros;
    await sendChatSpans(local.ports().http, 'b', 1);
    await waitForBudget(local, 'team-b-budget', (s) => s.spendMicros > before);
  });

  it('403s a model the policy does not allow, with the policy named', async () => {
    const calls = providerCalls.length;
    const res = await call('b', { 'x-genops-model': 'claude-3-opus' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ code: 'POLICY_DENY_MODEL', name: 'team-b-models' });
    expect(providerCalls).toHaveLength(calls);
  });

  it('fails open when the operator does not answer, as the example documents', async () => {
    localStopped = true;
    await local.shutdown();
    const calls = providerCalls.length;
    const res = await call('a');
    expect(res.status).toBe(200);
    expect(providerCalls).toHaveLength(calls + 1);
  });
});
