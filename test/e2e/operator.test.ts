// End to end on a real node: the operator installed as the README says (CRDs, RBAC, the manager with
// the self-signed webhook overlay, cert-manager being absent), running as pods from the image built
// from this tree; a real GenAI application (openai client + openai-v2 instrumentation) in a governed
// namespace calls a fake provider pod, and its spans reach the operator's OTLP Service through the
// settings the webhook injected. The steps depend on each other and run in order; a failed step
// dumps the pods, events and the node's logs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kubeconfig = inject('genopsE2eKubeconfig');
const containerd = inject('genopsE2eContainerd');
const clusterDir = inject('genopsE2eDir');

interface Result {
  code: number | null;
  out: string;
  err: string;
}

function sh(command: string, input?: string): Result {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', command], {
    cwd: root,
    encoding: 'utf8',
    input,
    env: { ...process.env, KUBECONFIG: kubeconfig },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

function ok(command: string, input?: string): string {
  const r = sh(command, input);
  if (r.code !== 0) throw new Error(`${command} failed (${r.code}):\n${r.out}\n${r.err}`);
  return r.out;
}

function json<T>(command: string): T {
  return JSON.parse(ok(command)) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` returns a value; the error names what was awaited and the last answer. */
async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const value = probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${last}`);
    await sleep(1000);
  }
}

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ ready: boolean; restartCount: number }>;
  };
}

const ready = (pod: Pod) => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

function pods(namespace: string, selector: string): Pod[] {
  return json<{ items: Pod[] }>(`kubectl get pods -n ${namespace} -l ${selector} -o json`).items;
}

interface Budget {
  status?: { state?: string; today?: { requests?: number; spend?: string }; spend?: string };
}

function budget(): Budget {
  return json<Budget>('kubectl get aibudget chat-daily -n e2e-app -o json');
}

/** One metric summed over every operator replica (spans reach either through the Service). */
function metricSum(pattern: RegExp): number {
  let sum = 0;
  for (const pod of pods('genops-system', 'control-plane=controller-manager')) {
    const text = ok(
      `kubectl exec -n genops-system ${pod.metadata.name} -c manager -- node -e ` +
        `"fetch('http://127.0.0.1:8080/metrics').then(r => r.text()).then(t => process.stdout.write(t))"`,
    );
    for (const line of text.split('\n')) {
      if (pattern.test(line)) sum += Number(line.split(' ').pop());
    }
  }
  return sum;
}

function clusterIp(namespace: string, service: string): string {
  return ok(`kubectl get svc -n ${namespace} ${service} -o jsonpath='{.spec.clusterIP}'`).trim();
}

/** The application manifest with the Services' addresses for hostAliases (no cluster DNS here). */
function withAddresses(file: string, extra: Record<string, string> = {}): string {
  const text = readFileSync(join(root, 'test/e2e/manifests', file), 'utf8')
    .replaceAll('${OTLP_IP}', clusterIp('genops-system', 'genops-otlp'))
    .replaceAll('${PROVIDER_IP}', clusterIp('e2e-provider', 'fake-provider'));
  return Object.entries(extra).reduce((t, [key, value]) => t.replaceAll(`\${${key}}`, value), text);
}

let failed = false;
afterEach((context) => {
  if (context.task.result?.state !== 'fail' || failed) return;
  failed = true;
  // What a failed step needs to be understood: pods, events, the operator's and the node's logs.
  const dump = [
    'kubectl get pods -A -o wide',
    'kubectl get events -A --sort-by=.lastTimestamp | tail -40',
    'kubectl logs -n genops-system -l control-plane=controller-manager --tail=40',
    'kubectl get aibudget -A -o yaml | tail -60',
    `ctr --address ${containerd} -n k8s.io containers ls`,
    `tail -n 30 ${clusterDir}/logs/kubelet.log ${clusterDir}/logs/containerd.log`,
  ];
  for (const command of dump) {
    const r = sh(command);
    process.stderr.write(`--- ${command}\n${r.out}${r.err}\n`);
  }
});

