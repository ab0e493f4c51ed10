// Owns the composition of the operator: ingest pipeline -> usage records (persisted, merged across
// replicas) -> decisions -> enforcer (leader only) and admission webhook (every replica), with metrics,
// /healthz and /readyz. Start order: health (not ready) -> informers synced -> own usage restored ->
// pipeline -> enforcer -> leader election -> webhook -> metrics -> ready. Shutdown is the reverse with
// the intake first: not ready -> webhook and receivers stop -> pool drains -> usage record flushed ->
// enforcer drains -> lease released. Signals are handled by the caller (cmd/commands/operator.ts).

import type { IngestLimitFlags } from './ingest-limits.ts';
import { ingestLimitOptions } from './ingest-limits.ts';
import type { Clock } from '../kernel/clock.ts';
import { systemClock } from '../kernel/clock.ts';
import { GenOpsError } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';
import { createMetrics, type GenOpsMetrics } from '../observability/metrics.ts';
import { SPAN } from '../observability/tracing.ts';
import type { Tracer } from '@opentelemetry/api';
import type { PriceTableConfig } from '../pipeline/pricing/overrides.ts';
import type { DecisionSet } from '../decision/types.ts';
import { createIngestPipeline, type IngestPipeline } from '../pipeline/ingest.ts';
import { createAttributor } from '../pipeline/attribution/attributor.ts';
import { createClusterPodDirectory } from '../pipeline/attribution/cluster-directory.ts';
import { costOverrideFromPolicies } from '../pipeline/windows/cost-override.ts';
import { createClusterView, type ClusterView } from '../enforcer/cluster-view.ts';
import { createDecisionEngine } from '../decision/engine.ts';
import { createPeriodCalendar } from '../decision/period.ts';
import { alwaysLeader, createEnforcer, type Enforcer, type LeaderGate } from '../enforcer/enforcer.ts';
import type { ThrottleOptions } from '../enforcer/actions/throttle.ts';
import { validateThrottle } from '../enforcer/actions/throttle.ts';
import { DEFAULT_SCALABLE } from '../enforcer/actions/workload.ts';
import type { ResourceType } from '../cluster/resources.ts';
import { createKubeApi, type KubeApi } from '../cluster/api.ts';
import { loadKubeConfig } from '../cluster/config.ts';
import { createLeaderElector, type LeaderElector } from '../enforcer/leader/lease.ts';
import { createUsageStore, type UsageStore } from '../enforcer/state/usage-store.ts';
import { openWal } from '../pipeline/wal/wal.ts';
import { createUsageJournal, type UsageJournal } from '../pipeline/wal/journal.ts';
import { statusBuilders } from '../enforcer/status/builders.ts';
import { createAdmissionWebhook, type AdmissionWebhook, type WebhookCertificates } from '../webhook/index.ts';
import type { AdmissionView } from '../webhook/view.ts';
import { verifyApproval } from '../webhook/bypass/approval.ts';
import { createBypassGate, createKubeAccessReviewer } from '../webhook/bypass/gate.ts';
import { loadBypassKey } from '../webhook/bypass/key.ts';
import type { BypassVerifier } from '../decision/engine.ts';
import { createWatchHealth } from './watch-health.ts';
import { createHealthServer, createMetricsServer } from './servers.ts';
import { createRunnableGroups, named, runnable } from '../kernel/runnables.ts';
import { createGatewayAuthz, type AuthzServer } from '../authz/index.ts';

