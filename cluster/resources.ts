// Owns the catalogue of API resources the operator reads or writes, and the REST paths to them.

export interface ResourceType {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Lower-case plural as in the REST path (deployments, aibudgets). */
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export function apiVersionOf(rt: ResourceType): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

/** `/api/v1/...` or `/apis/group/version/...`, with namespace, name and subresource when given. */
export function resourcePath(
  rt: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: 'status' | 'scale',
): string {
  let p = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  if (rt.namespaced && namespace !== undefined && namespace !== '')
    p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${rt.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) {
    if (name === undefined) throw new RangeError('a subresource needs an object name');
    p += `/${subresource}`;
  }
  return p;
}

const r = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced = true,
): ResourceType => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});

export const RESOURCES = {
  aiPolicy: r('genops.ai', 'v1alpha1', 'aipolicies', 'AIPolicy'),
  aiBudget: r('genops.ai', 'v1alpha1', 'aibudgets', 'AIBudget'),
  namespace: r('', 'v1', 'namespaces', 'Namespace', false),
  configMap: r('', 'v1', 'configmaps', 'ConfigMap'),
  secret: r('', 'v1', 'secrets', 'Secret'),
  pod: r('', 'v1', 'pods', 'Pod'),
  deployment: r('apps', 'v1', 'deployments', 'Deployment'),
  statefulSet: r('apps', 'v1', 'statefulsets', 'StatefulSet'),
  replicaSet: r('apps', 'v1', 'replicasets', 'ReplicaSet'),
  job: r('batch', 'v1', 'jobs', 'Job'),
  hpa: r('autoscaling', 'v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler'),
  lease: r('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  event: r('events.k8s.io', 'v1', 'events', 'Event'),
  mutatingWebhookConfiguration: r(
    'admissionregistration.k8s.io',
    'v1',
    'mutatingwebhookconfigurations',
    'MutatingWebhookConfiguration',
    false,
  ),
  validatingWebhookConfiguration: r(
    'admissionregistration.k8s.io',
    'v1',
    'validatingwebhookconfigurations',
    'ValidatingWebhookConfiguration',
    false,
  ),
} as const satisfies Record<string, ResourceType>;

/** The fields of metadata the operator uses. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
  }>;
  deletionTimestamp?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** `namespace/name` (or `name` for cluster-scoped objects): the informer cache key. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns === undefined || ns === '' ? name : `${ns}/${name}`;
}
