// Owns the OTLP/HTTP receiver: POST /v1/traces on node:http, protobuf or JSON, identity, gzip
// or deflate bodies with a cap on the decompressed size (a gzip bomb stops at the cap), and the
// mapping of error classes to HTTP statuses in exactly one place (`fail`, from STATUS_TABLE).
//
// Against hostile senders: bytes of a body count against the queue's byte bound while they
// arrive (a reservation from the pool, taken per chunk or for the whole Content-Length up front),
// so many slow large bodies are refused early with 429 + Retry-After instead of growing memory;
// connections are capped; headers, whole bodies and pauses within a body have deadlines (408);
// and at shutdown, requests still sending their body are answered 503 at once, so a stuck client
// never holds the drain.

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { gunzip, inflate, inflateRaw } from 'node:zlib';
import type { Clock } from '../../kernel/clock.ts';
import { systemClock } from '../../kernel/clock.ts';
import { GenOpsError, classify, publicMessage } from '../../kernel/errors.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { IngestMetrics, RefusalReason, Transport } from '../ingest-metrics.ts';
import { noopIngestMetrics } from '../ingest-metrics.ts';
import { encodeExportResponse, encodeStatus } from './responses.ts';
import type { WireEncoding } from './responses.ts';
import type { ByteReservation } from '../pool/pool.ts';
import type { ExportHandler, ReceiverLimits } from './types.ts';
import {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  normalizePeer,
  STATUS_TABLE,
} from './types.ts';

export interface OtlpHttpReceiverOptions extends ReceiverLimits {
  handler: ExportHandler;
  /** Loopback by default; the deployment passes 0.0.0.0. */
  host?: string;
  /** Default 4318; 0 picks a free port (tests). */
  port?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: IngestMetrics;
}

export interface OtlpHttpReceiver extends Component {
  /** The bound port, once started. */
  port(): number;
}

const TRACES_PATH = '/v1/traces';

type Decompress = (buf: Uint8Array, max: number) => Promise<Uint8Array>;

function zlibCall(fn: typeof gunzip): (buf: Uint8Array, max: number) => Promise<Uint8Array> {
  return (buf, max) =>
    new Promise((resolve, reject) => {
      fn(buf, { maxOutputLength: max }, (err, out) => (err ? reject(err) : resolve(out)));
    });
}

const gunzipAsync = zlibCall(gunzip);
const inflateAsync = zlibCall(inflate);
const inflateRawAsync = zlibCall(inflateRaw);

/** Some clients send raw deflate under "deflate"; try zlib-wrapped first. */
const inflateEither: Decompress = async (buf, max) => {
  try {
    return await inflateAsync(buf, max);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw err;
    return inflateRawAsync(buf, max);
  }
};

