// Owns the one listener of gateway authorization (`--authz-port`, default 9191): Envoy's
// envoy.service.auth.v3.Authorization/Check over gRPC and HTTP forward-auth at /v1/check, on the
// same port.
//
// Why a sniffing net.Server: gRPC clients (Envoy, grpcio) speak HTTP/2 in clear text with prior
// knowledge (h2c), and forward-auth clients (nginx auth_request, Traefik, Caddy, Envoy's HTTP
// ext_authz) speak HTTP/1.1. Node's http2 `allowHTTP1` only works with TLS (ALPN chooses), so the
// first bytes of each connection choose instead: the HTTP/2 preface starts with "PRI " (a method no
// HTTP/1 client sends), anything else is HTTP/1.x. The bytes read are put back and the socket is
// handed to an http2 server or an http server. gRPC is served directly on node:http2 (unary Check
// only; no grpc-js) because the check must answer in well under a millisecond: the frames are a
// 5-byte prefix and our own protobuf codec (envoy-proto.ts).

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  constants as h2,
  createServer as createHttp2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Clock } from '../kernel/clock.ts';
import { GenOpsError } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';
import {
  check,
  denialBody,
  knownKind,
  retryAfter,
  type AuthzView,
  type CheckVerdict,
  type OutputCostEstimator,
} from './decide.ts';
import { decodeCheckRequest, encodeCheckResponse, type EnvoyHeader } from './envoy-proto.ts';
import { statedAddressFromHeaders, type IdentityResolver } from './identity.ts';
import type { AuthzMetrics, AuthzProtocol, CheckOutcome } from './metrics.ts';
import { callFacts, MAX_BODY_BYTES } from './request.ts';

export const DEFAULT_AUTHZ_PORT = 9191;
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
export const HTTP_CHECK_PATH = '/v1/check';

/** Largest gRPC message accepted (a CheckRequest with a forwarded body is a few KB). */
const MAX_GRPC_MESSAGE = 4 * 1024 * 1024;
const PREFACE = Buffer.from('PRI ');

export interface AuthzServerOptions {
  readonly host: string;
  readonly port: number;
  readonly view: AuthzView;
  readonly identity: IdentityResolver;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: AuthzMetrics;
  readonly estimate?: OutputCostEstimator;
  /** False until the decisions behind the view are complete; checks then answer "unavailable". */
  readonly ready?: () => boolean;
}

export interface AuthzServer {
  start(): Promise<void>;
  port(): number;
  shutdown(deadlineMs?: number): Promise<void>;
}

interface Answer {
  readonly verdict: CheckVerdict;
  readonly now: number;
}

