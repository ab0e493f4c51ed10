import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/logger.ts';
import { createMemoryCertificateStore } from './certs/manager.ts';
import type { KubeObject } from './manifests.ts';
import { createAdmissionWebhook } from './index.ts';
import { createStaticAdmissionView } from './view.ts';

const reachable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

describe('admission webhook component', () => {
  it('registers the webhooks only once it listens, with the CA of its certificate; stops idempotently', async () => {
    const applied: Array<{ objects: KubeObject[]; listening: boolean }> = [];
    const webhook = createAdmissionWebhook({
      view: createStaticAdmissionView(),
      clock: createManualClock(Date.now()),
      logger: silentLogger,
      host: '127.0.0.1',
      port: 0,
      certificates: {
        mode: 'self-signed',
        url: 'https://127.0.0.1:9443',
        store: createMemoryCertificateStore(),
        registrar: {
          apply: async (objects) => {
            applied.push({ objects: [...objects], listening: await reachable(webhook.port()) });
          },
        },
      },
    });
    await webhook.start();
    const port = webhook.port();
    expect(applied).toHaveLength(1);
    expect(applied[0]!.listening).toBe(true);
    expect(applied[0]!.objects.map((o) => o.metadata.name)).toEqual([
      'genops-mutating-webhook',
      'genops-validating-webhook',
    ]);
    const hooks = applied[0]!.objects[1]!['webhooks'] as Array<{
      clientConfig: { url: string; caBundle: string };
    }>;
    expect(hooks[0]!.clientConfig.url).toBe('https://127.0.0.1:9443/validate-workloads');
    expect(Buffer.from(hooks[0]!.clientConfig.caBundle, 'base64').toString()).toBe(
      webhook.certificates?.caBundlePem(),
    );
    await webhook.shutdown();
    await webhook.shutdown();
    expect(await reachable(port)).toBe(false);
  });

  it('shuts down without having started', async () => {
    const webhook = createAdmissionWebhook({
      view: createStaticAdmissionView(),
      clock: createManualClock(0),
      logger: silentLogger,
      host: '127.0.0.1',
      port: 0,
      certificates: { mode: 'self-signed', store: createMemoryCertificateStore(), register: false },
    });
    await expect(webhook.shutdown()).resolves.toBeUndefined();
  });
});
