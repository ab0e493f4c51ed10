import { connect, constants as h2 } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/logger.ts';
import { createAttributor } from '../pipeline/attribution/attributor.ts';
import type { PodDirectory, PodInfo } from '../pipeline/attribution/types.ts';
import { budget, budgetState, decisionSet } from '../webhook/testing/fixtures.ts';
import { createStaticAdmissionView } from '../webhook/view.ts';
import { decodeCheckRequest, encodeCheckRequest } from './envoy-proto.ts';
import { createIdentityResolver } from './identity.ts';
import { createRecordingAuthzMetrics } from './metrics.ts';
import { CHECK_PATH, createAuthzServer, type AuthzServer } from './server.ts';

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

/** A cluster with a blocked team (search, pod 10.0.0.5) and a fine one (chat, pod 10.0.0.6). */
function setup(options: { trustedPeers?: string[]; cluster?: boolean; ready?: () => boolean } = {}) {
  const view = createStaticAdmissionView();
  view.setBudgets([budget({ name: 'search-budget', team: 'search' })]);
  view.setDecisions(decisionSet({ budgets: [budgetState('search-budget', 'block')] }));
  const pods = [pod('10.0.0.5', 'search', 'search'), pod('10.0.0.6', 'chat', 'chat')];
  const directory: PodDirectory = {
    byUid: (uid) => pods.find((p) => p.uid === uid),
    byNamespaceName: (ns, name) => pods.find((p) => p.namespace === ns && p.name === name),
    byIp: (ip) => pods.find((p) => p.ip === ip),
  };
  const metrics = createRecordingAuthzMetrics();
  const server = createAuthzServer({
    host: '127.0.0.1',
    port: 0,
    view,
    identity: createIdentityResolver(
      options.cluster === false
        ? {}
        : {
            attributor: createAttributor({ directory }),
            ...(options.trustedPeers ? { trustedPeers: options.trustedPeers } : {}),
          },
    ),
    clock: createManualClock(NOW),
    logger: silentLogger,
    metrics,
    ...(options.ready ? { ready: options.ready } : {}),
  });
  return { server, metrics, view };
}

let running: AuthzServer | undefined;
afterEach(async () => {
  await running?.shutdown();
  running = undefined;
});

async function start(s: AuthzServer): Promise<number> {
  running = s;
  await s.start();
  return s.port();
}

