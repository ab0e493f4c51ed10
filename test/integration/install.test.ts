// Installation on the real API server with the real kubectl:
// - the README's four `kubectl apply -f config/...` commands, in order. Each runs as a server-side
//   dry run except config/rbac, which is applied for real: it creates the genops-system namespace
//   that the later steps need (a dry run creates nothing, so on a fresh cluster nothing after it
//   could pass otherwise) and is what the operator identity gets bound to anyway;
// - `kubectl apply -k config/default` and every overlay in deploy/overlays, server-side dry run;
// - the manager's pod passes Pod Security "restricted" admission (and a weakened copy does not).
//
// cert-manager is not on the test cluster. Its CRDs are stood in for by two minimal CRDs
// (issuers/certificates.cert-manager.io, any content accepted), installed only when absent and
// removed afterwards; the test asserts that exactly the webhook's Issuer and Certificate need them.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kubeconfig = inject('genopsKubeconfig');
const SEED_STEPS = ['config/crd/bases/', 'config/rbac/', 'config/manager/', 'config/webhook/'];
const CERT_MANAGER_STUBS = ['issuers.cert-manager.io', 'certificates.cert-manager.io'];

interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}

/** Objects that other tests created without client-side apply get this harmless kubectl warning. */
const LAST_APPLIED_WARNING =
  /^Warning: resource \S+ is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation.*$/;

function kubectl(args: string[], input?: string) {
  const r = spawnSync('kubectl', args, {
    encoding: 'utf8',
    input,
    env: { ...process.env, KUBECONFIG: kubeconfig },
    timeout: 60_000,
  });
  if (r.error) throw new Error(`kubectl could not run (it is the apt package kubectl): ${r.error.message}`);
  const err = r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !LAST_APPLIED_WARNING.test(l))
    .join('\n');
  return { code: r.status, out: r.stdout, err };
}

function docsOf(path: string): K8sDoc[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as K8sDoc | null)
    .filter((d): d is K8sDoc => !!d && typeof d.kind === 'string');
}

function manifestFiles(dir: string): string[] {
  return readdirSync(join(root, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
}

/** `kind/name` as kubectl prints it (lower-case kind with group), compared loosely by kind and name. */
function objectLines(output: string): { kind: string; name: string; verb: string }[] {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /^([a-z0-9.-]+)\/(\S+) (\S+)/.exec(l);
      if (!m) throw new Error(`unexpected kubectl output: ${l}`);
      return { kind: m[1]!.split('.')[0]!, name: m[2]!, verb: m[3]! };
    });
}

