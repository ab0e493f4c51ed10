// Owns the `webhook` entry of `npm run bench`: the admission webhook (HTTPS, real handler, a realistic
// in-memory view) in this process, optionally next to the real ingest pipeline receiving spans from
// bench/load.ts, and an open-loop client in a child process (this file, forked with --webhook-load)
// sending realistic Pod-create AdmissionReviews over HTTPS keep-alive at a fixed rate: each pod is one
// mutating review (injection) and one validating review (policy), as the API server sends them.
// Server-side latency is measured in the server, from request arrival to response ready.
//
//   node bench/webhook.ts [--seconds 10] [--rate 500] [--no-ingest]

import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:https';
import { parseArgs } from 'node:util';
import { createManualClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/logger.ts';
import type { AIBudget, AIPolicy } from '../crds/index.ts';
import type { BudgetState, PolicyState } from '../decision/types.ts';
import { createCa, issueServing } from '../webhook/certs/x509.ts';
import { createAdmissionWebhook } from '../webhook/index.ts';
import type { WebhookMetrics } from '../webhook/metrics.ts';
import { noopWebhookMetrics } from '../webhook/metrics.ts';
import { budget, budgetState, decisionSet, policy, policyState } from '../webhook/testing/fixtures.ts';
import { createStaticAdmissionView } from '../webhook/view.ts';
import { ask, percentile, startChild, startIngestBeside, stop, type IngestBeside } from './children.ts';

export interface WebhookBenchOptions {
  /** Measured time. Default 10 s. */
  readonly durationMs?: number;
  /** Unmeasured time before it. Default 2 s. */
  readonly warmupMs?: number;
  /** AdmissionReviews per second sent (half mutating, half validating). Default 500. */
  readonly rate?: number;
  /** Run the ingest pipeline in this process with one span client meanwhile. Default true. */
  readonly ingest?: boolean;
  /** Decode workers of the ingest pipeline. Default 1 (the machine is shared). */
  readonly workers?: number;
}

export interface WebhookBenchResult {
  readonly name: 'webhook';
  readonly reviewsPerSecond: number;
  /** Server-side p99, request arrival to response ready. */
  readonly p99Ms: number;
  readonly p50Ms: number;
  readonly maxMs: number;
  /** Client-side p99 (TLS, sockets and the client's own event loop included). */
  readonly clientP99Ms: number;
  readonly errors: number;
  /** Spans per second the pipeline accepted meanwhile (0 without ingest). */
  readonly ingestSpansPerSecond: number;
  /** CPU time of this process per review (TLS, HTTP, handler), without ingest only (else undefined). */
  readonly cpuUsPerReview: number | undefined;
}

interface LoadSpec {
  readonly type: 'run';
  readonly port: number;
  readonly caPem: string;
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

interface LoadReport {
  readonly type: 'result';
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly clientP99Ms: number;
}

const INJECT_NAMESPACES = 40;
const POLICY_NAMESPACES = 40;
const TEAMS = ['search', 'chat', 'ranking', 'vision', 'speech', 'agents', 'platform', 'research'];

/** A Pod as the API server sends it to admission: defaulted, owned by a ReplicaSet, no name yet. */
export function realisticPod(i: number, namespace: string): Record<string, unknown> {
  const team = TEAMS[i % TEAMS.length]!;
  const app = `${team}-svc-${i % 25}`;
  const hash = (0x5d8f7c9b4 + (i % 25)).toString(16);
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      generateName: `${app}-${hash}-`,
      namespace,
      creationTimestamp: null,
      labels: {
        app,
        'app.kubernetes.io/name': app,
        'app.kubernetes.io/part-of': 'ai-platform',
        team,
        project: `${team}-assistant`,
        environment: 'production',
        'genops.ai/enable': 'true',
        'genops.ai/data-classification': 'internal',
        'pod-template-hash': hash,
      },
      annotations: {
        'genops.ai/models': 'openai/gpt-4o-mini, anthropic/claude-3-5-sonnet',
        'kubectl.kubernetes.io/restartedAt': '2026-07-01T10:00:00Z',
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${app}-${hash}`,
          uid: `0d9c6a3e-1b2f-4c3d-8e9f-${String(i % 25).padStart(12, '0')}`,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-07-20T12:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {
              'f:generateName': {},
              'f:labels': { '.': {}, 'f:app': {}, 'f:team': {} },
              'f:ownerReferences': { '.': {} },
            },
            'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:env': {}, 'f:image': {} } } },
          },
        },
      ],
    },
    spec: {
      volumes: [
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              {
                downwardAPI: {
                  items: [
                    { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                  ],
                },
              },
            ],
            defaultMode: 420,
          },
        },
      ],
      containers: [
        {
          name: 'app',
          image: `registry.example.com/${team}/${app}:1.${i % 9}.3`,
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [
            {
              name: 'OPENAI_API_KEY',
              valueFrom: { secretKeyRef: { name: 'ai-secrets', key: 'openai-key' } },
            },
            {
              name: 'ANTHROPIC_API_KEY',
              valueFrom: { secretKeyRef: { name: 'ai-secrets', key: 'anthropic-key' } },
            },
            { name: 'OPENAI_MODEL', value: 'gpt-4o-mini' },
            { name: 'LOG_LEVEL', value: 'info' },
            { name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'deployment.environment=production' },
          ],
          resources: { limits: { memory: '1Gi' }, requests: { cpu: '500m', memory: '512Mi' } },
          volumeMounts: [
            {
              name: 'kube-api-access-x7k2p',
              readOnly: true,
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            },
          ],
          livenessProbe: {
            httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
            timeoutSeconds: 1,
            periodSeconds: 10,
            successThreshold: 1,
            failureThreshold: 3,
          },
          readinessProbe: {
            httpGet: { path: '/readyz', port: 8080, scheme: 'HTTP' },
            timeoutSeconds: 1,
            periodSeconds: 5,
            successThreshold: 1,
            failureThreshold: 3,
          },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
          securityContext: {
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
        },
        {
          name: 'otel-collector',
          image: 'otel/opentelemetry-collector-contrib:0.130.0',
          args: ['--config=/conf/collector.yaml'],
          resources: { requests: { cpu: '50m', memory: '64Mi' } },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      schedulerName: 'default-scheduler',
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {},
  };
}

export function reviewBody(uid: string, namespace: string, pod: Record<string, unknown>): string {
  return JSON.stringify({
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        uid: 'a1b2',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}

/** The cluster as the webhook sees it: namespaces, budgets and policies per team, some over their limits. */
export function realisticView() {
  const view = createStaticAdmissionView();
  const budgets: AIBudget[] = [];
  const policies: AIPolicy[] = [];
  const budgetStates: BudgetState[] = [];
  const policyStates: PolicyState[] = [];
  for (let n = 0; n < INJECT_NAMESPACES; n++)
    view.setNamespace(`apps-${n}`, { 'genops.ai/injection': 'enabled' });
  for (let n = 0; n < POLICY_NAMESPACES; n++) {
    const ns = `prod-${n}`;
    view.setNamespace(ns, { 'genops.ai/policy-enforcement': 'enabled', 'genops.ai/injection': 'enabled' });
    TEAMS.forEach((team, t) => {
      budgets.push(budget({ name: `${team}-budget`, namespace: ns, team }));
      // One team in eight over its budget (blocked), one warned, the rest fine.
      budgetStates.push(
        budgetState(`${team}-budget`, t === 0 ? 'block' : t === 1 ? 'warn' : 'allow', { namespace: ns }),
      );
    });
    policies.push(
      policy(
        'production-policy',
        {
          dataClassification: {
            allowedLevels: ['public', 'internal', 'confidential'],
            requireClassification: true,
          },
          modelGovernance: {
            allowedProviders: ['openai', 'anthropic'],
            allowedModels: ['gpt-4*', 'claude-3*'],
          },
          selector: { matchLabels: { environment: 'production' } },
        },
        { namespace: ns },
      ),
    );
    policyStates.push({
      ...policyState('production-policy', 'allow'),
      source: { kind: 'AIPolicy', namespace: ns, name: 'production-policy' },
    });
  }
  view.setBudgets(budgets);
  view.setPolicies(policies);
  view.setDecisions(decisionSet({ budgets: budgetStates, policies: policyStates }));
  return view;
}

export async function runWebhookBench(opts: WebhookBenchOptions = {}): Promise<WebhookBenchResult> {
  const durationMs = opts.durationMs ?? 10_000;
  const warmupMs = opts.warmupMs ?? 2_000;
  const rate = opts.rate ?? 500;
  const ingest = opts.ingest ?? true;

  const now = Date.now();
  const ca = await createCa({ now, validityMs: 86_400_000 });
  const pair = await issueServing(
    ca,
    { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    { now, validityMs: 86_400_000 },
  );

  // Server-side latencies of reviews that arrive inside the measured window.
  const latencies = new Float64Array(Math.ceil(rate * (durationMs / 1000) * 2) + 1000);
  let count = 0;
  let measuring = false;
  const metrics: WebhookMetrics = {
    ...noopWebhookMetrics,
    reviewed: (_webhook, _outcome, seconds) => {
      if (measuring && count < latencies.length) latencies[count++] = seconds * 1000;
    },
  };
  const webhook = createAdmissionWebhook({
    view: realisticView(),
    clock: createManualClock(Date.UTC(2026, 6, 20)),
    logger: silentLogger,
    metrics,
    host: '127.0.0.1',
    port: 0,
    certificates: { mode: 'memory', pair },
  });

  let ingestLoad: IngestBeside | undefined;
  let loadClient: ChildProcess | undefined;
  try {
    await webhook.start();
    if (ingest) ingestLoad = await startIngestBeside(opts.workers ?? 1);
    loadClient = await startChild(['--webhook-load'], new URL(import.meta.url));
    const spans = ingestLoad?.run(warmupMs, durationMs);
    const spec: LoadSpec = {
      type: 'run',
      port: webhook.port(),
      caPem: ca.certPem,
      rate,
      warmupMs,
      durationMs,
    };
    let cpuStart: NodeJS.CpuUsage | undefined;
    let cpu: NodeJS.CpuUsage | undefined;
    const window = setTimeout(() => {
      measuring = true;
      cpuStart = process.cpuUsage();
      setTimeout(() => {
        measuring = false;
        cpu = process.cpuUsage(cpuStart);
      }, durationMs).unref();
    }, warmupMs);
    const [load, spanResult] = await Promise.all([ask<LoadReport>(loadClient, spec), spans]);
    clearTimeout(window);
    measuring = false;

    const sorted = latencies.slice(0, count).sort();
    return {
      name: 'webhook',
      reviewsPerSecond: Math.round(count / (durationMs / 1000)),
      p99Ms: round(percentile(sorted, 99)),
      p50Ms: round(percentile(sorted, 50)),
      maxMs: round(sorted[sorted.length - 1] ?? NaN),
      clientP99Ms: round(load.clientP99Ms),
      errors: load.errors,
      ingestSpansPerSecond: spanResult ? Math.round(spanResult.spans / spanResult.seconds) : 0,
      cpuUsPerReview: !ingest && cpu && count > 0 ? Math.round((cpu.user + cpu.system) / count) : undefined,
    };
  } finally {
    await stop(loadClient);
    await ingestLoad?.stop();
    await webhook.shutdown();
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

// ---- the load client (child process) ---------------------------------------------------------------------

function runLoadClient(): void {
  // Pre-built bodies; each send only swaps the uid.
  const pods = 100;
  const bodies: Array<{ path: string; head: string; tail: string }> = [];
  for (let i = 0; i < pods; i++) {
    const injectNs = `apps-${i % INJECT_NAMESPACES}`;
    const policyNs = `prod-${i % POLICY_NAMESPACES}`;
    for (const [path, ns] of [
      ['/mutate-pods', injectNs],
      ['/validate-workloads', policyNs],
    ] as const) {
      const text = reviewBody('@UID@', ns, realisticPod(i, ns));
      const at = text.indexOf('@UID@');
      bodies.push({ path, head: text.slice(0, at), tail: text.slice(at + 5) });
    }
  }
  process.on('message', (m: LoadSpec) => {
    if (m.type !== 'run') return;
    const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: m.caPem });
    const started = performance.now();
    const measureFrom = started + m.warmupMs;
    const measureTo = measureFrom + m.durationMs;
    const client: number[] = [];
    let sent = 0;
    let ok = 0;
    let errors = 0;
    let inFlight = 0;
    let finished = false;
    const send = () => {
      const body = bodies[sent % bodies.length]!;
      const payload = `${body.head}bench-${sent}${body.tail}`;
      sent++;
      inFlight++;
      const t0 = performance.now();
      const req = request(
        {
          host: '127.0.0.1',
          port: m.port,
          path: body.path,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            inFlight--;
            const t1 = performance.now();
            if (res.statusCode === 200) ok++;
            else errors++;
            if (t0 >= measureFrom && t0 < measureTo) client.push(t1 - t0);
            maybeDone();
          });
        },
      );
      req.on('error', () => {
        inFlight--;
        errors++;
        maybeDone();
      });
      req.end(payload);
    };
    const maybeDone = () => {
      if (!finished || inFlight > 0) return;
      agent.destroy();
      const sorted = Float64Array.from(client).sort();
      const report: LoadReport = { type: 'result', sent, ok, errors, clientP99Ms: percentile(sorted, 99) };
      process.send?.(report);
    };
    // Open loop: the schedule does not wait for answers, as the API server does not.
    const tick = setInterval(() => {
      const t = performance.now();
      if (t >= measureTo) {
        clearInterval(tick);
        finished = true;
        maybeDone();
        return;
      }
      const due = Math.floor(((t - started) / 1000) * m.rate);
      while (sent < due) send();
    }, 2);
  });
  process.send?.({ type: 'ready' });
}

if (import.meta.main) {
  if (process.argv.includes('--webhook-load')) {
    runLoadClient();
  } else {
    const { values } = parseArgs({
      options: {
        seconds: { type: 'string', default: '10' },
        rate: { type: 'string', default: '500' },
        'no-ingest': { type: 'boolean', default: false },
      },
    });
    const base = { durationMs: Number(values.seconds) * 1000, rate: Number(values.rate) };
    // Alone first (cost per review), then next to the ingest pipeline (the figure that counts).
    if (!values['no-ingest']) {
      process.stdout.write(JSON.stringify(await runWebhookBench({ ...base, ingest: false })) + '\n');
    }
    process.stdout.write(
      JSON.stringify(await runWebhookBench({ ...base, ingest: !values['no-ingest'] })) + '\n',
    );
  }
}