export function createAuthzServer(options: AuthzServerOptions): AuthzServer {
  const { view, clock, metrics } = options;
  const logger = options.logger.child({ component: 'authz' });
  const ready = options.ready ?? (() => true);
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  let boundPort = 0;
  let stopping = false;

  const decide = (
    peer: string | undefined,
    statedAddress: string | undefined,
    headers: Readonly<Record<string, string | undefined>>,
    path: string,
    host: string,
    body: string | undefined,
  ): Answer => {
    const now = clock.now();
    const set = view.decisions();
    const identity = options.identity.resolve({ peer, statedAddress, headers }, (ns, name) =>
      knownKind(set, ns, name),
    );
    if (identity.spoofed) {
      logger.warn('authz check named another workload than its sender; charged to the sender', {
        peer,
        workload: identity.key,
        audit: true,
      });
    }
    const facts = callFacts({ path, host, headers, body });
    const verdict = check({
      identity,
      facts,
      view,
      now,
      ...(options.estimate === undefined ? {} : { estimate: options.estimate }),
    });
    return { verdict, now };
  };

  /**
   * decide(), or, when the identity needs an address the caller's thread does not know yet (the authz
   * thread asks the main thread's pod directory, authz/thread.ts), decide() again once it is known.
   * Any other error is the caller's to map.
   */
  const decideThen = (args: Parameters<typeof decide>, done: (answer: Answer | Error) => void): void => {
    let retried = false;
    const attempt = (): void => {
      let answer: Answer;
      try {
        answer = decide(...args);
      } catch (err) {
        if (err instanceof PendingLookup && !retried) {
          retried = true;
          err.wait.then(attempt, (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
          return;
        }
        done(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      done(answer);
    };
    attempt();
  };

  const outcomeOf = (v: CheckVerdict): CheckOutcome =>
    v.allowed ? (v.bypassed ? 'bypassed' : 'allowed') : 'denied';

  // Recorded just before the answer is written: a scrape (or, from the authz thread, the metrics
  // message) that follows an answer counts it.
  const record = (protocol: AuthzProtocol, outcome: CheckOutcome, reason: string, started: number) =>
    metrics.checked(protocol, outcome, reason, (performance.now() - started) / 1000);

  // ---- HTTP forward-auth -----------------------------------------------------------------------------

  const httpServer = createHttpServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ok = ready() && !stopping;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    if (path !== HTTP_CHECK_PATH && !path.startsWith(`${HTTP_CHECK_PATH}/`)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const started = performance.now();
    readBody(req, (body) => answerHttp(req, res, path, body, started));
  });

  const answerHttp = (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    body: string | undefined,
    started: number,
  ) => {
    if (!ready() || stopping) {
      record('http', 'unavailable', '', started);
      res
        .writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' })
        .end('{"error":"the operator is starting or stopping; decisions are not available"}');
      return;
    }
    const h = req.headers as Readonly<Record<string, string | undefined>>;
    // The original request: nginx (X-Original-URI/-Method, our convention), Traefik and Caddy
    // (X-Forwarded-Uri/-Method/-Host), Envoy's HTTP ext_authz (the path after /v1/check, Host as is).
    const originalUri =
      h['x-original-uri'] ??
      h['x-forwarded-uri'] ??
      (path.length > HTTP_CHECK_PATH.length ? path.slice(HTTP_CHECK_PATH.length) : '/');
    const host = h['x-original-host'] ?? h['x-forwarded-host'] ?? h['host'] ?? '';
    decideThen(
      [req.socket.remoteAddress, statedAddressFromHeaders(h), h, originalUri, host, body],
      (answer) => {
        if (answer instanceof Error) {
          logger.error('authz check failed', { err: answer });
          if (res.headersSent || res.destroyed) return;
          record('http', 'error', '', started);
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal error"}');
          return;
        }
        writeHttpAnswer(res, answer, started);
      },
    );
  };

  const writeHttpAnswer = (res: ServerResponse, answer: Answer, started: number) => {
    const { verdict, now } = answer;
    record('http', outcomeOf(verdict), verdict.denials[0]?.code ?? '', started);
    if (verdict.allowed) {
      res.writeHead(200, { ...verdict.headers, 'content-length': '0' }).end();
    } else {
      const text = denialBody(verdict, now);
      const first = verdict.denials[0]!;
      const headers: Record<string, string> = {
        ...verdict.headers,
        'content-type': 'application/json',
        'x-genops-code': first.code,
        'x-genops-message': headerSafe(first.message),
        // nginx auth_request cannot pass the check's body on: the whole answer as one header.
        'x-genops-deny': headerSafe(text),
        // A length rather than chunked encoding: one write, and what auth_request clients expect.
        'content-length': String(Buffer.byteLength(text)),
      };
      if (first.resetAt !== undefined) headers['retry-after'] = String(retryAfter(first.resetAt, now));
      res.writeHead(verdict.status, headers).end(text);
    }
  };

  // ---- gRPC (Envoy ext_authz) ------------------------------------------------------------------------

  const http2Server = createHttp2Server({
    // Envoy multiplexes the checks of a gateway over a few connections. Past 256 streams in flight a
    // client queues on its side instead of piling streams up here (which nghttp2 would end with
    // ENHANCE_YOUR_CALM for the whole connection).
    maxSessionMemory: 64,
    settings: { maxConcurrentStreams: 256 },
  });
  http2Server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  http2Server.on('stream', (stream, headers) => onStream(stream, headers));

  const grpcError = (stream: ServerHttp2Stream, code: number, message: string) => {
    if (stream.destroyed || stream.headersSent) return;
    stream.respond(
      {
        [h2.HTTP2_HEADER_STATUS]: 200,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeURIComponent(message),
      },
      { endStream: true },
    );
  };

  const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    // Timed from the message's arrival (the first DATA frame; the stream's HEADERS when there is none):
    // Envoy sends HEADERS and the message in one write, but a client may send the message later (the
    // node:http2 client under load trails its DATA by milliseconds, bench/authz.ts measured it), and
    // that wait is the client's, not the check's. Reading a message split over frames is still counted.
    let started = performance.now();
    let messageSeen = false;
    stream.on('error', () => undefined);
    const path = headers[h2.HTTP2_HEADER_PATH];
    const contentType = String(headers['content-type'] ?? '');
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' || (ready() && !stopping);
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: ok ? 200 : 503 });
      stream.end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    if (!contentType.startsWith('application/grpc')) {
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 415 });
      stream.end();
      return;
    }
    if (path !== CHECK_PATH) {
      stream.resume();
      grpcError(stream, GRPC.UNIMPLEMENTED, `unknown method ${String(path)}`);
      return;
    }
    const encoding = String(headers['grpc-encoding'] ?? 'identity');
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    stream.on('data', (c: Buffer) => {
      if (!messageSeen) {
        messageSeen = true;
        started = performance.now();
      }
      size += c.length;
      if (size > MAX_GRPC_MESSAGE + 5) tooLarge = true;
      else chunks.push(c);
    });
    stream.on('end', () => {
      if (tooLarge) {
        record('grpc', 'error', '', started);
        grpcError(stream, GRPC.RESOURCE_EXHAUSTED, 'CheckRequest larger than 4 MiB');
        return;
      }
      if (!ready() || stopping) {
        record('grpc', 'unavailable', '', started);
        grpcError(
          stream,
          GRPC.UNAVAILABLE,
          'the operator is starting or stopping; decisions are not available',
        );
        return;
      }
      let args: Parameters<typeof decide>;
      try {
        const req = decodeCheckRequest(unframe(Buffer.concat(chunks, size), encoding));
        // Envoy states the downstream address; the connection's peer is Envoy (or a caller pod).
        const peer = stream.session?.socket?.remoteAddress;
        args = [
          peer,
          req.sourceAddress,
          req.headers,
          req.path,
          req.host || (req.headers[':authority'] ?? ''),
          req.body,
        ];
      } catch (err) {
        failGrpc(stream, err, started);
        return;
      }
      decideThen(args, (answer) => {
        if (answer instanceof Error) failGrpc(stream, answer, started);
        else writeGrpcAnswer(stream, answer, started);
      });
    });
  };

  const failGrpc = (stream: ServerHttp2Stream, err: unknown, started: number) => {
    if (err instanceof GenOpsError && err.errorClass === 'invalid') {
      record('grpc', 'error', '', started);
      grpcError(stream, GRPC.INVALID_ARGUMENT, err.message);
      return;
    }
    logger.error('authz check failed', { err });
    record('grpc', 'error', '', started);
    grpcError(stream, GRPC.INTERNAL, 'internal error');
  };

  const writeGrpcAnswer = (stream: ServerHttp2Stream, answer: Answer, started: number) => {
    const { verdict, now } = answer;
    const toHeaders = (o: Readonly<Record<string, string>>): EnvoyHeader[] =>
      Object.entries(o).map(([key, value]) => ({ key, value }));
    let response: Uint8Array;
    if (verdict.allowed) {
      const list = toHeaders(verdict.headers);
      response = encodeCheckResponse({ kind: 'ok', headers: list, responseHeaders: list });
    } else {
      const first = verdict.denials[0]!;
      const extra: Record<string, string> = {
        ...verdict.headers,
        'content-type': 'application/json',
        'x-genops-code': first.code,
      };
      if (first.resetAt !== undefined) extra['retry-after'] = String(retryAfter(first.resetAt, now));
      response = encodeCheckResponse({
        kind: 'denied',
        rpcCode: verdict.status === 403 ? GRPC.PERMISSION_DENIED : GRPC.RESOURCE_EXHAUSTED,
        message: first.message,
        httpStatus: verdict.status,
        headers: toHeaders(extra),
        body: denialBody(verdict, now),
      });
    }
    if (stream.destroyed) return;
    record('grpc', outcomeOf(verdict), verdict.denials[0]?.code ?? '', started);
    stream.respond(
      { [h2.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    const frame = Buffer.allocUnsafe(5 + response.length);
    frame[0] = 0;
    frame.writeUInt32BE(response.length, 1);
    frame.set(response, 5);
    stream.end(frame);
  };

  // ---- the shared listener ---------------------------------------------------------------------------

  const listener = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      if (seen.length < PREFACE.length && PREFACE.subarray(0, seen.length).equals(seen)) return;
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      // The http2 session reads what was put back itself (on the next tick) and takes over the
      // socket's handle: resuming here would hand those bytes to nobody. The http server needs the
      // socket flowing again.
      if (seen.subarray(0, PREFACE.length).equals(PREFACE)) {
        http2Server.emit('connection', socket);
      } else {
        httpServer.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  });

  return {
    start: () =>
      new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(options.port, options.host, () => {
          listener.off('error', reject);
          boundPort = (listener.address() as AddressInfo).port;
          logger.info('gateway authorization listening', { port: boundPort });
          resolve();
        });
      }),
    port: () => boundPort,
    shutdown: async () => {
      if (stopping && !listener.listening) return;
      stopping = true;
      await new Promise<void>((resolve) => {
        if (!listener.listening) {
          resolve();
          return;
        }
        listener.close(() => resolve());
        for (const s of sessions) s.close();
        httpServer.closeIdleConnections();
        // Checks in flight finish within milliseconds; whatever is left after a moment is cut.
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 200).unref();
      });
    },
  };
}

