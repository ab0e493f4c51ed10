// Owns the one definition of the webhook registrations (MutatingWebhookConfiguration and
// ValidatingWebhookConfiguration): the built-in certificate mode applies them from here, and
// config/webhook/webhooks.yaml (cert-manager mode) is generated from here (webhook/generate.ts; a unit
// test fails when the file drifts).
//
// Choices (docs: webhook/README.md):
// - Injection fails open (failurePolicy Ignore): a pod without telemetry beats a pod that cannot start.
// - Workload admission fails closed (Fail) by default: otherwise an outage of the operator would let a
//   blocked team scale up. It only applies in namespaces labelled genops.ai/policy-enforcement=enabled;
//   run two replicas; the escape hatch is removing the namespace label or --webhook-failure-policy Ignore.
// - AIPolicy/AIBudget validation fails open (Ignore): the CRD's own schema still applies when we are down.
// - kube-system and the operator's namespace are never gated; timeouts are short; sideEffects None.

import { PATHS } from './handler.ts';
import { ENABLE_LABEL, NAMESPACE_INJECTION_LABEL } from './inject/config.ts';
import { ENFORCEMENT_NAMESPACE_LABEL } from './policy/evaluate.ts';

export const MUTATING_CONFIGURATION_NAME = 'genops-mutating-webhook';
export const VALIDATING_CONFIGURATION_NAME = 'genops-validating-webhook';
export const DEFAULT_OPERATOR_NAMESPACE = 'genops-system';
export const DEFAULT_SERVICE_NAME = 'genops-webhook-service';
/** The container port the webhook listens on in the operator pod (the Service maps 443 to it). */
export const DEFAULT_WEBHOOK_PORT = 9443;

export type FailurePolicy = 'Fail' | 'Ignore';

export type WebhookEndpoint =
  /** Base URL, e.g. https://127.0.0.1:9443 (out of cluster, tests); the path of each webhook is appended. */
  | { readonly url: string }
  | { readonly service: { readonly name: string; readonly namespace: string; readonly port?: number } };

export interface WebhookRegistrationOptions {
  readonly endpoint: WebhookEndpoint;
  /** Base64 PEM of the CA that signed the serving certificate; omitted for cert-manager CA injection. */
  readonly caBundle?: string;
  /** cert-manager mode: `namespace/certificate` for the cert-manager.io/inject-ca-from annotation. */
  readonly injectCaFrom?: string;
  readonly operatorNamespace?: string;
  readonly workloadFailurePolicy?: FailurePolicy;
  readonly timeoutSeconds?: number;
}

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
} & Record<string, unknown>;

const LABELS = { 'app.kubernetes.io/name': 'genops-operator', 'app.kubernetes.io/component': 'webhook' };

function clientConfig(options: WebhookRegistrationOptions, path: string): Record<string, unknown> {
  const e = options.endpoint;
  const target =
    'url' in e
      ? { url: e.url.replace(/\/+$/, '') + path }
      : {
          service: {
            name: e.service.name,
            namespace: e.service.namespace,
            path,
            port: e.service.port ?? 443,
          },
        };
  return options.caBundle === undefined ? target : { ...target, caBundle: options.caBundle };
}

function excludeSystem(options: WebhookRegistrationOptions) {
  return {
    key: 'kubernetes.io/metadata.name',
    operator: 'NotIn',
    values: ['kube-system', options.operatorNamespace ?? DEFAULT_OPERATOR_NAMESPACE],
  };
}

function metadata(name: string, options: WebhookRegistrationOptions): KubeObject['metadata'] {
  return {
    name,
    labels: { ...LABELS },
    ...(options.injectCaFrom
      ? { annotations: { 'cert-manager.io/inject-ca-from': options.injectCaFrom } }
      : {}),
  };
}