function grpcCall(port: number, body: Uint8Array, path = CHECK_PATH) {
  return new Promise<{ status: string | undefined; message: Buffer; trailers: Record<string, unknown> }>(
    (resolve, reject) => {
      const session = connect(`http://127.0.0.1:${port}`);
      session.on('error', reject);
      const req = session.request({
        [h2.HTTP2_HEADER_METHOD]: 'POST',
        [h2.HTTP2_HEADER_PATH]: path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let headers: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      req.on('response', (h) => {
        headers = h;
      });
      req.on('trailers', (t) => {
        trailers = t as Record<string, unknown>;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        session.close();
        const all = Buffer.concat(chunks);
        const status = (trailers['grpc-status'] ?? headers['grpc-status']) as string | undefined;
        resolve({ status, message: all.subarray(5), trailers: { ...headers, ...trailers } });
      });
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, 5);
      req.end(frame);
    },
  );
}

describe('authz server: HTTP forward-auth and gRPC on one port', () => {
  it('answers both protocols on the same port', async () => {
    const { server, metrics } = setup({ trustedPeers: ['127.0.0.1'] });
    const port = await start(server);
    const http = await fetch(`http://127.0.0.1:${port}/v1/check`, {
      headers: { 'x-forwarded-for': '10.0.0.5', 'x-original-uri': '/v1/chat/completions' },
    });
    expect(http.status).toBe(429);
    const body = (await http.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      code: 'BUDGET_EXCEEDED',
      name: 'search-budget',
      workload: 'ai/Deployment/search',
    });
    expect(http.headers.get('retry-after')).not.toBeNull();
    expect(JSON.parse(http.headers.get('x-genops-deny') ?? '{}')).toMatchObject({ name: 'search-budget' });

    const grpc = await grpcCall(
      port,
      encodeCheckRequest({ sourceAddress: '10.0.0.6', path: '/v1/chat/completions' }),
    );
    expect(grpc.status).toBe('0');
    expect(metrics.checks.map((c) => [c.protocol, c.outcome, c.reason])).toEqual([
      ['http', 'denied', 'BUDGET_EXCEEDED'],
      ['grpc', 'allowed', ''],
    ]);
  });

  it('charges an untrusted direct caller to its own pod, whatever its headers claim', async () => {
    // 127.0.0.1 is not trusted: the caller is the pod at the connection's address (none here, so it is
    // unattributed, which no selector matches), and the X-Genops-* and X-Forwarded-For claims to be the
    // chat team are not believed.
    const { server, metrics } = setup({ trustedPeers: ['10.9.9.9'] });
    const port = await start(server);
    const res = await fetch(`http://127.0.0.1:${port}/v1/check`, {
      headers: {
        'x-genops-namespace': 'ai',
        'x-genops-workload': 'Deployment/chat',
        'x-forwarded-for': '10.0.0.6',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-genops-workload')).toBe('(unattributed)/Unattributed/unattributed');
    expect(res.headers.get('x-genops-workload')).not.toContain('chat');
    expect(metrics.checks).toHaveLength(1);
  });

  it('believes the headers of a trusted gateway (and only names what they say)', async () => {
    const { server } = setup({ trustedPeers: ['127.0.0.0/8'] });
    const port = await start(server);
    const blocked = await fetch(`http://127.0.0.1:${port}/v1/check`, {
      headers: {
        'x-genops-namespace': 'ai',
        'x-genops-workload': 'Deployment/search',
        'x-genops-label-team': 'search',
      },
    });
    expect(blocked.status).toBe(429);
    const fine = await fetch(`http://127.0.0.1:${port}/v1/check`, {
      headers: {
        'x-genops-namespace': 'ai',
        'x-genops-workload': 'Deployment/chat',
        'x-genops-label-team': 'chat',
      },
    });
    expect(fine.status).toBe(200);
    expect(fine.headers.get('x-genops-workload')).toBe('ai/Deployment/chat');
  });

  it('gRPC: malformed messages, unknown methods and an unready view are errors, never allow', async () => {
    let ready = false;
    const { server, metrics } = setup({ trustedPeers: ['127.0.0.1'], ready: () => ready });
    const port = await start(server);
    const unready = await grpcCall(port, encodeCheckRequest({ sourceAddress: '10.0.0.6' }));
    expect(unready.status).toBe('14');
    ready = true;
    const garbage = await grpcCall(port, Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(garbage.status).toBe('3');
    const unknown = await grpcCall(port, new Uint8Array(0), '/envoy.service.auth.v2.Authorization/Check');
    expect(unknown.status).toBe('12');
    expect(metrics.checks.map((c) => c.outcome)).toEqual(['unavailable', 'error']);
  });

  it('HTTP: 503 while not ready, 404 elsewhere', async () => {
    const { server } = setup({ ready: () => false });
    const port = await start(server);
    expect((await fetch(`http://127.0.0.1:${port}/v1/check`)).status).toBe(503);
    expect((await fetch(`http://127.0.0.1:${port}/v1/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('local mode: identity from headers; the JSON body names the model', async () => {
    const { server } = setup({ cluster: false });
    const port = await start(server);
    const res = await fetch(`http://127.0.0.1:${port}/v1/check`, {
      method: 'POST',
      headers: { 'x-genops-namespace': 'ai', 'x-genops-workload': 'search', 'x-genops-label-team': 'search' },
      body: JSON.stringify({ model: 'gpt-4o', max_tokens: 10 }),
    });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { workload: string }).workload).toBe('ai/Service/search');
  });
});

describe('envoy-proto', () => {
  it('round-trips the fields a check reads and skips unknown fields', () => {
    const bytes = encodeCheckRequest({
      sourceAddress: '10.1.2.3',
      method: 'POST',
      path: '/v1/messages',
      host: 'api.anthropic.com',
      headers: { 'X-Genops-Model': 'claude-3-haiku' },
      body: '{"model":"x"}',
    });
    // An unknown field (99, varint) appended at the top level must be skipped.
    const extended = Uint8Array.from([...bytes, 0x98, 0x06, 0x01]);
    const req = decodeCheckRequest(extended);
    expect(req).toMatchObject({
      sourceAddress: '10.1.2.3',
      method: 'POST',
      path: '/v1/messages',
      host: 'api.anthropic.com',
      body: '{"model":"x"}',
    });
    expect(req.headers['x-genops-model']).toBe('claude-3-haiku');
  });

  it('refuses truncated input instead of reading past it', () => {
    const bytes = encodeCheckRequest({ path: '/v1/chat/completions' });
    expect(() => decodeCheckRequest(bytes.subarray(0, bytes.length - 3))).toThrow(/malformed/);
  });
});