function stubCrd(plural: string, kind: string) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.cert-manager.io`, labels: { 'genops.ai/test-stub': 'true' } },
    spec: {
      group: 'cert-manager.io',
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

describe('installation on the real API server', () => {
  const createdStubs: string[] = [];

  beforeAll(() => {
    for (const [plural, kind] of [
      ['issuers', 'Issuer'],
      ['certificates', 'Certificate'],
    ] as const) {
      const name = `${plural}.cert-manager.io`;
      if (kubectl(['get', 'crd', name]).code === 0) continue;
      const r = kubectl(['create', '-f', '-'], stringify(stubCrd(plural, kind)));
      expect(r.err).toBe('');
      createdStubs.push(name);
    }
    for (const name of CERT_MANAGER_STUBS) {
      const r = kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${name}`]);
      expect(r.code, r.err).toBe(0);
    }
  });

  afterAll(() => {
    for (const name of createdStubs) kubectl(['delete', 'crd', name, '--wait=false']);
  });

  it('needs cert-manager only for the webhook Issuer and Certificate', () => {
    const all = SEED_STEPS.flatMap((dir) => manifestFiles(dir).flatMap((f) => docsOf(join(root, dir, f))));
    const certManager = all.filter((d) => d.apiVersion.startsWith('cert-manager.io/'));
    expect(certManager.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'Certificate/genops-webhook-cert',
      'Issuer/genops-selfsigned-issuer',
    ]);
  });

  it("runs the README's four kubectl apply -f commands in order", () => {
    for (const dir of SEED_STEPS) {
      const dryRun = dir !== 'config/rbac/';
      const r = kubectl(['apply', '-f', dir, ...(dryRun ? ['--dry-run=server'] : [])]);
      expect(r.err, `kubectl apply -f ${dir}`).toBe('');
      expect(r.code).toBe(0);
      const expected = manifestFiles(dir).flatMap((f) => docsOf(join(root, dir, f)));
      const lines = objectLines(r.out);
      expect(lines.map((l) => l.name).sort(), dir).toEqual(expected.map((d) => d.metadata.name).sort());
      for (const l of lines) {
        expect(['created', 'configured', 'unchanged', 'serverside-applied']).toContain(l.verb);
        if (dryRun) expect(r.out).toContain(`${l.name} ${l.verb} (server dry run)`);
      }
    }
  });

  it('installs everything with kubectl apply -k config/default (server-side dry run)', () => {
    const built = kubectl(['kustomize', 'config/default']);
    expect(built.code, built.err).toBe(0);
    const docs = parseAllDocuments(built.out).map((d) => d.toJS() as K8sDoc);
    const seed = SEED_STEPS.flatMap((dir) => manifestFiles(dir).flatMap((f) => docsOf(join(root, dir, f))));
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(
      seed.map((d) => `${d.kind}/${d.metadata.name}`).sort(),
    );
    const r = kubectl(['apply', '-k', 'config/default', '--dry-run=server']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(objectLines(r.out)).toHaveLength(docs.length);
  });

  it.each(readdirSync(join(root, 'deploy/overlays')).sort())(
    'overlay %s applies (server-side dry run)',
    (name) => {
      // A dry run creates no namespace: one the overlay installs into, or puts objects in (the
      // namespaced overlay's RoleBindings in the governed namespaces), is created for the run and removed.
      const built = parseAllDocuments(kubectl(['kustomize', `deploy/overlays/${name}`]).out).map(
        (d) => d.toJS() as K8sDoc,
      );
      const namespaces = new Set([
        ...built.filter((d) => d.kind === 'Namespace').map((d) => d.metadata.name),
        ...built.flatMap((d) => (d.metadata.namespace === undefined ? [] : [d.metadata.namespace])),
      ]);
      const created = [...namespaces].filter((ns) => kubectl(['create', 'namespace', ns]).code === 0);
      try {
        const r = kubectl(['apply', '-k', `deploy/overlays/${name}`, '--dry-run=server']);
        expect(r.err).toBe('');
        expect(r.code).toBe(0);
        expect(r.out).toContain('deployment.apps/genops-controller-manager');
      } finally {
        for (const ns of created) kubectl(['delete', 'namespace', ns, '--wait=false']);
      }
    },
  );

  it('the namespace overlay moves every namespaced name, certificate and webhook setting', () => {
    const built = kubectl(['kustomize', 'deploy/overlays/namespace']);
    expect(built.code, built.err).toBe(0);
    expect(built.out).not.toContain('genops-system');
    const docs = parseAllDocuments(built.out).map((d) => d.toJS() as Record<string, unknown> & K8sDoc);
    const certificate = docs.find((d) => d.kind === 'Certificate') as unknown as {
      spec: { dnsNames: string[] };
    };
    expect(certificate.spec.dnsNames).toEqual([
      'genops-webhook-service.genops-ai.svc',
      'genops-webhook-service.genops-ai.svc.cluster.local',
    ]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const config = docs.find((d) => d.kind === kind) as unknown as {
        metadata: { annotations: Record<string, string> };
        webhooks: { clientConfig: { service: { namespace: string } }; namespaceSelector: unknown }[];
      };
      expect(config.metadata.annotations['cert-manager.io/inject-ca-from']).toBe(
        'genops-ai/genops-webhook-cert',
      );
      for (const w of config.webhooks) {
        expect(w.clientConfig.service.namespace).toBe('genops-ai');
        expect(JSON.stringify(w.namespaceSelector)).toContain('"kube-system","genops-ai"');
      }
    }
  });

  it('the production overlay sets its knobs and the self-signed overlay drops cert-manager', () => {
    const production = parseAllDocuments(kubectl(['kustomize', 'deploy/overlays/production']).out).map(
      (d) => d.toJS() as K8sDoc,
    );
    const deployment = production.find((d) => d.kind === 'Deployment') as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: { containers: { image: string; args: string[]; env: { name: string; value?: string }[] }[] };
        };
      };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    expect(deployment.spec.replicas).toBe(3);
    expect(container.image).toBe('registry.example.com/platform/genops-operator:0.1.0');
    expect(container.args).toEqual(expect.arrayContaining(['--trusted-peers=10.42.0.0/16']));
    expect(container.env.find((e) => e.name === 'GENOPS_LOG_LEVEL')?.value).toBe('warn');
    // Patched by name: the downward-API entries are untouched, the endpoint is added once.
    expect(container.env.filter((e) => e.name === 'POD_NAMESPACE')).toHaveLength(1);
    expect(container.env.filter((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')).toHaveLength(1);
    const selfSigned = parseAllDocuments(kubectl(['kustomize', 'deploy/overlays/self-signed']).out).map(
      (d) => d.toJS() as K8sDoc,
    );
    expect(selfSigned.filter((d) => d.apiVersion.startsWith('cert-manager.io/'))).toEqual([]);
    expect(selfSigned.filter((d) => d.kind.endsWith('WebhookConfiguration'))).toEqual([]);
    const selfSignedDeployment = JSON.stringify(selfSigned.find((d) => d.kind === 'Deployment'));
    expect(selfSignedDeployment).toContain('--webhook-self-signed');
    // The cert-manager Secret's volume and mount are gone, the tmp volume stays.
    expect(selfSignedDeployment).not.toContain('webhook-certs');
    expect(selfSignedDeployment).not.toContain('serving-certs');
    expect(selfSignedDeployment).toContain('"mountPath":"/tmp"');
  });

  it('the manager pod passes Pod Security "restricted" admission', () => {
    const namespace = `genops-pss-${Date.now().toString(36)}`;
    const ns = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    };
    expect(kubectl(['create', '-f', '-'], stringify(ns)).code).toBe(0);
    try {
      const deployment = docsOf(join(root, 'config/manager/manager.yaml')).find(
        (d) => d.kind === 'Deployment',
      )!;
      const template = (deployment.spec as { template: { metadata: object; spec: Record<string, unknown> } })
        .template;
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { ...template.metadata, name: 'genops-pss-check', namespace },
        spec: { ...template.spec, serviceAccountName: 'default' } as Record<string, unknown>,
      };
      const ok = kubectl(['create', '-f', '-', '--dry-run=server'], stringify(pod));
      expect(ok.err).toBe('');
      expect(ok.code).toBe(0);
      // The check has teeth: the same pod without its container securityContext is refused.
      const weakened = structuredClone(pod);
      const containers = weakened.spec.containers as Record<string, unknown>[];
      delete containers[0]!.securityContext;
      const refused = kubectl(['create', '-f', '-', '--dry-run=server'], stringify(weakened));
      expect(refused.code).not.toBe(0);
      expect(refused.err).toContain('violates PodSecurity "restricted');
    } finally {
      kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  });
});

