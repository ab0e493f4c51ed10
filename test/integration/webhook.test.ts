// The admission webhook through a real kube-apiserver: the webhook runs in this process on
// https://127.0.0.1:<port> with the built-in certificate mode (CA + serving certificate in a Secret of
// genops-system, written with the operator's own RBAC), registers its configurations with the caBundle,
// and the API server calls it over TLS for everything below.
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import type { KubernetesObject, V1Pod, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createManualClock } from '../../kernel/clock.ts';
import { createRecordingLogger } from '../../kernel/logger.ts';
import { splitPem } from '../../webhook/certs/x509.ts';
import type { AdmissionWebhook } from '../../webhook/index.ts';
import { createAdmissionWebhook } from '../../webhook/index.ts';
import { createRecordingWebhookMetrics } from '../../webhook/metrics.ts';
import { budget, budgetState, decisionSet, policy } from '../../webhook/testing/fixtures.ts';
import type { StaticAdmissionView } from '../../webhook/view.ts';
import { createStaticAdmissionView } from '../../webhook/view.ts';
import { eventually, loadKubeConfig } from '../controlplane/wait.ts';
import { bindOperatorRbac, loadRbacDocs } from '../controlplane/rbac.ts';

const kubeconfigPath = inject('genopsKubeconfig');
const operatorKubeconfigPath = inject('genopsOperatorKubeconfig');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DAY = 86_400_000;
const suffix = Date.now().toString(36);
const INJECT_NS = `wh-inject-${suffix}`;
const POLICY_NS = `wh-policy-${suffix}`;

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

interface RawAnswer {
  status: number;
  body: { message?: string; code?: number } & Record<string, unknown>;
  warnings: string[];
}

/** A request to the API server that keeps its Warning headers (the typed clients drop them). */
async function raw(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<RawAnswer> {
  const options: RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const url = new URL(path, kc.getCurrentCluster()!.server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { ...options, method, headers: { 'content-type': contentType, accept: 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const warnings: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            if (res.rawHeaders[i]!.toLowerCase() === 'warning') {
              // RFC 7234 warn-text is a quoted-string: unescape it.
              const text = /^\d{3} \S+ "(.*)"$/.exec(res.rawHeaders[i + 1]!)?.[1] ?? res.rawHeaders[i + 1]!;
              warnings.push(text.replace(/\\(.)/g, '$1'));
            }
          }
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as RawAnswer['body'], warnings });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function deploymentBody(
  name: string,
  labels: Record<string, string>,
  options: {
    replicas?: number;
    annotations?: Record<string, string>;
    env?: Array<{ name: string; value: string }>;
  } = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels, ...(options.annotations ? { annotations: options.annotations } : {}) },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1', env: options.env ?? [] }] },
      },
    },
  };
}

