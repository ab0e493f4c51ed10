// The one list/watch against a small fake API server on loopback (an edge fake, not the thing under
// test): the sync contract (start resolves at the first complete list, rejects at the sync timeout
// and leaves no timer behind), the namespace scope (one list/watch per namespace, never the
// cluster-wide path, each relist replacing only its own namespace), metadata-only requests, and
// the injected sleep (backoffs are not waited out).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../kernel/logger.ts';
import { isGenOpsError } from '../kernel/errors.ts';
import { createKubeApi, type KubeApi } from './api.ts';
import { createListWatch, type ListWatchHandler } from './list-watch.ts';
import { RESOURCES, type KubeObject } from './resources.ts';

interface Fake {
  api: KubeApi;
  requests: Array<{ path: string; query: URLSearchParams; accept: string | undefined }>;
  close(): Promise<void>;
}

const fakes: Fake[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close();
});

async function fake(
  handler: (req: IncomingMessage, url: URL, res: ServerResponse) => unknown,
): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '', 'http://x');
    requests.push({ path: url.pathname, query: url.searchParams, accept: req.headers.accept });
    handler(req, url, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const api = createKubeApi({ kubeConfig: kc, logger: silentLogger, maxAttempts: 1 });
  const f: Fake = {
    api,
    requests,
    close: async () => {
      api.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  fakes.push(f);
  return f;
}

const json = (res: ServerResponse, code: number, body: unknown) =>
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));

function recorder(): ListWatchHandler<KubeObject> & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    replace: (items, ns) => log.push(`replace:${ns ?? '*'}:${items.map((i) => i.metadata?.name).join(',')}`),
    upsert: (i) => log.push(`upsert:${i.metadata?.name}`),
    remove: (i) => log.push(`remove:${i.metadata?.name}`),
    synced: () => log.push('synced'),
  };
}

describe('list/watch', () => {
  it('start() resolves at the first complete list, after failures retried with the injected sleep', async () => {
    let lists = 0;
    const f = await fake((_req, url, res) => {
      if (url.searchParams.get('watch') === '1') return res.writeHead(200).write('');
      lists++;
      if (lists < 3) return json(res, 503, { kind: 'Status', code: 503 });
      return json(res, 200, { metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'a' } }] });
    });
    const slept: number[] = [];
    const handler = recorder();
    const lw = createListWatch<KubeObject>({
      api: f.api,
      resource: RESOURCES.deployment,
      logger: silentLogger,
      handler,
      // A real backoff would wait 30 s here; the injected one returns at once.
      backoff: { initialMs: 30_000, maxMs: 30_000 },
      sleep: (ms) => {
        slept.push(ms);
        return Promise.resolve();
      },
      syncTimeoutMs: 5_000,
    });
    const t0 = performance.now();
    await lw.start();
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(lw.hasSynced()).toBe(true);
    expect(slept).toHaveLength(2);
    // The handler saw the list, then the sync: nothing before the list, nothing twice.
    expect(handler.log).toEqual(['replace:*:a', 'synced']);
    expect(lw.lastResourceVersion()).toBe('7');
    await lw.shutdown();
  });

  it('start() rejects with CACHE_NOT_SYNCED at the sync timeout, and shutdown leaves nothing pending', async () => {
    const f = await fake((_req, _url, res) =>
      json(res, 403, { kind: 'Status', code: 403, reason: 'Forbidden' }),
    );
    const handler = recorder();
    const lw = createListWatch<KubeObject>({
      api: f.api,
      resource: RESOURCES.pod,
      logger: silentLogger,
      handler,
      backoff: { initialMs: 20, maxMs: 20 },
      syncTimeoutMs: 300,
    });
    const t0 = performance.now();
    const err = await lw.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(isGenOpsError(err) && err.code).toBe('CACHE_NOT_SYNCED');
    expect(String(err)).toContain('did not sync within 0.3 s');
    expect(lw.hasSynced()).toBe(false);
    expect(handler.log).toEqual([]);
    await lw.shutdown();
    // A request written just before the abort may reach the fake server after shutdown resolved (same
    // process, busy machine): let it land, then a running loop would retry every 20 ms.
    await new Promise((r) => setTimeout(r, 50));
    const after = f.requests.length;
    await new Promise((r) => setTimeout(r, 200));
    // Stopped: no request after shutdown.
    expect(f.requests.length).toBe(after);
  });

  it('a namespace scope lists and watches each namespace, never the cluster-wide path', async () => {
    const f = await fake((_req, url, res) => {
      const ns = /\/namespaces\/([^/]+)\//.exec(url.pathname)?.[1] ?? 'ALL';
      if (url.searchParams.get('watch') === '1') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.write(
          JSON.stringify({
            type: 'ADDED',
            object: { metadata: { name: `w-${ns}`, namespace: ns, resourceVersion: '9' } },
          }) + '\n',
        );
      }
      return json(res, 200, {
        metadata: { resourceVersion: '5' },
        items: [{ metadata: { name: `l-${ns}`, namespace: ns } }],
      });
    });
    const handler = recorder();
    const lw = createListWatch<KubeObject>({
      api: f.api,
      resource: RESOURCES.replicaSet,
      logger: silentLogger,
      handler,
      namespaces: ['team-a', 'team-b', 'team-a'],
      metadataOnly: true,
    });
    await lw.start();
    await new Promise((r) => setTimeout(r, 100));
    await lw.shutdown();
    const paths = new Set(f.requests.map((r) => r.path));
    expect(paths).toEqual(
      new Set(['/apis/apps/v1/namespaces/team-a/replicasets', '/apis/apps/v1/namespaces/team-b/replicasets']),
    );
    expect(f.requests.some((r) => r.path === '/apis/apps/v1/replicasets')).toBe(false);
    // Each relist replaces its own namespace only; one sync after both.
    expect(handler.log.filter((l) => l.startsWith('replace')).sort()).toEqual([
      'replace:team-a:l-team-a',
      'replace:team-b:l-team-b',
    ]);
    expect(handler.log.filter((l) => l === 'synced')).toHaveLength(1);
    expect(handler.log).toContain('upsert:w-team-a');
    expect(handler.log).toContain('upsert:w-team-b');
    for (const r of f.requests) expect(r.accept).toContain('as=PartialObjectMetadata');
  });

  it('a cluster-scoped kind ignores the namespace scope; a list without items is an empty list', async () => {
    const f = await fake((_req, url, res) => {
      if (url.searchParams.get('watch') === '1') return res.writeHead(200).write('');
      // As the API server sends an empty PartialObjectMetadataList: no items field at all.
      return json(res, 200, { metadata: { resourceVersion: '1' } });
    });
    const lw = createListWatch<KubeObject>({
      api: f.api,
      resource: RESOURCES.namespace,
      logger: silentLogger,
      handler: recorder(),
      namespaces: ['team-a'],
    });
    await lw.start();
    await lw.shutdown();
    expect(f.requests[0]?.path).toBe('/api/v1/namespaces');
    expect(f.requests[0]?.accept).toBe('application/json');
  });
});
