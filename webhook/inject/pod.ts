// Owns telemetry injection into a Pod: which pods are injected, and the JSON Patch that adds the OTLP
// settings to their containers. Rules:
// - never override: a variable the container already sets (value or valueFrom) is kept; a literal
//   OTEL_RESOURCE_ATTRIBUTES is merged (user keys win, ours are appended); one set from valueFrom is left alone;
// - idempotent: the patch of an already injected pod is empty;
// - the pod name and uid are not known at admission (generateName), so they come from the downward API
//   (GENOPS_POD_* variables) and are referenced with $(VAR) expansion, which needs them defined earlier in
//   the list: they are inserted first.
// Variables set through envFrom are invisible here; env wins over envFrom, so such pods should opt out
// with genops.ai/enable=false (documented in docs/webhook.md).
//
// Next to the OpenTelemetry Operator (docs/operations.md, "Next to the OpenTelemetry Operator"): a pod
// that arrives annotated instrumentation.opentelemetry.io/inject-<language> (not "false") is exported by
// the OpenTelemetry Operator to its Instrumentation's endpoint (usually a Collector, which forwards
// traces to genops: otel-config/gateway.yaml). There the exporter belongs to it: no endpoint, protocol,
// service name or metrics/logs exporter from us, only what attribution needs (the resource attributes,
// merged, and the downward-API variables they reference) and the GenAI semconv opt-in. Our webhook runs
// first (configurations are called in name order, genops-* before opentelemetry-*) and the OpenTelemetry
// Operator sets only what is still unset, so leaving these out is what keeps its settings. When the
// annotation is ours (--inject-auto-instrumentation with genops.ai/language), the pod is routed to us as
// before: we set the endpoint, the OpenTelemetry Operator adds the agent.

import type { Container, EnvVar, Pod } from '../admission/types.ts';
import type { PatchOperation } from '../admission/jsonpatch.ts';
import { pointer } from '../admission/jsonpatch.ts';
import {
  AUTO_INSTRUMENTATION_LANGUAGES,
  ENABLE_LABEL,
  INJECTED_ANNOTATION,
  LANGUAGE_KEY,
  NAMESPACE_INJECTION_LABEL,
  OTEL_OPERATOR_INJECT_PREFIX,
} from './config.ts';
import type { InjectionConfig } from './config.ts';

export const POD_NAME_VAR = 'GENOPS_POD_NAME';
export const POD_NAMESPACE_VAR = 'GENOPS_POD_NAMESPACE';
export const POD_UID_VAR = 'GENOPS_POD_UID';

const DOWNWARD: ReadonlyArray<{ name: string; fieldPath: string }> = [
  { name: POD_NAMESPACE_VAR, fieldPath: 'metadata.namespace' },
  { name: POD_NAME_VAR, fieldPath: 'metadata.name' },
  { name: POD_UID_VAR, fieldPath: 'metadata.uid' },
];

/**
 * Whether a pod is injected: its own label decides, else its namespace's label. A namespace the view does not
 * know yet (informer lag) is trusted to be labelled: the API server's namespaceSelector only sends us pods of
 * labelled namespaces or pods labelled themselves.
 */
export function shouldInject(
  pod: Pod,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
): boolean {
  const own = pod.metadata?.labels?.[ENABLE_LABEL];
  if (own === 'true') return true;
  if (own === 'false') return false;
  return namespaceLabels === undefined || namespaceLabels[NAMESPACE_INJECTION_LABEL] === 'enabled';
}

/** The workload a pod belongs to, from its owner reference (ReplicaSet -> Deployment by pod-template-hash). */
export function podWorkload(
  pod: Pod,
): { kind: string; name: string; attributes: Array<[string, string]> } | undefined {
  const owners = pod.metadata?.ownerReferences ?? [];
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  if (!owner?.kind || !owner.name) return undefined;
  const attributes: Array<[string, string]> = [];
  switch (owner.kind) {
    case 'ReplicaSet': {
      attributes.push(['k8s.replicaset.name', owner.name]);
      const hash = pod.metadata?.labels?.['pod-template-hash'];
      if (hash && owner.name.endsWith(`-${hash}`)) {
        const deployment = owner.name.slice(0, -hash.length - 1);
        attributes.push(['k8s.deployment.name', deployment]);
        return { kind: 'Deployment', name: deployment, attributes };
      }
      return { kind: 'ReplicaSet', name: owner.name, attributes };
    }
    case 'StatefulSet':
    case 'DaemonSet':
    case 'Job': {
      attributes.push([`k8s.${owner.kind.toLowerCase()}.name`, owner.name]);
      return { kind: owner.kind, name: owner.name, attributes };
    }
    default:
      return { kind: owner.kind, name: owner.name, attributes };
  }
}

