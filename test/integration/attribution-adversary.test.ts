// Attribution from the sender's side, on the real API server with the operator's RBAC identity and
// the real OTLP receiver: a process on an address that is no pod (and no trusted forwarder) names a
// team's Deployment, a Deployment that does not exist and the team's pod labels; two host-network pods
// share one address. What must not happen: the claimed workloads are charged, or one of the two pods
// pays for the other. What must: the unidentified spend is kept (unattributed) and counted; honest
// pods behind a shared address pay for themselves; a configured forwarder still speaks for others.
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createIngestPipeline, type IngestPipeline } from '../../pipeline/ingest.ts';
import { createKubeApi, type KubeApi } from '../../cluster/api.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { createAttributor } from '../../pipeline/attribution/attributor.ts';
import {
  createClusterPodDirectory,
  type ClusterPodDirectory,
} from '../../pipeline/attribution/cluster-directory.ts';
import { noopIngestMetrics } from '../../pipeline/ingest-metrics.ts';
import { UNATTRIBUTED_NAMESPACE, UNATTRIBUTED_REF } from '../../pipeline/attribution/types.ts';
import { workloadKey } from '../../pipeline/snapshot.ts';
import { eventually, loadKubeConfig } from '../controlplane/wait.ts';
import { bindOperatorRbac, loadRbacDocs } from '../controlplane/rbac.ts';
import { sendSpans } from './otlp-send.ts';

const kubeconfigPath = inject('genopsKubeconfig');
const operatorKubeconfigPath = inject('genopsOperatorKubeconfig');
const namespace = `attr-adv-${Date.now().toString(36)}`;
const forwarders = `${namespace}-otel`;
const container = { name: 'main', image: 'registry.invalid/app:1' };
const UNATTRIBUTED = workloadKey(UNATTRIBUTED_REF);

// Loopback addresses standing for: a process that is no pod, a node with two host-network pods, a
// normal pod, and a Collector pod in a trusted namespace.
const STRANGER = '127.0.0.9';
const NODE = '127.0.0.4';
const TEAM_POD = '127.0.0.3';
const COLLECTOR = '127.0.0.6';

