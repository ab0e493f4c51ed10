// Owns the webhook's HTTPS endpoint: TLS with hot certificate reload (files watched, or set by the built-in
// certificate manager), /healthz and /readyz, admission paths handed to the handler, bounded bodies, and a
// graceful shutdown: /readyz turns 503 first (optionally for a drain period while reviews are still
// served, so endpoints move away), then new requests get 503 and connections close.

import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname } from 'node:path';
import type { Component } from '../kernel/lifecycle.ts';
import { GenOpsError } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';
import type { HttpAnswer } from './admission/respond.ts';
import { httpError } from './admission/respond.ts';
import type { AdmissionHandler } from './handler.ts';
import type { WebhookMetrics } from './metrics.ts';

export interface CertificatePair {
  readonly certPem: string;
  readonly keyPem: string;
}

export type CertificateSource =
  /** PEM files, e.g. the mounted cert-manager Secret (tls.crt, tls.key); watched and reloaded on change. */
  | {
      readonly type: 'files';
      readonly certFile: string;
      readonly keyFile: string;
      readonly pollIntervalMs?: number;
    }
  /** Set in memory; later changes through setCertificate (the built-in certificate manager). */
  | { readonly type: 'memory'; readonly pair: CertificatePair };

export interface WebhookServerOptions {
  readonly handler: AdmissionHandler;
  /** Address to listen on: 0.0.0.0 in a pod (the Service reaches it), 127.0.0.1 in tests and out of cluster. */
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly certificate: CertificateSource;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** Extra readiness (e.g. informers synced). Default: ready once listening. */
  readonly isReady?: () => boolean;
  /** How long /readyz reports 503 while reviews are still served, at shutdown. Default 0. */
  readonly drainDelayMs?: number;
  /** Largest AdmissionReview accepted. Default 8 MiB (an object of 1.5 MiB twice, base64 and all). */
  readonly maxBodyBytes?: number;
}

export interface WebhookServer extends Component {
  /** The bound port (after start). */
  port(): number;
  /** Replaces the serving certificate for new connections; throws (and keeps the old one) if invalid. */
  setCertificate(pair: CertificatePair): void;
  /** Rereads the certificate files (files mode); true when a new certificate was loaded. */
  reloadCertificate(): Promise<boolean>;
}

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

type State = 'new' | 'serving' | 'draining' | 'closing' | 'closed';

function checkedContext(pair: CertificatePair): { notAfter: number } {
  // Throws on a bad PEM or a key that does not belong to the certificate.
  createSecureContext({ cert: pair.certPem, key: pair.keyPem });
  const cert = new X509Certificate(pair.certPem);
  return { notAfter: Date.parse(cert.validTo) };
}

