// Owns what a validating review is about: the workload (or pod) it creates or changes, the labels that
// AIPolicy/AIBudget selectors are matched against, and whether the change starts more pods (create or
// scale-up), which is all a blocked budget or policy refuses.

import { workloadKey } from '../../pipeline/snapshot.ts';
import type {
  AdmissionRequest,
  Container,
  ObjectMeta,
  Pod,
  PodTemplate,
  Scale,
  Workload,
} from '../admission/types.ts';
import { isRecord } from '../admission/types.ts';
import { podWorkload } from '../inject/pod.ts';

/** Workload resources the validating webhook handles (plural resource -> kind). */
export const WORKLOAD_RESOURCES: Readonly<Record<string, string>> = {
  pods: 'Pod',
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  replicasets: 'ReplicaSet',
  daemonsets: 'DaemonSet',
  jobs: 'Job',
  cronjobs: 'CronJob',
};

export type Change =
  /** Creates the object; `startsPods` false for a zero-replica workload. */
  | { readonly type: 'create'; readonly startsPods: boolean }
  | { readonly type: 'scale-up'; readonly from: number; readonly to: number }
  /** Anything else: scale-down, label edits, status, annotations. */
  | { readonly type: 'other' };

export interface Subject {
  readonly namespace: string;
  readonly kind: string;
  /** May be empty for a pod created with generateName. */
  readonly name: string;
  /** Labels the pods carry (pod labels, or the pod template's), for classification. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** Label sets a selector may match (pod/template labels, and the workload's own): any match selects. */
  readonly selectable: ReadonlyArray<Readonly<Record<string, string>>>;
  /** Annotations of the object and its pod template. */
  readonly annotations: ReadonlyArray<Readonly<Record<string, string>> | undefined>;
  readonly containers: readonly Container[];
  /** Keys (namespace/Kind/name) of DecisionSet.workloads entries that concern this object. */
  readonly workloadKeys: readonly string[];
  readonly change: Change;
  /** Only for scale: the subresource request carries no labels or spec, so rules on them are skipped. */
  readonly isScale: boolean;
}

function templateOf(kind: string, obj: Workload): PodTemplate | undefined {
  if (kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template;
  return obj.spec?.template;
}

function containersOf(spec: Pod['spec']): Container[] {
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
}

/** Equality terms of a label selector string (Scale.status.selector), e.g. "app=x,team in (a)" -> {app: x}. */
export function labelsFromSelectorString(selector: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!selector) return labels;
  for (const term of selector.split(/,(?![^(]*\))/)) {
    const m = /^\s*([^\s!=]+)\s*(?:==|=)\s*([^\s,]*)\s*$/.exec(term);
    if (m?.[1] !== undefined && m[2] !== undefined) labels[m[1]] = m[2];
  }
  return labels;
}

const replicasOf = (w: Workload | undefined): number => w?.spec?.replicas ?? 1;

/** Reads the subject of a workload/pod/scale review; undefined when the request is not one we judge. */
export function subjectOf(request: AdmissionRequest): Subject | undefined {
  const kind = WORKLOAD_RESOURCES[request.resource.resource];
  if (kind === undefined) return undefined;
  const namespace = request.namespace ?? '';
  const object = isRecord(request.object) ? request.object : undefined;
  const old = isRecord(request.oldObject) ? request.oldObject : undefined;

  if (request.subResource === 'scale') {
    const scale = object as Scale | undefined;
    const oldScale = old as Scale | undefined;
    const name = request.name ?? scale?.metadata?.name ?? '';
    const to = scale?.spec?.replicas ?? 0;
    const from = oldScale?.spec?.replicas ?? oldScale?.status?.replicas ?? 0;
    const selectorLabels = labelsFromSelectorString(oldScale?.status?.selector ?? scale?.status?.selector);
    return {
      namespace,
      kind,
      name,
      podLabels: selectorLabels,
      selectable: Object.keys(selectorLabels).length > 0 ? [selectorLabels] : [],
      annotations: [],
      containers: [],
      workloadKeys: name ? [workloadKey({ namespace, kind, name })] : [],
      change: to > from ? { type: 'scale-up', from, to } : { type: 'other' },
      isScale: true,
    };
  }
  if (request.subResource) return undefined;

  if (kind === 'Pod') {
    const pod = (object ?? old) as Pod | undefined;
    const meta: ObjectMeta = pod?.metadata ?? {};
    const name = meta.name ?? request.name ?? '';
    const podLabels = meta.labels ?? {};
    const keys: string[] = [];
    const owner = pod ? podWorkload(pod) : undefined;
    if (owner) keys.push(workloadKey({ namespace, kind: owner.kind, name: owner.name }));
    if (name) keys.push(workloadKey({ namespace, kind: 'Pod', name }));
    return {
      namespace,
      kind,
      name,
      podLabels,
      selectable: [podLabels],
      annotations: [meta.annotations],
      containers: containersOf(pod?.spec),
      workloadKeys: keys,
      change: request.operation === 'CREATE' ? { type: 'create', startsPods: true } : { type: 'other' },
      isScale: false,
    };
  }

  const workload = (object ?? old) as Workload | undefined;
  const meta: ObjectMeta = workload?.metadata ?? {};
  const template = workload ? templateOf(kind, workload) : undefined;
  const podLabels = template?.metadata?.labels ?? {};
  const own = meta.labels ?? {};
  const name = meta.name ?? request.name ?? '';
  return {
    namespace,
    kind,
    name,
    podLabels,
    selectable: [podLabels, own],
    annotations: [meta.annotations, template?.metadata?.annotations],
    containers: containersOf(template?.spec),
    workloadKeys: name ? [workloadKey({ namespace, kind, name })] : [],
    change: changeOf(kind, request, workload, old),
    isScale: false,
  };
}

function changeOf(
  kind: string,
  request: AdmissionRequest,
  now: Workload | undefined,
  old: Workload | undefined,
): Change {
  const replicated = kind === 'Deployment' || kind === 'StatefulSet' || kind === 'ReplicaSet';
  if (request.operation === 'CREATE') {
    return { type: 'create', startsPods: replicated ? replicasOf(now) > 0 : now?.spec?.suspend !== true };
  }
  if (request.operation !== 'UPDATE' || !now || !old) return { type: 'other' };
  if (replicated) {
    const from = replicasOf(old);
    const to = replicasOf(now);
    return to > from ? { type: 'scale-up', from, to } : { type: 'other' };
  }
  if (kind === 'Job' || kind === 'CronJob') {
    // Resuming a suspended Job/CronJob starts pods; so does raising a Job's parallelism.
    if (old.spec?.suspend === true && now.spec?.suspend !== true) return { type: 'scale-up', from: 0, to: 1 };
    const from = old.spec?.parallelism ?? 1;
    const to = now.spec?.parallelism ?? 1;
    if (kind === 'Job' && to > from) return { type: 'scale-up', from, to };
  }
  return { type: 'other' };
}
