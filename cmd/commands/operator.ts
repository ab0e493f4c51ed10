// `genops operator`: the operator in or out of a cluster (in-cluster config when no kubeconfig is
// given). Owns the flags and the process signals: SIGTERM/SIGINT start a graceful shutdown (stop
// intake, drain, flush state, release the lease); the composition is cmd/operator-main.ts.

import { addIngestLimitOptions, ingestLimitFlags } from '../ingest-limits.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { GenOpsError } from '../../kernel/errors.ts';
import type { CommandContext } from '../context.ts';
import { EXIT } from '../context.ts';
import { parsePort, parsePositive, parseUnknownModelPriceFlag, parseWholeNumber } from '../flags.ts';
import { DEFAULT_LEASE_NAME, startOperator, type OperatorOptions } from '../operator-main.ts';
import type { WebhookCertificates } from '../../webhook/index.ts';
import type { ResourceType } from '../../cluster/resources.ts';
import { createSelfTracing } from '../../observability/tracing.ts';
import type { UnknownModelPrice } from '../../pipeline/pricing/overrides.ts';
import { loadPriceTableConfig, withUnknownModelPrice } from '../../pipeline/pricing/overrides.ts';
import { isPortUnavailable } from '../unavailable.ts';
import { DEFAULT_AUTHZ_PORT } from '../../authz/index.ts';

/** Where the cert-manager Secret is mounted in the manager Deployment (kubebuilder's convention). */
export const DEFAULT_WEBHOOK_CERT_DIR = '/tmp/k8s-webhook-server/serving-certs';

/** `Kind=group/version/plural`, e.g. `Rollout=argoproj.io/v1alpha1/rollouts` (core group: `Kind=v1/plural`). */
export function parseScaleResource(value: string, previous: ResourceType[] = []): ResourceType[] {
  const m = /^([A-Z][A-Za-z0-9]*)=(?:([a-z0-9.-]+)\/)?(v[0-9a-z]+)\/([a-z0-9-]+)$/.exec(value.trim());
  if (!m)
    throw new InvalidArgumentError(
      'expected Kind=group/version/plural, e.g. Rollout=argoproj.io/v1alpha1/rollouts',
    );
  return [...previous, { kind: m[1]!, group: m[2] ?? '', version: m[3]!, plural: m[4]!, namespaced: true }];
}

/** `24h`, `90m`, `3600s` (a positive duration) in ms. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(h|m|s)$/.exec(value.trim());
  const n = m ? Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1000 }[m[2] as 'h' | 'm' | 's'] : NaN;
  if (!(n > 0)) throw new InvalidArgumentError('expected a duration such as 24h, 90m or 3600s');
  return n;
}

function parseFraction(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('must be between 0 and 1 (exclusive)');
  return n;
}

interface Flags {
  kubeconfig?: string;
  namespace?: string;
  replicaId?: string;
  host?: string;
  otlpGrpcPort: number;
  otlpHttpPort: number;
  metricsPort: number;
  healthPort: number;
  webhookPort: number;
  authzPort?: number;
  webhook: boolean;
  webhookCertDir?: string;
  webhookSelfSigned?: boolean;
  webhookUrl?: string;
  webhookFailOpen?: boolean;
  webhookExemptUser?: string[];
  injectAutoInstrumentation?: string;
  leaderElect: boolean;
  leaseName: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  timeZone: string;
  kubeApiQps: number;
  kubeApiBurst: number;
  throttleFraction: number;
  throttleFloor: number;
  statusInterval: number;
  usageWriteInterval: number;
  walDir?: string;
  workers?: number;
  trustedPeers?: string;
  trustedNamespaces?: string;
  namespaces?: string;
  bypassMaxDuration: number;
  syncTimeout: number;
  maxBodyMib?: number;
  maxQueueMib?: number;
  workerHeapMib?: number;
  maxConnections?: number;
  scaleResource?: ResourceType[];
}

/** `--namespaces a,b`: the watch and write scope; empty or absent means every namespace. */
function namespaceScope(value: string | undefined): { watchNamespaces?: readonly string[] } {
  const names = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return names.length === 0 ? {} : { watchNamespaces: [...new Set(names)] };
}

function packageVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

