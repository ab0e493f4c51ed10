// Owns the usage state that survives restarts and is shared between replicas: one ConfigMap per
// replica, `genops-usage-<replica-id>` in the operator's namespace, holding that replica's usage record
// (gzip JSON in binaryData), rewritten every few seconds when its usage changed and on shutdown.
// At start a replica restores its own record into its windows, so its period continues where it left
// off. Every replica watches all records and offers a merged snapshot (own live windows + each other
// replica's record once) for decisions; the leader deletes records whose periods all ended.

import type { Clock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { SnapshotSource, UsageSnapshot } from '../../pipeline/snapshot.ts';
import type { SpendState } from '../../pipeline/windows/windows.ts';
import type { PeriodCalendar } from '../../decision/period.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { isAlreadyExists, isConflict, isNotFound } from '../../cluster/errors.ts';
import { createInformer, type Informer } from '../../cluster/informer.ts';
import { RESOURCES, type KubeObject } from '../../cluster/resources.ts';
import {
  decodeRecord,
  encodeRecordAsync,
  extrasOf,
  mergeUsage,
  recordExpired,
  USAGE_RECORD_VERSION,
  type UsageRecord,
} from './usage-record.ts';

export const USAGE_RECORD_LABEL = 'genops.ai/usage-record';
export const REPLICA_ANNOTATION = 'genops.ai/replica-id';
const DATA_KEY = 'usage.json.gz';
/** ConfigMaps hold at most 1 MiB (binaryData counted base64); leave room for metadata. */
const MAX_RECORD_BYTES = 1_000_000;

export interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** What the store needs from the pipeline's windows. */
export interface SpendWindows extends SnapshotSource {
  export(): SpendState;
  restore(state: SpendState): void;
}

/**
 * The write-ahead log as the store sees it (pipeline/wal/journal.ts): a record holds the windows
 * up to a log position, written only once that position is durable, and the log may then prune.
 */
export interface RecordJournal {
  position(): { readonly walId: string; readonly seq: number };
  durable(): Promise<void>;
  checkpointed(position: { readonly walId: string; readonly seq: number }): Promise<void>;
}

export interface UsageStoreMetrics {
  /** One write of this replica's record: outcome and encoded size. */
  usageRecordWrite(outcome: 'written' | 'failed', bytes: number): void;
  /** Records of other replicas merged into decisions. */
  usageRecordsMerged(count: number): void;
}

export const noopUsageStoreMetrics: UsageStoreMetrics = {
  usageRecordWrite: () => undefined,
  usageRecordsMerged: () => undefined,
};

export interface UsageStore extends Component {
  /** This replica's own live usage plus other replicas' records: what decisions read. */
  readonly merged: SnapshotSource;
  /** Loads this replica's record and restores it into the windows; true if there was one. Call before intake starts. */
  restore(): Promise<boolean>;
  /** Writes this replica's record now. */
  flush(): Promise<void>;
  /** Deletes records whose periods all ended (the leader calls it); returns how many. */
  collectGarbage(): Promise<number>;
  /** The log position the restored record holds (undefined: no record, or none written with a log). */
  restoredWal(): { walId: string; seq: number } | undefined;
  /** Records of the other replicas, decoded. */
  others(): readonly UsageRecord[];
  hasSynced(): boolean;
  waitForSync(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  readonly recordName: string;
}

export interface UsageStoreOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly replicaId: string;
  readonly windows: SpendWindows;
  readonly clock: Clock;
  readonly calendar: PeriodCalendar;
  readonly logger: Logger;
  /** How often the own record is written when usage changed (default 5 s). */
  readonly writeIntervalMs?: number;
  readonly metrics?: UsageStoreMetrics;
  /** The write-ahead log whose position each record states. */
  readonly journal?: RecordJournal;
}

/** `genops-usage-<id>` made a valid object name. */
export function usageRecordName(replicaId: string): string {
  const id = replicaId
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return `genops-usage-${id === '' ? 'replica' : id}`.slice(0, 253);
}

export function createUsageStore(options: UsageStoreOptions): UsageStore {
  const { api, namespace, replicaId, windows, clock, calendar } = options;
  const log = options.logger.child({ component: 'usage-store', replica: replicaId });
  const metrics = options.metrics ?? noopUsageStoreMetrics;
  const intervalMs = options.writeIntervalMs ?? 5000;
  const name = usageRecordName(replicaId);
  const informer: Informer<ConfigMapObject> = createInformer<ConfigMapObject>({
    api,
    resource: RESOURCES.configMap,
    namespace,
    labelSelector: `${USAGE_RECORD_LABEL}=true`,
    logger: options.logger,
  });
  const decoded = new Map<string, { rv: string; record: UsageRecord | undefined }>();
  /** Snapshot-only figures of this replica before its restart (model breakdown, maxima). */
  let restoredExtras: UsageRecord | undefined;
  let restoredWal: { walId: string; seq: number } | undefined;
  const journal = options.journal;
  let writtenVersion = -1;
  let lastWriteAt = 0;
  let rv: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let stopped = false;
  let started = false;
  /** Writes begin only after restore(): a restarted replica must read its record before overwriting it. */
  let restored = false;
  let mergedVersion = 0;
  let mergedCache: { localVersion: number; epoch: number; at: number; snapshot: UsageSnapshot } | undefined;
  let epoch = 0;
  const listeners = new Set<(s: UsageSnapshot) => void>();

  informer.subscribe(() => {
    epoch++;
    notify();
  });
  windows.subscribe(() => notify());

  function notify(): void {
    if (listeners.size === 0) return;
    const s = merged.current();
    for (const l of listeners) l(s);
  }

  function recordOf(cm: ConfigMapObject): UsageRecord | undefined {
    const key = cm.metadata?.name ?? '';
    const version = cm.metadata?.resourceVersion ?? '';
    const hit = decoded.get(key);
    if (hit !== undefined && hit.rv === version) return hit.record;
    const data = cm.binaryData?.[DATA_KEY];
    const record = data === undefined ? undefined : decodeRecord(Buffer.from(data, 'base64'));
    if (record === undefined) log.warn('unreadable usage record ignored', { configMap: key });
    decoded.set(key, { rv: version, record });
    return record;
  }

  function others(): UsageRecord[] {
    const out: UsageRecord[] = [];
    const live = new Set<string>();
    for (const cm of informer.list()) {
      const n = cm.metadata?.name ?? '';
      live.add(n);
      if (n === name) continue;
      const r = recordOf(cm);
      if (r !== undefined && r.replicaId !== replicaId) out.push(r);
    }
    for (const k of decoded.keys()) if (!live.has(k)) decoded.delete(k);
    return out;
  }

  /** Own live windows plus what they cannot restore (breakdown of the period before a restart). */
  function localEffective(now: number): UsageSnapshot {
    const local = windows.current();
    if (restoredExtras === undefined) return local;
    return mergeUsage(local, [restoredExtras], { calendar, now, version: local.version });
  }

  const merged: SnapshotSource = {
    current() {
      const now = clock.now();
      const local = windows.current();
      const c = mergedCache;
      // Freshness rules depend on time; recompute at least every second.
      if (
        c !== undefined &&
        c.localVersion === local.version &&
        c.epoch === epoch &&
        now - c.at < 1000 &&
        now >= c.at
      ) {
        return c.snapshot;
      }
      const recs = others();
      metrics.usageRecordsMerged(recs.length);
      const snapshot = mergeUsage(localEffective(now), recs, { calendar, now, version: 0 });
      const out: UsageSnapshot = { ...snapshot, version: ++mergedVersion };
      mergedCache = { localVersion: local.version, epoch, at: now, snapshot: out };
      return out;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };

  async function write(): Promise<void> {
    if (!restored) return;
    const local = windows.current();
    const now = clock.now();
    // Same tick as export(): the windows hold exactly the log entries up to this position.
    const position = journal?.position();
    const record: UsageRecord = {
      version: USAGE_RECORD_VERSION,
      replicaId,
      writtenAt: now,
      spend: windows.export(),
      extras: extrasOf(localEffective(now)),
      ...(position === undefined ? {} : { wal: { id: position.walId, seq: position.seq } }),
    };
    if (journal !== undefined) {
      // The record must not hold a charge whose log entry (with its dedupe keys) could still be
      // lost: a retry after a crash would be charged again.
      try {
        await journal.durable();
      } catch (err) {
        log.warn('usage log not durable; record written anyway', { err });
      }
    }
    const bytes = await encodeRecordAsync(record);
    const data = bytes.toString('base64');
    if (data.length > MAX_RECORD_BYTES) {
      metrics.usageRecordWrite('failed', data.length);
      log.error('usage record too large for a ConfigMap; not persisted', { bytes: data.length });
      return;
    }
    const body: ConfigMapObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace,
        labels: { [USAGE_RECORD_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'genops-operator' },
        annotations: { [REPLICA_ANNOTATION]: replicaId },
        ...(rv === undefined ? {} : { resourceVersion: rv }),
      },
      binaryData: { [DATA_KEY]: data },
    };
    try {
      let saved: ConfigMapObject;
      if (rv === undefined) {
        saved = await api.create<ConfigMapObject>(RESOURCES.configMap, namespace, body);
      } else {
        try {
          saved = await api.replace<ConfigMapObject>(RESOURCES.configMap, namespace, name, body);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          // Someone deleted the record while this replica runs: its windows still hold everything,
          // so write it again from scratch (a replace would answer 404 forever).
          log.warn('own usage record was deleted; creating it again', { configMap: name });
          const { resourceVersion: _dropped, ...metadata } = body.metadata ?? {};
          void _dropped;
          saved = await api.create<ConfigMapObject>(RESOURCES.configMap, namespace, { ...body, metadata });
        }
      }
      rv = saved.metadata?.resourceVersion;
      writtenVersion = local.version;
      lastWriteAt = now;
      metrics.usageRecordWrite('written', data.length);
      if (journal !== undefined && position !== undefined) {
        await journal
          .checkpointed(position)
          .catch((err: unknown) => log.warn('usage log checkpoint failed', { err }));
      }
    } catch (err) {
      metrics.usageRecordWrite('failed', data.length);
      if (isAlreadyExists(err) || isConflict(err)) {
        // Only this replica writes this record: take the current version and write again next time.
        const cur = await api
          .get<ConfigMapObject>(RESOURCES.configMap, namespace, name)
          .catch(() => undefined);
        rv = cur?.metadata?.resourceVersion;
        writtenVersion = -1;
        return;
      }
      log.warn('usage record write failed', { err });
    }
  }

  async function restoreOwn(): Promise<boolean> {
    const cm = await api.get<ConfigMapObject>(RESOURCES.configMap, namespace, name);
    if (cm === undefined) return false;
    rv = cm.metadata?.resourceVersion;
    const data = cm.binaryData?.[DATA_KEY];
    const record = data === undefined ? undefined : decodeRecord(Buffer.from(data, 'base64'));
    if (record === undefined) {
      log.warn('own usage record unreadable; starting from zero', { configMap: name });
      return false;
    }
    windows.restore(record.spend);
    restoredWal = record.wal === undefined ? undefined : { walId: record.wal.id, seq: record.wal.seq };
    // Spend is back in the windows; keep only what they cannot hold, without sliding counts.
    restoredExtras = {
      ...record,
      spend: { ...record.spend, workloads: [] },
      extras: record.extras.map((x) => ({ ...x, requestsLastMinute: 0, requestsLastHour: 0 })),
    };
    mergedCache = undefined;
    log.info('usage record restored', {
      configMap: name,
      workloads: record.spend.workloads.length,
      writtenAt: new Date(record.writtenAt).toISOString(),
    });
    return true;
  }

  function writeNow(): Promise<void> {
    if (writing !== undefined) return writing.then(() => writeNow());
    writing = write().finally(() => {
      writing = undefined;
    });
    return writing;
  }

  function scheduleTick(): void {
    if (stopped || !started || !restored || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      const changed = windows.current().version !== writtenVersion;
      // A heartbeat once a minute keeps the record's freshness for sliding counts honest.
      const due = changed || clock.now() - lastWriteAt >= 60_000;
      void (due ? writeNow() : Promise.resolve()).finally(scheduleTick);
    }, intervalMs);
    timer.unref();
  }

  return {
    merged,
    recordName: name,
    async restore() {
      // If reading fails, nothing is ever written: an empty record must not replace a real one.
      const found = await restoreOwn();
      restored = true;
      scheduleTick();
      return found;
    },
    flush: () => writeNow(),
    async collectGarbage() {
      const now = clock.now();
      let deleted = 0;
      for (const cm of informer.list()) {
        const r = recordOf(cm);
        const n = cm.metadata?.name ?? '';
        if (n === name || r === undefined || !recordExpired(r, now)) continue;
        try {
          if (
            await api.delete(RESOURCES.configMap, namespace, n, {
              ...(cm.metadata?.resourceVersion === undefined
                ? {}
                : { resourceVersion: cm.metadata.resourceVersion }),
            })
          ) {
            deleted++;
            log.info('expired usage record deleted', { configMap: n, replica: r.replicaId });
          }
        } catch (err) {
          // A conflict means the replica is alive and wrote again: not expired after all.
          if (!isConflict(err)) log.warn('could not delete expired usage record', { configMap: n, err });
        }
      }
      return deleted;
    },
    others,
    restoredWal: () => restoredWal,
    hasSynced: () => informer.hasSynced(),
    waitForSync: (t, s) => informer.waitForSync(t, s),
    async start(signal) {
      await informer.start(signal);
      started = true;
      scheduleTick();
    },
    async shutdown(deadlineMs) {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      try {
        await writeNow();
      } catch (err) {
        log.warn('final usage record write failed', { err });
      }
      await informer.shutdown(deadlineMs);
    },
  };
}
