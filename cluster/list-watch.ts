// Owns the one list/watch of the operator (client-go's Reflector): paginated list, then watch from
// the list's resourceVersion (with bookmarks), re-watch when the server ends the stream, relist on
// 410 Gone, restart with backoff on any other error. It keeps no objects itself: a handler is told
// what the API server holds (`replace` after a list, `upsert`/`remove` from the watch) and keeps
// what it needs (the informer a full cache, the pod directory a compact record).
//
// The sync contract: `start()` resolves once every list completed, or rejects with
// CACHE_NOT_SYNCED at the sync timeout, so the composition root awaits start instead of polling.
// Optionally restricted to a set of namespaces: one list/watch per namespace then, each replacing
// only its own namespace's objects.

import type { Component } from '../kernel/lifecycle.ts';
import { GenOpsError } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';
import type { KubeApi, WatchEvent } from './api.ts';
import { createBackoff, sleep as defaultSleep, type BackoffOptions } from './backoff.ts';
import { isGone } from './errors.ts';
import type { KubeObject, ResourceType } from './resources.ts';

export interface ListWatchHandler<T> {
  /**
   * The complete collection after a (re)list: replace everything known, or only what is in
   * `namespace` when the list/watch is restricted to a set of namespaces.
   */
  replace(items: readonly T[], namespace: string | undefined): void;
  upsert(item: T): void;
  remove(item: T): void;
  /** Every first list completed (called once, before start() resolves). */
  synced?(): void;
}

export interface ListWatchMetrics {
  /** The list/watch failed and restarts after a backoff. */
  restart(resource: string): void;
  /** A list succeeded or a watch ended normally: the API server answers (liveness, cmd/watch-health.ts). */
  healthy?(resource: string): void;
}