describe('manifests agree with each other', () => {
  const manager = docsOf(join(root, 'config/manager/manager.yaml'));
  const services = docsOf(join(root, 'config/manager/service.yaml'));
  const deployment = manager.find((d) => d.kind === 'Deployment')! as unknown as {
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    spec: {
      replicas: number;
      template: {
        metadata: { labels: Record<string, string> };
        spec: {
          serviceAccountName: string;
          containers: {
            name: string;
            args: string[];
            ports: { name: string; containerPort: number }[];
            env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
            readinessProbe: { httpGet: { path: string; port: string } };
            livenessProbe: { httpGet: { path: string; port: string } };
            securityContext: Record<string, unknown>;
          }[];
        };
      };
    };
  };
  const podLabels = deployment.spec.template.metadata.labels;
  const container = deployment.spec.template.spec.containers[0]!;

  it('runs the controller manager as the seed README expects', () => {
    expect(deployment.metadata).toMatchObject({
      name: 'genops-controller-manager',
      namespace: 'genops-system',
    });
    expect(podLabels['control-plane']).toBe('controller-manager');
    expect(container.name).toBe('manager');
    expect(container.args).toEqual(['operator', '--leader-elect', '--wal-dir=/var/lib/genops/wal']);
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.serviceAccountName).toBe('genops-controller-manager');
    expect(
      Object.fromEntries(container.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])),
    ).toMatchObject({
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
    });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(Object.fromEntries(container.ports.map((p) => [p.name, p.containerPort]))).toEqual({
      'otlp-grpc': 4317,
      'otlp-http': 4318,
      metrics: 8080,
      health: 8081,
      'webhook-server': 9443,
    });
  });

  it('every Service (including the webhook one) selects the manager pods and targets a named port', () => {
    const webhookService = docsOf(join(root, 'config/webhook/webhooks.yaml')).find(
      (d) => d.kind === 'Service',
    )!;
    for (const svc of [...services, webhookService] as unknown as {
      metadata: { name: string };
      spec: { selector: Record<string, string>; ports: { targetPort: string | number }[] };
    }[]) {
      for (const [k, v] of Object.entries(svc.spec.selector)) expect(podLabels[k], svc.metadata.name).toBe(v);
      for (const p of svc.spec.ports) {
        const target = p.targetPort;
        expect(
          container.ports.some((cp) => cp.name === target || cp.containerPort === target),
          `${svc.metadata.name} -> ${target}`,
        ).toBe(true);
      }
    }
    expect(services.map((s) => s.metadata.name).sort()).toEqual([
      'genops-controller-manager-metrics',
      'genops-otlp',
      'genops-otlp-headless',
    ]);
  });

  it('the OTLP endpoints in otel-config and the Instrumentation point at the genops-otlp Services', () => {
    const configs = ['agent.yaml', 'sidecar.yaml', 'gateway.yaml', 'instrumentation.yaml'].map((f) =>
      readFileSync(join(root, 'otel-config', f), 'utf8'),
    );
    const endpoints = configs.flatMap((text) => [
      ...text.matchAll(/genops-otlp(?:-headless)?\.genops-system\.svc(?:\.cluster\.local)?(?::(\d+))?/g),
    ]);
    expect(endpoints.length).toBeGreaterThan(5);
    const gateway = parse(configs[2]!) as {
      exporters: { 'loadbalancing/genops': { resolver: { dns: { hostname: string; port: string } } } };
    };
    expect(gateway.exporters['loadbalancing/genops'].resolver.dns).toMatchObject({
      hostname: 'genops-otlp-headless.genops-system.svc.cluster.local',
      port: '4317',
    });
    for (const m of endpoints) if (m[1]) expect(['4317', '4318']).toContain(m[1]);
  });

  it('the usage write-ahead log lives on an emptyDir (survives container restarts), and OTLP has ClientIP affinity', () => {
    const spec = deployment.spec.template.spec as unknown as {
      containers: { volumeMounts: { name: string; mountPath: string }[] }[];
      volumes: { name: string; emptyDir?: { sizeLimit?: string } }[];
    };
    const mount = spec.containers[0]!.volumeMounts.find((m) => m.mountPath === '/var/lib/genops/wal');
    expect(mount).toBeDefined();
    expect(spec.volumes.find((v) => v.name === mount!.name)?.emptyDir).toBeDefined();
    const otlp = services.find((s) => s.metadata.name === 'genops-otlp') as unknown as {
      spec: { sessionAffinity?: string };
    };
    expect(otlp.spec.sessionAffinity).toBe('ClientIP');
  });

  it('the manager args are flags the real operator command accepts', async () => {
    const { command } = await import('../../cmd/commands/operator.ts');
    const { silentLogger } = await import('../../kernel/logger.ts');
    const { systemClock } = await import('../../kernel/clock.ts');
    const { readEnv } = await import('../../cmd/env.ts');
    const ctx = {
      env: readEnv({}),
      clock: systemClock,
      logger: silentLogger,
      stdout: () => undefined,
      stderr: () => undefined,
      isTTY: false,
    };
    const parse = (args: string[]) => {
      let parsed: Record<string, unknown> | undefined;
      // The real flags, with the action replaced: nothing starts.
      const cmd = command(ctx, () => undefined)
        .exitOverride()
        .action((flags: Record<string, unknown>) => {
          parsed = flags;
        });
      cmd.parse(args, { from: 'user' });
      return parsed;
    };
    const [, ...flags] = container.args;
    expect(parse(flags)).toMatchObject({ leaderElect: true });
    expect(() => parse(['--no-such-flag'])).toThrow(/unknown option/);
  });

  it('the ServiceMonitor selects the metrics Service by its labels and port name', () => {
    const monitor = docsOf(join(root, 'config/prometheus/servicemonitor.yaml'))[0]! as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    const metrics = services.find(
      (s) => s.metadata.name === 'genops-controller-manager-metrics',
    )! as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { ports: { name: string }[] };
    };
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels))
      expect(metrics.metadata.labels[k]).toBe(v);
    expect(metrics.spec.ports.map((p) => p.name)).toContain(monitor.spec.endpoints[0]!.port);
  });

  it.each(['config/crd/bases', 'config/rbac', 'config/manager', 'config/webhook'])(
    '%s/Kustomization lists every manifest of the folder',
    (dir) => {
      const k = parse(readFileSync(join(root, dir, 'Kustomization'), 'utf8')) as { resources: string[] };
      expect([...k.resources].sort()).toEqual(manifestFiles(dir));
    },
  );
});
