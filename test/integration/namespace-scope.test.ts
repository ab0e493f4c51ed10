// The namespace scope on the real API server: the operator runs as a ServiceAccount holding exactly
// the rights of deploy/overlays/namespaced (its bindings re-pointed at a fresh ServiceAccount, so no
// other test's grant leaks in, and at this test's namespace), with `--namespaces` set to one
// namespace. It syncs (every list/watch is namespaced: a cluster-wide list would be refused), and it
// throttles the over-budget Deployment in its namespace.
//
// What must not happen: the identity may patch, scale, list pods or read budgets anywhere else; the
// operator sees, or changes, the equally over-budget Deployment of the namespace outside its scope.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type OperatorRuntime } from '../../cmd/operator-main.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES, type KubeObject, type ResourceType } from '../../cluster/resources.ts';
import {
  apiFor,
  charge,
  createDeployment,
  ensureNamespace,
  eventually,
  kubeconfigPath,
  OPERATOR_NAMESPACE,
  prepareCluster,
  replicasOf,
  ROOT,
  testLogger,
  uniqueName,
  testOperatorOptions,
} from './enforcer-harness.ts';

const rbac = (plural: string, kind: string, namespaced: boolean): ResourceType => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  plural,
  kind,
  namespaced,
});
const RBAC_KINDS: Record<string, ResourceType> = {
  ClusterRole: rbac('clusterroles', 'ClusterRole', false),
  ClusterRoleBinding: rbac('clusterrolebindings', 'ClusterRoleBinding', false),
  Role: rbac('roles', 'Role', true),
  RoleBinding: rbac('rolebindings', 'RoleBinding', true),
};
const SERVICE_ACCOUNTS: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'serviceaccounts',
  kind: 'ServiceAccount',
  namespaced: true,
};
const ACCESS_REVIEWS: ResourceType = {
  group: 'authorization.k8s.io',
  version: 'v1',
  plural: 'subjectaccessreviews',
  kind: 'SubjectAccessReview',
  namespaced: false,
};

