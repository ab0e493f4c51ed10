// The Helm chart with a real helm (v4, built from its Go module: test/helm/build.ts) and the release
// manifest, on a control plane of their own (cluster-scoped objects such as the ClusterRoles must not
// be owned by another test's kubectl apply):
// - helm lint (and a value outside the schema fails it);
// - helm template with the defaults renders exactly config/'s objects (only helm's labels added), in
//   another namespace nothing of genops-system is left, self-signed mode drops cert-manager;
// - helm install, upgrade and uninstall; kubectl apply -f deploy/release/genops-operator.yaml.
// cert-manager and the Prometheus Operator are not on the test cluster: minimal CRDs stand in for their
// kinds (any content accepted), so the API server stores the chart's Issuer, Certificate and ServiceMonitor.

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBinaries } from '../controlplane/build.ts';
import { ControlPlane } from '../controlplane/start.ts';
import { configObjects } from '../../charts/generate.ts';
import { ensureHelm } from '../helm/build.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CHART = 'charts/genops-operator';
const HELM_LABELS = [
  'app.kubernetes.io/instance',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/version',
  'helm.sh/chart',
];

interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

const log = (message: string) => process.stderr.write(`[helm-test] ${message}\n`);

let helmBinary = '';
let kubeconfig = '';
let work = '';
let controlPlane: ControlPlane | undefined;

function run(command: string, args: string[], input?: string) {
  const r = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    input,
    timeout: 90_000,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      // helm keeps its cache, config and data under the test's directory, not the user's home.
      HELM_CACHE_HOME: join(work, 'helm-cache'),
      HELM_CONFIG_HOME: join(work, 'helm-config'),
      HELM_DATA_HOME: join(work, 'helm-data'),
    },
  });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const helm = (args: string[]) => run(helmBinary, args);

// The README's helm commands, run as typed (test/integration/readme.test.ts checks they are these).
const README_INSTALL =
  'helm install genops charts/genops-operator --namespace genops-system --create-namespace';
const README_UPGRADE =
  'helm upgrade genops charts/genops-operator --namespace genops-system --set replicas=3 --set webhook.certificates=self-signed --set serviceMonitor.enabled=true';
const README_UNINSTALL = 'helm uninstall genops --namespace genops-system';

function readmeHelm(command: string) {
  const [program, ...args] = command.split(' ');
  expect(program).toBe('helm');
  return helm(args);
}
const kubectl = (args: string[], input?: string) => run('kubectl', args, input);

function docs(text: string): K8sDoc[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sDoc | null)
    .filter((d): d is K8sDoc => !!d && typeof d.kind === 'string');
}

function template(args: string[]): K8sDoc[] {
  const r = helm(['template', 'genops', CHART, ...args]);
  expect(r.code, r.err).toBe(0);
  return docs(r.out);
}

/** The object without helm's own labels, to compare with config/. */
function withoutHelmLabels(d: K8sDoc): K8sDoc {
  const copy = structuredClone(d);
  for (const l of HELM_LABELS) delete copy.metadata.labels?.[l];
  return copy;
}

const key = (d: K8sDoc) => `${d.kind}/${d.metadata.name}`;

function config(): K8sDoc[] {
  const folders = ['rbac', 'manager', 'webhook'] as const;
  const objects = folders.flatMap((f) => configObjects(f).flatMap((x) => x.objects)) as K8sDoc[];
  const monitoring = ['servicemonitor.yaml', 'prometheusrule.yaml'].flatMap((f) =>
    docs(readFileSync(join(root, 'config/prometheus', f), 'utf8')),
  );
  return [...objects, ...monitoring];
}

function stubCrd(group: string, plural: string, kind: string) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

