// `genops local`: the ingest pipeline without a cluster. Loads AIPolicy/AIBudget YAML from a
// directory (reloaded when files change), receives OTLP on 4317/4318, attributes spans from
// resource attributes only, evaluates decisions offline (nothing is enforced), serves Prometheus
// text on /metrics and /healthz, /readyz and /status (for `genops status --local`).

import { Command } from 'commander';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRunnableGroups, named, runnable } from '../../kernel/runnables.ts';
import { createHealthServer, createMetricsServer } from '../servers.ts';
import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import { formatProblem, loadResources } from '../../crds/load.ts';
import { GenOpsError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { createLogger } from '../../kernel/logger.ts';
import { formatMicros } from '../../kernel/money.ts';
import type { DecisionSet } from '../../decision/types.ts';
import type { Clock } from '../../kernel/clock.ts';
import { createIngestPipeline } from '../../pipeline/ingest.ts';
import type { IngestPipeline } from '../../pipeline/ingest.ts';
import { createMetrics } from '../../observability/metrics.ts';
import type { UnknownModelPrice } from '../../pipeline/pricing/overrides.ts';
import { loadPriceTableConfig, withUnknownModelPrice } from '../../pipeline/pricing/overrides.ts';
import { renderDashboard } from '../view/dashboard.ts';
import { costOverrideFromPolicies } from '../../pipeline/windows/cost-override.ts';
import { assertTimeZone } from '../../pipeline/windows/periods.ts';
import { createOfflineDecisions } from '../../enforcer/offline/loop.ts';
import { openWal } from '../../pipeline/wal/wal.ts';
import { createUsageJournal, type UsageJournal } from '../../pipeline/wal/journal.ts';
import { createFileUsageRecord, type FileUsageRecord } from '../../pipeline/wal/file-record.ts';
import type { OfflineDecisions } from '../../enforcer/offline/loop.ts';
import { createDemoTraffic } from '../demo/traffic.ts';
import type { DemoTraffic } from '../demo/traffic.ts';
import type { CommandContext } from '../context.ts';
import { EXIT } from '../context.ts';
import { parsePort, parsePositiveInteger, parseTimeZone, parseUnknownModelPriceFlag } from '../flags.ts';
import type { IngestLimitFlags } from '../ingest-limits.ts';
import { addIngestLimitOptions, ingestLimitFlags, ingestLimitOptions } from '../ingest-limits.ts';
import { isPortUnavailable } from '../unavailable.ts';
import { createGatewayAuthz, DEFAULT_AUTHZ_PORT, type AuthzServer } from '../../authz/index.ts';

export interface LocalOptions {
  readonly policies: string;
  readonly host: string;
  readonly otlpGrpcPort: number;
  readonly otlpHttpPort: number;
  readonly metricsPort: number;
  readonly healthPort: number;
  /** Gateway authorization (Envoy ext_authz gRPC + HTTP forward-auth); undefined: not served. */
  readonly authzPort?: number;
  readonly timeZone: string;
  /** Decode worker threads; default the number of cores. */
  readonly workers?: number;
  /** Also send the demo scenario's spans to our own HTTP receiver. */
  readonly demo?: boolean;
  /** Debounce of policy file changes, ms; default 250. */
  readonly reloadDelayMs?: number;
  /** Operator price overrides and fallback (YAML/JSON), as for `genops operator --price-file`. */
  readonly priceFile?: string;
  /** Body, queue, worker heap and connection limits (cmd/ingest-limits.ts), as for the operator. */
  readonly limits?: IngestLimitFlags;
  /** `--unknown-model-price` (pipeline/pricing/README.md); default: the provider's highest price. */
  readonly unknownModelPrice?: UnknownModelPrice;
  /**
   * Usage write-ahead log and usage file directory: answers wait until the spend is on disk, and a
   * restart continues the period. Without it usage lives in memory only.
   */
  readonly walDir?: string;
}

export interface LocalRuntime {
  readonly pipeline: IngestPipeline;
  /** Decisions and statuses as the operator would make them (nothing is enforced locally). */
  readonly decisions: OfflineDecisions;
  ports(): { grpc: number; http: number; metrics: number; health: number; authz: number };
  resources(): { policies: readonly AIPolicy[]; budgets: readonly AIBudget[] };
  /** Re-reads the policy directory now (also done on file changes). */
  reload(): Promise<void>;
  /** Resolves after every reload, with the number of resources loaded (tests wait on it). */
  onReload(listener: (count: number) => void): void;
  shutdown(): Promise<void>;
}

export async function startLocal(
  options: LocalOptions,
  deps: { logger: Logger; clock: Clock },
): Promise<LocalRuntime> {
  const logger = deps.logger.child({ component: 'local' });
  assertTimeZone(options.timeZone);
  try {
    await stat(options.policies);
  } catch {
    throw new GenOpsError('invalid', 'policies-missing', `policy directory not found: ${options.policies}`);
  }

  let policies: readonly AIPolicy[] = [];
  let budgets: readonly AIBudget[] = [];
  const reloadListeners: ((count: number) => void)[] = [];

  const pricing = withUnknownModelPrice(
    options.priceFile === undefined ? undefined : await loadPriceTableConfig(options.priceFile),
    options.unknownModelPrice,
  );
  // One process, no leader election: the scrape-time gauges are always this process's. The getters
  // run at scrape time, after the pipeline and the decisions below exist.
  const metrics = createMetrics({
    clock: deps.clock,
    defaultMetrics: true,
    clusterGauges: 'always',
    snapshot: () => pipeline.windows.current(),
    decisions: () => decisions.decisions(),
    usageCounters: 'events',
  });
  const journal: UsageJournal | undefined =
    options.walDir === undefined
      ? undefined
      : createUsageJournal({
          wal: await openWal({ dir: options.walDir, clock: deps.clock, logger, metrics: metrics.wal }),
          windows: { replay: (delta, charge) => pipeline.windows.replay(delta, charge) },
          logger,
        });
  const pipeline = createIngestPipeline({
    clock: deps.clock,
    logger,
    grpc: { host: options.host, port: options.otlpGrpcPort },
    http: { host: options.host, port: options.otlpHttpPort },
    windows: { timeZone: options.timeZone, onCharged: (g) => metrics.usage.charged(g) },
    ...(journal === undefined ? {} : { journal }),
    metrics: metrics.ingest,
    ...(pricing ? { pricing } : {}),
    ...ingestLimitOptions(options.limits, options.workers),
  });

  const usageFile: FileUsageRecord | undefined =
    journal === undefined || options.walDir === undefined
      ? undefined
      : createFileUsageRecord({
          dir: options.walDir,
          windows: pipeline.windows,
          journal,
          clock: deps.clock,
          logger,
        });

  const decisions = createOfflineDecisions({
    clock: deps.clock,
    logger,
    usage: pipeline.windows,
    resources: () => ({ policies, budgets }),
    timeZone: options.timeZone,
    metrics: metrics.decision,
  });
  decisions.subscribe((result) => metrics.violations.decisionsPublished(result.decisions));

  const reload = async (): Promise<void> => {
    let result;
    try {
      result = await loadResources([options.policies]);
    } catch (err) {
      logger.warn('policy directory could not be read; keeping the previous resources', { err });
      return;
    }
    for (const p of result.problems) logger.warn('invalid resource skipped', { problem: formatProblem(p) });
    // As `kubectl apply` would: resources without a namespace land in "default".
    const all = result.resources.map((r) =>
      r.resource.metadata.namespace === undefined
        ? { ...r.resource, metadata: { ...r.resource.metadata, namespace: 'default' } }
        : r.resource,
    );
    policies = all.filter((r): r is AIPolicy => r.kind === 'AIPolicy');
    budgets = all.filter((r): r is AIBudget => r.kind === 'AIBudget');
    pipeline.windows.setCostOverride(costOverrideFromPolicies(policies, pricing));
    decisions.resourcesChanged();
    logger.info('policies loaded', {
      policies: policies.length,
      budgets: budgets.length,
      dir: options.policies,
    });
    for (const l of reloadListeners) l(policies.length + budgets.length);
  };
  await reload();

  const metricsServer = createMetricsServer({
    host: options.host,
    port: options.metricsPort,
    metrics,
    logger,
  });
  const healthServer = createHealthServer({
    host: options.host,
    port: options.healthPort,
    live: () => ({ alive: true }),
    ready: () => pipeline.ready(),
    routes: {
      // What `genops status --local` reads: the resources with the status the operator would write.
      '/status': (_req, res) => {
        const body = JSON.stringify({ budgets: decisions.budgets(), policies: decisions.policies() });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      },
    },
  });

  // No pods here: the gateway names the caller with X-Genops-* headers.
  const authz: AuthzServer | undefined =
    options.authzPort === undefined
      ? undefined
      : createGatewayAuthz({
          host: options.host,
          port: options.authzPort,
          view: { decisions: () => decisions.decisions(), policies: () => policies, budgets: () => budgets },
          clock: deps.clock,
          logger,
          metrics: metrics.authz,
          ...(pricing ? { pricing } : {}),
        });

  let watcher: FSWatcher | undefined;
  let demo: DemoTraffic | undefined;
  // Started in this order, stopped in reverse: health first, so probes see "not ready" rather than
  // nothing while the rest starts; the saved period and the log are restored before a span is
  // received; the intake (gateway checks, then receivers with the pool draining) stops first and the
  // usage file is written after it.
  const groups = createRunnableGroups(
    ['health', 'state', 'decisions', 'pipeline', 'metrics', 'authz'] as const,
    logger,
  );
  groups.add('health', healthServer);
  if (journal !== undefined)
    groups.add(
      'health',
      runnable(
        'wal',
        () => undefined,
        () => journal.close(),
      ),
    );
  if (journal !== undefined && usageFile !== undefined) {
    groups.add(
      'state',
      runnable(
        'usage-file',
        async () => {
          // Before a span is received: the saved period, then what the log holds beyond it.
          await journal.replay(await usageFile.restore());
          await usageFile.start();
        },
        () =>
          usageFile.shutdown().catch((err: unknown) => logger.warn('final usage file write failed', { err })),
      ),
    );
  }
  groups.add('decisions', named('decisions', decisions));
  groups.add(
    'pipeline',
    runnable(
      'pipeline',
      () => pipeline.start(),
      () => pipeline.shutdown(Date.now() + 10_000),
    ),
  );
  groups.add('metrics', metricsServer);
  if (authz !== undefined) groups.add('authz', named('authz', authz));

  const shutdown = async (): Promise<void> => {
    watcher?.close();
    if (demo) await demo.shutdown();
    await groups.shutdown();
  };

  try {
    await groups.start();
  } catch (err) {
    await shutdown();
    throw err;
  }

  let timer: NodeJS.Timeout | undefined;
  try {
    watcher = watch(options.policies, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), options.reloadDelayMs ?? 250);
    });
    watcher.on('error', (err) => logger.warn('policy watch failed; reloads stop', { err }));
  } catch (err) {
    logger.warn('cannot watch the policy directory; changes need a restart', { err });
  }

  if (options.demo) {
    demo = createDemoTraffic({
      endpoint: `http://127.0.0.1:${pipeline.ports().http}`,
      protocol: 'http/protobuf',
      rate: 1,
      logger,
    });
    await demo.start();
  }

  const ports = {
    ...pipeline.ports(),
    metrics: metricsServer.port(),
    health: healthServer.port(),
    authz: authz?.port() ?? 0,
  };
  logger.info('genops local running', ports);
  return {
    pipeline,
    decisions,
    ports: () => ports,
    resources: () => ({ policies, budgets }),
    reload,
    onReload: (l) => reloadListeners.push(l),
    shutdown: async () => {
      clearTimeout(timer);
      await shutdown();
    },
  };
}

