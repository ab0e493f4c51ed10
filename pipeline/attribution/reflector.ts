// Owns keeping a local copy of one Kubernetes resource collection in step with the API server:
// paginated list, then watch from the list's resourceVersion (with bookmarks), re-watch when the
// server ends the stream, re-list on 410 Gone, exponential backoff on errors. Objects are handed
// to the caller as parsed JSON and the caller keeps only what it needs (no full-object cache).
// Requests go through node:https with the kubeconfig's TLS and auth, so the Accept header can ask
// for metadata only (PartialObjectMetadata) where that is enough.

import type { KubeConfig } from '@kubernetes/client-node';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import type { Logger } from '../../kernel/logger.ts';

export interface KubeObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly labels?: Record<string, string>;
  readonly ownerReferences?: readonly { kind: string; name: string; controller?: boolean }[];
}

export interface KubeObject {
  readonly metadata?: KubeObjectMeta;
  readonly [field: string]: unknown;
}

export interface ReflectorHandler {
  /** The complete collection after a (re)list: replace everything known. */
  replace(items: readonly KubeObject[]): void;
  upsert(item: KubeObject): void;
  remove(item: KubeObject): void;
}

export interface ReflectorOptions {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. /api/v1/pods or /apis/apps/v1/replicasets. */
  path: string;
  /** Ask for PartialObjectMetadata instead of full objects. */
  metadataOnly?: boolean;
  handler: ReflectorHandler;
  logger: Logger;
  /** Items per list page; default 500. */
  pageSize?: number;
  /** Server-side watch timeout (seconds) after which the watch is renewed; default 300. */
  watchTimeoutSeconds?: number;
}

export interface Reflector {
  /** Resolves after the first complete list; rejects if it fails (e.g. 403: fail fast at startup). */
  start(): Promise<void>;
  stop(): void;
  hasSynced(): boolean;
}

class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const LIST_ACCEPT_METADATA =
  'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const WATCH_ACCEPT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export function createReflector(options: ReflectorOptions): Reflector {
  const { kubeConfig, path, handler, logger } = options;
  const pageSize = options.pageSize ?? 500;
  const watchTimeout = options.watchTimeoutSeconds ?? 300;
  const log = logger.child({ resource: path });
  let synced = false;
  let stopped = false;
  let current: IncomingMessage | undefined;
  let abortCurrent: (() => void) | undefined;
  let sleepTimer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const open = async (query: Record<string, string>, accept: string): Promise<IncomingMessage> => {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const opts: RequestOptions & { headers: Record<string, string> } = { method: 'GET', headers: {} };
    await kubeConfig.applyToHTTPSOptions(opts);
    opts.headers['Accept'] = accept;
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, opts, (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text = (text + c).slice(0, 2000)));
          res.on('end', () => reject(new HttpStatusError(res.statusCode ?? 0, `${res.statusCode}: ${text}`)));
          res.on('error', reject);
          return;
        }
        resolve(res);
      });
      req.on('error', reject);
      abortCurrent = () => req.destroy();
      req.end();
    });
  };

  const readJson = (res: IncomingMessage): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on('error', reject);
    });

  /** Full list, page by page; returns the resourceVersion to watch from. */
  const list = async (): Promise<string> => {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const query: Record<string, string> = { limit: String(pageSize) };
      if (cont) query['continue'] = cont;
      const res = await open(query, options.metadataOnly ? LIST_ACCEPT_METADATA : 'application/json');
      const page = (await readJson(res)) as {
        metadata?: { resourceVersion?: string; continue?: string };
        items?: KubeObject[];
      };
      for (const item of page.items ?? []) items.push(item);
      cont = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    } while (cont && !stopped);
    handler.replace(items);
    return resourceVersion;
  };

  /** Watches until the server ends the stream; returns the last resourceVersion seen, or '' when it expired. */
  const watch = async (fromVersion: string): Promise<string> => {
    const res = await open(
      {
        watch: '1',
        resourceVersion: fromVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(watchTimeout),
      },
      options.metadataOnly ? WATCH_ACCEPT_METADATA : 'application/json',
    );
    current = res;
    let version = fromVersion;
    let expired = false;
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line === '') continue;
        let event: { type?: string; object?: KubeObject & { code?: number } };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          continue;
        }
        const obj = event.object;
        if (!obj) continue;
        const rv = obj.metadata?.resourceVersion;
        switch (event.type) {
          case 'ADDED':
          case 'MODIFIED':
            handler.upsert(obj);
            break;
          case 'DELETED':
            handler.remove(obj);
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR':
            // 410 Gone: our resourceVersion is too old; anything else also warrants a fresh list.
            expired = true;
            log.info('watch ended by the server', { code: obj.code });
            break;
        }
        if (expired) break;
        if (rv) version = rv;
      }
    } finally {
      current = undefined;
      res.destroy();
    }
    return expired ? '' : version;
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      sleepTimer = setTimeout(resolve, ms);
    });

  let firstList: { resolve: () => void; reject: (err: unknown) => void } | undefined;

  const loop = async (): Promise<void> => {
    let backoff = 500;
    let version = '';
    while (!stopped) {
      try {
        if (version === '') {
          version = await list();
          if (!synced) {
            synced = true;
            firstList?.resolve();
          }
        }
        version = await watch(version);
        backoff = 500;
      } catch (err) {
        if (stopped) break;
        if (
          !synced &&
          err instanceof HttpStatusError &&
          (err.status === 401 || err.status === 403 || err.status === 404)
        ) {
          // Missing permission or API: a configuration error, reported at startup rather than retried.
          firstList?.reject(err);
          return;
        }
        if (err instanceof HttpStatusError && err.status === 410) version = '';
        log.warn('list/watch failed; retrying', { err, retryInMs: backoff });
        await sleep(backoff);
        backoff = Math.min(30_000, backoff * 2);
      }
    }
  };

  return {
    start() {
      return new Promise<void>((resolve, reject) => {
        firstList = { resolve, reject };
        void loop();
      });
    },
    stop() {
      stopped = true;
      clearTimeout(sleepTimer);
      wake?.();
      abortCurrent?.();
      current?.destroy();
    },
    hasSynced: () => synced,
  };
}