interface RbacDoc extends KubeObject {
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

describe('namespace scope (--namespaces with deploy/overlays/namespaced)', () => {
  let admin: KubeApi;
  let op: OperatorRuntime | undefined;
  let dir: string;
  const inScope = uniqueName('scoped');
  const outside = uniqueName('unscoped');
  const sa = uniqueName('genops-ns');
  const user = `system:serviceaccount:${OPERATOR_NAMESPACE}:${sa}`;
  const created: Array<{ rt: ResourceType; namespace: string | undefined; name: string }> = [];

  /** Applies the overlay's RBAC objects: roles as they are, bindings for this test's ServiceAccount. */
  async function applyOverlayRbac(): Promise<void> {
    const yaml = execFileSync('kubectl', ['kustomize', join(ROOT, 'deploy/overlays/namespaced')], {
      encoding: 'utf8',
    });
    for (const doc of parseAllDocuments(yaml)) {
      const o = doc.toJS() as RbacDoc | null;
      const rt = o?.kind === undefined ? undefined : RBAC_KINDS[o.kind];
      if (o === null || rt === undefined || o.metadata?.name === undefined) continue;
      let namespace = o.metadata.namespace;
      let name = o.metadata.name;
      if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
        // The overlay's example namespaces: team-a becomes this test's namespace, team-b is dropped.
        if (namespace === 'team-b') continue;
        if (namespace === 'team-a') namespace = inScope;
        name = `${name}-${sa}`;
        o.subjects = (o.subjects ?? []).map((s) =>
          s.kind === 'ServiceAccount' ? { ...s, name: sa, namespace: OPERATOR_NAMESPACE } : s,
        );
      }
      const body = {
        ...o,
        metadata: { ...o.metadata, name, ...(namespace === undefined ? {} : { namespace }) },
      };
      await admin.patch(rt, namespace, name, body, { type: 'apply', force: true });
      if (name.endsWith(sa)) created.push({ rt, namespace, name });
    }
  }

  /** A kubeconfig whose credentials are a token of the ServiceAccount (TokenRequest). */
  async function serviceAccountKubeconfig(): Promise<string> {
    await admin.create(SERVICE_ACCOUNTS, OPERATOR_NAMESPACE, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: sa, namespace: OPERATOR_NAMESPACE },
    });
    created.push({ rt: SERVICE_ACCOUNTS, namespace: OPERATOR_NAMESPACE, name: sa });
    const tr = await admin.request<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${OPERATOR_NAMESPACE}/serviceaccounts/${sa}/token`,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    });
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(kubeconfigPath());
    const cluster = adminKc.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ ...cluster, name: 'c' }],
      users: [{ name: sa, token: tr.status.token }],
      contexts: [{ name: 'sa', cluster: 'c', user: sa }],
      currentContext: 'sa',
    });
    const path = join(dir, 'sa.kubeconfig');
    writeFileSync(path, kc.exportConfig());
    return path;
  }

  const allowed = async (attrs: Record<string, string>): Promise<boolean> => {
    const r = await admin.create<KubeObject & { status?: { allowed?: boolean } }>(ACCESS_REVIEWS, undefined, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user, groups: ['system:serviceaccounts', 'system:authenticated'], resourceAttributes: attrs },
    } as KubeObject);
    return r.status?.allowed === true;
  };

  const budget = (namespace: string) =>
    admin.create(RESOURCES.aiBudget, namespace, {
      apiVersion: 'genops.ai/v1alpha1',
      kind: 'AIBudget',
      metadata: { name: 'team-budget', namespace },
      spec: {
        allocation: { amount: 5, period: 'monthly' },
        enforcement: { onBudgetExceeded: 'throttle', gracePeriod: 0 },
        selector: { matchLabels: { team: 'a' } },
      },
    } as never);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'genops-ns-scope-'));
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
    for (const ns of [inScope, outside]) {
      await ensureNamespace(admin, ns);
      await createDeployment(admin, ns, 'chat', { team: 'a' }, 4);
      await budget(ns);
    }
    await applyOverlayRbac();
    const kubeconfig = await serviceAccountKubeconfig();
    op = await startOperator(
      testOperatorOptions('scoped', { kubeconfig, syncTimeoutMs: 30_000, watchNamespaces: [inScope] }),
      { logger: testLogger() },
    );
  }, 120_000);

  afterAll(async () => {
    await op?.shutdown();
    for (const c of created.reverse()) await admin?.delete(c.rt, c.namespace, c.name).catch(() => undefined);
    for (const ns of [inScope, outside])
      await admin?.delete(RESOURCES.namespace, undefined, ns).catch(() => undefined);
    admin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the overlay grants workload writes in the scoped namespace only, and no cluster-wide reads of them', async () => {
    const patch = (namespace: string, resource: string, subresource = '') => ({
      namespace,
      verb: 'patch',
      group: 'apps',
      resource,
      ...(subresource === '' ? {} : { subresource }),
    });
    expect(await allowed(patch(inScope, 'deployments'))).toBe(true);
    expect(await allowed(patch(inScope, 'deployments', 'scale'))).toBe(true);
    for (const attrs of [
      patch(outside, 'deployments'),
      patch(outside, 'statefulsets'),
      patch(outside, 'deployments', 'scale'),
      patch('kube-system', 'deployments'),
      { namespace: outside, verb: 'list', group: 'genops.ai', resource: 'aibudgets' },
      { namespace: outside, verb: 'list', group: '', resource: 'pods' },
      { namespace: outside, verb: 'patch', group: 'autoscaling', resource: 'horizontalpodautoscalers' },
      // Cluster-wide (all namespaces) lists are refused too: only per-namespace ones are allowed.
      { verb: 'list', group: '', resource: 'pods' },
      { verb: 'list', group: 'apps', resource: 'deployments' },
      { verb: 'list', group: 'genops.ai', resource: 'aibudgets' },
    ])
      expect(await allowed(attrs), JSON.stringify(attrs)).toBe(false);
    // What stays cluster-wide, read-only: Namespaces.
    expect(await allowed({ verb: 'list', group: '', resource: 'namespaces' })).toBe(true);
    expect(await allowed({ verb: 'patch', group: '', resource: 'namespaces' })).toBe(false);
  });

  it('syncs with those rights, and throttles in its namespace only', async () => {
    const runtime = op!;
    expect(runtime.view.hasSynced()).toBe(true);
    await eventually('scoped budget in the cache', () =>
      runtime.view.budgets.getByName(inScope, 'team-budget') ? true : undefined,
    );
    // Both namespaces' Deployments are over the same budget amount.
    for (const ns of [inScope, outside])
      charge(runtime.pipeline.windows, { namespace: ns, kind: 'Deployment', name: 'chat' }, 6_000_000, 2);
    runtime.pipeline.windows.publish();
    runtime.enforcer.evaluateNow();
    await eventually('the scoped Deployment throttled to 2', async () =>
      (await replicasOf(admin, inScope, 'chat')) === 2 ? true : undefined,
    );
    // Several evaluation rounds later, the other namespace is untouched and unseen.
    for (let i = 0; i < 5; i++) {
      runtime.enforcer.evaluateNow();
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await replicasOf(admin, outside, 'chat')).toBe(4);
    const annotations = (await admin.get<KubeObject>(RESOURCES.deployment, outside, 'chat'))?.metadata
      ?.annotations;
    expect(Object.keys(annotations ?? {}).filter((k) => k.startsWith('genops.ai/'))).toEqual([]);
    expect(runtime.view.budgets.getByName(outside, 'team-budget')).toBeUndefined();
    expect(runtime.view.workloads.get('Deployment')!.list(outside)).toEqual([]);
    expect(
      runtime.view.workloads
        .get('Deployment')!
        .list(inScope)
        .map((d) => d.metadata?.name),
    ).toEqual(['chat']);
  });
});