export interface OperatorOptions {
  readonly kubeconfig?: string | undefined;
  readonly inCluster: boolean;
  /** The operator's own namespace: Lease, usage records, webhook Secret. */
  readonly namespace: string;
  /** This replica: Lease holder identity and usage record name (the pod name in a cluster). */
  readonly replicaId: string;
  /** Address of every listener: 0.0.0.0 in a pod, 127.0.0.1 elsewhere. */
  readonly host: string;
  readonly otlpGrpcPort: number;
  readonly otlpHttpPort: number;
  readonly metricsPort: number;
  readonly healthPort: number;
  /** Gateway authorization (Envoy ext_authz gRPC + HTTP forward-auth) port; undefined disables it. */
  readonly authzPort?: number | undefined;
  /** undefined disables the admission webhook. */
  readonly webhook?:
    | {
        readonly port: number;
        readonly certificates: WebhookCertificates;
        readonly exemptUsernames?: readonly string[];
        readonly failOpen?: boolean;
        /** Value of the OpenTelemetry Operator's inject-<language> annotation for pods with genops.ai/language. */
        readonly autoInstrumentation?: string;
      }
    | undefined;
  readonly leaderElect: boolean;
  readonly leaseName?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly timeZone?: string;
  readonly writeQps?: number;
  readonly writeBurst?: number;
  readonly throttle?: ThrottleOptions;
  readonly statusIntervalMs?: number;
  readonly usageWriteIntervalMs?: number;
  /** Decode worker threads (default: one per core). */
  readonly workers?: number;
  /** Body, queue, worker heap and connection limits (cmd/ingest-limits.ts), as for `genops local`. */
  readonly limits?: IngestLimitFlags;
  /** Addresses/CIDRs of trusted OpenTelemetry Collectors (their resource attributes are believed). */
  readonly trustedPeers?: readonly string[];
  /** Namespaces whose pods are trusted forwarders (where the Collectors run). */
  readonly trustedNamespaces?: readonly string[];
  /**
   * The namespace scope (`--namespaces`): policies, budgets, workloads, HPAs and pods are watched,
   * and workloads written, in these namespaces only (RBAC: deploy/overlays/namespaced). Namespaces
   * themselves are still read cluster-wide. Default: every namespace.
   */
  readonly watchNamespaces?: readonly string[] | undefined;
  /** Longest approved emergency bypass; default 24 h. */
  readonly bypassMaxDurationMs?: number;
  /** Kinds scaled through /scale besides Deployment and StatefulSet (e.g. Argo Rollouts). */
  readonly extraScalable?: readonly ResourceType[];
  /** How long to wait for the informers at start (default 60 s). */
  readonly syncTimeoutMs?: number;
  readonly version?: string;
  /** Operator price overrides and fallback (`--price-file`), handed to the decode workers. */
  readonly pricing?: PriceTableConfig;
  /** Self-tracing (observability/tracing.ts); a no-op tracer when tracing is off. */
  readonly tracer?: Tracer;
  /**
   * Directory of the usage write-ahead log (`--wal-dir`, an emptyDir in the pod): OTLP answers wait
   * until the spend is on disk there. Without it an answer means "in memory" (lost on a crash).
   */
  readonly walDir?: string | undefined;
}

export interface OperatorDeps {
  readonly logger: Logger;
  /** Business time (periods, decisions, records); defaults to the system clock. */
  readonly clock?: Clock;
}

export interface OperatorRuntime {
  ports(): { grpc: number; http: number; metrics: number; health: number; webhook: number; authz: number };
  ready(): boolean;
  readonly enforcer: Enforcer;
  readonly pipeline: IngestPipeline;
  readonly usage: UsageStore;
  readonly view: ClusterView;
  readonly leader: LeaderGate;
  readonly metrics: GenOpsMetrics;
  /** Graceful: stop intake, drain, flush state, release the lease. Idempotent. */
  shutdown(deadlineMs?: number): Promise<void>;
}

export const DEFAULT_LEASE_NAME = 'genops-operator-leader';

