// Owns a watched, in-memory copy of one kind of object: the cache and change handlers over the one
// list/watch (list-watch.ts: list, watch, relist on 410, backoff, the sync contract). `hasSynced`
// turns true after the first full list and gates readiness; handlers see every add/update/delete
// after that list.

import type { Component } from '../kernel/lifecycle.ts';
import type { Logger } from '../kernel/logger.ts';
import type { KubeApi } from './api.ts';
import type { BackoffOptions } from './backoff.ts';
import { createListWatch, type ListWatchMetrics } from './list-watch.ts';
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

export type InformerMetrics = ListWatchMetrics;

export interface InformerOptions<T extends KubeObject> {
  readonly api: KubeApi;
  readonly resource: ResourceType;
  readonly logger: Logger;
  /** Only this namespace (default: all namespaces). */
  readonly namespace?: string;
  /** Only these namespaces (the operator's namespace scope); ignored when `namespace` is given. */
  readonly namespaces?: readonly string[] | undefined;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Drops what is not needed (e.g. managedFields) before caching; keep it pure. */
  readonly transform?: (obj: T) => T;
  readonly backoff?: BackoffOptions;
  /** Seconds the server keeps one watch open (randomized per watch like client-go: [t, 2t)). */
  readonly watchTimeoutSeconds?: number;
  readonly pageSize?: number;
  readonly metrics?: InformerMetrics | undefined;
  /** start() rejects when the first list has not completed by then (default 60 s). */
  readonly syncTimeoutMs?: number;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export function createInformer<T extends KubeObject>(options: InformerOptions<T>): Informer<T> {
  const { resource } = options;
  const log = options.logger.child({ component: 'informer', resource: resource.plural });
  const transform = options.transform ?? stripManagedFields<T>;
  const cache = new Map<string, T>();
  const handlers = new Set<(e: InformerEvent<T>) => void>();
  let synced = false;

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

  const upsert = (obj: T): void => {
    const item = transform(obj);
    const key = objectKey(item);
    const old = cache.get(key);
    cache.set(key, item);
    if (old === undefined) emit('add', key, item, undefined);
    else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion) emit('update', key, item, old);
  };

  const listWatch = createListWatch<T>({
    api: options.api,
    resource,
    logger: options.logger,
    ...(options.namespace !== undefined
      ? { namespaces: [options.namespace] }
      : options.namespaces === undefined
        ? {}
        : { namespaces: options.namespaces }),
    ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
    ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector }),
    ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    ...(options.watchTimeoutSeconds === undefined
      ? {}
      : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
    ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    ...(options.syncTimeoutMs === undefined ? {} : { syncTimeoutMs: options.syncTimeoutMs }),
    ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
    metrics: options.metrics,
    handler: {
      replace(items, namespace) {
        const fresh = new Map<string, T>();
        for (const obj of items) {
          const item = transform(obj);
          fresh.set(objectKey(item), item);
        }
        for (const [key, old] of cache) {
          if (namespace !== undefined && old.metadata?.namespace !== namespace) continue;
          if (!fresh.has(key)) {
            cache.delete(key);
            emit('delete', key, old, old);
          }
        }
        for (const [key, obj] of fresh) {
          const old = cache.get(key);
          cache.set(key, obj);
          if (old === undefined) emit('add', key, obj, undefined);
          else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
            emit('update', key, obj, old);
        }
      },
      synced() {
        synced = true;
        log.debug('informer synced', { objects: cache.size });
      },
      upsert,
      remove(obj) {
        const item = transform(obj);
        const key = objectKey(item);
        const old = cache.get(key);
        cache.delete(key);
        emit('delete', key, old ?? item, old);
      },
    },
  });

  return {
    resource,
    hasSynced: () => synced,
    waitForSync: (timeoutMs, signal) => listWatch.waitForSync(timeoutMs, signal),
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
    lastResourceVersion: () => listWatch.lastResourceVersion(),
    start: (signal) => listWatch.start(signal),
    shutdown: () => listWatch.shutdown(),
  };
}

/** managedFields are large and never read by the operator. */
function stripManagedFields<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata as (T['metadata'] & { managedFields?: unknown }) | undefined;
  if (meta?.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...rest } = meta;
  return { ...obj, metadata: rest };
}
