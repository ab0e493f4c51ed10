// Owns the composition of the ingest runtime as one Component: OTLP receivers (gRPC, HTTP) ->
// decode pool (workers) -> charge-once stage (main thread: nested spans of one provider call
// charged once) -> usage windows (main thread) -> published snapshots. Start order is
// downstream first (windows, pool, receivers); shutdown is upstream first (receivers stop
// accepting and finish in-flight requests, the pool drains, the windows publish a last time).

import type { Clock } from '../kernel/clock.ts';
import { systemClock } from '../kernel/clock.ts';
import type { Component } from '../kernel/lifecycle.ts';
import { shutdownAll, startAll } from '../kernel/lifecycle.ts';
import type { Logger } from '../kernel/logger.ts';
import { silentLogger } from '../kernel/logger.ts';
import type { Attributor } from './attribution/attributor.ts';
import type { ChargeOnceOptions } from './charge-once/charge-once.ts';
import { createChargeOnce } from './charge-once/charge-once.ts';
import type { PriceTableConfig } from './pricing/overrides.ts';
import type { IngestWorkerData } from './worker/worker-data.ts';
import type { IngestMetrics } from './ingest-metrics.ts';
import { noopIngestMetrics } from './ingest-metrics.ts';
import type { DecodePool, DecodePoolOptions } from './pool/pool.ts';
import { createDecodePool } from './pool/pool.ts';
import { createOtlpGrpcReceiver } from './receiver/grpc.ts';
import type { OtlpGrpcReceiver } from './receiver/grpc.ts';
import { createOtlpHttpReceiver } from './receiver/http.ts';
import type { OtlpHttpReceiver } from './receiver/http.ts';
import type { ExportHandler, ReceiverLimits } from './receiver/types.ts';
import type { ApplyMeta, ApplyResult, UsageWindows, UsageWindowsOptions } from './windows/windows.ts';
import { createUsageWindows } from './windows/windows.ts';

export interface ListenOptions {
  /** Default 127.0.0.1; the in-cluster deployment passes 0.0.0.0. */
  host?: string;
  /** Default 4317 (gRPC) / 4318 (HTTP); 0 picks a free port. */
  port?: number;
}

export interface IngestPipelineOptions {
  clock?: Clock;
  logger?: Logger;
  metrics?: IngestMetrics;
  /** false disables the gRPC receiver. */
  grpc?: (ListenOptions & { flowControlWindowBytes?: number }) | false;
  /** false disables the HTTP receiver. */
  http?: ListenOptions | false;
  /** Largest request after decompression, both transports; default 64 MiB. */
  maxBodyBytes?: number;
  /** Seconds clients are told to wait when the queue is full; default 1. */
  retryAfterSeconds?: number;
  /** Connection limit and slow-client deadlines of both receivers (receiver/types.ts defaults). */
  limits?: Omit<ReceiverLimits, 'maxBodyBytes' | 'retryAfterSeconds'>;
  pool?: Omit<DecodePoolOptions, 'logger' | 'metrics' | 'retryAfterSeconds'>;
  windows?: Omit<UsageWindowsOptions, 'clock' | 'logger' | 'metrics' | 'attributor'>;
  /**
   * Workload attribution; default resource attributes only (local mode). In a cluster the composition
   * root passes the attributor over its pod directory (started, and synced, before this runtime).
   */
  attributor?: Pick<Attributor, 'resolve'>;
  /** Operator price overrides and fallback price, handed to every worker. */
  pricing?: PriceTableConfig;
  /** Hold and memory of the charge-once stage (pipeline/charge-once/README.md). */
  chargeOnce?: Omit<ChargeOnceOptions, 'apply' | 'clock' | 'logger' | 'metrics'>;
  /**
   * Write-ahead log of the windows' changes: a request is answered only once its change is durable
   * (pipeline/wal/journal.ts). Without it, an answer means "in memory".
   */
  journal?: { record(result: ApplyResult): Promise<void> };
}

export interface IngestPipeline extends Component {
  /** The published usage (a SnapshotSource) plus export/restore of period spend. */
  readonly windows: UsageWindows;
  readonly pool: DecodePool;
  /** Receiver ports once started (0 when disabled). */
  ports(): { grpc: number; http: number };
  /** True between a successful start and the beginning of shutdown. */
  ready(): boolean;
}