export async function startOperator(options: OperatorOptions, deps: OperatorDeps): Promise<OperatorRuntime> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger.child({ replica: options.replicaId });
  const timeZone = options.timeZone ?? 'UTC';
  if (options.throttle !== undefined) validateThrottle(options.throttle);
  const kubeConfig = loadKubeConfig({ kubeconfig: options.kubeconfig, inCluster: options.inCluster });

  let leaderRef: LeaderGate = alwaysLeader;
  const metrics = createMetrics({
    clock,
    defaultMetrics: true,
    // Gauges from the whole cluster's usage (own windows + the other replicas' records), exported by
    // the leader; counters from this replica's own windows only, which Prometheus sums over replicas.
    snapshot: () => usage.merged.current(),
    usageSnapshot: () => pipeline.windows.current(),
    // Counted as charged, from 0 at process start: rate()/increase() never count a restored month again.
    usageCounters: 'events',
    decisions: () => enforcer.decisions(),
    derived: {
      replicasOf: (ref) => view.workloads.get(ref.kind)?.getByName(ref.namespace, ref.name)?.spec?.replicas,
    },
    ...(options.version === undefined ? {} : { version: options.version }),
  });
  const api: KubeApi = createKubeApi({
    kubeConfig,
    logger,
    ...(options.writeQps === undefined ? {} : { writeQps: options.writeQps }),
    ...(options.writeBurst === undefined ? {} : { writeBurst: options.writeBurst }),
    metrics: metrics.kubeClient,
  });

  // Acknowledged means durable: the log is opened (and its torn tail cut) before anything else.
  const journal: UsageJournal | undefined =
    options.walDir === undefined
      ? undefined
      : createUsageJournal({
          wal: await openWal({ dir: options.walDir, clock, logger, metrics: metrics.wal }),
          windows: { replay: (delta, charge) => pipeline.windows.replay(delta, charge) },
          logger,
        });

  // Spans are charged to the pod that sent them (or that their attributes name, from trusted Collectors).
  const syncTimeoutMs = options.syncTimeoutMs ?? 60_000;
  const scope = options.watchNamespaces;
  const pods = createClusterPodDirectory({ api, clock, logger, syncTimeoutMs, namespaces: scope });
  const attributor = createAttributor({
    directory: pods,
    ...(options.trustedPeers === undefined ? {} : { trustedPeers: options.trustedPeers }),
    ...(options.trustedNamespaces === undefined ? {} : { trustedNamespaces: options.trustedNamespaces }),
  });
  const pipeline = createIngestPipeline({
    clock,
    logger,
    attributor,
    metrics: metrics.ingest,
    grpc: { host: options.host, port: options.otlpGrpcPort },
    http: { host: options.host, port: options.otlpHttpPort },
    windows: { timeZone, onCharged: (g) => metrics.usage.charged(g) },
    ...(journal === undefined ? {} : { journal }),
    ...(options.pricing === undefined ? {} : { pricing: options.pricing }),
    ...ingestLimitOptions(options.limits, options.workers),
  });
  const calendar = createPeriodCalendar(timeZone);
  const usage = createUsageStore({
    api,
    namespace: options.namespace,
    replicaId: options.replicaId,
    windows: pipeline.windows,
    clock,
    calendar,
    logger,
    metrics: metrics.usageStore,
    ...(journal === undefined ? {} : { journal }),
    ...(options.usageWriteIntervalMs === undefined ? {} : { writeIntervalMs: options.usageWriteIntervalMs }),
  });
  // A watch failing longer than the sync timeout is dead: /healthz turns 503 and the kubelet restarts us.
  const watchHealth = createWatchHealth(metrics.informer, clock, options.syncTimeoutMs ?? 60_000);
  const view = createClusterView({
    api,
    logger,
    metrics: watchHealth.metrics,
    syncTimeoutMs,
    namespaces: scope,
  });

  let elector: LeaderElector | undefined;
  if (options.leaderElect) {
    elector = createLeaderElector({
      api,
      namespace: options.namespace,
      name: options.leaseName ?? DEFAULT_LEASE_NAME,
      identity: options.replicaId,
      logger,
      metrics: metrics.leader,
      ...(options.leaseDurationMs === undefined ? {} : { leaseDurationMs: options.leaseDurationMs }),
      ...(options.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: options.renewDeadlineMs }),
      ...(options.retryPeriodMs === undefined ? {} : { retryPeriodMs: options.retryPeriodMs }),
    });
    leaderRef = elector;
  } else {
    metrics.leader.leader(true);
  }

  // Emergency bypasses count only with the webhook's approval (webhook/bypass): signed with a key in a
  // Secret of the operator's namespace, loaded at start. Until then (or without it) none counts.
  let bypassKey: Buffer | undefined;
  const verifyBypass: BypassVerifier = (holder, raw, marker) =>
    bypassKey === undefined
      ? { ok: false, problem: 'the operator has no bypass approval key (Secret genops-bypass-key)' }
      : verifyApproval(bypassKey, holder, raw, marker);
  const bypassGate = createBypassGate({
    reviewer: createKubeAccessReviewer(api),
    key: () => bypassKey,
    clock,
    logger,
    ...(options.bypassMaxDurationMs === undefined ? {} : { maxDurationMs: options.bypassMaxDurationMs }),
  });

  const enforcer = createEnforcer({
    api,
    view,
    snapshots: usage.merged,
    engine: createDecisionEngine({ clock, timeZone, metrics: metrics.decision, verifyBypass }),
    status: statusBuilders,
    leader: leaderRef,
    clock,
    logger,
    identity: options.replicaId,
    ...(options.throttle === undefined ? {} : { throttle: options.throttle }),
    scalable: new Map([
      ...DEFAULT_SCALABLE,
      ...(options.extraScalable ?? []).map((rt) => [rt.kind, rt] as const),
    ]),
    ...(options.statusIntervalMs === undefined ? {} : { statusIntervalMs: options.statusIntervalMs }),
    metrics: { enforcement: metrics.enforcement, workQueue: metrics.workQueue },
  });
  enforcer.subscribe((result) => {
    metrics.violations.decisionsPublished(result.decisions);
    recordDecisionSpan(options.tracer, result.decisions, result.events.length);
  });

  // Prices set by AIPolicy modelGovernance.costPerToken follow the policies.
  const updatePrices = (): void =>
    pipeline.windows.setCostOverride(costOverrideFromPolicies(view.policies.list(), options.pricing));
  view.onChange((what) => {
    if (what === 'policy') updatePrices();
  });

  const admissionView: AdmissionView = {
    decisions: () => enforcer.decisions(),
    policies: () => view.policies.list(),
    budgets: () => view.budgets.list(),
    namespaceLabels: (ns) =>
      view.namespaces.getByName(undefined, ns)?.metadata?.labels ??
      (view.namespaces.getByName(undefined, ns) ? {} : undefined),
    namespaceAnnotations: (ns) => view.namespaces.getByName(undefined, ns)?.metadata?.annotations,
    synced: () => enforcer.ready(),
    verifyBypass,
  };
  let webhook: AdmissionWebhook | undefined;
  if (options.webhook !== undefined) {
    webhook = createAdmissionWebhook({
      view: admissionView,
      clock,
      logger,
      metrics: metrics.webhook,
      host: options.host,
      port: options.webhook.port,
      namespace: options.namespace,
      // Self-signed mode keeps its CA in a Secret and registers the webhook configurations: it needs the
      // operator's own Kubernetes access, which only the composition has (the CLI only names the mode).
      certificates:
        options.webhook.certificates.mode === 'self-signed' &&
        options.webhook.certificates.kubeConfig === undefined &&
        options.webhook.certificates.store === undefined
          ? { ...options.webhook.certificates, api }
          : options.webhook.certificates,
      ...(options.webhook.exemptUsernames === undefined
        ? {}
        : { exemptUsernames: options.webhook.exemptUsernames }),
      ...(options.webhook.failOpen === undefined ? {} : { failOpen: options.webhook.failOpen }),
      bypassGate,
      ...(options.webhook.autoInstrumentation === undefined
        ? {}
        : { injection: { autoInstrumentation: options.webhook.autoInstrumentation } }),
    });
  }

  // Gateways ask before each LLM call; answered from the same decisions as admission.
  const authz: AuthzServer | undefined =
    options.authzPort === undefined
      ? undefined
      : createGatewayAuthz({
          host: options.host,
          port: options.authzPort,
          view: admissionView,
          clock,
          logger,
          metrics: metrics.authz,
          attributor,
          ...(options.trustedPeers === undefined ? {} : { trustedPeers: options.trustedPeers }),
          ...(options.pricing === undefined ? {} : { pricing: options.pricing }),
          ready: () => enforcer.ready(),
        });

  let state: 'starting' | 'ready' | 'stopping' | 'stopped' = 'starting';
  const isReady = (): boolean =>
    state === 'ready' &&
    pipeline.ready() &&
    enforcer.ready() &&
    usage.hasSynced() &&
    // A replica whose log refuses appends answers every span with a retry: send senders elsewhere.
    (journal?.healthy() ?? true);

  const healthServer = createHealthServer({
    host: options.host,
    port: options.healthPort,
    live: () => {
      if (state === 'stopped') return { alive: false, why: 'stopped\n' };
      const dead = state === 'ready' ? watchHealth.dead() : [];
      return dead.length === 0
        ? { alive: true }
        : {
            alive: false,
            why: `watch failing: ${dead.map((d) => `${d.resource} for ${Math.round(d.failingForMs / 1000)} s`).join(', ')}\n`,
          };
    },
    ready: isReady,
  });
  const metricsServer = createMetricsServer({
    host: options.host,
    port: options.metricsPort,
    metrics,
    logger,
  });

  // Started group by group in this order and stopped in reverse: the intake (webhook, gateway checks,
  // OTLP receivers) stops first and the pool drains, then the enforcer finishes what it has in flight,
  // this replica's usage record is written with everything received, and only then is the Lease
  // released; the caches stop, and the health port (and the log) last.
  const groups = createRunnableGroups(
    ['health', 'caches', 'restore', 'leader', 'state', 'enforcer', 'pipeline', 'intake', 'metrics'] as const,
    logger,
  );
  groups.add('health', healthServer);
  if (journal !== undefined)
    groups.add(
      'health',
      runnable('wal', noop, () => journal.close()),
    );
  groups.add(
    'caches',
    runnable(
      'caches',
      // One deadline for syncing every cache and reading the bypass key: an API server that never
      // answers must not hold the replica NotReady past --sync-timeout.
      () =>
        withinSyncTimeout(syncTimeoutMs, kubeConfig.getCurrentCluster()?.server, async () => {
          // Each start resolves at its caches' first sync, or rejects at the sync timeout.
          const synced = await Promise.all([view.start(), usage.start(), pods.start()]).then(
            () => true,
            () => false,
          );
          // After the caches: an API server that never answers is found by the sync above, whose
          // watches stop on shutdown, where a request left pending here would keep the process alive.
          if (synced) {
            try {
              bypassKey = await loadBypassKey(api, options.namespace);
            } catch (err) {
              // Fail safe: without the key no bypass is approved or honoured; enforcement goes on.
              logger.error('bypass approval key unavailable; emergency bypasses are ignored', { err });
            }
          }
          return synced;
        }),
      async (deadline) => {
        // usage.shutdown is idempotent: after a normal run the state group already wrote the record.
        await Promise.all([usage.shutdown(deadline), view.shutdown(deadline), pods.shutdown(deadline)]);
      },
    ),
  );
  groups.add(
    'restore',
    runnable('restore', async () => {
      updatePrices();
      // Before any span is received: the period continues where this replica left off.
      await usage.restore();
      // Then what the log holds beyond that record (acknowledged after its last write), and the dedupe
      // keys of the retention window, so a retry after the crash is not charged again.
      if (journal !== undefined) await journal.replay(usage.restoredWal());
    }),
  );
  if (elector !== undefined) groups.add('leader', named('leader-election', elector));
  // This replica's usage record, written with everything received, before the Lease is released.
  groups.add(
    'state',
    runnable('usage', noop, (deadline) => usage.shutdown(deadline)),
  );
  groups.add(
    'enforcer',
    runnable(
      'enforcer',
      async () => {
        await enforcer.start();
        enforcer.evaluateNow();
      },
      // Actions and status in flight finish (a leader flushes its pending status).
      (deadline) => enforcer.shutdown(deadline),
    ),
  );
  groups.add('pipeline', named('pipeline', pipeline));
  if (webhook !== undefined) groups.add('intake', named('webhook', webhook));
  if (authz !== undefined) groups.add('intake', named('authz', authz));
  groups.add('metrics', metricsServer);
  let gcTimer: NodeJS.Timeout | undefined;
  groups.add(
    'metrics',
    runnable(
      'usage-gc',
      () => {
        gcTimer = setInterval(() => {
          if (leaderRef.isLeader()) {
            usage
              .collectGarbage()
              .catch((err: unknown) => logger.warn('usage record cleanup failed', { err }));
          }
        }, 60_000);
        gcTimer.unref();
      },
      () => clearInterval(gcTimer),
    ),
  );

  let stopping: Promise<void> | undefined;
  const shutdown = (deadlineMs?: number): Promise<void> => {
    stopping ??= (async () => {
      state = 'stopping';
      // A replica on its way out must not become the leader while it drains.
      elector?.stopAcquiring();
      await groups.shutdown(deadlineMs ?? Date.now() + 25_000);
      api.close();
      state = 'stopped';
      logger.info('operator stopped');
    })();
    return stopping;
  };

  try {
    await groups.start();
  } catch (err) {
    // The groups already stopped what had started (briefly: nothing was received or decided yet).
    await shutdown();
    throw err;
  }
  state = 'ready';
  const ports = {
    ...pipeline.ports(),
    metrics: metricsServer.port(),
    health: healthServer.port(),
    webhook: webhook?.port() ?? 0,
    authz: authz?.port() ?? 0,
  };
  logger.info('operator running', {
    ...ports,
    leaderElection: options.leaderElect,
    namespace: options.namespace,
    watchNamespaces: scope ?? 'all',
  });
  return {
    ports: () => ports,
    ready: isReady,
    enforcer,
    pipeline,
    usage,
    view,
    leader: leaderRef,
    metrics,
    shutdown,
  };
}

