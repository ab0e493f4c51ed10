// Enforcement from the other side, on the real API server with the operator (the real composition,
// its own RBAC identity, its webhook registered with built-in certificates): a user bound only to the
// built-in `edit` ClusterRole tries to escape a throttle with a self-declared bypass and by relabelling
// the Deployment; a platform admin holding the `bypass` permission does the same. An absurd budget is
// refused by the API server while its neighbour is enforced.
//
// What must not happen: edit's bypass takes effect or is even stored; edit's relabelling is admitted;
// the audit names anybody but the person. What must: the admin's bypass is approved, capped to the
// maximum duration, attributed to the admin in Events, and suspends the throttle.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { bindOperatorRbac, loadRbacDocs } from '../controlplane/rbac.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type OperatorRuntime } from '../../cmd/operator-main.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES, type KubeObject } from '../../cluster/resources.ts';
import {
  annotationsOf,
  apiFor,
  charge,
  createDeployment,
  ensureNamespace,
  eventsFor,
  eventually,
  kubeconfigPath,
  prepareCluster,
  replicasOf,
  ROOT,
  testLogger,
  uniqueName,
  testOperatorOptions,
} from './enforcer-harness.ts';

const RBAC = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', namespaced: true };
const ROLE_BINDINGS = { ...RBAC, plural: 'rolebindings' };
const WEBHOOK_CONFIGS = [
  {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
  },
  {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'validatingwebhookconfigurations',
    kind: 'ValidatingWebhookConfiguration',
    namespaced: false,
  },
];

const EDITOR = 'jane@example.com';
const ADMIN = 'alice@example.com';

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

/**
 * kubectl as a user (the admin kubeconfig impersonates; RBAC judges the impersonated user). Asynchronous:
 * the webhook it reaches runs in this very process.
 */
