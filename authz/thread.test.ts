import { connect, constants as h2 } from 'node:http2';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DecisionSet } from '../decision/types.ts';
import { createManualClock } from '../kernel/clock.ts';
import { createRecordingLogger, silentLogger } from '../kernel/logger.ts';
import { createAttributor } from '../pipeline/attribution/attributor.ts';
import type { PodDirectory, PodInfo } from '../pipeline/attribution/types.ts';
import { budget, budgetState, decisionSet } from '../webhook/testing/fixtures.ts';
import { createStaticAdmissionView } from '../webhook/view.ts';
import { encodeCheckRequest } from './envoy-proto.ts';
import { createIdentityResolver } from './identity.ts';
import { createOutputCostEstimator } from './index.ts';
import { createRecordingAuthzMetrics } from './metrics.ts';
import { CHECK_PATH, createAuthzServer, type AuthzServer } from './server.ts';
import { createAuthzThread } from './thread.ts';

const NOW = Date.UTC(2026, 6, 20, 12);

function pod(ip: string, name: string, team: string): PodInfo {
  return {
    uid: `uid-${name}`,
    namespace: 'ai',
    name: `${name}-abc`,
    ip,
    labels: { team },
    workload: { namespace: 'ai', kind: 'Deployment', name },
  };
}

/** The search team blocked by its budget (pod 10.0.0.5), chat fine (10.0.0.6); pods can be changed. */
function world(options: { trustedPeers?: string[]; cluster?: boolean } = {}) {
  const view = createStaticAdmissionView();
  view.setBudgets([budget({ name: 'search-budget', team: 'search' })]);
  view.setDecisions(decisionSet({ budgets: [budgetState('search-budget', 'block')] }));
  const pods = [pod('10.0.0.5', 'search', 'search'), pod('10.0.0.6', 'chat', 'chat')];
  const directory: PodDirectory = {
    byUid: (uid) => pods.find((p) => p.uid === uid),
    byNamespaceName: (ns, name) => pods.find((p) => p.namespace === ns && p.name === name),
    byIp: (ip) => pods.find((p) => p.ip === ip),
  };
  const cluster = options.cluster ?? true;
  const attributor = cluster ? createAttributor({ directory }) : undefined;
  const clock = createManualClock(NOW);
  const trustedPeers = options.trustedPeers ?? [];
  const mainMetrics = createRecordingAuthzMetrics();
  const threadMetrics = createRecordingAuthzMetrics();
  const logger = createRecordingLogger();
  const main = createAuthzServer({
    host: '127.0.0.1',
    port: 0,
    view,
    identity: createIdentityResolver({ ...(attributor ? { attributor } : {}), trustedPeers }),
    clock,
    logger: silentLogger,
    metrics: mainMetrics,
    estimate: createOutputCostEstimator(() => view.policies(), undefined, clock),
  });
  const thread = createAuthzThread({
    host: '127.0.0.1',
    port: 0,
    view,
    clock,
    logger,
    metrics: threadMetrics,
    ...(attributor ? { attributor } : {}),
    trustedPeers,
  });
  return { view, pods, main, thread, mainMetrics, threadMetrics, logger };
}

const running: AuthzServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.shutdown()));
});

async function start(s: AuthzServer): Promise<number> {
  running.push(s);
  await s.start();
  return s.port();
}

interface Reply {
  readonly status: string;
  readonly body: string;
  readonly headers: Record<string, string>;
}

function grpcCall(port: number, message: Uint8Array, path = CHECK_PATH): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    const headers: Record<string, string> = {};
    const keep = (h: Record<string, unknown>) => {
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && k !== 'date') headers[k] = String(v);
    };
    req.on('response', keep);
    req.on('trailers', keep);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      const body = Buffer.concat(chunks);
      // A deny is an OK call whose CheckResponse says denied (its message names the code).
      const verdict = body.includes('BUDGET_EXCEEDED') ? 'denied' : 'ok';
      resolve({
        status: `${headers['grpc-status'] ?? ''}:${verdict}`,
        body: body.toString('base64'),
        headers,
      });
    });
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    req.end(frame);
  });
}