describe('attribution against senders that lie', () => {
  let core: CoreV1Api;
  let pipeline: IngestPipeline;
  let api: KubeApi;
  let directory: ClusterPodDirectory;
  const spoofed = new Map<string, number>();
  let agentA: V1Pod;
  let agentB: V1Pod;
  let teamPod: V1Pod;

  async function giveIp(pod: V1Pod, ip: string): Promise<V1Pod> {
    const name = pod.metadata!.name!;
    const ns = pod.metadata!.namespace!;
    const fresh = await core.readNamespacedPodStatus({ name, namespace: ns });
    fresh.status = { ...fresh.status, podIP: ip, podIPs: [{ ip }] };
    return core.replaceNamespacedPodStatus({ name, namespace: ns, body: fresh });
  }

  const hostPod = (name: string, team: string) =>
    core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { team } },
        spec: { hostNetwork: true, containers: [container] },
      },
    });

  beforeAll(async () => {
    const admin = loadKubeConfig(kubeconfigPath);
    core = admin.makeApiClient(CoreV1Api);
    const apps = admin.makeApiClient(AppsV1Api);
    await bindOperatorRbac({ kubeconfig: kubeconfigPath, docs: await loadRbacDocs('config/rbac') });
    for (const name of [namespace, forwarders]) await core.createNamespace({ body: { metadata: { name } } });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'team-app' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'team-app' } },
          template: {
            metadata: { labels: { app: 'team-app', team: 'ml' } },
            spec: { containers: [container] },
          },
        },
      },
    });
    teamPod = await eventually(
      'the Deployment pod',
      async () => (await core.listNamespacedPod({ namespace, labelSelector: 'app=team-app' })).items[0],
    );
    teamPod = await giveIp(teamPod, TEAM_POD);
    agentA = await giveIp(await hostPod('agent-a', 'a'), NODE);
    agentB = await giveIp(await hostPod('agent-b', 'b'), NODE);
    const collector = await core.createNamespacedPod({
      namespace: forwarders,
      body: { metadata: { name: 'collector' }, spec: { containers: [container] } },
    });
    await giveIp(collector, COLLECTOR);

    // Composed as the operator composes it (cmd/operator-main.ts, --trusted-namespaces).
    api = createKubeApi({ kubeConfig: loadKubeConfig(operatorKubeconfigPath), logger: silentLogger });
    directory = createClusterPodDirectory({ api });
    await directory.start();
    pipeline = createIngestPipeline({
      grpc: false,
      http: { host: '127.0.0.1', port: 0 },
      pool: { threads: 1 },
      attributor: createAttributor({ directory, trustedNamespaces: [forwarders] }),
      metrics: {
        ...noopIngestMetrics,
        spansSpoofed: (n, ns) => spoofed.set(ns, (spoofed.get(ns) ?? 0) + n),
      },
    });
    await pipeline.start();
    // The pod cache must have seen every address before the senders talk.
    const wait = async (ip: string, n: number) => {
      for (let i = 0; i < 100; i++) {
        const pods = await core.listPodForAllNamespaces();
        if (pods.items.filter((p) => p.status?.podIP === ip).length >= n) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await wait(NODE, 2);
    await new Promise((r) => setTimeout(r, 500));
  });

  afterAll(async () => {
    await pipeline?.shutdown();
    await directory?.shutdown();
    api?.close();
    for (const name of [namespace, forwarders]) await core?.deleteNamespace({ name }).catch(() => undefined);
  });

  const spendOf = (key: string) => pipeline.windows.publish().workloads.get(key)?.spend.daily.costMicros ?? 0;

  it('charges a process on a non-pod address to no named workload, whatever it claims', async () => {
    const claims = [
      // The team's real Deployment, by name and labels.
      { 'k8s.namespace.name': namespace, 'k8s.deployment.name': 'team-app', 'k8s.pod.label.team': 'ml' },
      // A Deployment that does not exist, with the team's labels (joins the team's budget by selector).
      { 'k8s.namespace.name': namespace, 'k8s.deployment.name': 'ghost', 'k8s.pod.label.team': 'ml' },
      // The real pod, by uid.
      { 'k8s.pod.uid': teamPod.metadata!.uid!, 'k8s.namespace.name': namespace },
    ];
    for (const resource of claims)
      expect(await sendSpans(pipeline.ports().http, STRANGER, { resource })).toBe(200);
    const snap = pipeline.windows.publish();
    expect(snap.workloads.get(`${namespace}/Deployment/team-app`)).toBeUndefined();
    expect(snap.workloads.get(`${namespace}/Deployment/ghost`)).toBeUndefined();
    const unattributed = snap.workloads.get(UNATTRIBUTED);
    expect(unattributed?.spend.daily.requests).toBe(3);
    expect(unattributed?.spend.daily.costMicros).toBeGreaterThan(0);
    // No selector can match it: no labels, a namespace no Kubernetes namespace can have.
    expect(unattributed?.labels).toEqual({});
    expect(unattributed?.ref.namespace).toBe(UNATTRIBUTED_NAMESPACE);
    expect(spoofed.get(UNATTRIBUTED_NAMESPACE)).toBe(3);
  });

  it('charges a real pod that sends directly to itself, and lets a trusted-namespace forwarder speak for it', async () => {
    const before = spendOf(`${namespace}/Deployment/team-app`);
    expect(await sendSpans(pipeline.ports().http, TEAM_POD, { resource: { 'service.name': 'x' } })).toBe(200);
    const own = spendOf(`${namespace}/Deployment/team-app`);
    expect(own).toBeGreaterThan(before);
    const viaCollector = { 'k8s.pod.uid': teamPod.metadata!.uid!, 'k8s.namespace.name': namespace };
    expect(await sendSpans(pipeline.ports().http, COLLECTOR, { resource: viaCollector })).toBe(200);
    expect(spendOf(`${namespace}/Deployment/team-app`)).toBeGreaterThan(own);
  });

  it('lets pods behind one address (host network) choose only between themselves', async () => {
    const port = pipeline.ports().http;
    const spoofedBefore = [...spoofed.values()].reduce((a, b) => a + b, 0);
    // Honest: each names itself and pays for itself, not counted as spoofed.
    expect(
      await sendSpans(port, NODE, { resource: { 'k8s.pod.uid': agentA.metadata!.uid! }, spans: 2 }),
    ).toBe(200);
    expect(
      await sendSpans(port, NODE, {
        resource: { 'k8s.namespace.name': namespace, 'k8s.pod.name': agentB.metadata!.name! },
        spans: 3,
      }),
    ).toBe(200);
    const snap = pipeline.windows.publish();
    expect(snap.workloads.get(`${namespace}/Pod/agent-a`)?.spend.daily.requests).toBe(2);
    expect(snap.workloads.get(`${namespace}/Pod/agent-b`)?.spend.daily.requests).toBe(3);
    expect([...spoofed.values()].reduce((a, b) => a + b, 0)).toBe(spoofedBefore);

    // Naming a pod elsewhere from that address: neither host pod is billed, nor the pod named.
    const team = spendOf(`${namespace}/Deployment/team-app`);
    const unattributed = snap.workloads.get(UNATTRIBUTED)?.spend.daily.requests ?? 0;
    expect(await sendSpans(port, NODE, { resource: { 'k8s.pod.uid': teamPod.metadata!.uid! } })).toBe(200);
    const after = pipeline.windows.publish();
    expect(spendOf(`${namespace}/Deployment/team-app`)).toBe(team);
    expect(after.workloads.get(`${namespace}/Pod/agent-a`)?.spend.daily.requests).toBe(2);
    expect(after.workloads.get(`${namespace}/Pod/agent-b`)?.spend.daily.requests).toBe(3);
    expect(after.workloads.get(UNATTRIBUTED)?.spend.daily.requests).toBe(unattributed + 1);
  });
});
