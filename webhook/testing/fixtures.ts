// Test and benchmark fixtures: AdmissionReviews, pods, workloads, AIPolicy/AIBudget and decision states.
// Not used by production code.

import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import type { BudgetState, DecisionSet, PolicyState, WorkloadDecision } from '../../decision/types.ts';
import type { AdmissionRequest, AdmissionReview } from '../admission/types.ts';

let counter = 0;

export function review(
  request: Partial<AdmissionRequest> & Pick<AdmissionRequest, 'resource'>,
): AdmissionReview {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${++counter}`,
      kind: { group: '', version: 'v1', kind: 'Object' },
      operation: 'CREATE',
      userInfo: { username: 'alice' },
      ...request,
    },
  };
}

export const RESOURCES = {
  pods: { group: '', version: 'v1', resource: 'pods' },
  deployments: { group: 'apps', version: 'v1', resource: 'deployments' },
  statefulsets: { group: 'apps', version: 'v1', resource: 'statefulsets' },
  jobs: { group: 'batch', version: 'v1', resource: 'jobs' },
  cronjobs: { group: 'batch', version: 'v1', resource: 'cronjobs' },
  aibudgets: { group: 'genops.ai', version: 'v1alpha1', resource: 'aibudgets' },
  aipolicies: { group: 'genops.ai', version: 'v1alpha1', resource: 'aipolicies' },
} as const;

/** A pod as kube-controller-manager creates it for a Deployment's ReplicaSet (no name yet). */
export function replicaSetPod(options: {
  namespace?: string;
  deployment?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers?: unknown[];
  initContainers?: unknown[];
}): Record<string, unknown> {
  const deployment = options.deployment ?? 'chat';
  const hash = '5d8f7c9b4';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${deployment}-${hash}-`,
      namespace: options.namespace ?? 'ai',
      labels: { app: deployment, 'pod-template-hash': hash, ...options.labels },
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${deployment}-${hash}`,
          uid: '6f0c1f5e-3c1a-4f0e-9d2b-1c2d3e4f5a6b',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      containers: options.containers ?? [
        {
          name: 'app',
          image: 'registry.example/chat:1.4.2',
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          env: [
            {
              name: 'OPENAI_API_KEY',
              valueFrom: { secretKeyRef: { name: 'ai-secrets', key: 'openai-key' } },
            },
            { name: 'LOG_LEVEL', value: 'info' },
          ],
          resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
          volumeMounts: [
            {
              name: 'kube-api-access-abcde',
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
              readOnly: true,
            },
          ],
        },
      ],
      ...(options.initContainers ? { initContainers: options.initContainers } : {}),
      restartPolicy: 'Always',
      serviceAccountName: 'default',
      volumes: [
        {
          name: 'kube-api-access-abcde',
          projected: { sources: [{ serviceAccountToken: { path: 'token' } }] },
        },
      ],
    },
  };
}

export function deployment(options: {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  replicas?: number;
  env?: Array<{ name: string; value: string }>;
}): Record<string, unknown> {
  const labels = { app: options.name, ...options.labels };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: options.name,
      namespace: options.namespace ?? 'ai',
      labels,
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: { app: options.name } },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1', env: options.env ?? [] }] },
      },
    },
  };
}

export function budget(options: {
  name: string;
  namespace?: string;
  team?: string;
  amount?: number;
  annotations?: Record<string, string>;
}): AIBudget {
  return {
    apiVersion: 'genops.ai/v1alpha1',
    kind: 'AIBudget',
    metadata: {
      name: options.name,
      namespace: options.namespace ?? 'ai',
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: {
      allocation: { amount: options.amount ?? 5000, currency: 'USD', period: 'monthly' },
      ...(options.team ? { selector: { matchLabels: { team: options.team } } } : {}),
    },
  };
}

export function policy(
  name: string,
  spec: Record<string, unknown>,
  extra: { namespace?: string; annotations?: Record<string, string> } = {},
): AIPolicy {
  return {
    apiVersion: 'genops.ai/v1alpha1',
    kind: 'AIPolicy',
    metadata: {
      name,
      namespace: extra.namespace ?? 'ai',
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec,
  } as unknown as AIPolicy;
}

export const RESET_AT = Date.UTC(2026, 7, 1);

export function budgetState(
  name: string,
  action: BudgetState['action'],
  options: { namespace?: string; matched?: string[] } = {},
): BudgetState {
  return {
    source: { kind: 'AIBudget', namespace: options.namespace ?? 'ai', name },
    periodStart: Date.UTC(2026, 6, 1),
    resetAt: RESET_AT,
    spendMicros: 5_012_300_000,
    limitMicros: 5_000_000_000,
    utilizationPercent: 100.246,
    projectedSpendMicros: 6_000_000_000,
    action,
    pendingApproval: false,
    matchedWorkloads: options.matched ?? [],
  };
}

export function policyState(
  name: string,
  action: PolicyState['action'],
  matched: string[] = [],
): PolicyState {
  return { source: { kind: 'AIPolicy', namespace: 'ai', name }, action, matchedWorkloads: matched };
}

export function decisionSet(parts: {
  budgets?: BudgetState[];
  policies?: PolicyState[];
  workloads?: WorkloadDecision[];
}): DecisionSet {
  return {
    version: ++counter,
    computedAt: Date.UTC(2026, 6, 20),
    budgets: new Map((parts.budgets ?? []).map((b) => [`${b.source.namespace}/${b.source.name}`, b])),
    policies: new Map((parts.policies ?? []).map((p) => [`${p.source.namespace}/${p.source.name}`, p])),
    workloads: new Map((parts.workloads ?? []).map((w) => [w.key, w])),
  };
}