beforeAll(async () => {
  // The first helm build compiles it from source (minutes); later runs find it in the cache.
  helmBinary = await ensureHelm({ log });
  work = await mkdtemp(join(tmpdir(), 'genops-helm-'));
  controlPlane = new ControlPlane({ dir: join(work, 'cp'), log, binaries: await ensureBinaries({ log }) });
  kubeconfig = (await controlPlane.start()).kubeconfig;
  const stubs = [
    stubCrd('cert-manager.io', 'issuers', 'Issuer'),
    stubCrd('cert-manager.io', 'certificates', 'Certificate'),
    stubCrd('monitoring.coreos.com', 'servicemonitors', 'ServiceMonitor'),
    stubCrd('monitoring.coreos.com', 'prometheusrules', 'PrometheusRule'),
  ];
  const r = kubectl(['create', '-f', '-'], stubs.map((s) => '---\n' + stringify(s)).join(''));
  expect(r.code, r.err).toBe(0);
  for (const s of stubs) {
    const w = kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${s.metadata.name}`]);
    expect(w.code, w.err).toBe(0);
  }
}, 60 * 60_000);

afterAll(async () => {
  await controlPlane?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the Helm chart', () => {
  it('is a helm v4 chart that passes helm lint --strict, and a value outside the schema fails it', () => {
    expect(helm(['version', '--short']).out).toMatch(/^v4\.\d+\.\d+/);
    const ok = helm(['lint', '--strict', CHART]);
    expect(ok.code, ok.out + ok.err).toBe(0);
    expect(ok.out).toContain('1 chart(s) linted, 0 chart(s) failed');
    const selfSigned = helm(['lint', '--strict', CHART, '--set', 'webhook.certificates=self-signed']);
    expect(selfSigned.code, selfSigned.out + selfSigned.err).toBe(0);
    const bad = helm(['lint', CHART, '--set', 'webhook.certificates=letsencrypt']);
    expect(bad.code).not.toBe(0);
    expect(bad.out + bad.err).toContain('certificates');
  });

  it('renders with the defaults exactly the objects of config/ (helm adds only its labels)', () => {
    const rendered = template([
      '--namespace',
      'genops-system',
      '--set',
      'namespace.create=true',
      '--set',
      'serviceMonitor.enabled=true',
      '--set',
      'prometheusRule.enabled=true',
    ]);
    const expected = config();
    expect(rendered.map(key).sort()).toEqual(expected.map(key).sort());
    for (const d of rendered) {
      for (const l of HELM_LABELS) expect(d.metadata.labels?.[l], `${key(d)} ${l}`).toBeTruthy();
      expect(withoutHelmLabels(d), key(d)).toEqual(expected.find((e) => key(e) === key(d)));
    }
    // The chart's CRDs are config/crd/bases, byte for byte.
    const crds = template(['--include-crds']).filter((d) => d.kind === 'CustomResourceDefinition');
    const baseCrds = configObjects('crd/bases').flatMap((x) => x.objects) as K8sDoc[];
    expect(crds).toEqual(baseCrds);
  });

  it('in another namespace leaves nothing of genops-system (certificate names, CA injection, webhooks)', () => {
    const text = helm([
      'template',
      'genops',
      CHART,
      '--namespace',
      'team-ai',
      '--set',
      'namespace.create=true',
    ]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).not.toContain('genops-system');
    const rendered = docs(text.out);
    const certificate = rendered.find((d) => d.kind === 'Certificate') as unknown as {
      spec: { dnsNames: string[] };
    };
    expect(certificate.spec.dnsNames).toEqual([
      'genops-webhook-service.team-ai.svc',
      'genops-webhook-service.team-ai.svc.cluster.local',
    ]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const c = rendered.find((d) => d.kind === kind)!;
      expect(c.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe('team-ai/genops-webhook-cert');
    }
    for (const d of rendered.filter((x) => x.metadata.namespace !== undefined)) {
      expect(d.metadata.namespace, key(d)).toBe('team-ai');
    }
  });

  it('sets its values: image, replicas, resources, trusted forwarders, self-signed certificates, toggles', () => {
    const rendered = template([
      '--set',
      'image.repository=registry.example.com/genops',
      '--set',
      'image.tag=9.9.9',
      '--set',
      'replicas=3',
      '--set',
      'resources.limits.memory=3Gi',
      '--set',
      'trustedForwarders={10.42.0.0/16,10.43.0.1}',
      '--set',
      'webhook.certificates=self-signed',
      '--set',
      'otlp.service.enabled=false',
      '--set',
      'networkPolicy.metricsNamespace=observability',
    ]);
    const deployment = rendered.find((d) => d.kind === 'Deployment') as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: {
            volumes: { name: string }[];
            containers: {
              image: string;
              args: string[];
              resources: { limits: { memory: string } };
              volumeMounts: { name: string }[];
            }[];
          };
        };
      };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    expect(deployment.spec.replicas).toBe(3);
    expect(container.image).toBe('registry.example.com/genops:9.9.9');
    expect(container.resources.limits.memory).toBe('3Gi');
    expect(container.args).toEqual([
      'operator',
      '--leader-elect',
      '--wal-dir=/var/lib/genops/wal',
      '--webhook-self-signed',
      '--trusted-peers=10.42.0.0/16,10.43.0.1',
    ]);
    // Self-signed: the operator registers its webhook configurations, so this mode (and only this
    // mode, below) grants the registrar's rights of deploy/overlays/self-signed.
    expect(rendered.map(key)).toContain('ClusterRole/genops-webhook-registrar-role');
    // Self-signed: no cert-manager object, no static webhook configuration, no cert-manager Secret mounted.
    expect(rendered.filter((d) => d.apiVersion.startsWith('cert-manager.io/'))).toEqual([]);
    expect(rendered.filter((d) => d.kind.endsWith('WebhookConfiguration'))).toEqual([]);
    expect(container.volumeMounts.map((m) => m.name)).toEqual(['tmp', 'wal']);
    expect(deployment.spec.template.spec.volumes.map((v) => v.name)).toEqual(['tmp', 'wal']);
    expect(template([]).map(key)).not.toContain('ClusterRole/genops-webhook-registrar-role');
    expect(rendered.map(key)).toContain('Service/genops-webhook-service');
    // The OTLP Services are off; the metrics Service stays; monitoring objects are off by default.
    expect(rendered.filter((d) => d.metadata.name.startsWith('genops-otlp'))).toEqual([]);
    expect(rendered.map(key)).toContain('Service/genops-controller-manager-metrics');
    expect(rendered.filter((d) => d.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
    expect(JSON.stringify(rendered.find((d) => d.kind === 'NetworkPolicy'))).toContain(
      '"kubernetes.io/metadata.name":"observability"',
    );
  });

  it('with watchNamespaces grants the manager per namespace as deploy/overlays/namespaced does, nothing cluster-wide', () => {
    const bindings = (docs: K8sDoc[]) =>
      docs
        .filter((d) => d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding')
        .map((d) => {
          const ref = (d as unknown as { roleRef: { name: string } }).roleRef.name;
          return `${d.kind} ${d.metadata.namespace ?? ''}/${d.metadata.name} -> ${ref}`;
        })
        .sort();
    const rendered = template(['--namespace', 'genops-system', '--set', 'watchNamespaces={team-a,team-b}']);
    const overlay = run('kubectl', ['kustomize', 'deploy/overlays/namespaced']);
    expect(overlay.code, overlay.err).toBe(0);
    expect(bindings(rendered)).toEqual(bindings(docs(overlay.out)));
    // The cluster-wide grant of the manager's rules (patch on Deployments/StatefulSets) is gone.
    expect(bindings(rendered)).not.toContain(
      'ClusterRoleBinding /genops-manager-rolebinding -> genops-manager-role',
    );
    const args = (
      rendered.find((d) => d.kind === 'Deployment') as unknown as {
        spec: { template: { spec: { containers: { args: string[] }[] } } };
      }
    ).spec.template.spec.containers[0]!.args;
    expect(args).toContain('--namespaces=team-a,team-b');
    // Without the value: the cluster-wide binding, no --namespaces.
    const plain = template(['--namespace', 'genops-system']);
    expect(bindings(plain)).toContain(
      'ClusterRoleBinding /genops-manager-rolebinding -> genops-manager-role',
    );
    expect(JSON.stringify(plain)).not.toContain('--namespaces');
  });

  it("installs, upgrades and uninstalls on the API server with the README's helm commands", () => {
    const ns = 'genops-system';
    const installed = readmeHelm(README_INSTALL);
    expect(installed.code, installed.err).toBe(0);
    expect(installed.out).toContain('STATUS: deployed');
    const deployment = () =>
      JSON.parse(kubectl(['get', 'deployment', 'genops-controller-manager', '-n', ns, '-o', 'json']).out) as {
        spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } };
      };
    expect(deployment().spec.replicas).toBe(2);
    const crd = kubectl(['get', 'crd', 'aibudgets.genops.ai', 'aipolicies.genops.ai']);
    expect(crd.code, crd.err).toBe(0);
    const certificate = kubectl(['get', 'certificate', 'genops-webhook-cert', '-n', ns, '-o', 'json']);
    expect(certificate.code, certificate.err).toBe(0);
    expect(certificate.out).toContain(`genops-webhook-service.${ns}.svc`);
    const mutating = kubectl([
      'get',
      'mutatingwebhookconfiguration',
      'genops-mutating-webhook',
      '-o',
      'json',
    ]);
    expect(mutating.code, mutating.err).toBe(0);
    expect(mutating.out).toContain(`"cert-manager.io/inject-ca-from": "${ns}/genops-webhook-cert"`);

    const upgraded = readmeHelm(README_UPGRADE);
    expect(upgraded.code, upgraded.err).toBe(0);
    expect(upgraded.out).toContain('REVISION: 2');
    expect(deployment().spec.replicas).toBe(3);
    expect(deployment().spec.template.spec.containers[0]!.args).toContain('--webhook-self-signed');
    // The upgrade removed what self-signed mode does not use and added the ServiceMonitor.
    expect(kubectl(['get', 'certificate', 'genops-webhook-cert', '-n', ns]).code).not.toBe(0);
    expect(kubectl(['get', 'mutatingwebhookconfiguration', 'genops-mutating-webhook']).code).not.toBe(0);
    const monitor = kubectl(['get', 'servicemonitor', 'genops-controller-manager', '-n', ns, '-o', 'json']);
    expect(monitor.code, monitor.err).toBe(0);
    expect(monitor.out).toContain('"honorLabels": true');
    expect(helm(['history', 'genops', '--namespace', ns]).out).toMatch(/\n2\s.*deployed/);

    const removed = readmeHelm(README_UNINSTALL);
    expect(removed.code, removed.err).toBe(0);
    expect(helm(['list', '--namespace', ns, '-q']).out.trim()).toBe('');
    const left = kubectl([
      'get',
      'deployments,services,serviceaccounts,roles,rolebindings,servicemonitors,networkpolicies',
      '-n',
      ns,
      '-l',
      'app.kubernetes.io/instance=genops',
      '-o',
      'name',
    ]);
    expect(left.code, left.err).toBe(0);
    expect(left.out.trim()).toBe('');
    const clusterLeft = kubectl([
      'get',
      'clusterroles,clusterrolebindings',
      '-o',
      'name',
      '-l',
      'app.kubernetes.io/instance=genops',
    ]);
    expect(clusterLeft.out.trim()).toBe('');
    // helm keeps the CRDs (and with them every budget and policy) on uninstall.
    expect(kubectl(['get', 'crd', 'aibudgets.genops.ai']).code).toBe(0);
  });
});

describe('the release manifest', () => {
  it('is config/default in one file and installs with kubectl apply -f deploy/release/genops-operator.yaml', () => {
    const text = readFileSync(join(root, 'deploy/release/genops-operator.yaml'), 'utf8');
    const expected = [
      ...(configObjects('crd/bases').flatMap((x) => x.objects) as K8sDoc[]),
      ...config().filter((d) => !d.apiVersion.startsWith('monitoring.coreos.com/')),
    ];
    expect(docs(text)).toEqual(expected);
    const applied = kubectl(['apply', '-f', 'deploy/release/genops-operator.yaml']);
    expect(applied.code, applied.err).toBe(0);
    expect(applied.out).toContain('deployment.apps/genops-controller-manager created');
    const lines = applied.out.trim().split('\n');
    expect(lines).toHaveLength(expected.length);
    const gone = kubectl(['delete', '-f', 'deploy/release/genops-operator.yaml', '--wait=false']);
    expect(gone.code, gone.err).toBe(0);
  });
});