export interface ListWatchOptions<T extends KubeObject> {
  readonly api: KubeApi;
  readonly resource: ResourceType;
  readonly logger: Logger;
  readonly handler: ListWatchHandler<T>;
  /** Only these namespaces (one list/watch each); undefined or empty: all namespaces. */
  readonly namespaces?: readonly string[] | undefined;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Ask for PartialObjectMetadata (no spec/status) where metadata is enough. */
  readonly metadataOnly?: boolean;
  readonly backoff?: BackoffOptions;
  /** Seconds the server keeps one watch open (randomized per watch like client-go: [t, 2t)). */
  readonly watchTimeoutSeconds?: number;
  readonly pageSize?: number;
  readonly metrics?: ListWatchMetrics | undefined;
  /** start() rejects when the first lists have not completed by then (default 60 s). */
  readonly syncTimeoutMs?: number;
  /** Injected so tests need not wait out backoffs: resolves after ms, or early when signal aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly random?: () => number;
}

export interface ListWatch extends Component {
  readonly resource: ResourceType;
  hasSynced(): boolean;
  /** Resolves true once synced, false if `timeoutMs` passed or `signal` aborted first. */
  waitForSync(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** The last resourceVersion seen (for tests and debugging). */
  lastResourceVersion(): string;
}

const DEFAULT_SYNC_TIMEOUT_MS = 60_000;

/** The first list did not complete within the sync timeout (API server unreachable or RBAC incomplete). */
function cacheNotSynced(what: string, timeoutMs: number): GenOpsError {
  return new GenOpsError(
    'retryable',
    'CACHE_NOT_SYNCED',
    `${what} did not sync within ${timeoutMs / 1000} s: the API server did not answer, or the ` +
      "operator's RBAC is incomplete (see kubectl auth can-i --list)",
  );
}

export function createListWatch<T extends KubeObject>(options: ListWatchOptions<T>): ListWatch {
  const { api, resource, handler } = options;
  const log = options.logger.child({ component: 'list-watch', resource: resource.plural });
  const watchTimeout = options.watchTimeoutSeconds ?? 300;
  const random = options.random ?? Math.random;
  const pause = options.sleep ?? defaultSleep;
  const syncTimeoutMs = options.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
  // A cluster-scoped kind has no namespaces to restrict to.
  const scopes: readonly (string | undefined)[] =
    resource.namespaced && options.namespaces !== undefined && options.namespaces.length > 0
      ? [...new Set(options.namespaces)]
      : [undefined];
  const syncedScopes = new Set<string | undefined>();
  const syncWaiters = new Set<() => void>();
  let resourceVersion = '';
  let controller: AbortController | undefined;
  let loops: Promise<void>[] = [];

  const synced = (): boolean => syncedScopes.size === scopes.length;
  const selectors = {
    ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
    ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector }),
    ...(options.metadataOnly === true ? { metadataOnly: true } : {}),
  };

  async function relist(namespace: string | undefined, signal: AbortSignal): Promise<string> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await api.list<T>(resource, {
        ...(namespace === undefined ? {} : { namespace }),
        ...selectors,
        limit: options.pageSize ?? 500,
        ...(cont === undefined ? {} : { continue: cont }),
        signal,
      });
      // An empty PartialObjectMetadataList comes without items.
      for (const item of page.items ?? []) items.push(item);
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
    } while (cont !== undefined && !signal.aborted);
    if (signal.aborted) return rv;
    handler.replace(items, namespace);
    if (!syncedScopes.has(namespace)) {
      syncedScopes.add(namespace);
      if (synced()) {
        log.debug('list/watch synced', { resourceVersion: rv });
        handler.synced?.();
        for (const w of syncWaiters) w();
        syncWaiters.clear();
      }
    }
    return rv;
  }

  async function run(namespace: string | undefined, signal: AbortSignal): Promise<void> {
    const backoff = createBackoff({ ...(options.backoff ?? { initialMs: 500, maxMs: 30_000 }), random });
    let version = '';
    while (!signal.aborted) {
      try {
        if (version === '') {
          version = await relist(namespace, signal);
          resourceVersion = version;
          backoff.reset();
          options.metrics?.healthy?.(resource.plural);
        }
        if (signal.aborted) break;
        await api.watch<T>(
          resource,
          {
            resourceVersion: version,
            timeoutSeconds: watchTimeout + Math.floor(random() * watchTimeout),
            signal,
            ...(namespace === undefined ? {} : { namespace }),
            ...selectors,
          },
          (ev: WatchEvent<T>) => {
            const rv = ev.object.metadata?.resourceVersion;
            if (rv !== undefined) version = resourceVersion = rv;
            if (ev.type === 'BOOKMARK') return;
            if (ev.type === 'DELETED') handler.remove(ev.object);
            else handler.upsert(ev.object);
            backoff.reset();
          },
        );
        // The server ended the watch normally: continue from the last version without a relist.
        options.metrics?.healthy?.(resource.plural);
      } catch (err) {
        if (signal.aborted) break;
        version = '';
        if (isGone(err)) {
          log.debug('watch expired; relisting');
          continue;
        }
        const delay = backoff.next();
        options.metrics?.restart(resource.plural);
        log.warn('list/watch failed; restarting after backoff', {
          err,
          namespace,
          delayMs: delay,
          attempt: backoff.attempts,
        });
        await pause(delay, signal);
      }
    }
  }

  function waitForSync(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (synced()) return Promise.resolve(true);
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
  }

  return {
    resource,
    hasSynced: synced,
    waitForSync,
    lastResourceVersion: () => resourceVersion,
    async start(signal) {
      if (controller === undefined) {
        controller = new AbortController();
        const c = controller;
        loops = scopes.map((ns) => run(ns, c.signal));
      }
      // Shutdown (or the caller's signal) ends the wait too, so no timer outlives the loops.
      const stop = signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]);
      if (await waitForSync(syncTimeoutMs, stop)) return;
      // The loops go on (a later sync still counts) until shutdown; the caller decides to give up.
      throw cacheNotSynced(resource.plural, syncTimeoutMs);
    },
    async shutdown() {
      controller?.abort();
      await Promise.all(loops);
    },
  };
}
