// The documented command lines of `genops operator`, run as a user types them against the real API
// server: the built-in certificate mode with a kubeconfig (docs/operations.md) must start, register its
// webhooks with the CA it created, and stop cleanly. It used to exit 1 ("self-signed webhook
// certificates need a kubeConfig"). Only the listening ports are moved off their defaults (other
// processes on this machine may hold 4317/4318/8080/8081/9443): the rest of the line is as written.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeApi } from '../../cluster/api.ts';
import type { KubeObject } from '../../cluster/resources.ts';
import { bindOperatorRbac, loadRbacDocs } from '../controlplane/rbac.ts';
import {
  apiFor,
  eventually,
  kubeconfigPath,
  operatorKubeconfigPath,
  prepareCluster,
  ROOT,
} from './enforcer-harness.ts';

const MUTATING = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  plural: 'mutatingwebhookconfigurations',
  kind: 'MutatingWebhookConfiguration',
  namespaced: false,
};
const VALIDATING = {
  ...MUTATING,
  plural: 'validatingwebhookconfigurations',
  kind: 'ValidatingWebhookConfiguration',
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The `npx genops operator ...` lines of the bash blocks of a document. */
function documentedOperatorLines(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const lines: string[] = [];
  for (const block of text.matchAll(/```bash\n([\s\S]*?)```/g))
    for (const raw of (block[1] ?? '').split('\n'))
      if (raw.trim().startsWith('npx genops operator ')) lines.push(raw.trim());
  return lines;
}

describe('genops operator command lines as documented', () => {
  let admin: KubeApi;
  let home: string;

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
    await bindOperatorRbac({
      kubeconfig: kubeconfigPath(),
      docs: [
        ...(await loadRbacDocs(join(ROOT, 'config/rbac'))),
        ...(await loadRbacDocs(join(ROOT, 'deploy/overlays/self-signed'))),
      ],
    });
    // ~/.kube/config of the user running it: the operator's own identity.
    home = mkdtempSync(join(tmpdir(), 'genops-home-'));
    mkdirSync(join(home, '.kube'));
    copyFileSync(operatorKubeconfigPath(), join(home, '.kube/config'));
  });

  afterAll(async () => {
    for (const rt of [MUTATING, VALIDATING])
      for (const name of ['genops-mutating-webhook', 'genops-validating-webhook'])
        await admin?.delete(rt, undefined, name).catch(() => undefined);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('docs/operations.md documents the built-in certificate mode with a kubeconfig', () => {
    const lines = documentedOperatorLines('docs/operations.md');
    expect(lines.some((l) => l.includes('--webhook-self-signed') && l.includes('--kubeconfig'))).toBe(true);
  });

  it('starts with --webhook-self-signed --kubeconfig, registers its webhooks, stops cleanly', async () => {
    const line = documentedOperatorLines('docs/operations.md').find((l) =>
      l.includes('--webhook-self-signed'),
    )!;
    const port = await freePort();
    const command =
      line.replace('127.0.0.1:9443', `127.0.0.1:${port}`) +
      ` --webhook-port ${port} --otlp-grpc-port 0 --otlp-http-port 0 --metrics-port 0 --health-port 0 --lease-name genops-cli-test`;
    // Its own process group: bash, npx and node are stopped together (by this group's id only).
    const child = spawn('bash', ['-c', command], {
      cwd: ROOT,
      detached: true,
      env: {
        ...process.env,
        HOME: home,
        KUBECONFIG: '',
        PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env['PATH']}`,
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));
    try {
      await eventually(
        'the operator running',
        () => {
          if (exitCode !== undefined) throw new Error(`exited ${exitCode}: ${err.slice(-2000)}`);
          return out.includes(`webhook :${port}`) ? true : undefined;
        },
        90_000,
        200,
      );
      expect(err).not.toContain('need a kubeConfig');
      // Registered with the URL of the line and a CA bundle.
      const hook = await eventually('webhooks registered', async () => {
        const v = await admin.get<
          KubeObject & {
            webhooks?: Array<{ clientConfig?: { url?: string; caBundle?: string } }>;
          }
        >(VALIDATING, undefined, 'genops-validating-webhook');
        const h = v?.webhooks?.[0];
        return h?.clientConfig?.url?.startsWith(`https://127.0.0.1:${port}/`) ? h : undefined;
      });
      expect(hook.clientConfig?.caBundle?.length ?? 0).toBeGreaterThan(100);
    } finally {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    }
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000)),
    ]);
    expect(code === 0 || code === 143 || code === null).toBe(true);
  }, 150_000);
});
