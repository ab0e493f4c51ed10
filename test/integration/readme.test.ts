// The README's shell commands cannot drift: every command in a ```bash block of README.md must be
// listed here, and is either run as written against the real API server (with KUBECONFIG pointing
// at it), or named with the test that exercises it (and that test must contain it), or listed as
// needing what no test cluster here has (cert-manager, cluster DNS), with the reason. The commands that
// need a kubelet run in the e2e tier on a real node (test/e2e/operator.test.ts).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kubeconfig = inject('genopsKubeconfig');

type Coverage =
  /** `eventually`: what it shows is made by kube-controller-manager a moment later; retried for 30 s. */
  | { readonly run: true; readonly expect?: RegExp; readonly eventually?: boolean }
  | { readonly coveredBy: string; readonly fragment: string }
  | { readonly needs: string };

/** Keyed by the command as written (continuation lines joined, comments dropped). */
const COVERAGE: Readonly<Record<string, Coverage>> = {
  'npm ci': { coveredBy: '.ci/run', fragment: 'npm ci' },
  'npm start': {
    coveredBy: 'test/unit/readme-offline.test.ts',
    fragment: "'local', '--policies', 'examples', '--demo'",
  },
  'npx genops local --policies examples': {
    coveredBy: 'cmd/commands/local.test.ts',
    fragment: 'startLocal(',
  },
  'OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_RESOURCE_ATTRIBUTES=k8s.namespace.name=default,k8s.deployment.name=my-app,k8s.pod.label.team=research OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental your-app':
    { coveredBy: 'test/compat/harness.ts', fragment: 'OTEL_RESOURCE_ATTRIBUTES' },
  'npm test': { coveredBy: '.ci/run', fragment: 'npm test' },
  'npm run testenv -- up /tmp/genops-cp': { coveredBy: 'test/controlplane/cli.ts', fragment: "case 'up'" },
  'kubectl --kubeconfig /tmp/genops-cp/kubeconfig get ns': { run: true, expect: /default/ },
  'npm run testenv -- down /tmp/genops-cp': {
    coveredBy: 'test/controlplane/cli.ts',
    fragment: "case 'down'",
  },
  'kubectl apply -f config/crd/bases/': { run: true, expect: /aibudgets\.genops\.ai/ },
  'kubectl apply -f config/rbac/': { run: true, expect: /serviceaccount\/genops-controller-manager/ },
  'kubectl apply -f config/manager/': { run: true, expect: /deployment\.apps\/genops-controller-manager/ },
  'kubectl get crd certificates.cert-manager.io && kubectl apply -f config/webhook/': {
    coveredBy: 'test/integration/install.test.ts',
    fragment: "'config/webhook/'",
  },
  'helm install genops charts/genops-operator --namespace genops-system --create-namespace': {
    coveredBy: 'test/integration/helm.test.ts',
    fragment: "'helm install genops charts/genops-operator --namespace genops-system --create-namespace'",
  },
  'helm upgrade genops charts/genops-operator --namespace genops-system --set replicas=3 --set webhook.certificates=self-signed --set serviceMonitor.enabled=true':
    {
      coveredBy: 'test/integration/helm.test.ts',
      fragment:
        "'helm upgrade genops charts/genops-operator --namespace genops-system --set replicas=3 --set webhook.certificates=self-signed --set serviceMonitor.enabled=true'",
    },
  'helm uninstall genops --namespace genops-system': {
    coveredBy: 'test/integration/helm.test.ts',
    fragment: "'helm uninstall genops --namespace genops-system'",
  },
  'kubectl apply -f deploy/release/genops-operator.yaml': {
    coveredBy: 'test/integration/helm.test.ts',
    fragment: "kubectl(['apply', '-f', 'deploy/release/genops-operator.yaml'])",
  },
  'kubectl apply -k deploy/overlays/namespace': {
    coveredBy: 'test/integration/install.test.ts',
    fragment: "'deploy/overlays/namespace'",
  },
  'kubectl get pods -n genops-system': { run: true, expect: /genops-controller-manager-/, eventually: true },
  'kubectl get crd | grep genops.ai': { run: true, expect: /aipolicies\.genops\.ai/ },
  'kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations | grep genops': {
    coveredBy: 'test/integration/webhook.test.ts',
    fragment: 'genops-validating-webhook',
  },
  'kubectl label namespace ai-platform genops.ai/policy-enforcement=enabled': {
    run: true,
    expect: /labeled/,
  },
  'kubectl label namespace ai-platform genops.ai/injection=enabled': { run: true, expect: /labeled/ },
  'npx genops validate examples/': { run: true, expect: /valid/ },
  'kubectl annotate aibudget team-budget -n ai-platform genops.ai/approved-by=jane@example.com genops.ai/approved-at=$(date -u +%Y-%m-%dT%H:%M:%SZ)':
    { run: true, expect: /annotated/ },
  'kubectl annotate deployment chat-assistant -n ai-platform genops.ai/bypass="reason=incident-1234;expires=$(date -u -d \'+2 hours\' +%Y-%m-%dT%H:%M:%SZ);by=oncall@example.com"':
    { run: true, expect: /annotated/ },
  'kubectl apply -f examples/monitoring/grafana-dashboard.yaml': {
    run: true,
    expect: /configmap\/genops-grafana-dashboards/,
  },
  'kubectl apply -f examples/monitoring/prometheus-rules.yaml': {
    needs:
      'the Prometheus Operator CRDs; promtool checks and unit-tests the same rules (test/unit/observability-*)',
  },
  'kubectl logs -n genops-system -l control-plane=controller-manager': {
    coveredBy: 'test/e2e/operator.test.ts',
    fragment: "'kubectl logs -n genops-system -l control-plane=controller-manager'",
  },
  'kubectl auth can-i list aibudgets.genops.ai --as=system:serviceaccount:genops-system:genops-controller-manager':
    {
      run: true,
      expect: /^yes$/m,
    },
  'kubectl get validatingwebhookconfigurations genops-validating-webhook -o yaml': {
    coveredBy: 'test/integration/webhook.test.ts',
    fragment: 'genops-validating-webhook',
  },
  'kubectl get certificate -n genops-system': {
    needs: 'cert-manager (its CRDs are only stubbed for the dry runs in test/integration/install.test.ts)',
  },
  'kubectl exec -n genops-system deployment/genops-controller-manager -- node -e "fetch(\'https://genops-webhook-service.genops-system.svc:443/healthz\').then(r => console.log(r.status))"':
    {
      needs:
        'cluster DNS for the Service name: the e2e node has none (docs/testing.md); `kubectl exec` into the ' +
        'operator pod runs in test/e2e/operator.test.ts, the webhook /healthz over TLS in webhook/server.test.ts',
    },
  'kubectl get aipolicy production-policy -n ai-platform -o yaml': { run: true, expect: /kind: AIPolicy/ },
  'kubectl get pods -n ai-platform --show-labels | grep team=ai-platform': {
    run: true,
    expect: /chat-assistant-/,
    eventually: true,
  },
  'kubectl logs -n genops-system -l control-plane=controller-manager | grep policy': {
    coveredBy: 'test/e2e/operator.test.ts',
    fragment: "'kubectl logs -n genops-system -l control-plane=controller-manager | grep policy'",
  },
  'kubectl set env deployment/genops-controller-manager -n genops-system -c manager GENOPS_LOG_LEVEL=debug': {
    run: true,
    expect: /env updated/,
  },
};