/** The service name for a pod without one: app labels, then the owning workload, then the pod's name stem. */
export function defaultServiceName(pod: Pod): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  const fromLabel = labels['app.kubernetes.io/name'] ?? labels['app'] ?? labels['k8s-app'];
  if (fromLabel) return fromLabel;
  const workload = podWorkload(pod);
  if (workload) return workload.name;
  const generate = pod.metadata?.generateName?.replace(/-+$/, '');
  if (generate) return generate;
  return pod.metadata?.name || undefined;
}

/** Percent-encodes what W3C baggage values may not hold (OTEL_RESOURCE_ATTRIBUTES uses that format). */
function encodeValue(value: string): string {
  return value.replace(/[^\x21\x23-\x24\x26-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]/gu, (c) =>
    Array.from(new TextEncoder().encode(c), (b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(
      '',
    ),
  );
}

/** Keys already present in an OTEL_RESOURCE_ATTRIBUTES value. */
function resourceAttributeKeys(value: string): Set<string> {
  const keys = new Set<string>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (key) keys.add(key);
  }
  return keys;
}

function envIndex(env: readonly EnvVar[]): Map<string, number> {
  const byName = new Map<string, number>();
  env.forEach((e, i) => {
    // The API server keeps the last duplicate; so do we.
    byName.set(e.name, i);
  });
  return byName;
}

function literal(env: readonly EnvVar[], byName: Map<string, number>, name: string): string | undefined {
  const i = byName.get(name);
  return i === undefined ? undefined : env[i]?.value;
}

/** Whether the pod arrived with the OpenTelemetry Operator's injection annotation (set by its user). */
export function otelOperatorInjects(pod: Pod): boolean {
  const annotations = pod.metadata?.annotations ?? {};
  return Object.entries(annotations).some(
    ([key, value]) =>
      key.startsWith(OTEL_OPERATOR_INJECT_PREFIX) &&
      value.trim() !== '' &&
      value.trim().toLowerCase() !== 'false',
  );
}

interface ContainerContext {
  readonly config: InjectionConfig;
  /** The OpenTelemetry Operator owns the exporter of this pod (see the header). */
  readonly exporterOwnedElsewhere: boolean;
  readonly podAttributes: ReadonlyArray<readonly [string, string]>;
  readonly serviceName: string | undefined;
}

/** The patch operations for one container at `base` (e.g. /spec/containers/0). */
function containerPatch(container: Container, base: string, ctx: ContainerContext): PatchOperation[] {
  const env = container.env ?? [];
  const byName = envIndex(env);
  const has = (name: string) => byName.has(name);
  const appended: EnvVar[] = [];
  let resourceAttributes: { index: number | undefined; value: string } | undefined;

  // Endpoint and protocol: a container that already routes its traces is left alone.
  const userProtocol = literal(env, byName, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  const protocol: string = userProtocol ?? ctx.config.protocol;
  const ours = !ctx.exporterOwnedElsewhere;
  if (ours && !has('OTEL_EXPORTER_OTLP_ENDPOINT') && !has('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')) {
    const endpoint = protocol === 'grpc' ? ctx.config.grpcEndpoint : ctx.config.httpEndpoint;
    appended.push({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: endpoint });
    // The operator receives traces only: an SDK that also exports metrics or logs would send them to
    // the same endpoint and be refused (404/UNIMPLEMENTED) on every export. Unless the container
    // routes those signals itself, switch their exporters off.
    for (const signal of ['METRICS', 'LOGS'] as const) {
      if (!has(`OTEL_${signal}_EXPORTER`) && !has(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`)) {
        appended.push({ name: `OTEL_${signal}_EXPORTER`, value: 'none' });
      }
    }
  }
  if (ours && !has('OTEL_EXPORTER_OTLP_PROTOCOL') && !has('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')) {
    appended.push({ name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: ctx.config.protocol });
  }

  // Resource attributes: merge into a literal value, keep a valueFrom one untouched.
  const raIndex = byName.get('OTEL_RESOURCE_ATTRIBUTES');
  const raVar = raIndex === undefined ? undefined : env[raIndex];
  const needed = new Set<string>();
  let userKeys = new Set<string>();
  // A valueFrom OTEL_RESOURCE_ATTRIBUTES cannot be merged (and may hold service.name): leave it and
  // OTEL_SERVICE_NAME alone.
  if (raVar?.valueFrom === undefined) {
    const current = raVar?.value ?? '';
    userKeys = resourceAttributeKeys(current);
    const wanted: Array<readonly [string, string]> = [
      ['k8s.namespace.name', `$(${POD_NAMESPACE_VAR})`],
      ['k8s.pod.name', `$(${POD_NAME_VAR})`],
      ['k8s.pod.uid', `$(${POD_UID_VAR})`],
      ...(container.name ? [['k8s.container.name', container.name] as const] : []),
      ...ctx.podAttributes,
    ];
    const missing = wanted.filter(([k]) => !userKeys.has(k));
    if (missing.length > 0) {
      for (const [, v] of missing) {
        const ref = /^\$\((\w+)\)$/.exec(v)?.[1];
        if (ref) needed.add(ref);
      }
      const added = missing.map(([k, v]) => `${k}=${v.startsWith('$(') ? v : encodeValue(v)}`).join(',');
      resourceAttributes = {
        index: raIndex,
        value: current.trim() ? `${current.replace(/,\s*$/, '')},${added}` : added,
      };
    }
  }

  // OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES: set it only when neither is set.
  if (
    ours &&
    !has('OTEL_SERVICE_NAME') &&
    !userKeys.has('service.name') &&
    raVar?.valueFrom === undefined &&
    ctx.serviceName
  ) {
    appended.push({ name: 'OTEL_SERVICE_NAME', value: ctx.serviceName });
  }
  if (!has('OTEL_SEMCONV_STABILITY_OPT_IN')) {
    appended.push({ name: 'OTEL_SEMCONV_STABILITY_OPT_IN', value: 'gen_ai_latest_experimental' });
  }
  for (const [name, value] of Object.entries(ctx.config.extraEnv)) {
    if (!has(name)) appended.push({ name, value });
  }

  const prepended: EnvVar[] = DOWNWARD.filter((d) => needed.has(d.name) && !has(d.name)).map((d) => ({
    name: d.name,
    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: d.fieldPath } },
  }));
  if (resourceAttributes && resourceAttributes.index === undefined) {
    appended.push({ name: 'OTEL_RESOURCE_ATTRIBUTES', value: resourceAttributes.value });
  }

  if (prepended.length === 0 && appended.length === 0 && resourceAttributes === undefined) return [];
  if (container.env === undefined) {
    return [{ op: 'add', path: `${base}/env`, value: [...prepended, ...appended] }];
  }
  const ops: PatchOperation[] = prepended.map((value, i) => ({ op: 'add', path: `${base}/env/${i}`, value }));
  if (resourceAttributes?.index !== undefined) {
    const at = `${base}/env/${resourceAttributes.index + prepended.length}/value`;
    const hasValue = raVar?.value !== undefined;
    ops.push({ op: hasValue ? 'replace' : 'add', path: at, value: resourceAttributes.value });
  }
  for (const value of appended) ops.push({ op: 'add', path: `${base}/env/-`, value });
  return ops;
}

/**
 * The JSON Patch that injects telemetry settings into `pod` (as received, raw). Empty when nothing is
 * missing. `namespace` is the request's namespace (the pod's own may be empty at admission).
 */
export function buildInjectionPatch(pod: Pod, config: InjectionConfig): PatchOperation[] {
  const labels = pod.metadata?.labels ?? {};
  const podAttributes: Array<readonly [string, string]> = [...(podWorkload(pod)?.attributes ?? [])];
  for (const key of config.attributionLabels) {
    const value = labels[key];
    if (value !== undefined && value !== '') podAttributes.push([`k8s.pod.label.${key}`, value]);
  }
  const ctx: ContainerContext = {
    config,
    exporterOwnedElsewhere: otelOperatorInjects(pod),
    podAttributes,
    serviceName: defaultServiceName(pod),
  };

  const ops: PatchOperation[] = [];
  (pod.spec?.containers ?? []).forEach((c, i) =>
    ops.push(...containerPatch(c, pointer('spec', 'containers', i), ctx)),
  );
  if (config.includeInitContainers) {
    (pod.spec?.initContainers ?? []).forEach((c, i) =>
      ops.push(...containerPatch(c, pointer('spec', 'initContainers', i), ctx)),
    );
  }

  const annotations = pod.metadata?.annotations;
  const wantedAnnotations: Record<string, string> = {};
  if (annotations?.[INJECTED_ANNOTATION] === undefined) wantedAnnotations[INJECTED_ANNOTATION] = 'true';
  const language = (labels[LANGUAGE_KEY] ?? annotations?.[LANGUAGE_KEY])?.trim().toLowerCase();
  if (
    config.autoInstrumentation !== undefined &&
    language !== undefined &&
    (AUTO_INSTRUMENTATION_LANGUAGES as readonly string[]).includes(language)
  ) {
    const key = `${OTEL_OPERATOR_INJECT_PREFIX}${language}`;
    if (annotations?.[key] === undefined) wantedAnnotations[key] = config.autoInstrumentation;
  }
  const keys = Object.keys(wantedAnnotations);
  if (keys.length > 0) {
    if (pod.metadata === undefined) {
      ops.push({ op: 'add', path: '/metadata', value: { annotations: wantedAnnotations } });
    } else if (annotations === undefined) {
      ops.push({ op: 'add', path: '/metadata/annotations', value: wantedAnnotations });
    } else {
      for (const key of keys) {
        ops.push({ op: 'add', path: pointer('metadata', 'annotations', key), value: wantedAnnotations[key] });
      }
    }
  }
  return ops;
}