function decompressorFor(header: string | undefined): Decompress | null | undefined {
  const value = (header ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return null;
  if (value === 'gzip' || value === 'x-gzip') return gunzipAsync;
  if (value === 'deflate') return inflateEither;
  return undefined;
}

function encodingOf(contentType: string | undefined): WireEncoding | undefined {
  if (!contentType) return undefined;
  const semi = contentType.indexOf(';');
  const media = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (media === 'application/x-protobuf' || media === 'application/protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  return undefined;
}

export function createOtlpHttpReceiver(options: OtlpHttpReceiverOptions): OtlpHttpReceiver {
  const handler = options.handler;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const retryAfter = options.retryAfterSeconds ?? 1;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? noopIngestMetrics;
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  /** Requests whose body is still arriving: answered 503 at once on shutdown. */
  const receiving = new Set<(err: GenOpsError) => void>();
  let server: Server | undefined;
  let boundPort = 0;
  let stopping = false;
  let stopped = false;
  /** Requests accepted and not yet answered; shutdown waits for them. */
  let inFlight = 0;
  let onIdle: (() => void) | undefined;

  const reply = (
    res: ServerResponse,
    status: number,
    encoding: WireEncoding,
    body: Uint8Array,
    extraHeaders?: Record<string, string>,
  ): void => {
    res.statusCode = status;
    res.setHeader('Content-Type', encoding === 'json' ? 'application/json' : 'application/x-protobuf');
    res.setHeader('Content-Length', body.byteLength);
    if (extraHeaders) for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
    if (stopping) res.setHeader('Connection', 'close');
    res.end(body);
  };

  /** The one place where an error becomes an HTTP status. */
  const fail = (
    res: ServerResponse,
    encoding: WireEncoding,
    transport: Transport,
    started: number,
    err: unknown,
    reasonOverride?: RefusalReason,
    closeConnection = false,
  ): void => {
    const errorClass = classify(err);
    const row = STATUS_TABLE[errorClass];
    const status = reasonOverride === 'unsupported-media-type' ? 415 : row.http;
    const reason = reasonOverride ?? row.reason;
    if (errorClass === 'internal') logger.error('OTLP/HTTP request failed', { err });
    const headers: Record<string, string> = {};
    if (row.retry) {
      const seconds = (err as GenOpsError).retryAfterSeconds ?? retryAfter;
      headers['Retry-After'] = String(Math.max(1, Math.ceil(seconds)));
    }
    if (closeConnection) headers['Connection'] = 'close';
    metrics.requestRefused(transport, reason);
    metrics.requestDuration((performance.now() - started) / 1000, transport, reason);
    reply(res, status, encoding, encodeStatus(encoding, row.grpc, publicMessage(err)), headers);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const receivedAt = clock.now();
    const encoding = encodingOf(req.headers['content-type']);
    const replyEncoding: WireEncoding = encoding ?? 'json';
    const transport: Transport = encoding === 'json' ? 'otlp-http-json' : 'otlp-http-protobuf';
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);

    if (path !== TRACES_PATH) {
      res.statusCode = 404;
      res.end();
      return;
    }
    if (req.method !== 'POST') {
      res.statusCode = 405;
      res.setHeader('Allow', 'POST');
      res.end();
      return;
    }
    if (stopping) {
      fail(
        res,
        replyEncoding,
        transport,
        started,
        new GenOpsError('shutting-down', 'stopping', 'the receiver is stopping', {
          retryAfterSeconds: retryAfter,
        }),
      );
      return;
    }
    if (!encoding) {
      fail(
        res,
        'json',
        transport,
        started,
        new GenOpsError(
          'invalid',
          'media-type',
          'Content-Type must be application/x-protobuf or application/json',
        ),
        'unsupported-media-type',
      );
      return;
    }
    const decompress = decompressorFor(req.headers['content-encoding']);
    if (decompress === undefined) {
      fail(
        res,
        encoding,
        transport,
        started,
        new GenOpsError('invalid', 'content-encoding', 'Content-Encoding must be gzip, deflate or identity'),
        'unsupported-media-type',
      );
      return;
    }
    const lengthHeader = req.headers['content-length'];
    const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (declared !== undefined && declared > maxBody) {
      fail(
        res,
        encoding,
        transport,
        started,
        new GenOpsError('too-large', 'body-too-large', `request body larger than ${maxBody} bytes`),
        undefined,
        true,
      );
      return;
    }
    // Refuse before reading the body when the queue is already full: cheapest backpressure.
    const refusal = handler.refusal?.(declared ?? 0);
    if (refusal !== undefined) {
      fail(res, encoding, transport, started, refusal);
      return;
    }

    const queueFull = (): GenOpsError =>
      new GenOpsError('retryable', 'queue-full', 'the ingest queue is full, retry later', {
        retryAfterSeconds: retryAfter,
      });
    const reservation = handler.reserve?.();
    const knownLength = declared !== undefined && Number.isInteger(declared) && declared >= 0;
    // With a Content-Length the whole body is allocated up front: reserve it all before that.
    if (reservation && knownLength && !reservation.take(declared)) {
      reservation.release();
      fail(res, encoding, transport, started, queueFull(), undefined, true);
      return;
    }

    inFlight++;
    res.once('close', () => {
      reservation?.release();
      inFlight--;
      if (inFlight === 0 && onIdle) onIdle();
    });
    const read = readBody(req, knownLength ? declared : undefined, {
      max: maxBody,
      reservation: knownLength ? undefined : reservation,
      queueFull,
      bodyTimeoutMs,
      idleTimeoutMs,
    });
    receiving.add(read.abort);
    read.body
      .finally(() => receiving.delete(read.abort))
      .then(async (wire) => {
        let body = wire;
        if (decompress) {
          try {
            body = await decompress(wire, maxBody);
          } catch (err) {
            const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
            throw tooLarge
              ? new GenOpsError(
                  'too-large',
                  'body-too-large',
                  `decompressed body larger than ${maxBody} bytes`,
                )
              : new GenOpsError('invalid', 'bad-compression', 'request body could not be decompressed');
          }
        }
        const outcome = await handler.handle({
          body,
          encoding,
          transport,
          peer: normalizePeer(req.socket.remoteAddress),
          receivedAt,
          receivedMono: started,
          ...(reservation ? { reservation } : {}),
        });
        metrics.requestDuration(
          (performance.now() - started) / 1000,
          transport,
          outcome.rejectedSpans > 0 ? 'partial' : 'ok',
        );
        reply(
          res,
          200,
          encoding,
          encodeExportResponse(encoding, outcome.rejectedSpans, outcome.errorMessage),
        );
      })
      .catch((err: unknown) => {
        reservation?.release();
        if (res.headersSent || res.destroyed) return;
        const errorClass = classify(err);
        // When the rest of a refused body is not read, the connection cannot be reused.
        const close = errorClass === 'too-large' || errorClass === 'timeout' || read.unread();
        fail(res, encoding, transport, started, err, undefined, close);
      });
  };

  return {
    async start() {
      if (server) return;
      const s = createServer(
        {
          keepAliveTimeout: 65_000,
          headersTimeout: headersTimeoutMs,
          // Node checks these deadlines on an interval (30 s by default, so a slow body lived
          // about 90 s); the body deadlines of readBody answer first, this is the backstop.
          requestTimeout: bodyTimeoutMs + headersTimeoutMs + 5_000,
          connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs),
        },
        onRequest,
      );
      s.maxConnections = maxConnections;
      s.on('drop', () => {
        metrics.requestRefused('otlp-http-protobuf', 'connection-limit');
      });
      s.on('clientError', (err: NodeJS.ErrnoException, socket) => {
        // Header timeout: 408 as HTTP says (the client may retry), anything else is malformed.
        const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
        if (timedOut) metrics.requestRefused('otlp-http-protobuf', 'timeout');
        if (socket.writable)
          socket.end(
            timedOut
              ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
              : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
          );
        else socket.destroy(err);
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(options.port ?? 4318, options.host ?? '127.0.0.1', () => {
          s.off('error', reject);
          resolve();
        });
      });
      server = s;
      boundPort = (s.address() as AddressInfo).port;
      logger.info('OTLP/HTTP receiver listening', { port: boundPort });
    },

    async shutdown(deadlineMs) {
      if (stopped) return;
      stopped = true;
      stopping = true;
      const s = server;
      if (!s) return;
      // Drain first: while requests in flight finish, the socket stays open and new requests get
      // 503 + Retry-After + Connection: close (clients retry, e.g. on another replica). Then close.
      s.closeIdleConnections();
      // Requests still sending their body were never accepted: answer them now (503, retry
      // elsewhere) rather than wait the drain deadline for a client that may never finish.
      for (const abort of [...receiving])
        abort(
          new GenOpsError('shutting-down', 'stopping', 'the receiver is stopping', {
            retryAfterSeconds: retryAfter,
          }),
        );
      const deadline = deadlineMs ?? Date.now() + 10_000;
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeAllConnections();
      await closed;
      logger.info('OTLP/HTTP receiver stopped');
    },

    port: () => boundPort,
  };
}

