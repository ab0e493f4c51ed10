// Owns what the operator watches in the cluster and the questions answered from it: AIPolicy and
// AIBudget (all namespaces), Namespaces (labels for admission, bypass annotations), Deployments and
// StatefulSets (pod-template labels for selection, bypass annotations, our own enforcement
// annotations), HPAs (to clamp while throttling). Cached objects are trimmed to what is read.

import type { AIBudget, AIPolicy } from '../crds/index.ts';
import type { Component } from '../kernel/lifecycle.ts';
import type { Logger } from '../kernel/logger.ts';
import type { WorkloadRef } from '../pipeline/snapshot.ts';
import { workloadKey } from '../pipeline/snapshot.ts';
import { BYPASS_ANNOTATION, BYPASS_APPROVAL_ANNOTATION } from '../decision/annotations.ts';
import type { BypassAnnotations } from '../decision/engine.ts';
import type { InventoryWorkload } from '../decision/workload-index.ts';
import { ORIGINAL_REPLICAS_ANNOTATION, STATUS_ANNOTATION } from './actions/annotations.ts';
import type { HpaObject } from './actions/workload.ts';
import type { KubeApi } from '../cluster/api.ts';
import {
  createInformer,
  type Informer,
  type InformerEvent,
  type InformerMetrics,
} from '../cluster/informer.ts';
import { RESOURCES, type KubeObject, type ObjectMeta } from '../cluster/resources.ts';

export interface WorkloadObject extends KubeObject {
  spec?: { replicas?: number; template?: { metadata?: { labels?: Record<string, string> } } };
}

export type NamespaceObject = KubeObject;