describe.sequential('the operator on a real node', () => {
  let chatPod: Pod | undefined;

  it('installs as the README says: CRDs, RBAC, the manager with the self-signed webhook overlay', () => {
    expect(ok('kubectl apply -f config/crd/bases/')).toMatch(/aibudgets\.genops\.ai/);
    expect(ok('kubectl apply -f config/rbac/')).toMatch(/serviceaccount\/genops-controller-manager/);
    expect(ok('kubectl apply -k deploy/overlays/self-signed')).toMatch(
      /deployment\.apps\/genops-controller-manager/,
    );
  });

  it('runs both replicas Running and Ready through their probes, one holding the leader Lease', async () => {
    const running = await until(
      'two Ready operator pods',
      () => {
        const list = pods('genops-system', 'control-plane=controller-manager');
        return list.length === 2 && list.every((p) => p.status.phase === 'Running' && ready(p))
          ? list
          : undefined;
      },
      180_000,
    );
    for (const pod of running) expect(pod.status.containerStatuses?.[0]?.restartCount).toBe(0);
    const holder = await until('the leader Lease', () => {
      const h = ok(
        "kubectl get lease genops-operator-leader -n genops-system -o jsonpath='{.spec.holderIdentity}'",
      ).trim();
      return h === '' ? undefined : h;
    });
    expect(running.map((p) => p.metadata.name)).toContain(holder);
    // The replicas registered the webhooks with their own CA (self-signed mode).
    const hooks = ok('kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations');
    expect(hooks).toMatch(/genops-validating-webhook/);
    expect(hooks).toMatch(/genops-mutating-webhook/);
    // In-cluster configuration through the ServiceAccount token: the operator reads and writes the API.
    expect(ok('kubectl logs -n genops-system -l control-plane=controller-manager')).toMatch(
      /operator running/,
    );
  });

  it('injects the OTLP settings into a real GenAI application whose spans reach the operator from its pod IP', async () => {
    ok('kubectl apply -f test/e2e/manifests/provider.yaml');
    await until('the fake provider Ready', () => {
      const list = pods('e2e-provider', 'app=fake-provider');
      return list.length === 1 && ready(list[0]!) ? list : undefined;
    });
    // The governed namespace exists before the budget's namespace webhook sees the application.
    ok('kubectl apply -f test/e2e/manifests/app-namespace.yaml');
    ok('kubectl apply -f -', withAddresses('app.yaml'));
    chatPod = await until('the application pod Running', () => {
      const list = pods('e2e-app', 'app=chat');
      return list.length === 1 && list[0]!.status.phase === 'Running' ? list[0] : undefined;
    });
    const env = Object.fromEntries(
      (chatPod.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']),
    );
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://genops-otlp.genops-system.svc:4318');
    expect(env.OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/protobuf');
    // The application itself says where it sends (kubectl logs of a real container).
    await until('the application logging its calls', () => {
      const out = sh('kubectl logs -n e2e-app deployment/chat').out;
      return /call 1: gpt-4o/.test(out) ? out : undefined;
    });
    const charged = await until('the application charged by the operator', () => {
      const n = metricSum(/^genops_requests_total\{namespace="e2e-app",workload="chat",/);
      return n > 0 ? n : undefined;
    });
    expect(charged).toBeGreaterThan(0);
  });

  it('blocks when the budget is crossed: the Deployment scales to zero and its pods terminate', async () => {
    await until('the budget Blocked', () => (budget().status?.state === 'Blocked' ? true : undefined));
    expect(ok("kubectl get deployment chat -n e2e-app -o jsonpath='{.spec.replicas}'").trim()).toBe('0');
    await until('no application pod left', () =>
      pods('e2e-app', 'app=chat').length === 0 ? true : undefined,
    );
    expect(ok(`ctr --address ${containerd} -n k8s.io containers ls`)).not.toMatch(/genai-app.*chat/);
  });

  it('refuses a new pod of the workload through the Service-routed webhook, with the budget message', () => {
    const refused = sh(
      'kubectl run chat-again -n e2e-app --image=localhost/genops-testenv/genai-app:1 ' +
        '--image-pull-policy=Never --labels=team=e2e,project=chat',
    );
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/AIBudget "chat-daily" is blocking the workloads it selects/);
    expect(refused.err).toMatch(/resets at/);
    const scaleUp = sh('kubectl scale deployment chat -n e2e-app --replicas=1');
    expect(scaleUp.code).not.toBe(0);
    expect(scaleUp.err).toMatch(/chat-daily/);
    // Not every pod: one the budget does not select is admitted in the same namespace.
    expect(
      ok(
        'kubectl run bystander -n e2e-app --image=localhost/genops-testenv/pause:1 --image-pull-policy=Never ' +
          '--labels=team=other',
      ),
    ).toMatch(/pod\/bystander created/);
  });

  it('charges a spoofing pod to itself, not to the identity it claims', async () => {
    const before = budget().status?.today?.requests ?? 0;
    const claimed = chatPod!;
    ok('kubectl apply -f -', withAddresses('spoofer.yaml', { CLAIMED_POD: claimed.metadata.name }));
    await until('the spoofer charged to itself', () => {
      const n = metricSum(/^genops_requests_total\{namespace="e2e-spoof",workload="spoofer",/);
      return n > 0 ? n : undefined;
    });
    expect(metricSum(/^genops_spans_spoofed_total/)).toBeGreaterThan(0);
    // The claimed workload's budget got nothing from it.
    await sleep(5000);
    expect(budget().status?.today?.requests ?? 0).toBe(before);
    ok('kubectl delete namespace e2e-spoof --wait=false');
  });

  it('restores the workload once a raised limit is approved', async () => {
    ok(
      `kubectl patch aibudget chat-daily -n e2e-app --type merge -p ` +
        `'{"spec":{"allocation":{"amount":100}}}'`,
    );
    // Approval required: a raised limit alone leaves the workload blocked.
    await sleep(8000);
    expect(ok("kubectl get deployment chat -n e2e-app -o jsonpath='{.spec.replicas}'").trim()).toBe('0');
    expect(
      ok(
        'kubectl annotate aibudget chat-daily -n e2e-app genops.ai/approved-by=jane@example.com ' +
          'genops.ai/approved-at=$(date -u +%Y-%m-%dT%H:%M:%SZ)',
      ),
    ).toMatch(/annotated/);
    await until('the application running again', () => {
      const list = pods('e2e-app', 'app=chat');
      return list.length === 1 && list[0]!.status.phase === 'Running' ? true : undefined;
    });
    expect(ok("kubectl get deployment chat -n e2e-app -o jsonpath='{.spec.replicas}'").trim()).toBe('1');
  });

  it("runs the README's troubleshooting commands as written", async () => {
    expect(ok('kubectl get pods -n genops-system')).toMatch(/genops-controller-manager-.*Running/);
    expect(ok('kubectl logs -n genops-system -l control-plane=controller-manager')).toMatch(/"level":"info"/);
    ok('kubectl apply -f test/e2e/manifests/policy.yaml');
    // `kubectl logs -l` shows the last 10 lines per pod: the policy's audit line is caught while recent.
    const line = await until(
      'a policy line in the operator log',
      () => {
        const r = sh('kubectl logs -n genops-system -l control-plane=controller-manager | grep policy');
        return r.code === 0 && /chat-cost/.test(r.out) ? r.out : undefined;
      },
      60_000,
    );
    expect(line).toMatch(/exceeds the policy limit/);
  });
});
