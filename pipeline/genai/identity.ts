// Owns what a span's resource says about its sender: pod, namespace, owning workload, service name,
// labels (k8s.pod.label.<key>, k8s.<workload>.label.<key>) and data classification. Only what the
// attributes claim: checking the claim against the connection (anti-spoofing) and resolving pods
// through the informer cache happen on the main thread (attribution).

import type { SenderIdentity } from '../partial.ts';
import type { ResourceAttributes } from '../otlp/span-view.ts';
import { normalizeClassification } from './extract.ts';
import * as S from './semconv.ts';

/** Owning workload attributes in precedence order, with the Kubernetes kind each names. */
const WORKLOAD_ATTRIBUTES: readonly (readonly [attribute: string, kind: string, labelPrefix: string])[] = [
  [S.K8S_DEPLOYMENT_NAME, 'Deployment', 'k8s.deployment.label.'],
  [S.K8S_STATEFULSET_NAME, 'StatefulSet', 'k8s.statefulset.label.'],
  [S.K8S_DAEMONSET_NAME, 'DaemonSet', 'k8s.daemonset.label.'],
  [S.K8S_CRONJOB_NAME, 'CronJob', 'k8s.cronjob.label.'],
  [S.K8S_JOB_NAME, 'Job', 'k8s.job.label.'],
  [S.K8S_REPLICASET_NAME, 'ReplicaSet', 'k8s.replicaset.label.'],
];

const WORKLOAD_LABEL_PREFIXES = WORKLOAD_ATTRIBUTES.map(([, , prefix]) => prefix);
const POD_LABEL_PREFIXES = [S.K8S_POD_LABEL_PREFIX, S.K8S_POD_LABELS_PREFIX];

/** Longest attribute value kept in an identity (names are <= 253 in Kubernetes). */
const MAX_VALUE_LENGTH = 253;
/** At most this many labels per identity (bounded memory per sender). */
const MAX_LABELS = 64;

function text(attributes: ResourceAttributes, key: string): string | undefined {
  const v = attributes.get(key);
  if (v === undefined) return undefined;
  const s = String(v).trim();
  return s.length === 0 || s.length > MAX_VALUE_LENGTH ? undefined : s;
}

export function senderIdentity(attributes: ResourceAttributes): SenderIdentity {
  const identity: {
    podUid?: string;
    namespace?: string;
    podName?: string;
    podIp?: string;
    workloadKind?: string;
    workloadName?: string;
    serviceName?: string;
    labels: Record<string, string>;
    classification?: string;
  } = { labels: Object.create(null) as Record<string, string> };
  const podUid = text(attributes, S.K8S_POD_UID);
  if (podUid !== undefined) identity.podUid = podUid;
  const namespace = text(attributes, S.K8S_NAMESPACE_NAME);
  if (namespace !== undefined) identity.namespace = namespace;
  const podName = text(attributes, S.K8S_POD_NAME);
  if (podName !== undefined) identity.podName = podName;
  const podIp = text(attributes, S.K8S_POD_IP);
  if (podIp !== undefined) identity.podIp = podIp;
  for (const [attribute, kind] of WORKLOAD_ATTRIBUTES) {
    const name = text(attributes, attribute);
    if (name !== undefined) {
      identity.workloadKind = kind;
      identity.workloadName = name;
      break;
    }
  }
  const serviceName = text(attributes, S.SERVICE_NAME);
  if (serviceName !== undefined) identity.serviceName = serviceName;
  const classification = attributes.get(S.GENOPS_DATA_CLASSIFICATION);
  if (typeof classification === 'string') {
    const c = normalizeClassification(classification);
    if (c !== '') identity.classification = c;
  }

  // Workload labels first, pod labels over them: selectors are written against pod template labels.
  const workloadLabels: [string, string][] = [];
  const podLabels: [string, string][] = [];
  for (const [key, value] of attributes) {
    if (!key.startsWith('k8s.')) continue;
    const pod = POD_LABEL_PREFIXES.find((p) => key.startsWith(p));
    const prefix = pod ?? WORKLOAD_LABEL_PREFIXES.find((p) => key.startsWith(p));
    if (prefix === undefined) continue;
    const label = key.slice(prefix.length);
    const v = String(value);
    if (label.length === 0 || label.length > MAX_VALUE_LENGTH || v.length > MAX_VALUE_LENGTH) continue;
    (pod === undefined ? workloadLabels : podLabels).push([label, v]);
  }
  // Null-prototype map: label keys come from the sender ("__proto__" must stay a plain key).
  let labelCount = 0;
  for (const [k, v] of [...workloadLabels, ...podLabels]) {
    const known = Object.prototype.hasOwnProperty.call(identity.labels, k);
    if (!known && labelCount >= MAX_LABELS) continue;
    if (!known) labelCount++;
    identity.labels[k] = v;
  }
  return identity;
}

/** A stable string for an identity, so equal identities in one request share one index. */
export function identityKey(identity: SenderIdentity): string {
  const labels = Object.keys(identity.labels)
    .sort()
    .map((k) => `${k}=${identity.labels[k]}`)
    .join('\u0001');
  return [
    identity.podUid ?? '',
    identity.namespace ?? '',
    identity.podName ?? '',
    identity.podIp ?? '',
    identity.workloadKind ?? '',
    identity.workloadName ?? '',
    identity.serviceName ?? '',
    identity.classification ?? '',
    labels,
  ].join('\u0000');
}