/** Translates flags and the environment into the composition's options. */
export function operatorOptions(flags: Flags, ctx: CommandContext): OperatorOptions {
  const inCluster = ctx.env.inCluster;
  const kubeconfig = flags.kubeconfig ?? ctx.env.kubeconfig;
  const namespace = flags.namespace ?? ctx.env.podNamespace ?? 'genops-system';
  let certificates: WebhookCertificates | undefined;
  if (flags.webhook) {
    if (flags.webhookSelfSigned === true) {
      certificates = {
        mode: 'self-signed',
        ...(flags.webhookUrl === undefined ? {} : { url: flags.webhookUrl }),
      };
    } else if (flags.webhookCertDir !== undefined) {
      certificates = { mode: 'files', certDir: flags.webhookCertDir };
    } else if (inCluster) {
      certificates = { mode: 'files', certDir: DEFAULT_WEBHOOK_CERT_DIR };
    }
  }
  const exempt = flags.webhookExemptUser ?? [`system:serviceaccount:${namespace}:genops-controller-manager`];
  return {
    kubeconfig: inCluster && flags.kubeconfig === undefined ? undefined : kubeconfig,
    inCluster,
    namespace,
    replicaId: flags.replicaId ?? ctx.env.podName ?? hostname(),
    host: flags.host ?? (inCluster ? '0.0.0.0' : '127.0.0.1'),
    otlpGrpcPort: flags.otlpGrpcPort,
    otlpHttpPort: flags.otlpHttpPort,
    metricsPort: flags.metricsPort,
    healthPort: flags.healthPort,
    ...(flags.authzPort === undefined ? {} : { authzPort: flags.authzPort }),
    webhook:
      certificates === undefined
        ? undefined
        : {
            port: flags.webhookPort,
            certificates,
            exemptUsernames: exempt,
            ...(flags.webhookFailOpen === true ? { failOpen: true } : {}),
            ...(flags.injectAutoInstrumentation === undefined
              ? {}
              : { autoInstrumentation: flags.injectAutoInstrumentation }),
          },
    leaderElect: flags.leaderElect,
    leaseName: flags.leaseName,
    leaseDurationMs: flags.leaseDuration * 1000,
    renewDeadlineMs: flags.renewDeadline * 1000,
    retryPeriodMs: flags.retryPeriod * 1000,
    timeZone: flags.timeZone,
    writeQps: flags.kubeApiQps,
    writeBurst: flags.kubeApiBurst,
    throttle: { fraction: flags.throttleFraction, floor: flags.throttleFloor },
    statusIntervalMs: flags.statusInterval * 1000,
    usageWriteIntervalMs: flags.usageWriteInterval * 1000,
    ...(flags.walDir === undefined ? {} : { walDir: flags.walDir }),
    ...(flags.workers === undefined ? {} : { workers: flags.workers }),
    limits: ingestLimitFlags(flags),
    ...(flags.trustedPeers === undefined
      ? {}
      : { trustedPeers: flags.trustedPeers.split(',').map((s) => s.trim()) }),
    ...(flags.trustedNamespaces === undefined
      ? {}
      : {
          trustedNamespaces: flags.trustedNamespaces
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
        }),
    ...namespaceScope(flags.namespaces ?? ctx.env.namespaces),
    syncTimeoutMs: flags.syncTimeout * 1000,
    bypassMaxDurationMs: flags.bypassMaxDuration,
    ...(flags.scaleResource === undefined ? {} : { extraScalable: flags.scaleResource }),
    version: packageVersion(),
  };
}