async function httpCall(port: number, headers: Record<string, string>, body?: string): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/check`, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const kept: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k !== 'date' && k !== 'keep-alive' && k !== 'connection') kept[k] = v;
  });
  return { status: String(res.status), body: await res.text(), headers: kept };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('authz thread: the listener in its own worker thread answers as the main thread does', () => {
  it('gives the same answers, headers and bodies as the main-thread server, over both protocols', async () => {
    const w = world({ trustedPeers: ['127.0.0.1'] });
    const [mainPort, threadPort] = [await start(w.main), await start(w.thread)];
    const cases: ((port: number) => Promise<Reply>)[] = [
      (p) => httpCall(p, { 'x-forwarded-for': '10.0.0.5', 'x-original-uri': '/v1/chat/completions' }),
      (p) => httpCall(p, { 'x-forwarded-for': '10.0.0.6', 'x-original-uri': '/v1/chat/completions' }),
      (p) => httpCall(p, { 'x-forwarded-for': '10.9.9.9' }),
      (p) =>
        httpCall(
          p,
          {
            'x-genops-namespace': 'ai',
            'x-genops-workload': 'Deployment/search',
            'x-genops-label-team': 'search',
          },
          JSON.stringify({ model: 'gpt-4o', max_tokens: 10 }),
        ),
      (p) => grpcCall(p, encodeCheckRequest({ sourceAddress: '10.0.0.5', path: '/v1/chat/completions' })),
      (p) => grpcCall(p, encodeCheckRequest({ sourceAddress: '10.0.0.6', path: '/v1/chat/completions' })),
      (p) => grpcCall(p, Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])),
      (p) => grpcCall(p, new Uint8Array(0), '/envoy.service.auth.v2.Authorization/Check'),
    ];
    const statuses: string[] = [];
    for (const c of cases) {
      const fromMain = await c(mainPort);
      const fromThread = await c(threadPort);
      expect(fromThread).toEqual(fromMain);
      statuses.push(fromThread.status);
    }
    // The cases mean something: a deny, an allow, an unattributed allow, a deny by headers, then gRPC.
    expect(statuses).toEqual(['429', '200', '200', '429', '0:denied', '0:ok', '3:ok', '12:ok']);
    await vi.waitFor(() => expect(w.threadMetrics.checks).toHaveLength(w.mainMetrics.checks.length));
    const strip = (c: { protocol: string; outcome: string; reason: string }) => [
      c.protocol,
      c.outcome,
      c.reason,
    ];
    expect(w.threadMetrics.checks.map(strip)).toEqual(w.mainMetrics.checks.map(strip));
  });

  it('a block and an unblock reach the thread before the next publish can (100 ms debounce)', async () => {
    const w = world({ trustedPeers: ['127.0.0.1'] });
    const port = await start(w.thread);
    const ask = async () =>
      (await httpCall(port, { 'x-forwarded-for': '10.0.0.6', 'x-original-uri': '/v1/chat/completions' }))
        .status;
    expect(await ask()).toBe('200');

    const until = async (want: string): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < 500 && performance.now() - t0 < 2000; i++) {
        if ((await ask()) === want) return performance.now() - t0;
        await sleep(2);
      }
      throw new Error(`the thread never answered ${want}`);
    };
    const blocked: DecisionSet = decisionSet({
      budgets: [budgetState('search-budget', 'block'), budgetState('chat-budget', 'block')],
    });
    w.view.setBudgets([
      budget({ name: 'search-budget', team: 'search' }),
      budget({ name: 'chat-budget', team: 'chat' }),
    ]);
    w.view.setDecisions(blocked);
    expect(await until('429')).toBeLessThan(100);
    w.view.setDecisions(decisionSet({ budgets: [budgetState('search-budget', 'block')] }));
    expect(await until('200')).toBeLessThan(100);
  });

  it('resolves caller addresses through the main thread pod directory, and follows a pod moving', async () => {
    const w = world({ trustedPeers: ['127.0.0.1'] });
    const port = await start(w.thread);
    const ask = (ip: string) =>
      grpcCall(port, encodeCheckRequest({ sourceAddress: ip, path: '/v1/chat/completions' }));
    // First sight of an address: the thread asks the main thread and answers from its reply.
    expect((await ask('10.0.0.5')).status).toBe('0:denied');
    expect((await ask('10.0.0.6')).status).toBe('0:ok');
    // The search pod is replaced by one at a new address; its old address is now the chat pod's.
    w.pods.splice(0, 2, pod('10.0.0.7', 'search', 'search'), pod('10.0.0.5', 'chat', 'chat'));
    await vi.waitFor(async () => expect((await ask('10.0.0.5')).status).toBe('0:ok'), {
      timeout: 3000,
      interval: 50,
    });
    expect((await ask('10.0.0.7')).status).toBe('0:denied');
  });

  it('maps what fails: a taken port rejects start with its code; a check that throws is INTERNAL and logged here', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const view = createStaticAdmissionView();
      const t = createAuthzThread({
        host: '127.0.0.1',
        port,
        view,
        clock: createManualClock(NOW),
        logger: silentLogger,
        metrics: createRecordingAuthzMetrics(),
      });
      await expect(t.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await t.shutdown();
    } finally {
      taken.close();
    }

    const w = world({ trustedPeers: ['127.0.0.1'] });
    const threadPort = await start(w.thread);
    // A decision set the check cannot read (a budget state without its source): the thread's check
    // throws; the gateway gets INTERNAL / 500, never an allow, and the error reaches the main logger.
    const broken = { ...decisionSet({}), budgets: new Map([['x', null]]) } as unknown as DecisionSet;
    w.view.setDecisions(broken);
    await sleep(50);
    const grpc = await grpcCall(threadPort, encodeCheckRequest({ sourceAddress: '10.0.0.6' }));
    expect(grpc.status).toBe('13:ok');
    const http = await httpCall(threadPort, { 'x-forwarded-for': '10.0.0.6' });
    expect(http.status).toBe('500');
    await vi.waitFor(() =>
      expect(w.logger.records.filter((r) => r['msg'] === 'authz check failed')).toHaveLength(2),
    );
    const record = w.logger.records.find((r) => r['msg'] === 'authz check failed')!;
    expect(record).toMatchObject({ level: 'error', component: 'authz', thread: 'authz' });
    expect(JSON.stringify(record['err'])).toMatch(/TypeError|null/);
  });

  it('not ready is unavailable in the thread too, and readiness follows the main thread', async () => {
    let ready = false;
    const view = createStaticAdmissionView();
    const metrics = createRecordingAuthzMetrics();
    const t = createAuthzThread({
      host: '127.0.0.1',
      port: 0,
      view,
      clock: createManualClock(NOW),
      logger: silentLogger,
      metrics,
      ready: () => ready,
    });
    const port = await start(t);
    expect((await grpcCall(port, encodeCheckRequest({}))).status).toBe('14:ok');
    expect((await httpCall(port, {})).status).toBe('503');
    ready = true;
    await vi.waitFor(async () => expect((await httpCall(port, {})).status).toBe('200'), { timeout: 2000 });
  });

  it('shuts down cleanly: the port is closed, the last checks are counted, a second shutdown is a no-op', async () => {
    const w = world({ trustedPeers: ['127.0.0.1'] });
    await w.thread.start();
    const port = w.thread.port();
    for (let i = 0; i < 5; i++) await httpCall(port, { 'x-forwarded-for': '10.0.0.6' });
    await w.thread.shutdown();
    // Counted before shutdown returned: the thread flushes its batch on the way out.
    expect(w.threadMetrics.checks).toHaveLength(5);
    await expect(fetch(`http://127.0.0.1:${port}/v1/check`)).rejects.toThrow();
    await w.thread.shutdown();
  });
});
