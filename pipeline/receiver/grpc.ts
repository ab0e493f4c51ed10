// Owns the OTLP/gRPC receiver: TraceService/Export on @grpc/grpc-js with a hand-made service
// definition whose deserializer is the identity (the raw request bytes go to a worker; nothing
// is parsed on the main thread), gzip handled by grpc-js with the receive limit applied after
// decompression, and the one mapping of error classes to gRPC status codes (`toServiceError`).

import { Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import type {
  ServerUnaryCall,
  ServiceDefinition,
  ServiceError,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../kernel/clock.ts';
import { systemClock } from '../../kernel/clock.ts';
import { GenOpsError, classify, publicMessage } from '../../kernel/errors.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { IngestMetrics } from '../ingest-metrics.ts';
import { noopIngestMetrics } from '../ingest-metrics.ts';
import { encodeExportResponse, encodeRetryStatus } from './responses.ts';
import type { ExportHandler, ReceiverLimits } from './types.ts';
import { DEFAULT_MAX_BODY_BYTES, normalizePeer, refusalReasonOf } from './types.ts';

export interface OtlpGrpcReceiverOptions extends ReceiverLimits {
  handler: ExportHandler;
  host?: string;
  /** Default 4317; 0 picks a free port (tests). */
  port?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: IngestMetrics;
  /** HTTP/2 stream window (the connection gets 4x); default 4 MiB. */
  flowControlWindowBytes?: number;
}

const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * HTTP/2 starts every stream and connection with a 64 KiB flow-control window, so a 128 KiB
 * export waits for WINDOW_UPDATE round trips. grpc-js has no server option for it: the window is
 * widened on every session of its HTTP/2 servers (a private field, hence the defensive access).
 * Matters on real networks (each round trip stalls a large export), not on loopback.
 */
function widenFlowControl(server: Server, bytes: number, logger: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<unknown, unknown> }).http2Servers;
  if (!(servers instanceof Map)) {
    logger.warn('cannot widen the HTTP/2 flow-control window (grpc-js internals changed)');
    return;
  }
  for (const h2 of servers.keys()) {
    const http2Server = h2 as {
      on?: (
        event: 'session',
        listener: (session: {
          setLocalWindowSize?: (n: number) => void;
          settings?: (settings: { initialWindowSize: number }) => void;
        }) => void,
      ) => void;
    };
    http2Server.on?.('session', (session) => {
      try {
        session.setLocalWindowSize?.(Math.min(bytes * 4, 2 ** 31 - 1));
        session.settings?.({ initialWindowSize: Math.min(bytes, 2 ** 31 - 1) });
      } catch {
        // A closed session: nothing to widen.
      }
    });
  }
}

export interface OtlpGrpcReceiver extends Component {
  port(): number;
}

const identity = (b: Buffer): Buffer => b;

/** TraceService with raw bytes in and out: no protobuf library on the main thread. */
export const traceServiceDefinition: ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'export',
  },
};

export function createOtlpGrpcReceiver(options: OtlpGrpcReceiverOptions): OtlpGrpcReceiver {
  const handler = options.handler;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const retryAfter = options.retryAfterSeconds ?? 1;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? noopIngestMetrics;
  const transport = 'otlp-grpc' as const;
  let server: Server | undefined;
  let boundPort = 0;
  let stopping = false;
  let stopped = false;

  /** The one place where an error becomes a gRPC status. */
  const toServiceError = (err: unknown, started: number): Partial<ServiceError> => {
    const errorClass = classify(err);
    const reason = refusalReasonOf(errorClass);
    metrics.requestRefused(transport, reason);
    metrics.requestDuration((performance.now() - started) / 1000, transport, reason);
    const message = publicMessage(err);
    switch (errorClass) {
      case 'invalid':
        return { code: status.INVALID_ARGUMENT, details: message };
      case 'too-large':
        // RESOURCE_EXHAUSTED without RetryInfo: the client must not retry the same batch.
        return { code: status.RESOURCE_EXHAUSTED, details: message };
      case 'retryable':
      case 'shutting-down': {
        const seconds = (err as GenOpsError).retryAfterSeconds ?? retryAfter;
        const metadata = new Metadata();
        metadata.set(
          'grpc-status-details-bin',
          Buffer.from(encodeRetryStatus(status.UNAVAILABLE, message, seconds)),
        );
        return { code: status.UNAVAILABLE, details: message, metadata };
      }
      case 'internal':
        logger.error('OTLP/gRPC request failed', { err });
        return { code: status.INTERNAL, details: message };
    }
  };

  const exportHandler = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void => {
    const started = performance.now();
    const receivedAt = clock.now();
    if (stopping) {
      callback(
        toServiceError(
          new GenOpsError('shutting-down', 'stopping', 'the receiver is stopping', {
            retryAfterSeconds: retryAfter,
          }),
          started,
        ),
        null,
      );
      return;
    }
    const raw = call.request;
    handler
      .handle({
        body: raw,
        encoding: 'protobuf',
        transport,
        peer: normalizePeer(call.getPeer(), true),
        receivedAt,
        receivedMono: started,
      })
      .then(
        (outcome) => {
          metrics.requestDuration(
            (performance.now() - started) / 1000,
            transport,
            outcome.rejectedSpans > 0 ? 'partial' : 'ok',
          );
          callback(
            null,
            Buffer.from(encodeExportResponse('protobuf', outcome.rejectedSpans, outcome.errorMessage)),
          );
        },
        (err: unknown) => callback(toServiceError(err, started), null),
      );
  };

  return {
    async start() {
      if (server) return;
      const s = new Server({
        'grpc.max_receive_message_length': maxBody,
        'grpc.max_send_message_length': 4 * 1024 * 1024,
        // Collectors keep long-lived connections; let them ping.
        'grpc.keepalive_permit_without_calls': 1,
      });
      const impl: UntypedServiceImplementation = { Export: exportHandler };
      s.addService(traceServiceDefinition, impl);
      const host = options.host ?? '127.0.0.1';
      const address = host.includes(':')
        ? `[${host}]:${options.port ?? 4317}`
        : `${host}:${options.port ?? 4317}`;
      boundPort = await new Promise<number>((resolve, reject) => {
        s.bindAsync(address, ServerCredentials.createInsecure(), (err, port) =>
          err ? reject(err) : resolve(port),
        );
      });
      server = s;
      widenFlowControl(s, options.flowControlWindowBytes ?? DEFAULT_WINDOW_BYTES, logger);
      logger.info('OTLP/gRPC receiver listening', { port: boundPort, maxReceiveMessageBytes: maxBody });
    },

    async shutdown(deadlineMs) {
      if (stopped) return;
      stopped = true;
      stopping = true;
      const s = server;
      if (!s) return;
      const waitMs = Math.max(0, (deadlineMs ?? Date.now() + 10_000) - Date.now());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          s.forceShutdown();
          resolve();
        }, waitMs);
        s.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      logger.info('OTLP/gRPC receiver stopped');
    },

    port: () => boundPort,
  };
}