function kubectlAs(user: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['--as', user, '--as-group', 'system:authenticated', ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfigPath() },
      timeout: 30_000,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('enforcement against the people it governs', () => {
  let admin: KubeApi;
  let op: OperatorRuntime;
  let ns: string;

  const bind = (name: string, user: string, clusterRole: string) =>
    admin.create(ROLE_BINDINGS, ns, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    } as never);

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
    // The webhook runs with built-in certificates: the operator gets that overlay's rights too.
    await bindOperatorRbac({
      kubeconfig: kubeconfigPath(),
      docs: [
        ...(await loadRbacDocs(join(ROOT, 'config/rbac'))),
        ...(await loadRbacDocs(join(ROOT, 'deploy/overlays/self-signed'))),
      ],
    });
    ns = uniqueName('adversary');
    await ensureNamespace(admin, ns, { 'genops.ai/policy-enforcement': 'enabled' });
    // jane: only the built-in edit role. alice: edit, and the bypass permission (config/rbac/bypass_role.yaml).
    await bind('jane-edit', EDITOR, 'edit');
    await bind('alice-edit', ADMIN, 'edit');
    await bind('alice-bypass', ADMIN, 'genops-bypass');
    const port = await freePort();
    op = await startOperator(
      testOperatorOptions('adversary', {
        webhook: {
          port,
          certificates: { mode: 'self-signed', url: `https://127.0.0.1:${port}` },
          exemptUsernames: ['genops-operator'],
        },
      }),
      { logger: testLogger() },
    );
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 4);
    await createDeployment(admin, ns, 'batch', { team: 'a' }, 4);
    await admin.create(RESOURCES.aiBudget, ns, {
      apiVersion: 'genops.ai/v1alpha1',
      kind: 'AIBudget',
      metadata: { name: 'team-budget', namespace: ns },
      spec: {
        allocation: { amount: 5, period: 'monthly' },
        enforcement: { onBudgetExceeded: 'throttle', gracePeriod: 0 },
        selector: { matchLabels: { team: 'a' } },
      },
    } as never);
    await eventually('budget in the cache', () =>
      op.view.budgets.getByName(ns, 'team-budget') ? true : undefined,
    );
    charge(op.pipeline.windows, { namespace: ns, kind: 'Deployment', name: 'chat' }, 6_000_000, 2);
    op.pipeline.windows.publish();
    op.enforcer.evaluateNow();
    for (const name of ['chat', 'batch'])
      await eventually(`${name} throttled to 2`, async () =>
        (await replicasOf(admin, ns, name)) === 2 ? true : undefined,
      );
  }, 120_000);

  afterAll(async () => {
    await op?.shutdown();
    for (const rt of WEBHOOK_CONFIGS)
      for (const name of ['genops-mutating-webhook', 'genops-validating-webhook'])
        await admin?.delete(rt, undefined, name).catch(() => undefined);
    await admin?.delete(RESOURCES.namespace, undefined, ns).catch(() => undefined);
  });

  const bypass = (expires: string, by: string) =>
    `genops.ai/bypass=reason=incident-7;expires=${expires};by=${by}`;

  it('an edit user cannot bypass: the annotation is refused, nothing is stored, the throttle holds', async () => {
    const r = await kubectlAs(EDITOR, [
      'annotate',
      'deployment',
      'chat',
      '-n',
      ns,
      bypass('2030-12-31T00:00:00Z', 'cto@example.com'),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('needs the permission "bypass"');
    expect(r.err).toContain(EDITOR);
    // A forged approval marker alongside does not help.
    const forged = await kubectlAs(EDITOR, [
      'annotate',
      'deployment',
      'chat',
      '-n',
      ns,
      bypass('2030-12-31T00:00:00Z', 'cto@example.com'),
      `genops.ai/bypass-approval=v1;user=YWxpY2U;expires=2030-12-31T00:00:00.000Z;sig=${'0'.repeat(64)}`,
    ]);
    expect(forged.code).not.toBe(0);
    const ann = await annotationsOf(admin, RESOURCES.deployment, ns, 'chat');
    expect(ann['genops.ai/bypass']).toBeUndefined();
    expect(ann['genops.ai/bypass-approval']).toBeUndefined();
    op.enforcer.evaluateNow();
    await new Promise((r) => setTimeout(r, 500));
    expect(await replicasOf(admin, ns, 'chat')).toBe(2);
  });

  it('a marker without a bypass is dropped, so it cannot wait for a matching text', async () => {
    const r = await kubectlAs(EDITOR, [
      'annotate',
      'deployment',
      'batch',
      '-n',
      ns,
      'genops.ai/bypass-approval=v1;user=x;expires=2030-01-01T00:00:00.000Z;sig=00',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(
      (await annotationsOf(admin, RESOURCES.deployment, ns, 'batch'))['genops.ai/bypass-approval'],
    ).toBeUndefined();
  });

  it('an edit user cannot relabel a throttled Deployment out of its budget', async () => {
    const r = await kubectlAs(EDITOR, [
      'patch',
      'deployment',
      'batch',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({
        metadata: { labels: { team: 'b' } },
        spec: { template: { metadata: { labels: { team: 'b' } } } },
      }),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('AIBudget "team-budget" (throttle)');
    const d = await admin.get<
      KubeObject & { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }
    >(RESOURCES.deployment, ns, 'batch');
    expect(d?.spec?.template?.metadata?.labels?.['team']).toBe('a');
    // An unrelated label change is fine.
    const other = await kubectlAs(EDITOR, ['label', 'deployment', 'batch', '-n', ns, 'tier=backend']);
    expect(other.code, other.err).toBe(0);
  });

  it('a platform admin with the bypass permission can bypass: approved, capped, attributed, in effect', async () => {
    const before = Date.now();
    const r = await kubectlAs(ADMIN, [
      'annotate',
      'deployment',
      'chat',
      '-n',
      ns,
      bypass('2030-12-31T00:00:00Z', 'someone-else'),
    ]);
    expect(r.code, r.err).toBe(0);
    const ann = await annotationsOf(admin, RESOURCES.deployment, ns, 'chat');
    const marker = ann['genops.ai/bypass-approval'] ?? '';
    expect(marker).toMatch(/^v1;user=/);
    const user = Buffer.from(/user=([^;]*)/.exec(marker)?.[1] ?? '', 'base64url').toString();
    expect(user).toBe(ADMIN);
    // Capped: 24 h from approval, not 2030.
    const expires = Date.parse(/expires=([^;]*)/.exec(marker)?.[1] ?? '');
    expect(expires).toBeGreaterThan(before + 23 * 3_600_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000);
    op.enforcer.evaluateNow();
    await eventually('restored while bypassed', async () =>
      (await replicasOf(admin, ns, 'chat')) === 4 ? true : undefined,
    );
    const activated = await eventually('bypass audited with the person', async () =>
      (await eventsFor(admin, ns, 'Deployment', 'chat')).find((e) => e.reason === 'BypassActivated'),
    );
    expect(activated.note).toContain(ADMIN);
    expect(activated.note).not.toContain('someone-else');
    // The neighbour is still throttled: a bypass is per workload.
    expect(await replicasOf(admin, ns, 'batch')).toBe(2);
  });

  it('the admin may relabel out of an enforcing budget (the bypass permission)', async () => {
    const r = await kubectlAs(ADMIN, [
      'patch',
      'deployment',
      'batch',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { template: { metadata: { labels: { team: 'b' } } } } }),
    ]);
    expect(r.code, r.err).toBe(0);
  });

  it('an absurd budget is refused by the API server; its neighbour keeps being enforced', async () => {
    await expect(
      admin.create(RESOURCES.aiBudget, ns, {
        apiVersion: 'genops.ai/v1alpha1',
        kind: 'AIBudget',
        metadata: { name: 'absurd', namespace: ns },
        spec: { allocation: { amount: 1e30 }, selector: { matchLabels: { team: 'a' } } },
      } as never),
    ).rejects.toThrow(/allocation.amount|1e\+09|1000000000/);
    const status = await eventually('team-budget still evaluated', async () => {
      const b = await admin.get<
        KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
      >(RESOURCES.aiBudget, ns, 'team-budget');
      return b?.status?.conditions?.find((c) => c.type === 'Throttled')?.status === 'True' ? b : undefined;
    });
    expect(status.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });
});
