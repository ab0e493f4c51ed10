// Owns the settings of telemetry injection and the label/annotation names users put on pods.

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';

export const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['grpc', 'http/protobuf', 'http/json'];

/** Pod label that opts a pod in ("true") or out ("false") of injection, whatever its namespace says. */
export const ENABLE_LABEL = 'genops.ai/enable';
/** Namespace label that injects every pod of the namespace (unless the pod says genops.ai/enable=false). */
export const NAMESPACE_INJECTION_LABEL = 'genops.ai/injection';
/** Pod label or annotation naming the app's language, for the OpenTelemetry Operator's auto-instrumentation. */
export const LANGUAGE_KEY = 'genops.ai/language';
/** Annotation the webhook sets on pods it injected, so `kubectl get pod -o yaml` shows why the env is there. */
export const INJECTED_ANNOTATION = 'genops.ai/telemetry-injected';

/** The OpenTelemetry Operator's pod annotations: instrumentation.opentelemetry.io/inject-<language>. */
export const OTEL_OPERATOR_INJECT_PREFIX = 'instrumentation.opentelemetry.io/inject-';

/** Languages the OpenTelemetry Operator knows (annotation instrumentation.opentelemetry.io/inject-<language>). */
export const AUTO_INSTRUMENTATION_LANGUAGES = [
  'java',
  'nodejs',
  'python',
  'dotnet',
  'go',
  'apache-httpd',
  'nginx',
  'sdk',
] as const;

export interface InjectionConfig {
  /** OTLP endpoint for the http protocols, e.g. http://genops-otlp.genops-system.svc:4318. */
  readonly httpEndpoint: string;
  /** OTLP endpoint used when the protocol in effect is grpc, e.g. http://genops-otlp.genops-system.svc:4317. */
  readonly grpcEndpoint: string;
  /** Protocol injected when the container sets none. */
  readonly protocol: OtlpProtocol;
  /** Pod label keys copied into OTEL_RESOURCE_ATTRIBUTES as k8s.pod.label.<key>, for attribution. */
  readonly attributionLabels: readonly string[];
  /** Also inject into init containers (sidecars and setup steps may call models too). */
  readonly includeInitContainers: boolean;
  /**
   * When set, pods declaring genops.ai/language get the OpenTelemetry Operator's annotation
   * instrumentation.opentelemetry.io/inject-<language> with this value ("true", or "namespace/name" of an
   * Instrumentation resource).
   */
  readonly autoInstrumentation: string | undefined;
  /** Further variables set when absent (e.g. OTEL_METRICS_EXPORTER=none when only traces are wanted). */
  readonly extraEnv: Readonly<Record<string, string>>;
}

export interface InjectionOptions {
  /** Base URL of the operator's OTLP receiver Service, without port, e.g. http://genops-otlp.genops-system.svc. */
  receiverHost?: string;
  httpEndpoint?: string;
  grpcEndpoint?: string;
  protocol?: OtlpProtocol;
  attributionLabels?: readonly string[];
  includeInitContainers?: boolean;
  autoInstrumentation?: string;
  extraEnv?: Readonly<Record<string, string>>;
}

export const DEFAULT_RECEIVER_HOST = 'http://genops-otlp.genops-system.svc';

export function injectionConfig(options: InjectionOptions = {}): InjectionConfig {
  const host = (options.receiverHost ?? DEFAULT_RECEIVER_HOST).replace(/\/+$/, '');
  return {
    httpEndpoint: options.httpEndpoint ?? `${host}:4318`,
    grpcEndpoint: options.grpcEndpoint ?? `${host}:4317`,
    protocol: options.protocol ?? 'http/protobuf',
    attributionLabels: options.attributionLabels ?? ['team', 'project'],
    includeInitContainers: options.includeInitContainers ?? true,
    autoInstrumentation: options.autoInstrumentation,
    extraEnv: options.extraEnv ?? {},
  };
}
