// Owns every HTTP exchange with the API server: one transport (node:https with the kubeconfig's TLS
// and credentials, keep-alive), a client-side token bucket on writes, retries with backoff on
// 429/5xx/network faults, and typed verbs (metadata-only lists and watches, the /scale and /status
// subresources, server-side apply). Strategic merge patch is deliberately not offered:
// custom resources refuse it; merge patch, JSON patch and server-side apply are.

import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../kernel/logger.ts';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.ts';
import { isTransient, KubeApiError } from './errors.ts';
import { createTokenBucket, type Priority, type RateLimiter } from './rate-limiter.ts';
import { resourcePath, type KubeList, type KubeObject, type ResourceType } from './resources.ts';

export const FIELD_MANAGER = 'genops-operator';

export type PatchType = 'merge' | 'json' | 'apply';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RawRequest {
  readonly method: HttpMethod;
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Place in the client-side write queue: 'low' for status writes, so actions go first. */
  readonly priority?: Priority;
  /** Accept header (default application/json). */
  readonly accept?: string;
}

export interface ListOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly limit?: number;
  readonly continue?: string;
  readonly resourceVersion?: string;
  /** Ask for a PartialObjectMetadataList: metadata only, no spec or status. */
  readonly metadataOnly?: boolean;
  readonly signal?: AbortSignal;
}

export interface PatchOptions {
  readonly type: PatchType;
  readonly subresource?: 'status' | 'scale';
  /** Server-side apply only: take over fields owned by another manager. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly priority?: Priority;
}

export interface WatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

export interface WatchOptions {
  readonly namespace?: string;
  readonly resourceVersion: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Server closes the watch after this long; the informer then re-watches from the last version. */
  readonly timeoutSeconds?: number;
  /** Events carry PartialObjectMetadata: metadata only. */
  readonly metadataOnly?: boolean;
  readonly signal: AbortSignal;
}

// The API server falls back to full objects where it cannot serve metadata (the trailing type).
const ACCEPT_METADATA_LIST =
  'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const ACCEPT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export interface KubeApi {
  /** The object, or undefined when it does not exist. */
  get<T extends KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    subresource?: 'status' | 'scale',
  ): Promise<T | undefined>;
  list<T extends KubeObject>(rt: ResourceType, options?: ListOptions): Promise<KubeList<T>>;
  create<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, body: T): Promise<T>;
  /** PUT with the body's resourceVersion: fails with a conflict when someone wrote in between. */
  replace<T extends KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    body: T,
    subresource?: 'status' | 'scale',
  ): Promise<T>;
  patch<T extends KubeObject>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    options: PatchOptions,
  ): Promise<T>;
  /** True when deleted, false when it was already gone. */
  delete(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    options?: { resourceVersion?: string; uid?: string },
  ): Promise<boolean>;
  /** Streams events until the server closes the watch (resolves) or it fails (rejects). */
  watch<T extends KubeObject>(
    rt: ResourceType,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void>;
  request<T>(req: RawRequest): Promise<T>;
  /** Releases pooled connections. */
  close(): void;
}

export interface KubeClientMetrics {
  /** One finished API call (after retries): verb, HTTP status (0 = no response), seconds. */
  apiRequest(verb: string, status: number, seconds: number): void;
  /** Time a write waited for the client-side rate limiter. */
  rateLimitWait(seconds: number): void;
}

const noopKubeClientMetrics: KubeClientMetrics = {
  apiRequest: () => undefined,
  rateLimitWait: () => undefined,
};

export interface KubeApiOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Writes per second and burst of the client-side limiter (client-go defaults 5/10; ours 20/40). */
  readonly writeQps?: number;
  readonly writeBurst?: number;
  /** Or a limiter shared with something else. */
  readonly writeLimiter?: RateLimiter;
  /** Attempts for transient faults, including the first (default 5). */
  readonly maxAttempts?: number;
  readonly retryBackoff?: BackoffOptions;
  /** Per-request timeout for non-watch calls (default 30 s). */
  readonly requestTimeoutMs?: number;
  readonly metrics?: KubeClientMetrics;
  readonly userAgent?: string;
}