export function command(ctx: CommandContext, setExit: (code: number) => void): Command {
  return addIngestLimitOptions(new Command('operator'))
    .description('run the operator: OTLP ingest, budgets and policies, enforcement, admission webhook')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else in-cluster config)')
    .option('--namespace <ns>', "the operator's own namespace (Lease, usage records)", undefined)
    .option('--replica-id <id>', 'identity of this replica (default: $POD_NAME, else the host name)')
    .option('--host <address>', 'address to listen on (default 0.0.0.0 in a cluster, else 127.0.0.1)')
    .option('--otlp-grpc-port <port>', 'OTLP/gRPC port', parsePort, 4317)
    .option('--otlp-http-port <port>', 'OTLP/HTTP port', parsePort, 4318)
    .option('--metrics-port <port>', 'Prometheus /metrics port', parsePort, 8080)
    .option('--health-port <port>', '/healthz and /readyz port', parsePort, 8081)
    .option('--webhook-port <port>', 'admission webhook HTTPS port', parsePort, 9443)
    .option('--no-webhook', 'do not serve the admission webhook')
    .option(
      '--authz-port <port>',
      'gateway authorization port (Envoy ext_authz gRPC and HTTP forward-auth /v1/check)',
      parsePort,
      DEFAULT_AUTHZ_PORT,
    )
    .option(
      '--webhook-cert-dir <dir>',
      `serving certificate directory with tls.crt/tls.key (in a cluster default ${DEFAULT_WEBHOOK_CERT_DIR})`,
    )
    .option('--webhook-self-signed', 'create a CA and serving certificate, and register the webhooks with it')
    .option(
      '--webhook-url <url>',
      'with --webhook-self-signed: the URL the API server calls (default: the in-cluster Service)',
    )
    .option('--webhook-fail-open', 'admit when the webhook cannot judge (default: refuse)')
    .option(
      '--webhook-exempt-user <name...>',
      'users never refused by admission (default: the operator service account)',
    )
    .option(
      '--inject-auto-instrumentation <value>',
      'pods declaring genops.ai/language get the OpenTelemetry Operator annotation instrumentation.opentelemetry.io/inject-<language>: <value> ("true" or namespace/Instrumentation)',
    )
    .option('--leader-elect', 'elect a leader through a Lease; only the leader acts (default)', true)
    .addOption(new Option('--no-leader-elect', 'act without leader election (single replica only)'))
    .option('--lease-name <name>', 'name of the leader election Lease', DEFAULT_LEASE_NAME)
    .option('--lease-duration <seconds>', 'leader Lease duration', parsePositive, 15)
    .option(
      '--renew-deadline <seconds>',
      'leader gives up when it cannot renew for this long',
      parsePositive,
      10,
    )
    .option('--retry-period <seconds>', 'between Lease attempts', parsePositive, 2)
    .option('--time-zone <tz>', 'IANA time zone of budget periods', 'UTC')
    .option('--kube-api-qps <n>', 'sustained API writes per second (client-side limit)', parsePositive, 20)
    .option('--kube-api-burst <n>', 'API write burst', parsePositive, 40)
    .option(
      '--throttle-fraction <f>',
      'throttle scales workloads to this fraction of their replicas',
      parseFraction,
      0.5,
    )
    .option(
      '--throttle-floor <n>',
      'throttled workloads keep at least this many replicas',
      parseWholeNumber,
      1,
    )
    .option(
      '--status-interval <seconds>',
      'at most one status write per resource per interval',
      parsePositive,
      5,
    )
    .option(
      '--usage-write-interval <seconds>',
      "how often this replica's usage record is saved",
      parsePositive,
      5,
    )
    .option(
      '--wal-dir <dir>',
      'usage write-ahead log directory (an emptyDir): OTLP answers wait until the spend is on disk there',
    )
    .option('--workers <n>', 'decode worker threads (default: one per core)', parseWholeNumber)
    .option('--trusted-peers <cidrs>', 'comma-separated addresses/CIDRs of trusted OpenTelemetry Collectors')
    .option(
      '--trusted-namespaces <names>',
      'comma-separated namespaces whose pods are trusted forwarders (where your Collectors run)',
    )
    .option(
      '--namespaces <names>',
      'comma-separated namespaces the operator watches and enforces in (default: all; env GENOPS_NAMESPACES); pair with deploy/overlays/namespaced',
    )
    .option(
      '--bypass-max-duration <duration>',
      'longest emergency bypass the webhook approves, from approval (e.g. 24h, 90m)',
      parseDuration,
      24 * 3_600_000,
    )
    .option(
      '--scale-resource <Kind=group/version/plural>',
      'another workload kind to throttle/block through its /scale subresource (repeatable; grant get/patch on it and on its scale in RBAC)',
      parseScaleResource,
    )
    .option('--sync-timeout <seconds>', 'how long to wait for the cluster caches at start', parsePositive, 60)
    .option(
      '--price-file <file>',
      'price overrides and fallback price (YAML or JSON), e.g. a mounted ConfigMap',
    )
    .option(
      '--unknown-model-price <price>',
      'price of models no table knows: highest (of the provider, default), 0, or <input>,<output> USD per 1M tokens',
      parseUnknownModelPriceFlag,
    )
    .action(async (flags: Flags & { priceFile?: string; unknownModelPrice?: UnknownModelPrice }) => {
      // Self-traces (reconcile/decision spans) go wherever the standard OTEL_* variables say; off by default.
      const tracing = createSelfTracing({
        env: ctx.env.otel,
        logger: ctx.logger,
        version: packageVersion(),
        podName: ctx.env.podName,
        podNamespace: ctx.env.podNamespace,
      });
      let runtime;
      try {
        await tracing.start();
        const pricing = withUnknownModelPrice(
          flags.priceFile === undefined ? undefined : await loadPriceTableConfig(flags.priceFile),
          flags.unknownModelPrice,
        );
        runtime = await startOperator(
          {
            ...operatorOptions(flags, ctx),
            ...(pricing === undefined ? {} : { pricing }),
            ...(tracing.enabled ? { tracer: tracing.tracer } : {}),
          },
          { logger: ctx.logger, clock: ctx.clock },
        );
      } catch (err) {
        await tracing.shutdown();
        const unavailable =
          isPortUnavailable(err) ||
          (err instanceof GenOpsError && (err.code === 'KUBECONFIG' || err.errorClass === 'retryable'));
        ctx.stderr(`genops operator: ${err instanceof Error ? err.message : String(err)}\n`);
        setExit(unavailable ? EXIT.unavailable : EXIT.failure);
        return;
      }
      const p = runtime.ports();
      ctx.stdout(
        `genops operator: OTLP gRPC :${p.grpc}, OTLP HTTP :${p.http}, metrics :${p.metrics}, health :${p.health}` +
          `${p.webhook === 0 ? '' : `, webhook :${p.webhook}`}${p.authz === 0 ? '' : `, authz :${p.authz}`}\n`,
      );
      const signal = await new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      ctx.logger.info('shutting down', { signal });
      await runtime.shutdown(Date.now() + 25_000);
      await tracing.shutdown();
      setExit(EXIT.ok);
    });
}