const noop = (): void => undefined;

/** Runs `body` (true when synced) and throws INFORMERS_NOT_SYNCED when it is false or still running at the deadline. */
async function withinSyncTimeout(
  timeoutMs: number,
  server: string | undefined,
  body: () => Promise<boolean>,
): Promise<void> {
  const gaveUp = () =>
    new GenOpsError(
      'retryable',
      'INFORMERS_NOT_SYNCED',
      `cluster caches did not sync within ${timeoutMs / 1000} s: the API server ${server ?? '(none configured)'} ` +
        "did not answer, or the operator's RBAC is incomplete (see kubectl auth can-i --list)",
    );
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(gaveUp()), timeoutMs);
  });
  try {
    const synced = await Promise.race([body(), expired]);
    if (!synced) throw gaveUp();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One self-trace span per published decision set, with what it decided. The stages do not take a
 * tracer themselves yet; the composition root records what it sees of them.
 */
function recordDecisionSpan(tracer: Tracer | undefined, set: DecisionSet, events: number): void {
  if (tracer === undefined) return;
  const byAction: Record<string, number> = { allow: 0, warn: 0, throttle: 0, block: 0 };
  for (const d of set.workloads.values()) byAction[d.action] = (byAction[d.action] ?? 0) + 1;
  const span = tracer.startSpan(SPAN.decision, {
    attributes: {
      'genops.decision.version': set.version,
      'genops.decision.budgets': set.budgets.size,
      'genops.decision.policies': set.policies.size,
      'genops.decision.workloads': set.workloads.size,
      'genops.decision.warn': byAction['warn'] ?? 0,
      'genops.decision.throttle': byAction['throttle'] ?? 0,
      'genops.decision.block': byAction['block'] ?? 0,
      'genops.decision.events': events,
    },
  });
  span.end();
}