/** The README's commands in order: continuation lines joined, comments and blank lines dropped. */
function readmeCommands(): string[] {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const commands: string[] = [];
  for (const block of text.matchAll(/```bash\n([\s\S]*?)```/g)) {
    let pending = '';
    for (const raw of (block[1] ?? '').split('\n')) {
      const line = raw.replace(/\s+#\s.*$/, '').trim();
      if (line === '' || line.startsWith('#')) continue;
      if (line.endsWith('\\')) {
        pending += line.slice(0, -1).trim() + ' ';
        continue;
      }
      commands.push((pending + line).replace(/\s+/g, ' '));
      pending = '';
    }
  }
  return commands;
}

function sh(command: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(
    'bash',
    ['-o', 'pipefail', '-c', command.replace('/tmp/genops-cp/kubeconfig', kubeconfig)],
    {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        PATH: `${join(root, 'node_modules/.bin')}:${process.env['PATH']}`,
      },
      timeout: 120_000,
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const commands = readmeCommands();

beforeAll(() => {
  // What a reader has done before the troubleshooting commands: the CRDs and the examples applied.
  for (const step of [
    'kubectl apply --server-side --force-conflicts -f config/crd/bases/',
    'kubectl wait --for=condition=Established crd/aipolicies.genops.ai crd/aibudgets.genops.ai --timeout=60s',
    'kubectl apply --server-side --force-conflicts -f examples/00-namespaces.yaml',
    'kubectl apply --server-side --force-conflicts -f examples/policies/ -f examples/budgets/ -f examples/workloads/',
    // Where the reader's Grafana sidecar watches for dashboards.
    'kubectl get namespace monitoring || kubectl create namespace monitoring',
  ]) {
    const r = sh(step);
    if (r.code !== 0) throw new Error(`${step}: ${r.err}`);
  }
});

describe('README commands', () => {
  it('are all listed here, and nothing listed here is gone from the README', () => {
    expect(commands.filter((c) => COVERAGE[c] === undefined)).toEqual([]);
    expect(Object.keys(COVERAGE).filter((c) => !commands.includes(c))).toEqual([]);
  });

  it('named elsewhere are really in the file that exercises them', () => {
    for (const [command, c] of Object.entries(COVERAGE)) {
      if (!('coveredBy' in c)) continue;
      const text = readFileSync(join(root, c.coveredBy), 'utf8');
      expect(text.includes(c.fragment), `${command}: ${c.coveredBy} should contain ${c.fragment}`).toBe(true);
    }
  });

  it('needing what the test cluster lacks are few and say why', () => {
    const needs = Object.values(COVERAGE).filter((c) => 'needs' in c);
    expect(needs.length).toBeLessThanOrEqual(5);
  });

  for (const command of commands) {
    const c = COVERAGE[command];
    if (c === undefined || !('run' in c)) continue;
    it(`runs: ${command}`, async () => {
      let r = sh(command);
      for (
        let i = 0;
        c.eventually === true && i < 30 && (r.code !== 0 || !(c.expect?.test(r.out) ?? true));
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        r = sh(command);
      }
      // kubectl reports problems on stderr even when it exits 0; genops prints its summary there.
      if (command.startsWith('kubectl')) expect(r.err.replace(/^Warning: .*$/gm, '').trim(), r.err).toBe('');
      expect(r.code, r.err).toBe(0);
      if (c.expect) expect(r.out + r.err).toMatch(c.expect);
    });
  }
});
