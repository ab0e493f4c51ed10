// Span attribution against the real API server: pods created through it (and by
// kube-controller-manager for a Deployment and a CronJob's Job) are resolved by the in-cluster
// pod directory, running as the operator's own RBAC identity, by uid, namespace + name and IP, with
// the owner walk to Deployment / CronJob; spoofed resource attributes are charged to the real
// sender, end to end through the OTLP receiver; deleted pods stay resolvable for the grace period.
import { AppsV1Api, BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { createKubeApi, type KubeApi } from '../../cluster/api.ts';
import { createAttributor } from '../../pipeline/attribution/attributor.ts';
import { createClusterPodDirectory } from '../../pipeline/attribution/cluster-directory.ts';
import type { ClusterPodDirectory } from '../../pipeline/attribution/cluster-directory.ts';
import type { SenderIdentity } from '../../pipeline/partial.ts';
import { createIngestPipeline } from '../../pipeline/ingest.ts';
import { noopIngestMetrics } from '../../pipeline/ingest-metrics.ts';
import { eventually, loadKubeConfig } from '../controlplane/wait.ts';
import { bindOperatorRbac, loadRbacDocs } from '../controlplane/rbac.ts';

const kubeconfigPath = inject('genopsKubeconfig');
const operatorKubeconfigPath = inject('genopsOperatorKubeconfig');

const namespace = `attr-${Date.now().toString(36)}`;
const other = `${namespace}-other`;
const container = { name: 'main', image: 'registry.invalid/app:1' };

describe('span attribution in a cluster', () => {
  let core: CoreV1Api;
  let directory: ClusterPodDirectory;
  let api: KubeApi;
  const clock = createManualClock(Date.now());
  let chatPod: V1Pod;
  let soloPod: V1Pod;
  let jobPod: V1Pod;

  /** Pods get no IP without a kubelet: set status.podIP as the kubelet would. */
  async function giveIp(pod: V1Pod, ip: string): Promise<V1Pod> {
    const name = pod.metadata!.name!;
    const ns = pod.metadata!.namespace!;
    const fresh = await core.readNamespacedPodStatus({ name, namespace: ns });
    fresh.status = { ...fresh.status, podIP: ip, podIPs: [{ ip }] };
    return core.replaceNamespacedPodStatus({ name, namespace: ns, body: fresh });
  }

  beforeAll(async () => {
    const admin = loadKubeConfig(kubeconfigPath);
    core = admin.makeApiClient(CoreV1Api);
    const apps = admin.makeApiClient(AppsV1Api);
    const batch = admin.makeApiClient(BatchV1Api);
    await bindOperatorRbac({ kubeconfig: kubeconfigPath, docs: await loadRbacDocs('config/rbac') });
    for (const name of [namespace, other]) await core.createNamespace({ body: { metadata: { name } } });

    const labels = { app: 'chat', team: 'ml' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'chat' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'chat' } },
          template: { metadata: { labels }, spec: { containers: [container] } },
        },
      },
    });
    soloPod = await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'solo', labels: { team: 'solo' } }, spec: { containers: [container] } },
    });
    const cron = await batch.createNamespacedCronJob({
      namespace,
      body: {
        metadata: { name: 'nightly' },
        spec: {
          schedule: '0 3 * * *',
          jobTemplate: { spec: { template: { spec: { containers: [container], restartPolicy: 'Never' } } } },
        },
      },
    });
    // A Job owned by the CronJob, as the CronJob controller would create it (without waiting for 03:00).
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: {
          name: 'nightly-29000000',
          ownerReferences: [
            {
              apiVersion: 'batch/v1',
              kind: 'CronJob',
              name: 'nightly',
              uid: cron.metadata!.uid!,
              controller: true,
            },
          ],
        },
        spec: {
          template: {
            metadata: { labels: { job: 'nightly' } },
            spec: { containers: [container], restartPolicy: 'Never' },
          },
        },
      },
    });
    chatPod = await eventually(
      'the Deployment pod',
      async () => (await core.listNamespacedPod({ namespace, labelSelector: 'app=chat' })).items[0],
    );
    jobPod = await eventually(
      'the Job pod',
      async () => (await core.listNamespacedPod({ namespace, labelSelector: 'job=nightly' })).items[0],
    );
    // 127.0.0.1 for the solo pod: the OTLP test below connects from loopback, so it is that pod talking.
    soloPod = await giveIp(soloPod, '127.0.0.1');
    chatPod = await giveIp(chatPod, '10.77.0.5');

    api = createKubeApi({ kubeConfig: loadKubeConfig(operatorKubeconfigPath), logger: silentLogger });
    directory = createClusterPodDirectory({
      api,
      clock,
      deletedGraceMs: 60_000,
    });
    await directory.start();
  });

  afterAll(async () => {
    await directory?.shutdown();
    api?.close();
    for (const name of [namespace, other]) await core?.deleteNamespace({ name }).catch(() => undefined);
  });

  it('resolves pods by uid, namespace + name and IP, with the owner walk', async () => {
    expect(directory.hasSynced()).toBe(true);
    const chat = await eventually('chat by IP', () => directory.byIp('10.77.0.5'));
    expect(chat.workload).toEqual({ namespace, kind: 'Deployment', name: 'chat' });
    expect(chat.labels).toMatchObject({ app: 'chat', team: 'ml' });
    expect(directory.byUid(chatPod.metadata!.uid!)).toBe(chat);
    expect(directory.byNamespaceName(namespace, chatPod.metadata!.name!)).toBe(chat);

    const job = await eventually('the job pod', () => directory.byUid(jobPod.metadata!.uid!));
    expect(job.workload).toEqual({ namespace, kind: 'CronJob', name: 'nightly' });
    const solo = await eventually('solo by IP', () => directory.byIp('127.0.0.1'));
    expect(solo.workload).toEqual({ namespace, kind: 'Pod', name: 'solo' });
    expect(directory.byIp('10.77.0.99')).toBeUndefined();
  });

  it('does not trust attributes naming another pod when a pod sends directly, but trusts collectors', () => {
    const attributor = createAttributor({ directory, trustedPeers: ['10.200.0.0/16'] });
    const claimsChat: SenderIdentity = { namespace, podName: chatPod.metadata!.name!, labels: {} };
    const fromSolo = attributor.resolve(claimsChat, '127.0.0.1');
    expect(fromSolo).toMatchObject({ ref: { kind: 'Pod', name: 'solo' }, via: 'peer', spoofed: true });

    const viaCollector = attributor.resolve({ podUid: jobPod.metadata!.uid!, labels: {} }, '10.200.3.4');
    expect(viaCollector).toMatchObject({
      ref: { kind: 'CronJob', name: 'nightly' },
      via: 'pod-uid',
      spoofed: false,
    });

    const honest = attributor.resolve({ namespace, podName: 'solo', labels: {} }, '127.0.0.1');
    expect(honest).toMatchObject({ ref: { kind: 'Pod', name: 'solo' }, spoofed: false });

    // A peer that is no pod and no forwarder (a node, an external sender) is not believed: its spend
    // goes to the unattributed total, never to the pod its attributes name (issue 12 item 5).
    const byIpAttr = attributor.resolve({ podIp: '10.77.0.5', labels: {} }, '192.0.2.1');
    expect(byIpAttr).toMatchObject({ ref: { kind: 'Unattributed' }, unattributed: true, spoofed: true });
    // Through the forwarder the pod IP attribute is believed.
    const viaForwarder = attributor.resolve({ podIp: '10.77.0.5', labels: {} }, '10.200.3.4');
    expect(viaForwarder).toMatchObject({ ref: { kind: 'Deployment', name: 'chat' }, via: 'pod-ip' });
  });

  it('charges spans to the pod that sent them over OTLP, whatever its attributes claim', async () => {
    let spoofed = 0;
    // A pod cache of its own, composed as the operator composes it (cmd/operator-main.ts).
    const pods = createClusterPodDirectory({ api });
    await pods.start();
    const pipeline = createIngestPipeline({
      grpc: false,
      http: { port: 0 },
      pool: { threads: 1 },
      attributor: createAttributor({ directory: pods }),
      metrics: { ...noopIngestMetrics, spansSpoofed: (n) => (spoofed += n) },
    });
    await pipeline.start();
    try {
      const body = JSON.stringify({
        resourceSpans: [
          {
            resource: {
              attributes: [
                { key: 'k8s.namespace.name', value: { stringValue: other } },
                { key: 'k8s.deployment.name', value: { stringValue: 'victim' } },
              ],
            },
            scopeSpans: [
              {
                spans: [1, 2].map((i) => ({
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: `eee19b7ec3c1b17${i}`,
                  name: 'chat gpt-4o',
                  kind: 3,
                  startTimeUnixNano: '1700000000000000000',
                  endTimeUnixNano: '1700000001000000000',
                  attributes: [
                    { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
                    { key: 'gen_ai.provider.name', value: { stringValue: 'openai' } },
                    { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } },
                    { key: 'gen_ai.usage.input_tokens', value: { intValue: 1000 } },
                    { key: 'gen_ai.usage.output_tokens', value: { intValue: 500 } },
                  ],
                })),
              },
            ],
          },
        ],
      });
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: pipeline.ports().http,
            method: 'POST',
            path: '/v1/traces',
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(status).toBe(200);
      const snapshot = pipeline.windows.publish();
      expect(snapshot.workloads.get(`${other}/Deployment/victim`)).toBeUndefined();
      const solo = snapshot.workloads.get(`${namespace}/Pod/solo`)!;
      expect(solo.spend.daily.costMicros).toBe(15_000);
      expect(solo.labels).toEqual({ team: 'solo' });
      expect(spoofed).toBe(2);
    } finally {
      await pipeline.shutdown();
      await pods.shutdown();
    }
  });

  it('keeps deleted pods resolvable for the grace period', async () => {
    const uid = soloPod.metadata!.uid!;
    await core.deleteNamespacedPod({ name: 'solo', namespace, gracePeriodSeconds: 0 });
    await eventually('the delete event', () => (directory.status(uid) === 'gone' ? true : undefined));
    expect(directory.byUid(uid)?.workload.name).toBe('solo');
    expect(directory.byIp('127.0.0.1')?.name).toBe('solo');
    clock.advance(61_000);
    expect(directory.byUid(uid)).toBeUndefined();
    expect(directory.byIp('127.0.0.1')).toBeUndefined();
  });
});