export function command(ctx: CommandContext, setExit: (code: number) => void): Command {
  return addIngestLimitOptions(new Command('local'))
    .description('run the ingest pipeline without a cluster: OTLP in, Prometheus metrics out')
    .requiredOption('--policies <dir>', 'directory of AIPolicy/AIBudget YAML (reloaded on change)')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--otlp-grpc-port <port>', 'OTLP/gRPC port', parsePort, 4317)
    .option('--otlp-http-port <port>', 'OTLP/HTTP port', parsePort, 4318)
    .option('--metrics-port <port>', 'Prometheus /metrics port', parsePort, 8080)
    .option('--health-port <port>', '/healthz and /readyz port', parsePort, 8081)
    .option(
      '--authz-port <port>',
      'gateway authorization port (Envoy ext_authz gRPC and HTTP forward-auth /v1/check)',
      parsePort,
      DEFAULT_AUTHZ_PORT,
    )
    .option('--time-zone <tz>', 'IANA time zone of budget periods', parseTimeZone, 'UTC')
    .option('--workers <n>', 'decode worker threads (default: one per core)', parsePositiveInteger)
    .option('--demo', 'also send demo GenAI traffic to the local receiver')
    .option('--price-file <file>', 'price overrides and fallback price (YAML or JSON)')
    .option(
      '--unknown-model-price <price>',
      'price of models no table knows: highest (of the provider, default), 0, or <input>,<output> USD per 1M tokens',
      parseUnknownModelPriceFlag,
    )
    .option(
      '--wal-dir <dir>',
      'keep usage on disk here (write-ahead log + usage file): answers wait for the disk, restarts continue the period',
    )
    .action(
      async (
        opts: {
          policies: string;
          host: string;
          otlpGrpcPort: number;
          otlpHttpPort: number;
          metricsPort: number;
          healthPort: number;
          authzPort: number;
          timeZone: string;
          workers?: number;
          demo?: boolean;
          priceFile?: string;
          unknownModelPrice?: UnknownModelPrice;
          walDir?: string;
        } & IngestLimitFlags,
      ) => {
        // On a terminal the live view owns the screen: log records go to its "latest events" pane.
        const events: string[] = [];
        const logger = ctx.isTTY
          ? createLogger({ level: ctx.env.logLevel, write: (line) => keepEvent(events, line) })
          : ctx.logger;
        let runtime: LocalRuntime;
        try {
          runtime = await startLocal(
            {
              ...opts,
              ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
              ...(opts.priceFile !== undefined ? { priceFile: opts.priceFile } : {}),
              limits: ingestLimitFlags(opts),
              ...(opts.unknownModelPrice !== undefined ? { unknownModelPrice: opts.unknownModelPrice } : {}),
              ...(opts.walDir !== undefined ? { walDir: opts.walDir } : {}),
            },
            { logger, clock: ctx.clock },
          );
        } catch (err) {
          // A missing directory or a busy port is a prerequisite problem, not a crash.
          const unavailable =
            isPortUnavailable(err) || (err instanceof GenOpsError && err.code === 'policies-missing');
          ctx.stderr(`genops local: ${err instanceof Error ? err.message : String(err)}\n`);
          setExit(unavailable ? EXIT.unavailable : EXIT.failure);
          return;
        }
        const p = runtime.ports();
        ctx.stdout(
          `genops local: OTLP gRPC :${p.grpc}, OTLP HTTP :${p.http}, metrics :${p.metrics}/metrics, ` +
            `health :${p.health}/healthz, authz :${p.authz} (Ctrl-C to stop)\n`,
        );
        const view = ctx.isTTY
          ? setInterval(() => {
              const screen = renderDashboard(runtime.decisions.decisions(), {
                now: ctx.clock.now(),
                color: true,
                width: process.stdout.columns,
                maxDecisions: 8,
              });
              const header = `genops local  OTLP :${p.grpc} (gRPC) :${p.http} (HTTP)  metrics :${p.metrics}  status :${p.health}/status  Ctrl-C to stop\n\n`;
              const tail = events.length > 0 ? `\nLatest events\n${events.join('\n')}\n` : '';
              ctx.stdout(`\u001b[2J\u001b[H${header}${screen}${tail}`);
            }, 1000)
          : setInterval(() => logBudgets(ctx.logger, runtime.decisions.decisions()), 15_000);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        clearInterval(view);
        await runtime.shutdown();
        setExit(EXIT.ok);
      },
    );
}

/** Keeps the last few log records as short lines for the live view. */
function keepEvent(events: string[], line: string): void {
  try {
    const r = JSON.parse(line) as { time?: string; level?: string; msg?: string };
    events.push(`${(r.time ?? '').slice(11, 19)} ${(r.level ?? '').padEnd(5)} ${r.msg ?? ''}`);
  } catch {
    events.push(line);
  }
  if (events.length > 8) events.splice(0, events.length - 8);
}

/** Without a terminal: one plain log line per budget every few seconds. */
function logBudgets(logger: Logger, set: DecisionSet): void {
  for (const b of set.budgets.values()) {
    logger.info('budget', {
      budget: `${b.source.namespace}/${b.source.name}`,
      spend: formatMicros(b.spendMicros),
      limit: formatMicros(b.limitMicros),
      utilizationPercent: Math.round(b.utilizationPercent * 100) / 100,
      action: b.action,
      resetAt: new Date(b.resetAt).toISOString(),
    });
  }
}
