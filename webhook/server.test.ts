import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/logger.ts';
import { createCa, issueServing } from './certs/x509.ts';
import type { PemPair } from './certs/x509.ts';
import { createAdmissionHandler } from './handler.ts';
import { injectionConfig } from './inject/config.ts';
import { createRecordingWebhookMetrics } from './metrics.ts';
import type { WebhookServer } from './server.ts';
import { createWebhookServer } from './server.ts';
import { replicaSetPod, review, RESOURCES } from './testing/fixtures.ts';
import { createStaticAdmissionView } from './view.ts';

let ca: PemPair;
let first: PemPair;
let second: PemPair;
beforeAll(async () => {
  const now = Date.now();
  ca = await createCa({ now, validityMs: 86_400_000 });
  first = await issueServing(
    ca,
    { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    { now, validityMs: 3_600_000 },
  );
  second = await issueServing(
    ca,
    { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    { now, validityMs: 7_200_000 },
  );
});

interface Reply {
  status: number;
  body: string;
  serial: string;
  headers: Record<string, unknown>;
}

function call(
  port: number,
  path: string,
  options: { method?: string; body?: string; type?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? (options.body ? 'POST' : 'GET'),
        ca: ca.certPem,
        agent: false,
        headers: options.body ? { 'content-type': options.type ?? 'application/json' } : {},
      },
      (res) => {
        let body = '';
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, serial: cert.serialNumber, headers: res.headers }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const servers: WebhookServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.shutdown()));
});

function make(
  options: {
    certificate?: Parameters<typeof createWebhookServer>[0]['certificate'];
    ready?: () => boolean;
    drainDelayMs?: number;
  } = {},
) {
  const view = createStaticAdmissionView();
  const metrics = createRecordingWebhookMetrics();
  const server = createWebhookServer({
    handler: createAdmissionHandler({
      view,
      injection: injectionConfig(),
      schema: () => [],
      clock: createManualClock(0),
      logger: silentLogger,
      metrics,
    }),
    host: '127.0.0.1',
    port: 0,
    certificate: options.certificate ?? { type: 'memory', pair: first },
    logger: silentLogger,
    metrics,
    ...(options.ready ? { isReady: options.ready } : {}),
    ...(options.drainDelayMs ? { drainDelayMs: options.drainDelayMs } : {}),
  });
  servers.push(server);
  return { server, metrics };
}

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

describe('webhook server', () => {
  it('serves health, readiness and an AdmissionReview over TLS', async () => {
    let synced = false;
    const { server, metrics } = make({ ready: () => synced });
    await server.start();
    const port = server.port();
    expect((await call(port, '/healthz')).status).toBe(200);
    expect((await call(port, '/readyz')).status).toBe(503);
    synced = true;
    expect((await call(port, '/readyz')).status).toBe(200);

    const r = review({
      resource: RESOURCES.pods,
      namespace: 'ai',
      object: replicaSetPod({ labels: { 'genops.ai/enable': 'true' } }),
    });
    const reply = await call(port, '/mutate-pods', { body: JSON.stringify(r) });
    expect(reply.status).toBe(200);
    const res = (JSON.parse(reply.body) as { response: { uid: string; patchType: string; patch: string } })
      .response;
    expect(res.uid).toBe(r.request?.uid);
    expect(res.patchType).toBe('JSONPatch');
    expect(Buffer.from(res.patch, 'base64').toString()).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
    expect(metrics.reviews.at(-1)).toMatchObject({ webhook: 'mutate-pods', outcome: 'patched' });

    expect((await call(port, '/mutate-pods', { body: 'not json' })).status).toBe(400);
    expect((await call(port, '/mutate-pods', { body: '{}', type: 'text/plain' })).status).toBe(415);
    expect((await call(port, '/mutate-pods', { method: 'GET' })).status).toBe(405);
    expect((await call(port, '/nope')).status).toBe(404);
  });

  it('refuses bodies over the limit with 413', async () => {
    const view = createStaticAdmissionView();
    const server = createWebhookServer({
      handler: createAdmissionHandler({
        view,
        injection: injectionConfig(),
        schema: () => [],
        clock: createManualClock(0),
        logger: silentLogger,
        metrics: createRecordingWebhookMetrics(),
      }),
      host: '127.0.0.1',
      port: 0,
      certificate: { type: 'memory', pair: first },
      logger: silentLogger,
      metrics: createRecordingWebhookMetrics(),
      maxBodyBytes: 1024,
    });
    servers.push(server);
    await server.start();
    expect((await call(server.port(), '/validate-workloads', { body: 'x'.repeat(5000) })).status).toBe(413);
  });

  it('replaces the certificate for new connections, and keeps the old one when the new one is bad', async () => {
    const { server, metrics } = make();
    await server.start();
    expect((await call(server.port(), '/healthz')).serial).toBe(serialOf(first.certPem));
    server.setCertificate(second);
    expect((await call(server.port(), '/healthz')).serial).toBe(serialOf(second.certPem));
    expect(() => server.setCertificate({ certPem: first.certPem, keyPem: second.keyPem })).toThrow();
    expect((await call(server.port(), '/healthz')).serial).toBe(serialOf(second.certPem));
    expect(metrics.certificates).toHaveLength(2);
  });

  it('reloads certificate files when they change (as a mounted Secret is updated)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'genops-webhook-certs-'));
    try {
      await writeFile(join(dir, 'tls.crt'), first.certPem);
      await writeFile(join(dir, 'tls.key'), first.keyPem);
      const { server } = make({
        certificate: {
          type: 'files',
          certFile: join(dir, 'tls.crt'),
          keyFile: join(dir, 'tls.key'),
          pollIntervalMs: 200,
        },
      });
      await server.start();
      expect((await call(server.port(), '/healthz')).serial).toBe(serialOf(first.certPem));
      // Atomic replacement, as the kubelet does.
      await writeFile(join(dir, 'tls.key.new'), second.keyPem);
      await writeFile(join(dir, 'tls.crt.new'), second.certPem);
      await rename(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
      await rename(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
      const deadline = Date.now() + 5000;
      let serial = '';
      while (Date.now() < deadline) {
        serial = (await call(server.port(), '/healthz')).serial;
        if (serial === serialOf(second.certPem)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(serial).toBe(serialOf(second.certPem));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports not ready while draining, serves reviews until the listener closes, then stops', async () => {
    const { server } = make({ drainDelayMs: 300 });
    await server.start();
    const port = server.port();
    const stopping = server.shutdown();
    expect((await call(port, '/readyz')).status).toBe(503);
    // Reviews are still served during the drain period.
    const r = review({ resource: RESOURCES.pods, namespace: 'ai', object: replicaSetPod({}) });
    expect((await call(port, '/mutate-pods', { body: JSON.stringify(r) })).status).toBe(200);
    await stopping;
    await expect(call(port, '/healthz')).rejects.toThrow();
  });

  it('shuts down without start, twice; a new instance starts after a stopped one', async () => {
    const { server } = make();
    await server.shutdown();
    await server.shutdown();
    await expect(server.start()).rejects.toThrow();
    const { server: a } = make();
    await a.start();
    await a.shutdown();
    const { server: b } = make();
    await b.start();
    expect((await call(b.port(), '/healthz')).status).toBe(200);
  });
});
