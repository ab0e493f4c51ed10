// Least privilege of config/rbac, asked of the real API server with `kubectl auth can-i`:
// the operator's identity (config/rbac bound to the test's operator user, test/controlplane/rbac.ts)
// can do what the stages need and is refused the rest; the ServiceAccount itself, as the README's
// troubleshooting command asks, has no wildcard access; and no rule in config/rbac uses a wildcard.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { bindOperatorRbac, loadRbacDocs } from '../controlplane/rbac.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const adminKubeconfig = inject('genopsKubeconfig');
const operatorKubeconfig = inject('genopsOperatorKubeconfig');
const SERVICE_ACCOUNT = 'system:serviceaccount:genops-system:genops-controller-manager';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

function kubectl(kubeconfig: string, args: string[]) {
  const r = spawnSync('kubectl', args, { encoding: 'utf8', env: { ...process.env, KUBECONFIG: kubeconfig } });
  if (r.error) throw new Error(`kubectl could not run (it is the apt package kubectl): ${r.error.message}`);
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

/** `kubectl auth can-i` as the operator identity: 'yes' or 'no'. */
function can(check: string): string {
  const r = kubectl(operatorKubeconfig, ['auth', 'can-i', ...check.split(' ')]);
  if (r.out !== 'yes' && r.out !== 'no') throw new Error(`can-i ${check}: ${r.out} ${r.err}`);
  return r.out;
}

// What the stages need (enforcer, decision status writers, leader election, usage records,
// attribution, webhook certificate modes). Each line is `verb resource [flags]`.
const NEEDED = [
  // informers on the resources, in every namespace
  'list aipolicies.genops.ai --all-namespaces',
  'watch aibudgets.genops.ai --all-namespaces',
  'get aibudgets.genops.ai -n ai-platform',
  // status writers
  'patch aibudgets.genops.ai --subresource=status -n ai-platform',
  'update aipolicies.genops.ai --subresource=status -n ai-platform',
  // events about budgets, policies and workloads
  'create events -n ai-platform',
  'create events.events.k8s.io -n ai-platform',
  // namespace labels and bypass annotations
  'watch namespaces',
  // workload labels/annotations and their scale subresource
  'list deployments.apps --all-namespaces',
  'patch deployments.apps -n ai-platform',
  'patch deployments.apps --subresource=scale -n ai-platform',
  'get statefulsets.apps --subresource=scale -n ai-platform',
  'patch horizontalpodautoscalers.autoscaling -n ai-platform',
  // span attribution: pods and their owners
  'watch pods --all-namespaces',
  'list replicasets.apps --all-namespaces',
  'list jobs.batch --all-namespaces',
  // leader election and per-replica usage records, own namespace only
  'update leases.coordination.k8s.io -n genops-system',
  'create leases.coordination.k8s.io -n genops-system',
  'create configmaps -n genops-system',
  'update configmaps -n genops-system',
  // bypass approvals: the user's permission asked of the API server, the one HMAC key Secret
  'create subjectaccessreviews.authorization.k8s.io',
  'get secrets/genops-bypass-key -n genops-system',
];

const REFUSED = [
  // Secrets: nothing cluster-wide, nothing but the one Secret in its own namespace
  'get secrets -n ai-platform',
  'list secrets --all-namespaces',
  'get secrets -n kube-system',
  'list secrets -n genops-system',
  'get secrets/other -n genops-system',
  'delete secrets/genops-webhook-ca -n genops-system',
  // workloads: never delete, create or replace them; the spec only through scale
  'delete deployments.apps -n ai-platform',
  'create deployments.apps -n ai-platform',
  'update deployments.apps -n ai-platform',
  'delete statefulsets.apps -n ai-platform',
  'delete pods -n ai-platform',
  'create pods -n ai-platform',
  'create pods/exec -n ai-platform',
  'delete horizontalpodautoscalers.autoscaling -n ai-platform',
  // the users own the specs of policies and budgets
  'patch aipolicies.genops.ai -n ai-platform',
  'delete aibudgets.genops.ai -n ai-platform',
  'create aibudgets.genops.ai -n ai-platform',
  // own-namespace state stays in its namespace
  'update leases.coordination.k8s.io -n kube-system',
  'delete leases.coordination.k8s.io -n genops-system',
  'get configmaps -n ai-platform',
  'create configmaps -n kube-system',
  // no privilege escalation paths
  'escalate clusterroles.rbac.authorization.k8s.io',
  'bind clusterroles.rbac.authorization.k8s.io',
  'create clusterrolebindings.rbac.authorization.k8s.io',
  'create rolebindings.rbac.authorization.k8s.io -n genops-system',
  'impersonate users',
  'impersonate serviceaccounts -n genops-system',
  'create serviceaccounts/token -n genops-system',
  'get nodes',
  'patch mutatingwebhookconfigurations.admissionregistration.k8s.io/someone-elses-webhook',
  'delete validatingwebhookconfigurations.admissionregistration.k8s.io/genops-validating-webhook',
  'patch customresourcedefinitions.apiextensions.k8s.io',
  // the operator checks the bypass permission of others; it holds none itself
  'bypass aibudgets.genops.ai -n ai-platform',
  'bypass aipolicies.genops.ai -n ai-platform',
  'update secrets/genops-bypass-key -n genops-system',
  // wildcards
  '* * --all-namespaces',
  '* deployments.apps -n ai-platform',
  'get * -n ai-platform',
];

describe('RBAC of the operator on the real API server', () => {
  beforeAll(async () => {
    const docs = await loadRbacDocs(join(root, 'config/rbac'));
    await bindOperatorRbac({ kubeconfig: adminKubeconfig, docs });
    // The ServiceAccount's own bindings, as installed by the README's `kubectl apply -f config/rbac/`.
    const applied = kubectl(adminKubeconfig, ['apply', '-f', join(root, 'config/rbac/')]);
    expect(applied.code, applied.err).toBe(0);
  });

  it.each(NEEDED)('can %s', (check) => {
    expect(can(check)).toBe('yes');
  });

  it.each(REFUSED)('cannot %s', (check) => {
    expect(can(check)).toBe('no');
  });

  it('the ServiceAccount has no wildcard access (the README troubleshooting command)', () => {
    const r = kubectl(adminKubeconfig, ['auth', 'can-i', '*', '*', `--as=${SERVICE_ACCOUNT}`]);
    expect(r.out).toBe('no');
    const scale = kubectl(adminKubeconfig, [
      'auth',
      'can-i',
      'patch',
      'deployments.apps',
      '--subresource=scale',
      '-n',
      'ai-platform',
      `--as=${SERVICE_ACCOUNT}`,
    ]);
    expect(scale.out).toBe('yes');
  });

  it('no rule in config/rbac uses a wildcard or a non-resource URL', async () => {
    const docs = (await loadRbacDocs(join(root, 'config/rbac'))) as { kind: string; rules?: Rule[] }[];
    const rules = docs.flatMap((d) => (d.kind === 'Role' || d.kind === 'ClusterRole' ? (d.rules ?? []) : []));
    expect(rules.length).toBeGreaterThan(10);
    for (const rule of rules) {
      for (const value of [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...(rule.verbs ?? [])]) {
        expect(value).not.toContain('*');
      }
      expect(rule.nonResourceURLs).toBeUndefined();
    }
    // Secrets only through the namespaced Role, never the ClusterRole.
    const clusterRules = docs.filter((d) => d.kind === 'ClusterRole').flatMap((d) => d.rules ?? []);
    expect(clusterRules.filter((r) => r.resources?.some((x) => x.startsWith('secrets')))).toEqual([]);
  });
});

describe('RBAC of the built-in certificate mode (deploy/overlays/self-signed)', () => {
  beforeAll(async () => {
    const docs = [
      ...(await loadRbacDocs(join(root, 'config/rbac'))),
      ...(await loadRbacDocs(join(root, 'deploy/overlays/self-signed'))),
    ];
    await bindOperatorRbac({ kubeconfig: adminKubeconfig, docs });
  });

  // Only this overlay grants them (issue 12 item 10): with cert-manager the operator never writes these.
  const SELF_SIGNED = [
    'get secrets/genops-webhook-ca -n genops-system',
    'update secrets/genops-webhook-ca -n genops-system',
    'patch mutatingwebhookconfigurations.admissionregistration.k8s.io/genops-mutating-webhook',
    'get validatingwebhookconfigurations.admissionregistration.k8s.io/genops-validating-webhook',
  ];
  it.each(SELF_SIGNED)('can %s', (check) => {
    expect(can(check)).toBe('yes');
  });
  it.each([
    'patch mutatingwebhookconfigurations.admissionregistration.k8s.io/someone-elses-webhook',
    'get secrets/other -n genops-system',
  ])('still cannot %s', (check) => {
    expect(can(check)).toBe('no');
  });

  it('config/rbac alone holds none of those rules', async () => {
    const docs = (await loadRbacDocs(join(root, 'config/rbac'))) as { kind: string; rules?: Rule[] }[];
    const rules = docs.flatMap((d) => d.rules ?? []);
    expect(rules.filter((r) => (r.apiGroups ?? []).includes('admissionregistration.k8s.io'))).toEqual([]);
    expect(rules.filter((r) => (r.resourceNames ?? []).includes('genops-webhook-ca'))).toEqual([]);
  });
});