export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  const logger = options.logger.child({ component: 'webhook-server' });
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  let state: State = 'new';
  let server: Server | undefined;
  let current: CertificatePair | undefined;
  let watcher: FSWatcher | undefined;
  let poller: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  const install = (pair: CertificatePair): void => {
    const { notAfter } = checkedContext(pair);
    if (server) server.setSecureContext({ cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2' });
    current = pair;
    options.metrics.certificateLoaded(notAfter);
  };

  const readFiles = async (): Promise<CertificatePair | undefined> => {
    if (options.certificate.type !== 'files') return undefined;
    const [certPem, keyPem] = await Promise.all([
      readFile(options.certificate.certFile, 'utf8'),
      readFile(options.certificate.keyFile, 'utf8'),
    ]);
    return { certPem, keyPem };
  };

  const reloadCertificate = async (): Promise<boolean> => {
    try {
      const pair = await readFiles();
      if (!pair || (current && pair.certPem === current.certPem && pair.keyPem === current.keyPem))
        return false;
      install(pair);
      logger.info('serving certificate reloaded');
      return true;
    } catch (err) {
      // Mid-rotation the files may disagree for a moment; the next event or poll retries.
      options.metrics.certificateError('reload');
      logger.warn('serving certificate reload failed; keeping the current one', { err });
      return false;
    }
  };

  const watchFiles = (): void => {
    if (options.certificate.type !== 'files') return;
    const files = new Set([basename(options.certificate.certFile), basename(options.certificate.keyFile)]);
    const schedule = () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void reloadCertificate(), 200);
      debounce.unref();
    };
    try {
      // Kubernetes updates a mounted Secret by swapping the ..data symlink: watch the directory.
      watcher = watch(dirname(options.certificate.certFile), (_event, file) => {
        if (file === null || files.has(file) || file.startsWith('..')) schedule();
      });
      watcher.on('error', (err) => logger.warn('certificate watch failed; polling only', { err }));
      watcher.unref();
    } catch (err) {
      logger.warn('certificate watch failed; polling only', { err });
    }
    poller = setInterval(() => void reloadCertificate(), options.certificate.pollIntervalMs ?? 30_000);
    poller.unref();
  };

  const send = (res: ServerResponse, answer: HttpAnswer, close = false): void => {
    res.writeHead(answer.status, {
      'content-type': answer.contentType,
      'content-length': Buffer.byteLength(answer.body),
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(answer.body);
  };

  const ready = () => state === 'serving' && current !== undefined && (options.isReady?.() ?? true);

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = performance.now();
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (state === 'closing' || state === 'closed') {
      req.resume();
      send(res, httpError(503, 'shutting down'), true);
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      send(res, { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok\n' });
      return;
    }
    if (path === '/readyz') {
      send(
        res,
        ready()
          ? { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok\n' }
          : httpError(503, 'not ready'),
      );
      return;
    }
    if (!options.handler.handles(path)) {
      req.resume();
      send(res, httpError(404, 'not found'));
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      send(res, httpError(405, 'POST an AdmissionReview'));
      return;
    }
    const type = req.headers['content-type'] ?? '';
    if (!type.includes('json')) {
      req.resume();
      send(res, httpError(415, 'expected application/json'));
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      req.resume();
      send(res, httpError(413, 'AdmissionReview too large'), true);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBody) {
        refused = true;
        send(res, httpError(413, 'AdmissionReview too large'), true);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      const answer = options.handler.review(path, body, startedAt);
      // Most reviews are answered at once; a SubjectAccessReview makes some asynchronous (never rejected).
      if (answer instanceof Promise) void answer.then((a) => send(res, a));
      else send(res, answer);
    });
    req.on('error', () => {
      // Client went away; nothing to answer.
    });
  };

  const closeServer = async (deadlineMs: number | undefined): Promise<void> => {
    const s = server;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    const remaining = deadlineMs === undefined ? 10_000 : Math.max(0, deadlineMs - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        s.closeAllConnections();
        resolve();
      }, remaining);
    });
    await Promise.race([closed, timeout]);
    clearTimeout(timer);
    s.closeAllConnections();
  };

  const self: WebhookServer = {
    port() {
      const address = server?.address() as AddressInfo | null | undefined;
      if (!address) throw new Error('webhook server is not listening');
      return address.port;
    },
    setCertificate(pair) {
      install(pair);
      logger.info('serving certificate replaced');
    },
    reloadCertificate,
    async start(signal) {
      if (state !== 'new') throw new Error(`webhook server cannot start in state ${state}`);
      const initial = options.certificate.type === 'memory' ? options.certificate.pair : await readFiles();
      if (!initial) throw new GenOpsError('invalid', 'WEBHOOK_NO_CERTIFICATE', 'no serving certificate');
      checkedContext(initial);
      const s = createServer(
        { cert: initial.certPem, key: initial.keyPem, minVersion: 'TLSv1.2' },
        onRequest,
      );
      s.keepAliveTimeout = 60_000;
      s.headersTimeout = 15_000;
      s.requestTimeout = 15_000;
      server = s;
      install(initial);
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) =>
          reject(
            new GenOpsError(
              'invalid',
              'WEBHOOK_LISTEN',
              `webhook cannot listen on ${options.host}:${options.port}: ${err.message}`,
              { cause: err },
            ),
          );
        s.once('error', onError);
        s.listen(options.port, options.host, () => {
          s.off('error', onError);
          resolve();
        });
      });
      s.on('error', (err) => logger.error('webhook server error', { err }));
      s.on('tlsClientError', (err) => logger.debug('TLS handshake failed', { err }));
      state = 'serving';
      watchFiles();
      signal?.addEventListener('abort', () => void self.shutdown(), { once: true });
      logger.info('webhook serving', { host: options.host, port: self.port() });
    },
    shutdown(deadlineMs) {
      if (closing) return closing;
      closing = (async () => {
        watcher?.close();
        clearInterval(poller);
        clearTimeout(debounce);
        if (state === 'new') {
          state = 'closed';
          return;
        }
        state = 'draining';
        const drain = options.drainDelayMs ?? 0;
        if (drain > 0) {
          const wait =
            deadlineMs === undefined ? drain : Math.min(drain, Math.max(0, deadlineMs - Date.now()));
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
        state = 'closing';
        await closeServer(deadlineMs);
        state = 'closed';
        logger.info('webhook stopped');
      })();
      return closing;
    },
  };
  return self;
}
