// Shared by the enforcer integration tests: API clients for the admin and the operator identity (so the
// operator side runs with config/rbac), the CRDs installed, namespaces and workloads made, and polling.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createLogger, silentLogger, type Logger } from '../../kernel/logger.ts';
import { createKubeApi, type KubeApi } from '../../cluster/api.ts';
import { RESOURCES, type KubeObject, type ResourceType } from '../../cluster/resources.ts';
import { bindOperatorRbac, loadRbacDocs } from '../controlplane/rbac.ts';
import type { PartialAggregate, SenderIdentity, UsageGroup } from '../../pipeline/partial.ts';
import { SPAN_RECORD_WIDTH } from '../../pipeline/partial.ts';
import type { OperatorOptions } from '../../cmd/operator-main.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OPERATOR_NAMESPACE = 'genops-system';

export const kubeconfigPath = (): string =>
  inject('genopsKubeconfig') || (process.env['GENOPS_TEST_KUBECONFIG'] ?? '');
export const operatorKubeconfigPath = (): string =>
  inject('genopsOperatorKubeconfig') || (process.env['GENOPS_TEST_OPERATOR_KUBECONFIG'] ?? '');

export function testLogger(): Logger {
  return process.env['GENOPS_TEST_LOG'] === '1' ? createLogger({ level: 'debug' }) : silentLogger;
}

export function apiFor(path: string, logger: Logger = silentLogger): KubeApi {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return createKubeApi({ kubeConfig: kc, logger, writeQps: 50, writeBurst: 100 });
}

const CRD: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};

interface CrdObject extends KubeObject {
  status?: { conditions?: Array<{ type: string; status: string }> };
}

/** CRDs from config/crd/bases (server-side apply) and the operator's RBAC bound to its test identity. */
export async function prepareCluster(admin: KubeApi): Promise<void> {
  const dir = join(ROOT, 'config/crd/bases');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as CrdObject | null;
      if (crd?.metadata?.name === undefined) continue;
      await admin.patch(CRD, undefined, crd.metadata.name, crd, { type: 'apply', force: true });
      await eventually(`CRD ${crd.metadata.name} established`, async () => {
        const c = await admin.get<CrdObject>(CRD, undefined, crd.metadata!.name!);
        return c?.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')
          ? true
          : undefined;
      });
    }
  }
  await bindOperatorRbac({
    kubeconfig: kubeconfigPath(),
    docs: await loadRbacDocs(join(ROOT, 'config/rbac')),
  });
  await ensureNamespace(admin, OPERATOR_NAMESPACE);
}

export async function ensureNamespace(
  admin: KubeApi,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  await admin.patch(
    RESOURCES.namespace,
    undefined,
    name,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
    { type: 'apply', force: true },
  );
}

export interface DeploymentObject extends KubeObject {
  spec?: { replicas?: number };
}

export async function createDeployment(
  admin: KubeApi,
  namespace: string,
  name: string,
  labels: Record<string, string>,
  replicas: number,
  kind: 'Deployment' | 'StatefulSet' = 'Deployment',
): Promise<void> {
  const rt = kind === 'Deployment' ? RESOURCES.deployment : RESOURCES.statefulSet;
  await admin.patch(
    rt,
    namespace,
    name,
    {
      apiVersion: 'apps/v1',
      kind,
      metadata: { name, namespace, labels },
      spec: {
        replicas,
        ...(kind === 'StatefulSet' ? { serviceName: name } : {}),
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { ...labels, app: name } },
          spec: { containers: [{ name: 'app', image: 'registry.invalid/ai-app:1' }] },
        },
      },
    },
    { type: 'apply', force: true },
  );
}

export async function replicasOf(
  admin: KubeApi,
  namespace: string,
  name: string,
  rt = RESOURCES.deployment,
): Promise<number | undefined> {
  const d = await admin.get<DeploymentObject>(rt, namespace, name);
  return d?.spec?.replicas;
}

export async function annotationsOf(
  admin: KubeApi,
  rt: ResourceType,
  namespace: string,
  name: string,
): Promise<Record<string, string>> {
  return (await admin.get<KubeObject>(rt, namespace, name))?.metadata?.annotations ?? {};
}

export interface EventObject extends KubeObject {
  reason?: string;
  action?: string;
  note?: string;
  type?: string;
  regarding?: { kind?: string; name?: string; namespace?: string };
  related?: { kind?: string; name?: string };
  reportingController?: string;
}

/** Events (events.k8s.io/v1) in a namespace about one object. */
export async function eventsFor(
  admin: KubeApi,
  namespace: string,
  kind: string,
  name: string,
): Promise<EventObject[]> {
  const list = await admin.list<EventObject>(RESOURCES.event, { namespace });
  return list.items.filter((e) => e.regarding?.kind === kind && e.regarding.name === name);
}

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`,
        {
          cause: last,
        },
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * An in-process operator (`startOperator`) as the integration tests run it: the operator's identity,
 * ports chosen by the OS, one decode worker, status and usage written every 200 ms, no leader election
 * unless `overrides` asks for it. `replica` prefixes a replica id unique to this run.
 */
export function testOperatorOptions(
  replica: string,
  overrides: Partial<OperatorOptions> = {},
): OperatorOptions {
  return {
    kubeconfig: operatorKubeconfigPath(),
    inCluster: false,
    namespace: OPERATOR_NAMESPACE,
    replicaId: uniqueName(replica),
    host: '127.0.0.1',
    otlpGrpcPort: 0,
    otlpHttpPort: 0,
    metricsPort: 0,
    healthPort: 0,
    leaderElect: false,
    statusIntervalMs: 200,
    usageWriteIntervalMs: 200,
    workers: 1,
    ...overrides,
  };
}

/** A namespace name unique to this run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4).toString(36)}`;
}

/** Charges `costMicros` over `requests` spans to a workload through the windows' real apply path. */
let spanKey = 1;
export function charge(
  windows: { apply(partial: PartialAggregate, meta: { peer: string | undefined }): unknown },
  workload: { namespace: string; kind: string; name: string; labels?: Record<string, string> },
  costMicros: number,
  requests: number,
): void {
  const records = new Float64Array(requests * SPAN_RECORD_WIDTH);
  const per = Math.floor(costMicros / requests);
  for (let i = 0; i < requests; i++) {
    const key = spanKey++;
    const cost = i === requests - 1 ? costMicros - per * (requests - 1) : per;
    records.set([key >>> 0, (key * 7919 + Date.now()) >>> 0, 0, cost, 100, 50, 0, 0], i * SPAN_RECORD_WIDTH);
  }
  const identity: SenderIdentity = {
    namespace: workload.namespace,
    workloadKind: workload.kind,
    workloadName: workload.name,
    labels: workload.labels ?? {},
  };
  const group: UsageGroup = {
    identity: 0,
    provider: 'openai',
    model: 'gpt-4o',
    classification: '',
    requests,
    inputTokens: 100 * requests,
    outputTokens: 50 * requests,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    costMicros,
    unpriced: false,
    maxRequestCostMicros: costMicros - per * (requests - 1),
  };
  windows.apply(
    {
      identities: [identity],
      groups: [group],
      safety: [],
      spans: records,
      spansTotal: requests,
      spansCharged: requests,
      spansRejected: 0,
      rejectMessage: '',
    },
    { peer: undefined },
  );
}