const WRITE_METHODS: ReadonlySet<HttpMethod> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function createKubeApi(options: KubeApiOptions): KubeApi {
  const kc = options.kubeConfig;
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new RangeError('kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  const secure = server.protocol === 'https:';
  const limiter =
    options.writeLimiter ??
    createTokenBucket({ qps: options.writeQps ?? 20, burst: options.writeBurst ?? 40 });
  const maxAttempts = options.maxAttempts ?? 5;
  const retryBackoff = options.retryBackoff ?? { initialMs: 200, maxMs: 5000 };
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const metrics = options.metrics ?? noopKubeClientMetrics;
  const userAgent = options.userAgent ?? 'genops-operator';
  const log = options.logger.child({ component: 'kube-api' });
  const basePath = server.pathname.replace(/\/$/, '');
  let agent: http.Agent | undefined;

  /** TLS material and auth headers from the kubeconfig; refreshed per call (tokens rotate). */
  async function transportOptions(): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    if (agent === undefined) {
      const tls = {
        ...(opts.ca === undefined ? {} : { ca: opts.ca }),
        ...(opts.cert === undefined ? {} : { cert: opts.cert }),
        ...(opts.key === undefined ? {} : { key: opts.key }),
        ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
        ...(opts.servername === undefined ? {} : { servername: opts.servername }),
      };
      agent = secure
        ? new https.Agent({ keepAlive: true, maxSockets: 32, ...tls })
        : new http.Agent({ keepAlive: true, maxSockets: 32 });
    }
    return opts;
  }

  function buildPath(path: string, query?: RawRequest['query']): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${basePath}${path}${qs === '' ? '' : `?${qs}`}`;
  }

  async function open(
    method: HttpMethod,
    fullPath: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
    timeout: number,
  ): Promise<http.IncomingMessage> {
    const t = await transportOptions();
    const reqHeaders: Record<string, string> = {
      accept: 'application/json',
      'user-agent': userAgent,
      ...headers,
    };
    for (const [k, v] of Object.entries(t.headers ?? {}))
      if (v !== undefined) reqHeaders[k.toLowerCase()] = String(v);
    if (body !== undefined) reqHeaders['content-length'] = String(Buffer.byteLength(body));
    return await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = (secure ? https : http).request(
        {
          protocol: server.protocol,
          hostname: server.hostname.replace(/^\[|\]$/g, ''),
          port: server.port === '' ? (secure ? 443 : 80) : Number(server.port),
          method,
          path: fullPath,
          headers: reqHeaders,
          ...(t.auth === undefined ? {} : { auth: t.auth }),
          ...(agent === undefined ? {} : { agent }),
          ...(signal === undefined ? {} : { signal }),
          timeout,
        },
        resolve,
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async function once(req: RawRequest): Promise<Response> {
    const body =
      req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const headers: Record<string, string> = req.accept === undefined ? {} : { accept: req.accept };
    if (body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    const fullPath = buildPath(req.path, req.query);
    let res: http.IncomingMessage;
    try {
      res = await open(req.method, fullPath, headers, body, req.signal, timeoutMs);
    } catch (err) {
      throw new KubeApiError({
        status: 0,
        reason: networkReason(err),
        message: String(err),
        method: req.method,
        path: req.path,
        cause: err,
      });
    }
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      throw new KubeApiError({
        status: 0,
        reason: networkReason(err),
        message: String(err),
        method: req.method,
        path: req.path,
        cause: err,
      });
    }
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
  }

  function toError(req: RawRequest, res: Response): KubeApiError {
    let reason = '';
    let message: string;
    try {
      const s = JSON.parse(res.body) as { reason?: string; message?: string };
      reason = s.reason ?? '';
      message = s.message ?? '';
    } catch {
      message = res.body.slice(0, 200);
    }
    const ra = Number(res.headers['retry-after']);
    return new KubeApiError({
      status: res.status,
      reason,
      message,
      method: req.method,
      path: req.path,
      ...(Number.isFinite(ra) && ra > 0 ? { retryAfterSeconds: ra } : {}),
    });
  }

  async function request<T>(req: RawRequest): Promise<T> {
    const started = performance.now();
    const verb = verbOf(req);
    let attempt = 0;
    for (;;) {
      if (WRITE_METHODS.has(req.method)) {
        const waitStart = performance.now();
        await limiter.acquire(req.signal, req.priority);
        const waited = performance.now() - waitStart;
        if (waited > 1) metrics.rateLimitWait(waited / 1000);
      }
      let error: KubeApiError;
      try {
        const res = await once(req);
        if (res.status >= 200 && res.status < 300) {
          metrics.apiRequest(verb, res.status, (performance.now() - started) / 1000);
          return (res.body === '' ? undefined : JSON.parse(res.body)) as T;
        }
        error = toError(req, res);
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err;
        error = err;
      }
      attempt++;
      if (!isTransient(error) || attempt >= maxAttempts || req.signal?.aborted === true) {
        metrics.apiRequest(verb, error.status, (performance.now() - started) / 1000);
        throw error;
      }
      const delay = Math.max(backoffDelay(attempt - 1, retryBackoff), (error.retryAfterSeconds ?? 0) * 1000);
      log.debug('retrying API call', {
        method: req.method,
        path: req.path,
        status: error.status,
        attempt,
        delayMs: delay,
      });
      await sleep(delay, req.signal);
    }
  }

  const api: KubeApi = {
    request,
    async get<T extends KubeObject>(
      rt: ResourceType,
      namespace: string | undefined,
      name: string,
      sub?: 'status' | 'scale',
    ) {
      try {
        return await request<T>({ method: 'GET', path: resourcePath(rt, namespace, name, sub) });
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    list<T extends KubeObject>(rt: ResourceType, o: ListOptions = {}) {
      return request<KubeList<T>>({
        method: 'GET',
        path: resourcePath(rt, o.namespace),
        query: {
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          limit: o.limit,
          continue: o.continue,
          resourceVersion: o.resourceVersion,
        },
        ...(o.metadataOnly === true ? { accept: ACCEPT_METADATA_LIST } : {}),
        ...(o.signal === undefined ? {} : { signal: o.signal }),
      });
    },
    create<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, body: T) {
      return request<T>({
        method: 'POST',
        path: resourcePath(rt, namespace),
        query: { fieldManager: FIELD_MANAGER },
        body,
      });
    },
    replace<T extends KubeObject>(
      rt: ResourceType,
      namespace: string | undefined,
      name: string,
      body: T,
      sub?: 'status' | 'scale',
    ) {
      return request<T>({
        method: 'PUT',
        path: resourcePath(rt, namespace, name, sub),
        query: { fieldManager: FIELD_MANAGER },
        body,
      });
    },
    patch<T extends KubeObject>(
      rt: ResourceType,
      namespace: string | undefined,
      name: string,
      body: unknown,
      o: PatchOptions,
    ) {
      return request<T>({
        method: 'PATCH',
        path: resourcePath(rt, namespace, name, o.subresource),
        query: { fieldManager: FIELD_MANAGER, force: o.type === 'apply' ? (o.force ?? false) : undefined },
        body: o.type === 'apply' && typeof body !== 'string' ? JSON.stringify(body) : body,
        contentType: PATCH_CONTENT_TYPE[o.type],
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        ...(o.priority === undefined ? {} : { priority: o.priority }),
      });
    },
    async delete(rt, namespace, name, o = {}) {
      const preconditions =
        o.resourceVersion === undefined && o.uid === undefined
          ? undefined
          : {
              ...(o.resourceVersion === undefined ? {} : { resourceVersion: o.resourceVersion }),
              ...(o.uid === undefined ? {} : { uid: o.uid }),
            };
      try {
        await request({
          method: 'DELETE',
          path: resourcePath(rt, namespace, name),
          ...(preconditions === undefined
            ? {}
            : { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions } }),
        });
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return false;
        throw err;
      }
    },
    async watch<T extends KubeObject>(
      rt: ResourceType,
      o: WatchOptions,
      onEvent: (e: WatchEvent<T>) => void,
    ) {
      const path = resourcePath(rt, o.namespace);
      const fullPath = buildPath(path, {
        watch: 1,
        allowWatchBookmarks: true,
        resourceVersion: o.resourceVersion,
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        timeoutSeconds: o.timeoutSeconds ?? 300,
      });
      // The socket timeout fires on silence: the server sends bookmarks/events or closes in time.
      const silenceMs = ((o.timeoutSeconds ?? 300) + 30) * 1000;
      let res: http.IncomingMessage;
      try {
        res = await open(
          'GET',
          fullPath,
          o.metadataOnly === true ? { accept: ACCEPT_METADATA } : {},
          undefined,
          o.signal,
          silenceMs,
        );
      } catch (err) {
        if (o.signal.aborted) return;
        throw new KubeApiError({
          status: 0,
          reason: networkReason(err),
          message: String(err),
          method: 'WATCH',
          path,
          cause: err,
        });
      }
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        throw toError(
          { method: 'GET', path },
          { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') },
        );
      }
      let buffered = '';
      try {
        for await (const chunk of res) {
          buffered += (chunk as Buffer).toString('utf8');
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line === '') continue;
            const ev = JSON.parse(line) as WatchEvent<T>;
            if (ev.type === 'ERROR') {
              const st = ev.object as unknown as { code?: number; reason?: string; message?: string };
              throw new KubeApiError({
                status: st.code ?? 500,
                reason: st.reason ?? '',
                message: st.message ?? '',
                method: 'WATCH',
                path,
              });
            }
            onEvent(ev);
          }
        }
      } catch (err) {
        res.destroy();
        if (o.signal.aborted) return;
        if (err instanceof KubeApiError) throw err;
        throw new KubeApiError({
          status: 0,
          reason: networkReason(err),
          message: String(err),
          method: 'WATCH',
          path,
          cause: err,
        });
      }
    },
    close() {
      agent?.destroy();
      agent = undefined;
    },
  };
  return api;
}

function verbOf(req: RawRequest): string {
  switch (req.method) {
    case 'GET':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
  }
}

function networkReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'NetworkError';
}
