// Owns a watched, in-memory copy of one kind of object: list, then watch from the list's version,
// re-watch when the server closes the stream, relist on 410 Gone, restart with backoff on any
// error (the JS client's informer just stops). `hasSynced` turns true after the first full list and
// gates readiness; handlers see every add/update/delete after that list.

import type { Component } from '../kernel/lifecycle.ts';
import type { Logger } from '../kernel/logger.ts';
import type { KubeApi, WatchEvent } from './api.ts';
import { createBackoff, sleep, type BackoffOptions } from './backoff.ts';
import { isGone } from './errors.ts';
import { objectKey, type KubeObject, type ResourceType } from './resources.ts';

export type InformerEventType = 'add' | 'update' | 'delete';

export interface InformerEvent<T> {
  readonly type: InformerEventType;
  readonly key: string;
  readonly object: T;
  /** The previous copy, for updates and deletes. */
  readonly previous: T | undefined;
}

export interface Informer<T extends KubeObject> extends Component {
  readonly resource: ResourceType;
  hasSynced(): boolean;
  /** Resolves true once synced, false if `timeoutMs` passed or `signal` aborted first. */
  waitForSync(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** By `namespace/name` (or `name` for cluster-scoped kinds). */
  get(key: string): T | undefined;
  getByName(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
  /** Called for each change after the first list completes; returns an unsubscribe function. */
  subscribe(handler: (event: InformerEvent<T>) => void): () => void;
  /** The last resourceVersion seen (for tests and debugging). */
  lastResourceVersion(): string;
}

export interface InformerMetrics {
  /** The informer failed and restarts after a backoff. */
  restart(resource: string): void;
  /** A list succeeded or a watch ended normally: the API server answers (liveness, cmd/watch-health.ts). */
  healthy?(resource: string): void;
}

export interface InformerOptions<T extends KubeObject> {
  readonly api: KubeApi;
  readonly resource: ResourceType;
  readonly logger: Logger;
  /** Only this namespace (default: all namespaces). */
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Drops what is not needed (e.g. managedFields) before caching; keep it pure. */
  readonly transform?: (obj: T) => T;
  readonly backoff?: BackoffOptions;
  /** Seconds the server keeps one watch open (randomized per watch like client-go: [t, 2t)). */
  readonly watchTimeoutSeconds?: number;
  readonly pageSize?: number;
  readonly metrics?: InformerMetrics;
}

export function createInformer<T extends KubeObject>(options: InformerOptions<T>): Informer<T> {
  const { api, resource } = options;
  const log = options.logger.child({ component: 'informer', resource: resource.plural });
  const transform = options.transform ?? stripManagedFields<T>;
  const cache = new Map<string, T>();
  const handlers = new Set<(e: InformerEvent<T>) => void>();
  const backoff = createBackoff(options.backoff ?? { initialMs: 500, maxMs: 30_000 });
  const watchTimeout = options.watchTimeoutSeconds ?? 300;
  let synced = false;
  let resourceVersion = '';
  let controller: AbortController | undefined;
  let loop: Promise<void> | undefined;
  const syncWaiters = new Set<() => void>();

  const emit = (type: InformerEventType, key: string, object: T, previous: T | undefined): void => {
    if (!synced) return;
    for (const h of handlers) {
      try {
        h({ type, key, object, previous });
      } catch (err) {
        log.error('informer handler failed', { err });
      }
    }
  };

  async function relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await api.list<T>(resource, {
        ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
        ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
        ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector }),
        limit: options.pageSize ?? 500,
        ...(cont === undefined ? {} : { continue: cont }),
        signal,
      });
      for (const item of page.items) items.push(transform(item));
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
    } while (cont !== undefined && !signal.aborted);
    if (signal.aborted) return;
    const fresh = new Map<string, T>();
    for (const item of items) fresh.set(objectKey(item), item);
    for (const [key, old] of cache) {
      if (!fresh.has(key)) {
        cache.delete(key);
        emit('delete', key, old, old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = cache.get(key);
      cache.set(key, obj);
      if (old === undefined) emit('add', key, obj, undefined);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) emit('update', key, obj, old);
    }
    resourceVersion = rv;
    if (!synced) {
      synced = true;
      log.debug('informer synced', { objects: cache.size, resourceVersion: rv });
      for (const w of syncWaiters) w();
      syncWaiters.clear();
    }
  }

  function apply(ev: WatchEvent<T>): void {
    const obj = ev.object;
    if (obj.metadata?.resourceVersion !== undefined) resourceVersion = obj.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return;
    const item = transform(obj);
    const key = objectKey(item);
    const old = cache.get(key);
    if (ev.type === 'DELETED') {
      cache.delete(key);
      emit('delete', key, old ?? item, old);
    } else {
      cache.set(key, item);
      if (old === undefined) emit('add', key, item, undefined);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        emit('update', key, item, old);
    }
    backoff.reset();
  }

  async function run(signal: AbortSignal): Promise<void> {
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await relist(signal);
          needList = false;
          backoff.reset();
          options.metrics?.healthy?.(resource.plural);
        }
        if (signal.aborted) break;
        await api.watch<T>(
          resource,
          {
            resourceVersion,
            timeoutSeconds: watchTimeout + Math.floor(Math.random() * watchTimeout),
            signal,
            ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
            ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
            ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector }),
          },
          apply,
        );
        // The server ended the watch normally: continue from the last version without a relist.
        options.metrics?.healthy?.(resource.plural);
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          log.debug('watch expired; relisting');
          needList = true;
          continue;
        }
        needList = true;
        const delay = backoff.next();
        options.metrics?.restart(resource.plural);
        log.warn('informer failed; restarting after backoff', {
          err,
          delayMs: delay,
          attempt: backoff.attempts,
        });
        await sleep(delay, signal);
      }
    }
  }

  return {
    resource,
    hasSynced: () => synced,
    waitForSync(timeoutMs, signal) {
      if (synced) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          syncWaiters.delete(onSync);
          signal?.removeEventListener('abort', onAbort);
          resolve(ok);
        };
        const onSync = (): void => done(true);
        const onAbort = (): void => done(false);
        const timer = setTimeout(() => done(false), timeoutMs);
        syncWaiters.add(onSync);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    get: (key) => cache.get(key),
    getByName: (namespace, name) =>
      cache.get(namespace === undefined || namespace === '' ? name : `${namespace}/${name}`),
    list(namespace) {
      const all = [...cache.values()];
      return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    lastResourceVersion: () => resourceVersion,
    start() {
      if (loop === undefined) {
        controller = new AbortController();
        loop = run(controller.signal);
      }
      return Promise.resolve();
    },
    async shutdown() {
      controller?.abort();
      await loop;
    },
  };
}

/** managedFields are large and never read by the operator. */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata as (T['metadata'] & { managedFields?: unknown }) | undefined;
  if (meta?.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...rest } = meta;
  return { ...obj, metadata: rest };
}
