import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { KubeObject } from '../manifests.ts';
import { createRecordingWebhookMetrics } from '../metrics.ts';
import type { CertificatePair } from '../server.ts';
import { createMemoryCertificateStore, createSelfSignedCertificates } from './manager.ts';
import type { WebhookRegistrar } from './manager.ts';
import { ensureBundle, inspect, splitPem } from './x509.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const names = { dnsNames: ['genops-webhook-service.genops-system.svc'], ipAddresses: ['127.0.0.1'] };

function replica(store: ReturnType<typeof createMemoryCertificateStore>, clock = createManualClock(T0)) {
  const served: CertificatePair[] = [];
  const applied: KubeObject[][] = [];
  const registrar: WebhookRegistrar = {
    apply: (objects) => {
      applied.push([...objects]);
      return Promise.resolve();
    },
  };
  const certs = createSelfSignedCertificates({
    store,
    registrar,
    registration: { endpoint: { url: 'https://127.0.0.1:9443' } },
    names,
    onCertificate: (pair) => served.push(pair),
    clock,
    logger: silentLogger,
    metrics: createRecordingWebhookMetrics(),
    validity: { caMs: 365 * DAY, servingMs: 30 * DAY },
  });
  return { certs, served, applied, clock };
}

describe('built-in certificates', () => {
  it('issues a serving certificate for the names, signed by the CA in the bundle', async () => {
    const { bundle, change } = await ensureBundle(undefined, names, T0);
    expect(change).toBe('created');
    const info = inspect(bundle.certPem);
    expect(info.dnsNames).toEqual(names.dnsNames);
    expect(info.ipAddresses).toEqual(['127.0.0.1']);
    const ca = new X509Certificate(splitPem(bundle.caBundlePem)[0]!);
    expect(new X509Certificate(bundle.certPem).verify(ca.publicKey)).toBe(true);
    expect((await ensureBundle(bundle, names, T0 + DAY)).change).toBe('unchanged');
    expect((await ensureBundle(bundle, { dnsNames: ['other.svc'], ipAddresses: [] }, T0)).change).toBe(
      'serving-renewed',
    );
  });

  it('two replicas starting together end up serving the same certificate from one Secret', async () => {
    const store = createMemoryCertificateStore();
    const a = replica(store);
    const b = replica(store);
    await Promise.all([a.certs.start(), b.certs.start()]);
    expect(a.served.at(-1)?.certPem).toBe(b.served.at(-1)?.certPem);
    expect(store.writes).toBe(1);
    await Promise.all([a.certs.shutdown(), b.certs.shutdown()]);
  });

  it('rotates the serving certificate before expiry, and the CA keeping the old one trusted', async () => {
    const store = createMemoryCertificateStore();
    const r = replica(store);
    await r.certs.start();
    const caBundle = (objects: KubeObject[]) =>
      Buffer.from(
        (objects[0]!['webhooks'] as Array<{ clientConfig: { caBundle: string } }>)[0]!.clientConfig.caBundle,
        'base64',
      ).toString();
    expect(r.applied).toHaveLength(1);
    const firstCert = r.served[0]!.certPem;

    // 30-day serving certificate: renewed once less than a third is left.
    r.clock.advance(15 * DAY);
    await r.certs.sync();
    expect(r.served).toHaveLength(1);
    r.clock.advance(6 * DAY);
    await r.certs.sync();
    expect(r.served).toHaveLength(2);
    expect(r.served[1]!.certPem).not.toBe(firstCert);
    // Same CA: the configurations need no update.
    expect(r.applied).toHaveLength(1);

    // One-year CA: renewed after 8 months; the bundle holds new and old CA; configurations re-applied.
    r.clock.set(T0 + 250 * DAY);
    await r.certs.sync();
    expect(r.applied).toHaveLength(2);
    const cas = splitPem(caBundle(r.applied[1]!));
    expect(cas).toHaveLength(2);
    const served = new X509Certificate(r.served.at(-1)!.certPem);
    expect(served.verify(new X509Certificate(cas[0]!).publicKey)).toBe(true);
    expect(served.verify(new X509Certificate(cas[1]!).publicKey)).toBe(false);

    // Once the old CA expired it leaves the bundle.
    r.clock.set(T0 + 370 * DAY);
    await r.certs.sync();
    expect(splitPem(caBundle(r.applied.at(-1)!))).toHaveLength(1);
    await r.certs.shutdown();
  });

  it('a replica adopts a rotation written by another one', async () => {
    const store = createMemoryCertificateStore();
    const a = replica(store);
    const b = replica(store);
    await a.certs.start();
    await b.certs.start();
    a.clock.advance(25 * DAY);
    await a.certs.sync();
    b.clock.advance(25 * DAY);
    await b.certs.sync();
    expect(b.served.at(-1)?.certPem).toBe(a.served.at(-1)?.certPem);
    expect(store.writes).toBe(2);
    await Promise.all([a.certs.shutdown(), b.certs.shutdown()]);
  });
});