/**
 * Thrown by an identity resolver whose address table lacks an entry it is fetching: the check is decided
 * again once `wait` settles (at most once).
 */
export class PendingLookup extends Error {
  readonly wait: Promise<void>;
  constructor(wait: Promise<void>) {
    super('caller address being resolved');
    this.wait = wait;
  }
}

const GRPC = {
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** The one message of a unary gRPC request: 1 byte compressed flag, 4 bytes length, the message. */
function unframe(buf: Buffer, encoding: string): Uint8Array {
  if (buf.length < 5) throw new GenOpsError('invalid', 'AUTHZ_MALFORMED', 'gRPC message frame missing');
  const compressed = buf[0] === 1;
  const len = buf.readUInt32BE(1);
  if (len !== buf.length - 5)
    throw new GenOpsError('invalid', 'AUTHZ_MALFORMED', 'gRPC frame length mismatch');
  const payload = buf.subarray(5);
  if (!compressed) return payload;
  try {
    if (encoding === 'gzip') return gunzipSync(payload, { maxOutputLength: MAX_GRPC_MESSAGE });
    if (encoding === 'deflate') return inflateSync(payload, { maxOutputLength: MAX_GRPC_MESSAGE });
  } catch (err) {
    throw new GenOpsError('invalid', 'AUTHZ_MALFORMED', 'compressed CheckRequest does not decompress', {
      cause: err,
    });
  }
  throw new GenOpsError('invalid', 'AUTHZ_MALFORMED', `unsupported grpc-encoding ${encoding}`);
}

/** Reads a JSON-ish body up to MAX_BODY_BYTES; a larger body is drained and ignored. */
function readBody(req: IncomingMessage, done: (body: string | undefined) => void): void {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (
    req.method === 'GET' ||
    req.method === 'HEAD' ||
    (declared === 0 && req.headers['transfer-encoding'] === undefined)
  ) {
    req.resume();
    req.once('end', () => done(undefined));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY_BYTES) over = true;
    else chunks.push(c);
  });
  req.once('end', () => done(over ? undefined : Buffer.concat(chunks, size).toString('utf8')));
  req.once('error', () => done(undefined));
}

/** Header values are latin1 without control characters: escape anything else as JSON does. */
function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