export function createIngestPipeline(options: IngestPipelineOptions = {}): IngestPipeline {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? noopIngestMetrics;
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;

  const attributor = options.attributor;
  const windows = createUsageWindows({
    ...options.windows,
    clock,
    metrics,
    logger: logger.child({ stage: 'windows' }),
    ...(attributor ? { attributor } : {}),
  });
  /** Journal writes of each request's applied usage, awaited before the request is answered. */
  const durable = new Map<ApplyMeta, Promise<void>[]>();
  const chargeOnce = createChargeOnce({
    ...options.chargeOnce,
    apply: (partial, meta) => {
      const applied = windows.apply(partial, meta);
      if (options.journal === undefined) return;
      const record = options.journal.record(applied);
      const records = durable.get(meta);
      if (records === undefined) durable.set(meta, [record]);
      else records.push(record);
    },
    clock,
    logger: logger.child({ stage: 'charge-once' }),
    metrics: {
      spansNested: (count, instrumentation) => metrics.spansNested?.(count, instrumentation),
      spansWithoutUsage: (count, instrumentation) => metrics.spansWithoutUsage?.(count, instrumentation),
    },
  });
  const workerData: IngestWorkerData | undefined =
    options.pricing !== undefined
      ? { pricing: options.pricing }
      : (options.pool?.workerData as IngestWorkerData | undefined);
  const pool = createDecodePool({
    ...options.pool,
    ...(workerData !== undefined ? { workerData } : {}),
    retryAfterSeconds,
    metrics,
    logger: logger.child({ stage: 'pool' }),
  });

  const handler: ExportHandler = {
    async handle(request) {
      const partial = await pool.decode(
        { body: request.body, encoding: request.encoding },
        request.reservation,
      );
      metrics.spansReceived(partial.spansTotal, request.transport);
      const implausible = partial.spansImplausible ?? 0;
      if (partial.spansRejected > implausible)
        metrics.spansRejected(partial.spansRejected - implausible, request.transport, 'invalid');
      if (implausible > 0) metrics.spansRejected(implausible, request.transport, 'implausible-usage');
      const meta: ApplyMeta = {
        peer: request.peer,
        receivedAt: request.receivedAt,
        receivedMono: request.receivedMono,
      };
      chargeOnce.submit(partial, meta);
      // The success answer tells the exporter to drop the spans: only once they are on disk, the
      // spans the charge-once stage holds included (released or dropped within its hold).
      if (options.journal !== undefined) {
        await chargeOnce.settled(meta);
        const records = durable.get(meta);
        durable.delete(meta);
        if (records !== undefined) await Promise.all(records);
      }
      return {
        spansTotal: partial.spansTotal,
        rejectedSpans: partial.spansRejected,
        errorMessage: partial.rejectMessage,
      };
    },
    refusal: (bytes) => pool.refusal(bytes),
    reserve: () => pool.reserve(),
  };

  const common = {
    handler,
    clock,
    metrics,
    retryAfterSeconds,
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...options.limits,
  };
  const grpc: OtlpGrpcReceiver | undefined =
    options.grpc === false
      ? undefined
      : createOtlpGrpcReceiver({ ...common, ...options.grpc, logger: logger.child({ stage: 'otlp-grpc' }) });
  const http: OtlpHttpReceiver | undefined =
    options.http === false
      ? undefined
      : createOtlpHttpReceiver({ ...common, ...options.http, logger: logger.child({ stage: 'otlp-http' }) });
  const receivers: Component[] = [grpc, http].filter((r): r is OtlpGrpcReceiver | OtlpHttpReceiver => !!r);

  let state: 'new' | 'starting' | 'ready' | 'stopping' | 'stopped' = 'new';

  return {
    windows,
    pool,
    ports: () => ({ grpc: grpc?.port() ?? 0, http: http?.port() ?? 0 }),
    ready: () => state === 'ready',

    async start(signal) {
      if (state !== 'new') return;
      state = 'starting';
      try {
        await startAll([windows, chargeOnce, pool, ...receivers], signal);
      } catch (err) {
        state = 'stopped';
        throw err;
      }
      state = 'ready';
      logger.info('ingest pipeline ready', { grpcPort: grpc?.port(), httpPort: http?.port() });
    },

    async shutdown(deadlineMs) {
      if (state === 'stopping' || state === 'stopped') return;
      const wasStarted = state !== 'new';
      state = 'stopping';
      if (wasStarted) {
        const deadline = deadlineMs ?? Date.now() + 10_000;
        // Receivers answer in-flight requests before they close, so the pool drains behind them.
        await Promise.all(receivers.map((r) => shutdownAll([r], deadline)));
        await shutdownAll([pool, chargeOnce, windows], deadline);
      }
      state = 'stopped';
    },
  };
}
