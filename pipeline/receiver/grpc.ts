// Owns the OTLP/gRPC receiver: TraceService/Export on @grpc/grpc-js with a hand-made service
// definition whose deserializer is the identity (the raw request bytes go to a worker; nothing
// is parsed on the main thread), gzip handled by grpc-js with the receive limit applied after
// decompression, and the one mapping of error classes to gRPC status codes (`toServiceError`,
// from STATUS_TABLE).
//
// Against hostile senders (see guardStreams): bytes of a request stream count against the queue's
// byte bound as they arrive (refused with UNAVAILABLE + RetryInfo when it is reached), every
// stream has a server-side deadline for its whole request and for pauses within it, connections
// are capped, and grpc-js's own answers to broken input are mapped to the OTLP codes (a truncated
// message or corrupt gzip is INVALID_ARGUMENT, not UNIMPLEMENTED or INTERNAL).

import { Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import type {
  ServerUnaryCall,
  ServiceDefinition,
  ServiceError,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import { constants as h2constants } from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
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
import {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  normalizePeer,
  STATUS_TABLE,
} from './types.ts';

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

/** The HTTP/2 servers under a grpc-js Server (a private field, hence the defensive access). */
function http2ServersOf(server: Server): unknown[] {
  const servers = (server as unknown as { http2Servers?: Map<unknown, unknown> }).http2Servers;
  return servers instanceof Map ? [...servers.keys()] : [];
}

/**
 * grpc-js answers some broken requests with codes OTLP exporters read wrongly: a request that
 * ends inside its message frame gets UNIMPLEMENTED ("no request message"), a corrupt gzip
 * INTERNAL. Rewritten on the way out to what they are, bad input.
 */
const UNIMPLEMENTED: number = status.UNIMPLEMENTED;
const INTERNAL: number = status.INTERNAL;
const INVALID_ARGUMENT: number = status.INVALID_ARGUMENT;

function mappedStatus(code: number, message: string): number {
  if (code === UNIMPLEMENTED && message.startsWith('Received no request message')) return INVALID_ARGUMENT;
  if (code === INTERNAL && message.startsWith('Failed to decompress')) return INVALID_ARGUMENT;
  if (code === INTERNAL && message.startsWith('Error deserializing')) return INVALID_ARGUMENT;
  return code;
}

function rewriteStatus(headers: Record<string, unknown>): void {
  const code = headers['grpc-status'];
  if (code === undefined) return;
  const raw = headers['grpc-message'];
  let message: string;
  try {
    message = typeof raw === 'string' ? decodeURI(raw) : '';
  } catch {
    message = '';
  }
  const mapped = mappedStatus(Number(code), message);
  if (mapped !== Number(code)) headers['grpc-status'] = String(mapped);
}

const identity = (b: Buffer): Buffer => b;

/** Why a stream is answered before its request was read. */
type StreamRefusal = 'retryable' | 'shutting-down' | 'timeout';

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

  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  /** Streams whose request is still arriving: answered at once on shutdown. */
  const receiving = new Set<(errorClass: StreamRefusal, message: string) => void>();

  /** google.rpc.Status with RetryInfo as grpc-status-details-bin. */
  const retryMetadata = (code: number, message: string, seconds: number): Metadata => {
    const metadata = new Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from(encodeRetryStatus(code, message, seconds)));
    return metadata;
  };

  /** The one place where an error becomes a gRPC status. */
  const toServiceError = (err: unknown, started: number): Partial<ServiceError> => {
    const errorClass = classify(err);
    const row = STATUS_TABLE[errorClass];
    metrics.requestRefused(transport, row.reason);
    metrics.requestDuration((performance.now() - started) / 1000, transport, row.reason);
    const message = publicMessage(err);
    if (errorClass === 'internal') logger.error('OTLP/gRPC request failed', { err });
    if (!row.retry) return { code: row.grpc, details: message };
    const seconds = (err as GenOpsError).retryAfterSeconds ?? retryAfter;
    return { code: row.grpc, details: message, metadata: retryMetadata(row.grpc, message, seconds) };
  };

  /**
   * Watches every HTTP/2 stream beside grpc-js (which attached its own listeners first, so ours
   * see the same frames without changing flow): reserves the bytes against the queue bound,
   * enforces the stream deadlines, and rewrites grpc-js's status for broken input. A refusal is a
   * trailers-only response; the rest of the request is then read and dropped (not reset), so the
   * client reads the status instead of a reset stream.
   */
  const guardStream = (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders): void => {
    const reservation = handler.reserve?.();
    const started = performance.now();
    let finished = false;
    /** Set once we answered the stream ourselves: grpc-js's later answer is then dropped. */
    let answered = false;
    const originalRespond = stream.respond.bind(stream);
    stream.respond = ((headers?: Record<string, unknown>, opts?: unknown) => {
      if (answered || stream.headersSent) return;
      if (headers) rewriteStatus(headers);
      originalRespond(headers as never, opts as never);
    }) as typeof stream.respond;
    const originalTrailers = stream.sendTrailers.bind(stream);
    stream.sendTrailers = (headers: Record<string, unknown>) => {
      if (answered) return;
      rewriteStatus(headers);
      originalTrailers(headers as never);
    };

    const refuse = (errorClass: StreamRefusal, message: string): void => {
      if (finished) return;
      done();
      const row = STATUS_TABLE[errorClass];
      const code = row.grpc;
      const retry = row.retry;
      metrics.requestRefused(transport, row.reason);
      metrics.requestDuration((performance.now() - started) / 1000, transport, row.reason);
      if (!stream.headersSent && !stream.destroyed) {
        const trailers: Record<string, string> = {
          ':status': '200',
          'content-type': 'application/grpc+proto',
          'grpc-status': String(code),
          'grpc-message': encodeURI(message),
        };
        if (retry)
          trailers['grpc-status-details-bin'] = Buffer.from(
            encodeRetryStatus(code, message, retryAfter),
          ).toString('base64');
        try {
          answered = true;
          originalRespond(trailers, { endStream: true });
        } catch {
          // The stream closed meanwhile: nothing to answer.
        }
      }
      // Drain what the client still sends (bounded by the deadline), then close without error.
      stream.resume();
      const closer = setTimeout(() => {
        if (!stream.destroyed) stream.close(h2constants.NGHTTP2_NO_ERROR);
      }, 1_000);
      closer.unref();
    };
    const whole = setTimeout(
      () => refuse('timeout', `request not received within ${bodyTimeoutMs} ms`),
      bodyTimeoutMs,
    );
    const idle = setTimeout(
      () => refuse('timeout', `no request data for ${idleTimeoutMs} ms`),
      idleTimeoutMs,
    );
    const abortOnShutdown = (errorClass: StreamRefusal, message: string): void => refuse(errorClass, message);
    receiving.add(abortOnShutdown);
    function done(): void {
      finished = true;
      clearTimeout(whole);
      clearTimeout(idle);
      receiving.delete(abortOnShutdown);
      stream.off('data', onData);
      reservation?.release();
    }
    // The first 5 bytes are the gRPC message prefix (flag, 4-byte length): the announced length
    // is reserved at once, as a Content-Length is over HTTP, so slow large messages are refused
    // before their bytes pile up. Beyond it (more frames), bytes are reserved as they arrive.
    const prefix = Buffer.alloc(5);
    let received = 0;
    const onData = (chunk: Buffer): void => {
      idle.refresh();
      if (!reservation) return;
      const before = received;
      received += chunk.byteLength;
      if (before < 5) chunk.copy(prefix, before, 0, Math.min(chunk.byteLength, 5 - before));
      let want = received;
      if (received >= 5) {
        const announced = prefix.readUInt32BE(1);
        // Oversized messages are grpc-js's to refuse (RESOURCE_EXHAUSTED); reserve up to the cap.
        want = Math.max(received, Math.min(announced, maxBody) + 5);
      }
      if (want > reservation.bytes && !reservation.take(want - reservation.bytes))
        refuse('retryable', 'the ingest queue is full, retry later');
    };
    stream.on('data', onData);
    // Whole request received (the pool accounts the message from here) or stream gone.
    stream.once('end', () => {
      if (!finished) done();
    });
    stream.once('close', () => {
      if (!finished) done();
    });
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
        // Each stream may buffer a whole message: bound them per connection (connections are
        // bounded too, and all bytes in flight by the queue's byte bound).
        'grpc.max_concurrent_streams': 32,
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
      const h2servers = http2ServersOf(s);
      if (h2servers.length === 0) logger.warn('cannot guard gRPC streams (grpc-js internals changed)');
      for (const h2 of h2servers) {
        const h = h2 as {
          maxConnections?: number;
          on?: (event: string, listener: (...args: never[]) => void) => void;
        };
        h.maxConnections = maxConnections;
        h.on?.('drop', () => metrics.requestRefused(transport, 'connection-limit'));
        h.on?.('stream', guardStream);
      }
      logger.info('OTLP/gRPC receiver listening', { port: boundPort, maxReceiveMessageBytes: maxBody });
    },

    async shutdown(deadlineMs) {
      if (stopped) return;
      stopped = true;
      stopping = true;
      const s = server;
      if (!s) return;
      // Streams still sending their request were never accepted: answer UNAVAILABLE now, so a
      // stuck client does not hold the drain until the deadline.
      for (const abort of [...receiving]) abort('shutting-down', 'the receiver is stopping');
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