export function mutatingWebhookConfiguration(options: WebhookRegistrationOptions): KubeObject {
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Ignore',
    matchPolicy: 'Equivalent',
    // Another mutating webhook (e.g. the OpenTelemetry Operator's) may add containers after us.
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds: Math.min(options.timeoutSeconds ?? 3, 5),
    clientConfig: clientConfig(options, PATHS['mutate-pods']),
    rules: [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        resources: ['pods'],
        operations: ['CREATE'],
        scope: 'Namespaced',
      },
    ],
  };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: metadata(MUTATING_CONFIGURATION_NAME, options),
    webhooks: [
      {
        name: 'labelled-pods.inject.genops.ai',
        ...common,
        namespaceSelector: { matchExpressions: [excludeSystem(options)] },
        objectSelector: { matchLabels: { [ENABLE_LABEL]: 'true' } },
      },
      {
        name: 'namespace-pods.inject.genops.ai',
        ...common,
        namespaceSelector: {
          matchLabels: { [NAMESPACE_INJECTION_LABEL]: 'enabled' },
          matchExpressions: [excludeSystem(options)],
        },
        // Pods labelled true are the first webhook's; pods labelled false opted out.
        objectSelector: {
          matchExpressions: [{ key: ENABLE_LABEL, operator: 'NotIn', values: ['true', 'false'] }],
        },
      },
      {
        // Approves genops.ai/bypass annotations of users holding the bypass permission (webhook/bypass).
        // Fails open: a bypass set while the webhook is down carries no approval and is ignored.
        name: 'bypass.policy.genops.ai',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        reinvocationPolicy: 'Never',
        timeoutSeconds: Math.min(options.timeoutSeconds ?? 3, 5),
        clientConfig: clientConfig(options, PATHS['mutate-bypass']),
        rules: [
          {
            apiGroups: ['apps'],
            apiVersions: ['v1'],
            resources: ['deployments', 'statefulsets'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['namespaces'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Cluster',
          },
        ],
        namespaceSelector: { matchExpressions: [excludeSystem(options)] },
      },
    ],
  };
}

export function validatingWebhookConfiguration(options: WebhookRegistrationOptions): KubeObject {
  const timeoutSeconds = Math.min(options.timeoutSeconds ?? 5, 5);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: metadata(VALIDATING_CONFIGURATION_NAME, options),
    webhooks: [
      {
        name: 'workloads.policy.genops.ai',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: options.workloadFailurePolicy ?? 'Fail',
        matchPolicy: 'Equivalent',
        timeoutSeconds,
        clientConfig: clientConfig(options, PATHS['validate-workloads']),
        namespaceSelector: {
          matchLabels: { [ENFORCEMENT_NAMESPACE_LABEL]: 'enabled' },
          matchExpressions: [excludeSystem(options)],
        },
        rules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
            operations: ['CREATE'],
            scope: 'Namespaced',
          },
          {
            apiGroups: ['apps'],
            apiVersions: ['v1'],
            resources: [
              'deployments',
              'statefulsets',
              'replicasets',
              'daemonsets',
              'deployments/scale',
              'statefulsets/scale',
              'replicasets/scale',
            ],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
          {
            apiGroups: ['batch'],
            apiVersions: ['v1'],
            resources: ['jobs', 'cronjobs'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
        ],
      },
      {
        name: 'resources.policy.genops.ai',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        timeoutSeconds,
        clientConfig: clientConfig(options, PATHS['validate-genops']),
        namespaceSelector: { matchExpressions: [excludeSystem(options)] },
        rules: [
          {
            apiGroups: ['genops.ai'],
            apiVersions: ['v1alpha1'],
            resources: ['aipolicies', 'aibudgets'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
        ],
      },
    ],
  };
}

/** The cert-manager mode manifests of config/webhook/: Service, Issuer, Certificate and both configurations. */
export function certManagerManifests(options: { namespace?: string; port?: number } = {}): KubeObject[] {
  const namespace = options.namespace ?? DEFAULT_OPERATOR_NAMESPACE;
  const certificate = 'genops-webhook-cert';
  const registration: WebhookRegistrationOptions = {
    endpoint: { service: { name: DEFAULT_SERVICE_NAME, namespace } },
    injectCaFrom: `${namespace}/${certificate}`,
    operatorNamespace: namespace,
  };
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: DEFAULT_SERVICE_NAME, namespace, labels: { ...LABELS } },
      spec: {
        ports: [
          { name: 'webhook', port: 443, protocol: 'TCP', targetPort: options.port ?? DEFAULT_WEBHOOK_PORT },
        ],
        selector: { 'control-plane': 'controller-manager' },
      },
    },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'genops-selfsigned-issuer', namespace, labels: { ...LABELS } },
      spec: { selfSigned: {} },
    },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: certificate, namespace, labels: { ...LABELS } },
      spec: {
        dnsNames: [
          `${DEFAULT_SERVICE_NAME}.${namespace}.svc`,
          `${DEFAULT_SERVICE_NAME}.${namespace}.svc.cluster.local`,
        ],
        issuerRef: { kind: 'Issuer', name: 'genops-selfsigned-issuer' },
        secretName: 'genops-webhook-server-cert',
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
        duration: '2160h',
        renewBefore: '720h',
      },
    },
    mutatingWebhookConfiguration(registration),
    validatingWebhookConfiguration(registration),
  ];
}
