// The transport against a small fake API server on loopback (an edge fake, not the thing under test):
// retries, error classification, content types, the write limiter, watch streaming; and the informer
// on top of it: list + watch, relist on 410, restart with backoff after failures.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../kernel/logger.ts';
import { createKubeApi, type KubeApi } from './api.ts';
import type { KubeApiError } from './errors.ts';
import { isAlreadyExists, isConflict } from './errors.ts';
import { createInformer } from './informer.ts';
import { RESOURCES, type KubeObject } from './resources.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => unknown;

interface Fake {
  api: KubeApi;
  requests: Array<{ method: string; url: string; contentType: string | undefined; body: string }>;
  close(): Promise<void>;
}

const servers: Fake[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function fake(
  handler: Handler,
  options: { writeQps?: number; writeBurst?: number } = {},
): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body,
      });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const api = createKubeApi({
    kubeConfig: kc,
    logger: silentLogger,
    retryBackoff: { initialMs: 5, maxMs: 20 },
    ...options,
  });
  const f: Fake = {
    api,
    requests,
    close: async () => {
      api.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  servers.push(f);
  return f;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const status = (code: number, reason: string, message = '') => ({ kind: 'Status', code, reason, message });

describe('kube api transport', () => {
  it('retries 503 and 429 (honouring Retry-After), then succeeds; sends the bearer token', async () => {
    let n = 0;
    const f = await fake((req, _b, res) => {
      n++;
      if (n === 1) return json(res, 503, status(503, 'ServiceUnavailable'));
      if (n === 2) return json(res, 429, status(429, 'TooManyRequests'), { 'retry-after': '0' });
      expect(req.headers.authorization).toBe('Bearer secret-token');
      return json(res, 200, { metadata: { name: 'x' } });
    });
    const obj = await f.api.get<KubeObject>(RESOURCES.deployment, 'ns', 'x');
    expect(obj?.metadata?.name).toBe('x');
    expect(n).toBe(3);
  });

  it('classifies once: 404 on get is undefined, conflicts and AlreadyExists are not retried', async () => {
    let n = 0;
    const f = await fake((req, _b, res) => {
      n++;
      if (req.method === 'GET') return json(res, 404, status(404, 'NotFound'));
      if (req.method === 'PUT')
        return json(res, 409, status(409, 'Conflict', 'the object has been modified'));
      return json(res, 409, status(409, 'AlreadyExists'));
    });
    expect(await f.api.get(RESOURCES.deployment, 'ns', 'gone')).toBeUndefined();
    const conflict = await f.api
      .replace(RESOURCES.lease, 'ns', 'l', { metadata: { name: 'l' } })
      .catch((e: unknown) => e);
    expect(isConflict(conflict)).toBe(true);
    expect((conflict as KubeApiError).errorClass).toBe('retryable');
    const exists = await f.api
      .create(RESOURCES.lease, 'ns', { metadata: { name: 'l' } })
      .catch((e: unknown) => e);
    expect(isAlreadyExists(exists)).toBe(true);
    expect((exists as KubeApiError).errorClass).toBe('invalid');
    expect(n).toBe(3);
  });

  it('gives up after the attempts and reports the last status; 403 is final at once', async () => {
    let n = 0;
    const f = await fake((req, _b, res) => {
      n++;
      if (req.url?.includes('forbidden')) return json(res, 403, status(403, 'Forbidden', 'no'));
      return json(res, 500, status(500, 'InternalError'));
    });
    await expect(f.api.get(RESOURCES.deployment, 'ns', 'x')).rejects.toMatchObject({ status: 500 });
    expect(n).toBe(5);
    await expect(f.api.get(RESOURCES.deployment, 'ns', 'forbidden')).rejects.toMatchObject({
      status: 403,
      errorClass: 'invalid',
    });
    expect(n).toBe(6);
  });

  it('patches with merge patch, JSON patch or apply (never strategic merge), with the field manager', async () => {
    const f = await fake((_req, _b, res) => json(res, 200, {}));
    await f.api.patch(
      RESOURCES.aiBudget,
      'ns',
      'b',
      { status: { spend: '1' } },
      { type: 'merge', subresource: 'status' },
    );
    await f.api.patch(RESOURCES.deployment, 'ns', 'd', [{ op: 'add', path: '/x', value: 1 }], {
      type: 'json',
    });
    await f.api.patch(
      RESOURCES.lease,
      'ns',
      'l',
      { metadata: { name: 'l' } },
      { type: 'apply', force: true },
    );
    expect(f.requests.map((r) => r.contentType)).toEqual([
      'application/merge-patch+json',
      'application/json-patch+json',
      'application/apply-patch+yaml',
    ]);
    expect(f.requests[0]!.url).toBe(
      '/apis/genops.ai/v1alpha1/namespaces/ns/aibudgets/b/status?fieldManager=genops-operator',
    );
    expect(f.requests[2]!.url).toContain('force=true');
  });

  it('limits writes on the client (reads are not limited)', async () => {
    const f = await fake((_req, _b, res) => json(res, 200, {}), { writeQps: 20, writeBurst: 2 });
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await f.api.get(RESOURCES.deployment, 'ns', 'x');
    expect(performance.now() - t0).toBeLessThan(200);
    const t1 = performance.now();
    for (let i = 0; i < 6; i++) await f.api.patch(RESOURCES.deployment, 'ns', 'x', {}, { type: 'merge' });
    // 2 at once, then 4 more at 20/s: about 200 ms.
    expect(performance.now() - t1).toBeGreaterThanOrEqual(180);
  });
});

describe('informer', () => {
  it('lists, watches, relists after 410 Gone, and restarts with backoff after failures', async () => {
    let lists = 0;
    let watches = 0;
    const items = new Map<string, KubeObject>([
      ['a', { metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' } }],
    ]);
    const f = await fake((req, _b, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      if (url.searchParams.get('watch') !== '1') {
        lists++;
        // Forbidden is final for the transport: the informer itself must back off and restart.
        if (lists === 1) return json(res, 403, status(403, 'Forbidden'));
        return json(res, 200, {
          metadata: { resourceVersion: String(10 + lists) },
          items: [...items.values()],
        });
      }
      watches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (watches === 1) {
        // A new object, then the server ends the watch: re-watch from the last version, no relist.
        res.write(
          JSON.stringify({
            type: 'ADDED',
            object: { metadata: { name: 'b', namespace: 'ns', resourceVersion: '20' } },
          }) + '\n',
        );
        return res.end();
      }
      if (watches === 2) {
        expect(url.searchParams.get('resourceVersion')).toBe('20');
        return res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired') }) + '\n');
      }
      // Later watches stay open until the test ends.
      return res.write(
        JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '99' } } }) + '\n',
      );
    });
    const restarts: string[] = [];
    const inf = createInformer<KubeObject>({
      api: f.api,
      resource: RESOURCES.deployment,
      logger: silentLogger,
      backoff: { initialMs: 10, maxMs: 20 },
      metrics: { restart: (r) => restarts.push(r) },
    });
    const seen: string[] = [];
    inf.subscribe((e) => seen.push(`${e.type}:${e.key}`));
    await inf.start();
    expect(await inf.waitForSync(5000)).toBe(true);
    expect(restarts).toEqual(['deployments']);
    await new Promise((r) => setTimeout(r, 200));
    // After 410 the relist no longer has b (never stored server-side): it is deleted from the cache.
    expect(lists).toBe(3);
    expect(seen).toEqual(['add:ns/b', 'delete:ns/b']);
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(['a']);
    expect(inf.lastResourceVersion()).toBe('99');
    await inf.shutdown();
  });
});
