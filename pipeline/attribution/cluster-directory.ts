// Owns the in-cluster PodDirectory: a compact cache of Pods (uid, namespace/name, IP, labels,
// controller owner) kept by the cluster layer's list/watch (cluster/list-watch.ts), plus
// metadata-only caches of ReplicaSets and Jobs for the owner walk (ReplicaSet -> Deployment, Job -> CronJob). Deleted or finished pods stay resolvable
// for a grace period, since their last spans arrive after they are gone. Host-network pods are not
// the answer of byIp (they share the node's address), but podsAt lists every pod behind an address,
// host-network ones included, so the attributor can choose only among them.

import type { KubeApi } from '../../cluster/api.ts';
import { createListWatch, type ListWatch, type ListWatchHandler } from '../../cluster/list-watch.ts';
import type { KubeObject as ClusterObject, ObjectMeta } from '../../cluster/resources.ts';
import { RESOURCES, type ResourceType } from '../../cluster/resources.ts';
import type { Clock } from '../../kernel/clock.ts';
import { systemClock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { WorkloadRef } from '../snapshot.ts';
import type { PodDirectory, PodInfo } from './types.ts';

/** A pod, ReplicaSet or Job as listed: metadata, and for pods the spec and status fields read here. */
interface KubeObject extends ClusterObject {
  readonly metadata?: ObjectMeta;
  readonly spec?: { hostNetwork?: boolean };
  readonly status?: { podIP?: string; phase?: string };
}

export interface ClusterPodDirectoryOptions {
  api: KubeApi;
  /** The operator's namespace scope: pods and owners are watched in these only (default: all). */
  namespaces?: readonly string[] | undefined;
  /** start() rejects when the first lists have not completed by then (default 60 s). */
  syncTimeoutMs?: number | undefined;
  clock?: Clock;
  logger?: Logger;
  /** How long a deleted or finished pod stays resolvable; default 5 minutes. */
  deletedGraceMs?: number;
}

export interface ClusterPodDirectory extends PodDirectory, Component {
  hasSynced(): boolean;
  /** Pods currently known (live and within their grace period). */
  size(): number;
  /** Whether a pod is running, gone but still resolvable (grace period), or unknown. */
  status(uid: string): 'live' | 'gone' | undefined;
}

interface Owner {
  readonly kind: string;
  readonly name: string;
}

interface PodRecord {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string | undefined;
  /** The address the pod sends from: its own IP, or the node's for a host-network pod. */
  readonly sendsFrom: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly owner: Owner | undefined;
  /** ms epoch when deleted or finished; 0 while running. */
  gone: number;
  /** PodInfo resolved against the owner caches at `ownersVersion`. */
  info: PodInfo | undefined;
  infoVersion: number;
}

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze({});

function controllerOf(obj: KubeObject): Owner | undefined {
  const refs = obj.metadata?.ownerReferences ?? [];
  const ref = refs.find((r) => r.controller) ?? refs[0];
  return ref ? { kind: ref.kind, name: ref.name } : undefined;
}

function nsName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function createClusterPodDirectory(options: ClusterPodDirectoryOptions): ClusterPodDirectory {
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? silentLogger).child({ component: 'pod-directory' });
  const graceMs = options.deletedGraceMs ?? 5 * 60_000;

  const byUid = new Map<string, PodRecord>();
  const byName = new Map<string, string>(); // ns/name -> uid
  const byIp = new Map<string, string>(); // ip -> uid
  const atAddress = new Map<string, Set<string>>(); // sending address -> uids (host network shares one)
  const replicaSetOwners = new Map<string, Owner | undefined>(); // ns/name -> controller
  const jobOwners = new Map<string, Owner | undefined>();
  /** Owners deleted from the cluster, with when: forgotten after the grace period. */
  const removedOwners = new Map<Map<string, Owner | undefined>, Map<string, number>>();
  /** Bumped when an owner cache changes, so cached PodInfo is re-walked. */
  let ownersVersion = 0;
  let watches: ListWatch[] = [];
  let sweepTimer: NodeJS.Timeout | undefined;
  let started = false;

  const workloadOf = (p: PodRecord): WorkloadRef => {
    const o = p.owner;
    if (!o) return { namespace: p.namespace, kind: 'Pod', name: p.name };
    if (o.kind === 'ReplicaSet') {
      const key = nsName(p.namespace, o.name);
      const rsOwner = replicaSetOwners.get(key);
      if (rsOwner) return { namespace: p.namespace, kind: rsOwner.kind, name: rsOwner.name };
      if (replicaSetOwners.has(key)) return { namespace: p.namespace, kind: 'ReplicaSet', name: o.name };
      // ReplicaSet not (yet) known: Deployments name theirs <deployment>-<pod-template-hash>.
      const hash = p.labels['pod-template-hash'];
      if (hash && o.name.endsWith(`-${hash}`)) {
        return { namespace: p.namespace, kind: 'Deployment', name: o.name.slice(0, -hash.length - 1) };
      }
      return { namespace: p.namespace, kind: 'ReplicaSet', name: o.name };
    }
    if (o.kind === 'Job') {
      const jobOwner = jobOwners.get(nsName(p.namespace, o.name));
      if (jobOwner?.kind === 'CronJob')
        return { namespace: p.namespace, kind: 'CronJob', name: jobOwner.name };
      return { namespace: p.namespace, kind: 'Job', name: o.name };
    }
    return { namespace: p.namespace, kind: o.kind, name: o.name };
  };

  const infoOf = (p: PodRecord | undefined): PodInfo | undefined => {
    if (!p) return undefined;
    if (p.gone > 0 && clock.now() - p.gone > graceMs) return undefined;
    if (!p.info || p.infoVersion !== ownersVersion) {
      const workload = workloadOf(p);
      const prev = p.info;
      // Keep the same object when nothing changed: attribution caches by identity.
      p.info =
        prev &&
        prev.workload.kind === workload.kind &&
        prev.workload.name === workload.name &&
        prev.labels === p.labels
          ? prev
          : { uid: p.uid, namespace: p.namespace, name: p.name, ip: p.ip, labels: p.labels, workload };
      p.infoVersion = ownersVersion;
    }
    return p.info;
  };

  const record = (obj: KubeObject): PodRecord | undefined => {
    const m = obj.metadata;
    if (!m?.uid || !m.name) return undefined;
    const spec = obj.spec;
    const status = obj.status;
    const finished = status?.phase === 'Succeeded' || status?.phase === 'Failed';
    return {
      uid: m.uid,
      namespace: m.namespace ?? 'default',
      name: m.name,
      ip: spec?.hostNetwork ? undefined : status?.podIP || undefined,
      sendsFrom: status?.podIP || undefined,
      labels: m.labels ? Object.freeze({ ...m.labels }) : EMPTY_LABELS,
      owner: controllerOf(obj),
      gone: finished ? clock.now() : 0,
      info: undefined,
      infoVersion: -1,
    };
  };

  const forget = (p: PodRecord): void => {
    byUid.delete(p.uid);
    const key = nsName(p.namespace, p.name);
    if (byName.get(key) === p.uid) byName.delete(key);
    if (p.ip && byIp.get(p.ip) === p.uid) byIp.delete(p.ip);
    leave(p);
  };

  const leave = (p: PodRecord): void => {
    if (!p.sendsFrom) return;
    const set = atAddress.get(p.sendsFrom);
    set?.delete(p.uid);
    if (set?.size === 0) atAddress.delete(p.sendsFrom);
  };

  const upsertPod = (obj: KubeObject): void => {
    const next = record(obj);
    if (!next) return;
    const prev = byUid.get(next.uid);
    if (prev) {
      if (prev.ip && prev.ip !== next.ip && byIp.get(prev.ip) === prev.uid) byIp.delete(prev.ip);
      if (prev.sendsFrom !== next.sendsFrom) leave(prev);
      // A finished pod keeps the time it finished.
      if (prev.gone > 0 && next.gone > 0) next.gone = prev.gone;
      // Unchanged labels keep their object, so attribution caches stay valid.
      if (sameLabels(prev.labels, next.labels))
        (next as { labels: PodRecord['labels'] }).labels = prev.labels;
    }
    byUid.set(next.uid, next);
    const key = nsName(next.namespace, next.name);
    const holder = byUid.get(byName.get(key) ?? '');
    if (!holder || holder === next || holder.gone > 0 || next.gone === 0) byName.set(key, next.uid);
    if (next.sendsFrom) {
      let set = atAddress.get(next.sendsFrom);
      if (!set) atAddress.set(next.sendsFrom, (set = new Set()));
      set.add(next.uid);
    }
    if (next.ip) {
      const ipHolder = byUid.get(byIp.get(next.ip) ?? '');
      // A running pod wins an address over one that is gone.
      if (!ipHolder || ipHolder.uid === next.uid || ipHolder.gone > 0 || next.gone === 0)
        byIp.set(next.ip, next.uid);
    }
  };

  const removePod = (obj: KubeObject): void => {
    const uid = obj.metadata?.uid;
    const p = uid ? byUid.get(uid) : undefined;
    if (p && p.gone === 0) p.gone = clock.now();
  };

  const podHandler: ListWatchHandler<KubeObject> = {
    replace(items, namespace) {
      const seen = new Set<string>();
      for (const item of items) {
        upsertPod(item);
        if (item.metadata?.uid) seen.add(item.metadata.uid);
      }
      const now = clock.now();
      for (const p of byUid.values())
        if (!seen.has(p.uid) && p.gone === 0 && (namespace === undefined || p.namespace === namespace))
          p.gone = now;
    },
    upsert: upsertPod,
    remove: removePod,
  };

  const ownerHandler = (owners: Map<string, Owner | undefined>): ListWatchHandler<KubeObject> => ({
    replace(items, namespace) {
      if (namespace === undefined) owners.clear();
      else for (const key of [...owners.keys()]) if (key.startsWith(`${namespace}/`)) owners.delete(key);
      for (const item of items) this.upsert(item);
      ownersVersion++;
    },
    upsert(item) {
      const m = item.metadata;
      if (!m?.name) return;
      const key = nsName(m.namespace ?? 'default', m.name);
      removedOwners.get(owners)?.delete(key);
      const owner = controllerOf(item);
      const prev = owners.get(key);
      if (owners.has(key) && prev?.kind === owner?.kind && prev?.name === owner?.name) return;
      owners.set(key, owner);
      ownersVersion++;
    },
    remove(item) {
      const m = item.metadata;
      if (!m?.name) return;
      // Kept for the grace period: pods of a deleted ReplicaSet or Job may still send spans.
      let removed = removedOwners.get(owners);
      if (!removed) {
        removed = new Map<string, number>();
        removedOwners.set(owners, removed);
      }
      removed.set(nsName(m.namespace ?? 'default', m.name), clock.now());
    },
  });

  const sweep = (): void => {
    const now = clock.now();
    for (const p of [...byUid.values()]) if (p.gone > 0 && now - p.gone > graceMs) forget(p);
    for (const [owners, removed] of removedOwners) {
      for (const [key, at] of removed) {
        if (now - at <= graceMs) continue;
        removed.delete(key);
        owners.delete(key);
        ownersVersion++;
      }
    }
  };

  return {
    byUid: (uid) => infoOf(byUid.get(uid)),
    byNamespaceName: (namespace, name) => infoOf(byUid.get(byName.get(nsName(namespace, name)) ?? '')),
    byIp: (ip) => infoOf(byUid.get(byIp.get(ip) ?? '')),
    podsAt(address) {
      const uids = atAddress.get(address);
      if (!uids) return [];
      // Running pods only, when there are any: an address is reused once its old pod is gone.
      const live: PodInfo[] = [];
      const gone: PodInfo[] = [];
      for (const uid of uids) {
        const p = byUid.get(uid);
        const info = infoOf(p);
        if (info) (p?.gone === 0 ? live : gone).push(info);
      }
      return live.length > 0 ? live : gone;
    },
    hasSynced: () => started && watches.every((w) => w.hasSynced()),
    size: () => byUid.size,
    status(uid) {
      const p = byUid.get(uid);
      if (!p) return undefined;
      if (p.gone === 0) return 'live';
      return clock.now() - p.gone > graceMs ? undefined : 'gone';
    },

    async start(signal) {
      if (started) return;
      started = true;
      const make = (resource: ResourceType, handler: ListWatchHandler<KubeObject>, metadataOnly: boolean) =>
        createListWatch<KubeObject>({
          api: options.api,
          resource,
          handler,
          metadataOnly,
          logger,
          namespaces: options.namespaces,
          ...(options.syncTimeoutMs === undefined ? {} : { syncTimeoutMs: options.syncTimeoutMs }),
        });
      watches = [
        make(RESOURCES.replicaSet, ownerHandler(replicaSetOwners), true),
        make(RESOURCES.job, ownerHandler(jobOwners), true),
        // Full pods: the IP is in status, which metadata-only lists leave out. Only a compact record is kept.
        make(RESOURCES.pod, podHandler, false),
      ];
      try {
        await Promise.all(watches.map((w) => w.start(signal)));
      } catch (err) {
        await Promise.all(watches.map((w) => w.shutdown()));
        throw err;
      }
      sweepTimer = setInterval(sweep, Math.max(1_000, Math.min(30_000, graceMs / 2)));
      sweepTimer.unref();
      logger.info('pod directory synced', {
        pods: byUid.size,
        replicaSets: replicaSetOwners.size,
        jobs: jobOwners.size,
      });
    },

    async shutdown() {
      if (sweepTimer) clearInterval(sweepTimer);
      sweepTimer = undefined;
      const stopping = watches;
      watches = [];
      await Promise.all(stopping.map((w) => w.shutdown()));
    },
  };
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}
