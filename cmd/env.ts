// The one reader of environment variables. Everything else receives typed values.

import { parseLogLevel, type LogLevel } from '../kernel/logger.ts';

export interface GenOpsEnv {
  readonly logLevel: LogLevel;
  /** Set when running inside a pod (in-cluster config is used when no kubeconfig is given). */
  readonly inCluster: boolean;
  readonly kubeconfig: string | undefined;
  readonly podName: string | undefined;
  readonly podNamespace: string | undefined;
  /** GENOPS_NAMESPACES: the operator's namespace scope (comma-separated), as `--namespaces`. */
  readonly namespaces?: string | undefined;
  /** Raw OTEL_* variables, handed to the self-telemetry SDK which reads its standard names. */
  readonly otel: Readonly<Record<string, string>>;
}

export function readEnv(env: NodeJS.ProcessEnv): GenOpsEnv {
  const otel: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('OTEL_') && v !== undefined) otel[k] = v;
  }
  return {
    logLevel: parseLogLevel(env['GENOPS_LOG_LEVEL']),
    inCluster: env['KUBERNETES_SERVICE_HOST'] !== undefined,
    kubeconfig: env['KUBECONFIG'],
    podName: env['POD_NAME'],
    podNamespace: env['POD_NAMESPACE'],
    namespaces: env['GENOPS_NAMESPACES'] === '' ? undefined : env['GENOPS_NAMESPACES'],
    otel,
  };
}