const create = (kc: KubeConfig, namespace: string, body: unknown) =>
  raw(kc, 'POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, body);

async function servedSerial(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: caPem }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

describe('admission webhook through the real API server', () => {
  let admin: KubeConfig;
  let operator: KubeConfig;
  let view: StaticAdmissionView;
  let webhook: AdmissionWebhook;
  let replica: AdmissionWebhook | undefined;
  let port: number;
  const logger = createRecordingLogger();
  const metrics = createRecordingWebhookMetrics();
  // Certificates are issued 42 days in the past (still valid now), so moving the clock to now renews them.
  const clock = createManualClock(Date.now() - 42 * DAY);
  const validity = { caMs: 60 * DAY, servingMs: 60 * DAY };

  beforeAll(async () => {
    admin = loadKubeConfig(kubeconfigPath);
    operator = loadKubeConfig(operatorKubeconfigPath);
    const objects = KubernetesObjectApi.makeApiClient(admin);
    const apply = (o: KubernetesObject) =>
      objects.patch(o, undefined, undefined, 'genops-webhook-test', true, PatchStrategy.ServerSideApply);

    // CRDs (for AIPolicy/AIBudget admission) and the operator's RBAC from config/rbac.
    const crdDir = join(ROOT, 'config/crd/bases');
    for (const file of readdirSync(crdDir).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(join(crdDir, file), 'utf8'))) {
        const crd = doc.toJS() as KubernetesObject | null;
        if (crd?.metadata?.name) await apply(crd);
      }
    }
    await bindOperatorRbac({
      kubeconfig: kubeconfigPath,
      // Built-in certificates: the rights of that overlay too (they are not in config/rbac).
      docs: [
        ...(await loadRbacDocs(join(ROOT, 'config/rbac'))),
        ...(await loadRbacDocs(join(ROOT, 'deploy/overlays/self-signed'))),
      ],
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'genops-system' },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: INJECT_NS, labels: { 'genops.ai/injection': 'enabled' } },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: POLICY_NS, labels: { 'genops.ai/policy-enforcement': 'enabled' } },
    });

    // A control plane reused between runs (npm run testenv) may hold a previous run's certificates.
    await admin
      .makeApiClient(CoreV1Api)
      .deleteNamespacedSecret({ name: 'genops-webhook-ca', namespace: 'genops-system' })
      .catch(() => undefined);

    view = createStaticAdmissionView();
    view.setNamespace(INJECT_NS, { 'genops.ai/injection': 'enabled' });
    view.setNamespace(POLICY_NS, { 'genops.ai/policy-enforcement': 'enabled' });
    view.setBudgets([
      budget({ name: 'team-a-budget', namespace: POLICY_NS, team: 'a' }),
      budget({ name: 'team-b-budget', namespace: POLICY_NS, team: 'b' }),
      budget({ name: 'team-w-budget', namespace: POLICY_NS, team: 'w' }),
    ]);
    view.setDecisions(
      decisionSet({
        budgets: [
          budgetState('team-a-budget', 'block', { namespace: POLICY_NS }),
          budgetState('team-b-budget', 'allow', { namespace: POLICY_NS }),
          budgetState('team-w-budget', 'warn', { namespace: POLICY_NS }),
        ],
      }),
    );
    view.setPolicies([
      policy(
        'prod-rules',
        {
          dataClassification: { allowedLevels: ['public', 'internal'], requireClassification: true },
          modelGovernance: {
            allowedProviders: ['openai', 'anthropic'],
            allowedModels: ['gpt-4*', 'claude-3*'],
          },
          selector: { matchLabels: { env: 'prod' } },
        },
        { namespace: POLICY_NS },
      ),
    ]);

    port = await freePort();
    webhook = createAdmissionWebhook({
      view,
      clock,
      logger,
      metrics,
      host: '127.0.0.1',
      port,
      namespace: 'genops-system',
      certificates: { mode: 'self-signed', kubeConfig: operator, url: `https://127.0.0.1:${port}`, validity },
      injection: { receiverHost: 'http://genops-otlp.genops-system.svc' },
    });
    await webhook.start();
  });

  afterAll(async () => {
    const registrations = admin.makeApiClient(AdmissionregistrationV1Api);
    await registrations
      .deleteMutatingWebhookConfiguration({ name: 'genops-mutating-webhook' })
      .catch(() => undefined);
    await registrations
      .deleteValidatingWebhookConfiguration({ name: 'genops-validating-webhook' })
      .catch(() => undefined);
    await registrations
      .deleteValidatingWebhookConfiguration({ name: 'genops-test-wrong-ca' })
      .catch(() => undefined);
    await replica?.shutdown();
    await webhook?.shutdown();
    const core = admin.makeApiClient(CoreV1Api);
    for (const name of [INJECT_NS, POLICY_NS]) await core.deleteNamespace({ name }).catch(() => undefined);
  });

  it('registers both configurations with the CA of the Secret it created as the operator identity', async () => {
    const core = operator.makeApiClient(CoreV1Api);
    const secret = await core.readNamespacedSecret({ name: 'genops-webhook-ca', namespace: 'genops-system' });
    expect(secret.type).toBe('kubernetes.io/tls');
    const registrations = admin.makeApiClient(AdmissionregistrationV1Api);
    const validating = await registrations.readValidatingWebhookConfiguration({
      name: 'genops-validating-webhook',
    });
    const mutating = await registrations.readMutatingWebhookConfiguration({
      name: 'genops-mutating-webhook',
    });
    for (const hook of [...(validating.webhooks ?? []), ...(mutating.webhooks ?? [])]) {
      expect(hook.clientConfig.url).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${port}/`));
      expect(Buffer.from(hook.clientConfig.caBundle!, 'base64').toString()).toBe(
        Buffer.from(secret.data!['ca.crt']!, 'base64').toString(),
      );
    }
  });

  it('injects the OTLP env into pods kube-controller-manager creates for a labelled Deployment', async () => {
    const labelled = await create(
      admin,
      INJECT_NS,
      deploymentBody('chat', { team: 'search', 'genops.ai/enable': 'true' }),
    );
    expect(labelled.status).toBe(201);
    const optedOut = await create(admin, INJECT_NS, deploymentBody('plain', { 'genops.ai/enable': 'false' }));
    expect(optedOut.status).toBe(201);
    const core = admin.makeApiClient(CoreV1Api);
    const podOf = (app: string) =>
      eventually(
        `a pod of ${app}`,
        async () =>
          (await core.listNamespacedPod({ namespace: INJECT_NS, labelSelector: `app=${app}` })).items[0],
      );

    const pod: V1Pod = await podOf('chat');
    const env = pod.spec!.containers[0]!.env ?? [];
    const value = (name: string) => env.find((e) => e.name === name)?.value;
    expect(value('OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://genops-otlp.genops-system.svc:4318');
    expect(value('OTEL_EXPORTER_OTLP_PROTOCOL')).toBe('http/protobuf');
    expect(value('OTEL_SERVICE_NAME')).toBe('chat');
    expect(value('OTEL_SEMCONV_STABILITY_OPT_IN')).toBe('gen_ai_latest_experimental');
    expect(value('OTEL_RESOURCE_ATTRIBUTES')).toContain('k8s.pod.name=$(GENOPS_POD_NAME)');
    expect(value('OTEL_RESOURCE_ATTRIBUTES')).toContain('k8s.deployment.name=chat');
    expect(value('OTEL_RESOURCE_ATTRIBUTES')).toContain('k8s.pod.label.team=search');
    expect(env.find((e) => e.name === 'GENOPS_POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    );
    expect(pod.metadata?.annotations?.['genops.ai/telemetry-injected']).toBe('true');

    const plain = await podOf('plain');
    expect(plain.spec!.containers[0]!.env ?? []).toEqual([]);
    expect(metrics.reviews.some((r) => r.webhook === 'mutate-pods' && r.outcome === 'patched')).toBe(true);
  });

  it('refuses a Deployment of a blocked team naming the budget, admits another team', async () => {
    const refused = await create(admin, POLICY_NS, deploymentBody('team-a-app', { team: 'a' }));
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain(
      'admission webhook "workloads.policy.genops.ai" denied the request',
    );
    expect(refused.body.message).toContain('AIBudget "team-a-budget" is blocking the workloads it selects');
    expect(refused.body.message).toContain('spend 5012.30 USD of 5000.00 USD limit');
    expect(refused.body.message).toContain('resets at 2026-08-01T00:00:00Z');

    const admitted = await create(admin, POLICY_NS, deploymentBody('team-b-app', { team: 'b' }));
    expect(admitted.status).toBe(201);
  });

  it('refuses a scale-up through the scale subresource, admits the scale-down', async () => {
    // Zero replicas start nothing: admitted (with a warning).
    const idle = await create(
      admin,
      POLICY_NS,
      deploymentBody('team-a-idle', { team: 'a' }, { replicas: 0 }),
    );
    expect(idle.status).toBe(201);
    expect(idle.warnings.join(' ')).toContain('AIBudget "team-a-budget"');
    // The Scale carries no labels: the budget's matched workloads (from the decisions) identify it.
    view.setDecisions(
      decisionSet({
        budgets: [
          budgetState('team-a-budget', 'block', {
            namespace: POLICY_NS,
            matched: [`${POLICY_NS}/Deployment/team-a-idle`],
          }),
          budgetState('team-w-budget', 'warn', { namespace: POLICY_NS }),
        ],
      }),
    );
    const scale = (replicas: number) =>
      raw(
        admin,
        'PATCH',
        `/apis/apps/v1/namespaces/${POLICY_NS}/deployments/team-a-idle/scale`,
        { spec: { replicas } },
        'application/merge-patch+json',
      );
    const up = await scale(2);
    expect(up.status).toBe(403);
    expect(up.body.message).toContain('AIBudget "team-a-budget"');
    expect((await scale(0)).status).toBe(200);
  });

  it('admits with warnings for a budget in warn state (the client sees Warning headers)', async () => {
    const answer = await create(admin, POLICY_NS, deploymentBody('team-w-app', { team: 'w' }));
    expect(answer.status).toBe(201);
    expect(answer.warnings).toEqual([
      expect.stringContaining('AIBudget "team-w-budget" is warning: spend 5012.30 USD'),
    ]);
  });

  it('enforces data classification and model governance', async () => {
    const missing = await create(admin, POLICY_NS, deploymentBody('prod-1', { env: 'prod' }));
    expect(missing.status).toBe(403);
    expect(missing.body.message).toContain('requires the pod template label genops.ai/data-classification');
    const wrongLevel = await create(
      admin,
      POLICY_NS,
      deploymentBody('prod-2', { env: 'prod', 'genops.ai/data-classification': 'secret' }),
    );
    expect(wrongLevel.body.message).toContain('genops.ai/data-classification is "secret"');

    const classified = { env: 'prod', 'genops.ai/data-classification': 'internal' };
    const badModel = await create(
      admin,
      POLICY_NS,
      deploymentBody('prod-3', classified, {
        annotations: { 'genops.ai/models': 'openai/gpt-4o,groq/llama-3' },
      }),
    );
    expect(badModel.status).toBe(403);
    expect(badModel.body.message).toContain('declares provider "groq"');
    const badEnv = await create(
      admin,
      POLICY_NS,
      deploymentBody('prod-4', classified, { env: [{ name: 'OPENAI_MODEL', value: 'gpt-3.5-turbo' }] }),
    );
    expect(badEnv.body.message).toContain(
      'env OPENAI_MODEL of container app declares "openai/gpt-3.5-turbo"',
    );
    const good = await create(
      admin,
      POLICY_NS,
      deploymentBody('prod-5', classified, {
        annotations: { 'genops.ai/models': 'openai/gpt-4o, anthropic/claude-3-haiku' },
      }),
    );
    expect(good.status).toBe(201);
  });

  it('honours and audits the bypass annotation', async () => {
    const bypass = `reason=incident 7;expires=${new Date(Date.now() + 3600_000).toISOString()};by=oncall@example.com`;
    const answer = await create(
      admin,
      POLICY_NS,
      deploymentBody('team-a-urgent', { team: 'a' }, { annotations: { 'genops.ai/bypass': bypass } }),
    );
    expect(answer.status).toBe(201);
    expect(answer.warnings[0]).toContain('genops.ai/bypass by oncall@example.com');
    expect(
      logger.records.find((r) => r['msg'] === 'admission bypass used' && r['name'] === 'team-a-urgent'),
    ).toMatchObject({
      audit: true,
      bypassBy: 'oncall@example.com',
    });
    expect(metrics.bypasses).toContainEqual({ namespace: POLICY_NS, kind: 'Deployment' });
  });

  it('validates AIBudgets: warns about a duplicate, refuses an overlap in another currency', async () => {
    const path = `/apis/genops.ai/v1alpha1/namespaces/${POLICY_NS}/aibudgets`;
    const first = await raw(admin, 'POST', path, budget({ name: 'dup-1', namespace: POLICY_NS, team: 'x' }));
    expect(first.status).toBe(201);
    view.setBudgets([...view.budgets(), budget({ name: 'dup-1', namespace: POLICY_NS, team: 'x' })]);
    const duplicate = await raw(
      admin,
      'POST',
      path,
      budget({ name: 'dup-2', namespace: POLICY_NS, team: 'x' }),
    );
    expect(duplicate.status).toBe(201);
    expect(duplicate.warnings).toEqual([
      expect.stringContaining('AIBudget "dup-1" has the same selector and period'),
    ]);

    // The schema only knows USD today; a budget in another currency reaches us through the view only.
    const eur = budget({ name: 'eur-budget', namespace: POLICY_NS, team: 'y' });
    view.setBudgets([
      ...view.budgets(),
      { ...eur, spec: { ...eur.spec, allocation: { ...eur.spec.allocation, currency: 'EUR' as 'USD' } } },
    ]);
    const conflict = await raw(
      admin,
      'POST',
      path,
      budget({ name: 'usd-budget', namespace: POLICY_NS, team: 'y' }),
    );
    expect(conflict.status).toBe(422);
    expect(conflict.body.message).toContain('AIBudget "eur-budget"');
  });

  it('the API server verifies the webhook certificate against the caBundle', async () => {
    // Same URL, a CA that did not sign our certificate, failing closed: the API server must refuse.
    const { createCa } = await import('../../webhook/certs/x509.ts');
    const stranger = await createCa({ now: Date.now(), validityMs: DAY });
    const registrations = admin.makeApiClient(AdmissionregistrationV1Api);
    const label = `wrong-ca-${suffix}`;
    await registrations.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: 'genops-test-wrong-ca' },
        webhooks: [
          {
            name: 'wrong-ca.test.genops.ai',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 5,
            clientConfig: {
              url: `https://127.0.0.1:${port}/validate-workloads`,
              caBundle: Buffer.from(stranger.certPem).toString('base64'),
            },
            objectSelector: { matchLabels: { [label]: 'true' } },
            rules: [
              { apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], operations: ['CREATE'] },
            ],
          },
        ],
      },
    });
    const core = admin.makeApiClient(CoreV1Api);
    const attempt = await eventually('the API server to call the wrong-CA webhook', async () => {
      try {
        await core.createNamespacedConfigMap({
          namespace: INJECT_NS,
          body: { metadata: { generateName: 'tls-', labels: { [label]: 'true' } } },
        });
        return undefined;
      } catch (err) {
        return err instanceof ApiException ? String(err.body) : undefined;
      }
    });
    expect(attempt).toMatch(/x509|certificate/i);
    await registrations.deleteValidatingWebhookConfiguration({ name: 'genops-test-wrong-ca' });
  });

  it('a second replica serves the same certificate; rotation re-registers the CA bundle and keeps admission working', async () => {
    const secretCa = async () => {
      const s = await admin
        .makeApiClient(CoreV1Api)
        .readNamespacedSecret({ name: 'genops-webhook-ca', namespace: 'genops-system' });
      return Buffer.from(s.data!['ca.crt']!, 'base64').toString();
    };
    const caPem = await secretCa();
    const replicaPort = await freePort();
    replica = createAdmissionWebhook({
      view,
      clock,
      logger,
      metrics,
      host: '127.0.0.1',
      port: replicaPort,
      namespace: 'genops-system',
      certificates: { mode: 'self-signed', kubeConfig: operator, url: `https://127.0.0.1:${port}`, validity },
    });
    await replica.start();
    const before = await servedSerial(port, caPem);
    expect(await servedSerial(replicaPort, caPem)).toBe(before);

    // Now is 42 days after issue: past two thirds of the CA's 60 days.
    clock.set(Date.now());
    await webhook.certificates!.sync();
    const bundle = await secretCa();
    expect(splitPem(bundle)).toHaveLength(2);
    const after = await servedSerial(port, bundle);
    expect(after).not.toBe(before);
    const registrations = admin.makeApiClient(AdmissionregistrationV1Api);
    const mutating = await registrations.readMutatingWebhookConfiguration({
      name: 'genops-mutating-webhook',
    });
    expect(Buffer.from(mutating.webhooks![0]!.clientConfig.caBundle!, 'base64').toString()).toBe(bundle);
    // The replica adopts the rotation on its next check.
    await replica.certificates!.sync();
    expect(await servedSerial(replicaPort, bundle)).toBe(after);
    expect(new X509Certificate(splitPem(bundle)[0]!).subject).toContain('genops-webhook-ca');

    // The API server reaches the webhook with the renewed certificate.
    const apps = admin.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: INJECT_NS,
      body: deploymentBody('after-rotation', { 'genops.ai/enable': 'true' }),
    });
    const core = admin.makeApiClient(CoreV1Api);
    const pod = await eventually(
      'a pod after rotation',
      async () =>
        (await core.listNamespacedPod({ namespace: INJECT_NS, labelSelector: 'app=after-rotation' }))
          .items[0],
    );
    expect(pod.spec!.containers[0]!.env?.some((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe(true);
  });
});
