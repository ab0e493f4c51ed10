// Proof that the test control plane is a real one: the API answers, kube-controller-manager turns a
// Deployment into a ReplicaSet and Pods, RBAC is enforced for the operator's identity, and the
// RBAC helper grants that identity exactly what it is given.
import type { KubeConfig } from '@kubernetes/client-node';
import {
  ApiException,
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  VersionApi,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, loadKubeConfig } from '../controlplane/wait.ts';
import { bindOperatorRbac } from '../controlplane/rbac.ts';

const kubeconfigPath = inject('genopsKubeconfig');
const operatorKubeconfigPath = inject('genopsOperatorKubeconfig');

async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

describe('test control plane', () => {
  let admin: KubeConfig;
  let operator: KubeConfig;

  beforeAll(() => {
    admin = loadKubeConfig(kubeconfigPath);
    operator = loadKubeConfig(operatorKubeconfigPath);
  });

  it('exposes the kubeconfig paths through env vars too', () => {
    expect(process.env.GENOPS_TEST_KUBECONFIG).toBe(kubeconfigPath);
    expect(process.env.GENOPS_TEST_OPERATOR_KUBECONFIG).toBe(operatorKubeconfigPath);
  });

  it('answers with its version and lists namespaces', async () => {
    const version = await admin.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+/);

    const namespaces = await admin.makeApiClient(CoreV1Api).listNamespace();
    const names = namespaces.items.map((n) => n.metadata?.name);
    expect(names).toEqual(expect.arrayContaining(['default', 'kube-system']));
  });

  it('runs kube-controller-manager: a Deployment gets a ReplicaSet and a Pod', async () => {
    const core = admin.makeApiClient(CoreV1Api);
    const apps = admin.makeApiClient(AppsV1Api);
    const namespace = `cp-proof-${Date.now().toString(36)}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    try {
      const labels = { app: 'proof' };
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: 'proof' },
          spec: {
            replicas: 1,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: { containers: [{ name: 'main', image: 'registry.invalid/proof:1' }] },
            },
          },
        },
      });

      const replicaSet = await eventually('a ReplicaSet', async () => {
        const list = await apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=proof' });
        return list.items[0];
      });
      expect(replicaSet.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'proof' });

      const pod = await eventually('a Pod', async () => {
        const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=proof' });
        return list.items[0];
      });
      expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'ReplicaSet',
        name: replicaSet.metadata?.name,
      });
      // No kubelet and no scheduler: the Pod exists and stays Pending.
      expect(pod.status?.phase).toBe('Pending');
    } finally {
      await core.deleteNamespace({ name: namespace });
    }
  });

  it('authenticates the operator identity as a non-admin user that RBAC refuses', async () => {
    const review = await operator.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe('genops-operator');
    expect(review.status?.userInfo?.groups).toContain('genops:operators');
    expect(review.status?.userInfo?.groups).not.toContain('system:masters');

    // The control plane is shared with other test files, which may have granted the operator its real
    // RBAC already: probe what the operator must never be able to do.
    const core = operator.makeApiClient(CoreV1Api);
    expect(await statusOf(core.listNamespacedSecret({ namespace: 'kube-system' }))).toBe(403);
    const rbac = operator.makeApiClient(RbacAuthorizationV1Api);
    expect(await statusOf(rbac.listClusterRoleBinding())).toBe(403);
  });

  it('binds RBAC documents to the operator identity, and only what they grant', async () => {
    const namespace = 'genops-testenv-rbac';
    const bound = await bindOperatorRbac({
      kubeconfig: kubeconfigPath,
      namespace,
      docs: [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'configmap-reader' },
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
        },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ignored' } },
      ],
    });
    expect(bound).toEqual({
      roles: [`Role ${namespace}/configmap-reader`],
      bindings: [`RoleBinding ${namespace}/configmap-reader-genops-operator`],
    });

    const core = operator.makeApiClient(CoreV1Api);
    await eventually('the binding to take effect', async () =>
      (await statusOf(core.listNamespacedConfigMap({ namespace }))) === 200 ? true : undefined,
    );
    expect(await statusOf(core.listNamespacedConfigMap({ namespace: 'kube-system' }))).toBe(403);
    expect(await statusOf(core.listNamespacedSecret({ namespace }))).toBe(403);
  });
});