interface ReadBodyOptions {
  readonly max: number;
  /** Grown chunk by chunk when the length is not known up front. */
  readonly reservation: ByteReservation | undefined;
  readonly queueFull: () => GenOpsError;
  readonly bodyTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

interface BodyRead {
  readonly body: Promise<Uint8Array>;
  /** Stops reading with this error (shutdown). */
  readonly abort: (err: GenOpsError) => void;
  /** Whether the body was left (partly) unread, so the connection must close. */
  readonly unread: () => boolean;
}

/**
 * Reads the whole body into one Uint8Array that owns its ArrayBuffer (so it can be transferred
 * to a worker). With a Content-Length the buffer is allocated once and chunks copied in. Two
 * deadlines: the whole body, and the longest pause between chunks (a slow-loris body).
 */
function readBody(req: IncomingMessage, declared: number | undefined, options: ReadBodyOptions): BodyRead {
  const { max, reservation } = options;
  let done = false;
  let ended = false;
  let abort: (err: GenOpsError) => void = () => undefined;
  const body = new Promise<Uint8Array>((resolve, reject) => {
    let received = 0;
    const target = declared !== undefined ? new Uint8Array(declared) : undefined;
    const chunks: Buffer[] = [];
    const timeout = (what: string): GenOpsError =>
      new GenOpsError('timeout', 'body-timeout', `request body not received in time (${what})`);
    const whole = setTimeout(
      () => finish(timeout(`${options.bodyTimeoutMs} ms for the body`)),
      options.bodyTimeoutMs,
    );
    const idle = setTimeout(
      () => finish(timeout(`${options.idleTimeoutMs} ms without data`)),
      options.idleTimeoutMs,
    );
    const finish = (err?: GenOpsError): void => {
      if (done) return;
      done = true;
      clearTimeout(whole);
      clearTimeout(idle);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) {
        // Stop reading a body we will not use; the connection is closed with the response.
        req.pause();
        reject(err);
        return;
      }
      if (target) {
        resolve(target);
        return;
      }
      const all = new Uint8Array(received);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.byteLength;
      }
      resolve(all);
    };
    abort = finish;
    const onData = (chunk: Buffer): void => {
      const next = received + chunk.byteLength;
      if (next > max || (target && next > target.byteLength)) {
        finish(
          next > max
            ? new GenOpsError('too-large', 'body-too-large', `request body larger than ${max} bytes`)
            : new GenOpsError('invalid', 'length-mismatch', 'body longer than its Content-Length'),
        );
        return;
      }
      if (reservation && !reservation.take(chunk.byteLength)) {
        finish(options.queueFull());
        return;
      }
      idle.refresh();
      if (target) target.set(chunk, received);
      else chunks.push(chunk);
      received = next;
    };
    const onEnd = (): void => {
      ended = true;
      if (target && received !== target.byteLength) {
        finish(new GenOpsError('invalid', 'length-mismatch', 'body shorter than its Content-Length'));
        return;
      }
      finish();
    };
    const onError = (): void =>
      finish(new GenOpsError('invalid', 'aborted', 'request body was not received'));
    const onAborted = onError;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
  return { body, abort: (err) => abort(err), unread: () => !ended };
}