export interface ClusterView extends Component {
  readonly policies: Informer<AIPolicy & KubeObject>;
  readonly budgets: Informer<AIBudget & KubeObject>;
  readonly namespaces: Informer<NamespaceObject>;
  readonly workloads: ReadonlyMap<string, Informer<WorkloadObject>>;
  readonly hpas: Informer<HpaObject>;
  hasSynced(): boolean;
  waitForSync(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Deployments and StatefulSets with their pod-template labels. */
  inventory(): InventoryWorkload[];
  /** Raw genops.ai/bypass values on workloads and namespaces. */
  bypass(): BypassAnnotations;
  /** Workloads carrying the operator's annotations (to restore them when no decision is left). */
  annotatedWorkloads(): WorkloadRef[];
  /** Calls `listener` on any change that can alter decisions; returns an unsubscribe. */
  onChange(listener: (what: ChangeKind, key: string) => void): () => void;
}

/**
 * What changed. 'status' is an AIBudget/AIPolicy whose status alone changed: the leader's own write, so
 * it must not wake the leader's loop again, but a follower evaluates from the memory in that status.
 */
export type ChangeKind = 'policy' | 'budget' | 'status' | 'namespace' | 'workload' | 'workload-state' | 'hpa';

export interface ClusterViewOptions {
  readonly api: KubeApi;
  readonly logger: Logger;
  readonly metrics?: InformerMetrics;
  /** Workload kinds watched (default Deployment, StatefulSet). */
  readonly workloadKinds?: readonly ('Deployment' | 'StatefulSet')[];
  /** The operator's namespace scope: namespaced kinds are watched in these only (default: all). */
  readonly namespaces?: readonly string[] | undefined;
  /** start() rejects when the caches have not synced by then (default 60 s). */
  readonly syncTimeoutMs?: number | undefined;
}

function trimMeta(m: ObjectMeta | undefined): ObjectMeta {
  const out: ObjectMeta = {};
  if (m === undefined) return out;
  for (const k of [
    'name',
    'namespace',
    'uid',
    'resourceVersion',
    'generation',
    'labels',
    'annotations',
    'deletionTimestamp',
  ] as const) {
    if (m[k] !== undefined) (out as Record<string, unknown>)[k] = m[k];
  }
  return out;
}

function trimWorkload(o: WorkloadObject): WorkloadObject {
  const labels = o.spec?.template?.metadata?.labels;
  return {
    ...(o.apiVersion === undefined ? {} : { apiVersion: o.apiVersion }),
    ...(o.kind === undefined ? {} : { kind: o.kind }),
    metadata: trimMeta(o.metadata),
    spec: {
      ...(o.spec?.replicas === undefined ? {} : { replicas: o.spec.replicas }),
      ...(labels === undefined ? {} : { template: { metadata: { labels } } }),
    },
  };
}

function trimHpa(o: HpaObject): HpaObject {
  return {
    metadata: trimMeta(o.metadata),
    spec: {
      ...(o.spec?.scaleTargetRef === undefined ? {} : { scaleTargetRef: o.spec.scaleTargetRef }),
      ...(o.spec?.minReplicas === undefined ? {} : { minReplicas: o.spec.minReplicas }),
      ...(o.spec?.maxReplicas === undefined ? {} : { maxReplicas: o.spec.maxReplicas }),
    },
  };
}

const sameRecord = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean =>
  JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

export function createClusterView(options: ClusterViewOptions): ClusterView {
  const { api, logger } = options;
  const common = {
    api,
    logger,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    ...(options.syncTimeoutMs === undefined ? {} : { syncTimeoutMs: options.syncTimeoutMs }),
    // Cluster-scoped kinds (Namespace) ignore it.
    namespaces: options.namespaces,
  };
  const policies = createInformer<AIPolicy & KubeObject>({ ...common, resource: RESOURCES.aiPolicy });
  const budgets = createInformer<AIBudget & KubeObject>({ ...common, resource: RESOURCES.aiBudget });
  const namespaces = createInformer<NamespaceObject>({
    ...common,
    resource: RESOURCES.namespace,
    transform: (o) => ({ metadata: trimMeta(o.metadata) }),
  });
  const hpas = createInformer<HpaObject>({ ...common, resource: RESOURCES.hpa, transform: trimHpa });
  const kinds = options.workloadKinds ?? ['Deployment', 'StatefulSet'];
  const workloads = new Map<string, Informer<WorkloadObject>>();
  for (const kind of kinds) {
    const resource = kind === 'Deployment' ? RESOURCES.deployment : RESOURCES.statefulSet;
    workloads.set(kind, createInformer<WorkloadObject>({ ...common, resource, transform: trimWorkload }));
  }
  const all: Informer<KubeObject>[] = [
    policies,
    budgets,
    namespaces,
    hpas,
    ...workloads.values(),
  ] as Informer<KubeObject>[];
  const listeners = new Set<(what: ChangeKind, key: string) => void>();
  const fire = (what: ChangeKind, key: string): void => {
    for (const l of listeners) l(what, key);
  };

  // Status-only updates (the leader's writes) are told apart by spec generation and annotations.
  const specOrStatus =
    (kind: 'policy' | 'budget') =>
    (e: InformerEvent<KubeObject>): void => {
      const specChanged =
        e.type !== 'update' ||
        e.previous?.metadata?.generation !== e.object.metadata?.generation ||
        !sameRecord(e.previous?.metadata?.annotations, e.object.metadata?.annotations);
      fire(specChanged ? kind : 'status', e.key);
    };
  policies.subscribe(specOrStatus('policy'));
  budgets.subscribe(specOrStatus('budget'));
  namespaces.subscribe((e) => {
    const p = e.previous?.metadata;
    const o = e.object.metadata;
    if (
      e.type !== 'update' ||
      !sameRecord(p?.labels, o?.labels) ||
      p?.annotations?.[BYPASS_ANNOTATION] !== o?.annotations?.[BYPASS_ANNOTATION]
    )
      fire('namespace', e.key);
  });
  for (const [kind, inf] of workloads) {
    inf.subscribe((e) => {
      const ns = e.object.metadata?.namespace ?? '';
      const name = e.object.metadata?.name ?? '';
      const p = e.previous;
      const o = e.object;
      const inventoryChanged =
        e.type !== 'update' ||
        !sameRecord(p?.spec?.template?.metadata?.labels, o.spec?.template?.metadata?.labels) ||
        p?.metadata?.annotations?.[BYPASS_ANNOTATION] !== o.metadata?.annotations?.[BYPASS_ANNOTATION];
      fire(inventoryChanged ? 'workload' : 'workload-state', workloadKey({ namespace: ns, kind, name }));
    });
  }
  hpas.subscribe((e) => fire('hpa', e.key));

  return {
    policies,
    budgets,
    namespaces,
    workloads,
    hpas,
    hasSynced: () => all.every((i) => i.hasSynced()),
    async waitForSync(timeoutMs, signal) {
      const results = await Promise.all(all.map((i) => i.waitForSync(timeoutMs, signal)));
      return results.every(Boolean);
    },
    inventory() {
      const out: InventoryWorkload[] = [];
      for (const [kind, inf] of workloads) {
        for (const o of inf.list()) {
          const m = o.metadata;
          if (m?.name === undefined || m.namespace === undefined) continue;
          out.push({
            ref: { namespace: m.namespace, kind, name: m.name },
            labels: o.spec?.template?.metadata?.labels ?? m.labels ?? {},
          });
        }
      }
      return out;
    },
    bypass() {
      const w = new Map<string, string>();
      const n = new Map<string, string>();
      const wa = new Map<string, string>();
      const na = new Map<string, string>();
      for (const [kind, inf] of workloads) {
        for (const o of inf.list()) {
          const raw = o.metadata?.annotations?.[BYPASS_ANNOTATION];
          if (raw === undefined) continue;
          const key = workloadKey({
            namespace: o.metadata?.namespace ?? '',
            kind,
            name: o.metadata?.name ?? '',
          });
          w.set(key, raw);
          const marker = o.metadata?.annotations?.[BYPASS_APPROVAL_ANNOTATION];
          if (marker !== undefined) wa.set(key, marker);
        }
      }
      for (const o of namespaces.list()) {
        const raw = o.metadata?.annotations?.[BYPASS_ANNOTATION];
        if (raw === undefined || o.metadata?.name === undefined) continue;
        n.set(o.metadata.name, raw);
        const marker = o.metadata.annotations?.[BYPASS_APPROVAL_ANNOTATION];
        if (marker !== undefined) na.set(o.metadata.name, marker);
      }
      return { workloads: w, namespaces: n, workloadApprovals: wa, namespaceApprovals: na };
    },
    annotatedWorkloads() {
      const out: WorkloadRef[] = [];
      for (const [kind, inf] of workloads) {
        for (const o of inf.list()) {
          const a = o.metadata?.annotations;
          if (a?.[STATUS_ANNOTATION] === undefined && a?.[ORIGINAL_REPLICAS_ANNOTATION] === undefined)
            continue;
          out.push({ namespace: o.metadata?.namespace ?? '', kind, name: o.metadata?.name ?? '' });
        }
      }
      return out;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async start(signal) {
      // Each start resolves at its first sync (or rejects at the sync timeout): wait for them together.
      await Promise.all(all.map((i) => i.start(signal)));
    },
    async shutdown(deadlineMs) {
      await Promise.all(all.map((i) => i.shutdown(deadlineMs)));
    },
  };
}
