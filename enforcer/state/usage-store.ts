// Owns the usage state that survives restarts and is shared between replicas: per replica one or
// more ConfigMaps `genops-usage-<replica-id>[-<count>-<index>]` in the operator's namespace, holding
// that replica's usage record cut into shards (gzip JSON in binaryData, usage-shards.ts), rewritten
// every few seconds when their usage changed (only the shards that changed) and on shutdown.
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
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { RecordCheckpoint } from '../../pipeline/wal/journal.ts';
import {
  chooseShardSet,
  combineShards,
  MAX_SHARDS,
  shardCountFor,
  shardName,
  shardOf,
  splitRecord,
} from './usage-shards.ts';
import {
  decodeRecord,
  extrasOf,
  mergeUsage,
  recordExpired,
  USAGE_RECORD_VERSION,
  type UsageRecord,
  type WorkloadExtras,
} from './usage-record.ts';

export const USAGE_RECORD_LABEL = 'genops.ai/usage-record';
export const REPLICA_ANNOTATION = 'genops.ai/replica-id';
const DATA_KEY = 'usage.json.gz';
/** ConfigMaps hold at most 1 MiB (binaryData counted base64); leave room for metadata. */
const MAX_RECORD_BYTES = 1_000_000;
/**
 * Workloads per shard aimed at when choosing the shard count: half of what one ConfigMap holds with
 * one model per workload (about 20k), so workloads with several models still fit. A shard that is
 * larger anyway doubles the count.
 */
const SHARD_WORKLOADS = 10_000;
const gzipAsync = promisify(gzip);
/** Default write budget per interval: 1 MiB, 200 KiB/s at the default 5 s. */
const WRITE_BUDGET_BYTES = 1024 * 1024;

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
  /**
   * The log position the restored record holds (undefined: no record, or none written with a log);
   * per workload when the record is sharded.
   */
  restoredWal(): RecordCheckpoint | undefined;
  /** Records of the other replicas, decoded: the shards of each replica's complete set. */
  others(): readonly UsageRecord[];
  /** This replica's current shard count. */
  shardCount(): number;
  hasSynced(): boolean;
  waitForSync(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Name of this replica's record (its first shard when sharded: `shardName(recordName, i, n)`). */
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
  /** Workloads per shard aimed at (default 10k); tests make it small. */
  readonly shardWorkloads?: number;
  /**
   * Bytes (base64) of shards the timer writes per interval, at least one shard (default 1 MiB): the
   * write volume to the API server per replica is at most max(this, one shard) per interval.
   */
  readonly writeBudgetBytes?: number;
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
  const perShard = Math.max(1, options.shardWorkloads ?? SHARD_WORKLOADS);
  const writeBudget = options.writeBudgetBytes ?? WRITE_BUDGET_BYTES;
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
  let restoredWal: RecordCheckpoint | undefined;
  const journal = options.journal;
  /** Shards in use; grows (never shrinks) while the replica runs. */
  let count = 1;
  /** Per shard of `count`: resourceVersion, hash of the content written, when, sliding counts in it. */
  let shards: ShardState[] = [newShardState()];
  let writtenVersion = -1;
  let lastWriteAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let stopped = false;
  let started = false;
  /** Writes begin only after restore(): a restarted replica must read its record before overwriting it. */
  let restored = false;
  let mergedVersion = 0;
  let mergedCache: { localVersion: number; epoch: number; at: number; snapshot: UsageSnapshot } | undefined;
  let othersCache: { epoch: number; records: UsageRecord[]; replicas: number } | undefined;
  let epoch = 0;
  const listeners = new Set<(s: UsageSnapshot) => void>();
  const changeListeners = new Set<() => void>();

  informer.subscribe(() => {
    epoch++;
    notify();
  });
  windows.subscribe(() => notify());

  // Merging costs a pass over every record: only done for a reader that wants the snapshot itself
  // (subscribe); a reader told of changes only (changed) merges when it reads current().
  function notify(): void {
    for (const l of changeListeners) {
      try {
        l();
      } catch (err) {
        log.error('usage change listener failed', { err });
      }
    }
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

  function othersNow(): { records: UsageRecord[]; replicas: number } {
    if (othersCache?.epoch === epoch) return othersCache;
    const byReplica = new Map<string, { record: UsageRecord }[]>();
    const live = new Set<string>();
    for (const cm of informer.list()) {
      const n = cm.metadata?.name ?? '';
      live.add(n);
      if (cm.metadata?.annotations?.[REPLICA_ANNOTATION] === replicaId) continue;
      const r = recordOf(cm);
      if (r === undefined || r.replicaId === replicaId) continue;
      let list = byReplica.get(r.replicaId);
      if (list === undefined) byReplica.set(r.replicaId, (list = []));
      list.push({ record: r });
    }
    for (const k of decoded.keys()) if (!live.has(k)) decoded.delete(k);
    const records: UsageRecord[] = [];
    for (const [id, list] of byReplica) {
      const set = chooseShardSet(list);
      if (set === undefined) {
        log.warn('usage record of a replica incomplete (a shard is missing); not counted', { replica: id });
        continue;
      }
      for (const it of set) records.push(it.record);
    }
    othersCache = { epoch, records, replicas: byReplica.size };
    return othersCache;
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
      const { records, replicas } = othersNow();
      metrics.usageRecordsMerged(replicas);
      const snapshot = mergeUsage(localEffective(now), records, { calendar, now, version: 0 });
      const out: UsageSnapshot = { ...snapshot, version: ++mergedVersion };
      mergedCache = { localVersion: local.version, epoch, at: now, snapshot: out };
      return out;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    changed(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
  };

  /** One shard's record as JSON: the content (hashed to tell whether it changed) and its header. */
  function shardJson(
    content: { spend: SpendState; extras: readonly WorkloadExtras[] },
    index: number,
    n: number,
    now: number,
    position: { walId: string; seq: number } | undefined,
  ): { json: string; hash: string; sliding: boolean } {
    const { takenAt, ...spendBody } = content.spend;
    const body = `${JSON.stringify(spendBody)}\u0000${JSON.stringify(content.extras)}`;
    const hash = createHash('sha1').update(body).digest('base64');
    const record: UsageRecord = {
      version: USAGE_RECORD_VERSION,
      replicaId,
      writtenAt: now,
      spend: { takenAt, ...spendBody },
      extras: content.extras,
      ...(position === undefined ? {} : { wal: { id: position.walId, seq: position.seq } }),
      ...(n > 1 ? { shard: { index, count: n } } : {}),
    };
    let sliding = false;
    for (const x of content.extras) if (x.requestsLastHour > 0) sliding = true;
    return { json: JSON.stringify(record), hash, sliding };
  }

  /**
   * Writes the shards whose content changed. `full` (flush, shutdown) writes every one of them; the
   * timer's writes stop once `writeBudget` bytes went out (at least one shard each time, oldest first)
   * and the rest follow on the next ticks: the write-ahead log holds what they miss meanwhile.
   */
  async function write(full: boolean): Promise<void> {
    if (!restored) return;
    const local = windows.current();
    const now = clock.now();
    // Same tick as export(): the windows hold exactly the log entries up to this position.
    const position = journal?.position();
    const spend = windows.export();
    const extras = extrasOf(localEffective(now));
    let n = Math.max(
      count,
      shardCountFor(Math.ceil(Math.max(spend.workloads.length, extras.length) / perShard)),
    );
    // Shards to write: changed content, or a heartbeat once a minute for shards with sliding counts
    // (other replicas count those only while the shard is fresh). A new count rewrites every shard.
    let due: { index: number; json: string; hash: string; sliding: boolean }[];
    let unchanged: number[];
    let encoded: Buffer[];
    for (;;) {
      const reshard = n !== count;
      const parts = splitRecord(spend, extras, n);
      due = [];
      unchanged = [];
      parts.forEach((part, index) => {
        const j = shardJson(part, index, n, now, position);
        const st = reshard ? undefined : shards[index];
        if (
          st === undefined ||
          st.hash !== j.hash ||
          st.rv === undefined ||
          (j.sliding && now - st.writtenAt >= 60_000)
        )
          due.push({ index, ...j });
        else unchanged.push(index);
      });
      encoded = await Promise.all(due.map((d) => gzipAsync(Buffer.from(d.json))));
      const tooLarge = encoded.some((b) => Math.ceil(b.length / 3) * 4 > MAX_RECORD_BYTES);
      if (!tooLarge) break;
      if (n >= MAX_SHARDS) {
        metrics.usageRecordWrite('failed', Math.max(...encoded.map((b) => b.length)));
        log.error('usage record shard too large for a ConfigMap; not persisted', { shards: n });
        return;
      }
      n *= 2;
    }
    const resharded = n !== count;
    if (resharded) {
      log.info('usage record resharded', { from: count, to: n, workloads: spend.workloads.length });
      const next: ShardState[] = [];
      for (let i = 0; i < n; i++) next.push(newShardState());
      shards = next;
      count = n;
    }
    // Oldest first, so under steady change every shard gets its turn. A new set is written whole:
    // it counts only once complete.
    const order = due
      .map((_, i) => i)
      .sort((x, y) => shards[due[x]!.index]!.writtenAt - shards[due[y]!.index]!.writtenAt);
    const chosen: number[] = [];
    let bytes = 0;
    for (const i of order) {
      const size = Math.ceil(encoded[i]!.length / 3) * 4;
      if (!full && !resharded && chosen.length > 0 && bytes + size > writeBudget) break;
      chosen.push(i);
      bytes += size;
    }
    if (chosen.length > 0 && journal !== undefined) {
      // A record must not hold a charge whose log entry (with its dedupe keys) could still be
      // lost: a retry after a crash would be charged again.
      try {
        await journal.durable();
      } catch (err) {
        log.warn('usage log not durable; record written anyway', { err });
      }
    }
    let ok = true;
    for (const i of chosen) {
      const d = due[i]!;
      const written = await writeShard(d.index, encoded[i]!.toString('base64'));
      const st = shards[d.index]!;
      if (written) {
        st.hash = d.hash;
        st.writtenAt = now;
        st.heldAt = position;
      } else ok = false;
    }
    // A shard whose content did not change holds its workloads as of this position too.
    for (const i of unchanged) shards[i]!.heldAt = position;
    if (ok && chosen.length === due.length) {
      writtenVersion = local.version;
      lastWriteAt = now;
    }
    if (journal !== undefined) {
      // The log may drop what every shard holds.
      const held = shards.map((st) => st.heldAt);
      const walId = held[0]?.walId;
      if (walId !== undefined && held.every((h) => h?.walId === walId)) {
        const seq = Math.min(...held.map((h) => h!.seq));
        await journal
          .checkpointed({ walId, seq })
          .catch((err: unknown) => log.warn('usage log checkpoint failed', { err }));
      }
    }
    if (ok && shards.every((st) => st.rv !== undefined)) await deleteStaleShards();
  }

  /** Creates or replaces one shard; false when it was not written (tried again next time). */
  async function writeShard(index: number, data: string): Promise<boolean> {
    const st = shards[index]!;
    const cmName = shardName(name, index, count);
    const body: ConfigMapObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: cmName,
        namespace,
        labels: { [USAGE_RECORD_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'genops-operator' },
        annotations: { [REPLICA_ANNOTATION]: replicaId },
        ...(st.rv === undefined ? {} : { resourceVersion: st.rv }),
      },
      binaryData: { [DATA_KEY]: data },
    };
    try {
      let saved: ConfigMapObject;
      if (st.rv === undefined) {
        saved = await api.create<ConfigMapObject>(RESOURCES.configMap, namespace, body);
      } else {
        try {
          saved = await api.replace<ConfigMapObject>(RESOURCES.configMap, namespace, cmName, body);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          // Someone deleted the record while this replica runs: its windows still hold everything,
          // so write it again from scratch (a replace would answer 404 forever).
          log.warn('own usage record was deleted; creating it again', { configMap: cmName });
          const { resourceVersion: _dropped, ...metadata } = body.metadata ?? {};
          void _dropped;
          saved = await api.create<ConfigMapObject>(RESOURCES.configMap, namespace, { ...body, metadata });
        }
      }
      st.rv = saved.metadata?.resourceVersion;
      metrics.usageRecordWrite('written', data.length);
      return true;
    } catch (err) {
      metrics.usageRecordWrite('failed', data.length);
      st.hash = undefined;
      if (isAlreadyExists(err) || isConflict(err)) {
        // Only this replica writes this record: take the current version and write again next time.
        const cur = await api
          .get<ConfigMapObject>(RESOURCES.configMap, namespace, cmName)
          .catch(() => undefined);
        st.rv = cur?.metadata?.resourceVersion;
        writtenVersion = -1;
        return false;
      }
      log.warn('usage record write failed', { err, configMap: cmName });
      return false;
    }
  }

  /** After a complete write: this replica's ConfigMaps that are no shard of the current set go. */
  async function deleteStaleShards(): Promise<void> {
    const current = new Set<string>();
    for (let i = 0; i < count; i++) current.add(shardName(name, i, count));
    for (const cm of informer.list()) {
      const n = cm.metadata?.name ?? '';
      if (cm.metadata?.annotations?.[REPLICA_ANNOTATION] !== replicaId || current.has(n)) continue;
      try {
        await api.delete(RESOURCES.configMap, namespace, n);
        log.info('stale usage record shard deleted', { configMap: n });
      } catch (err) {
        log.warn('could not delete a stale usage record shard', { configMap: n, err });
      }
    }
  }

  async function restoreOwn(): Promise<boolean> {
    const list = await api.list<ConfigMapObject>(RESOURCES.configMap, {
      namespace,
      labelSelector: `${USAGE_RECORD_LABEL}=true`,
    });
    const own: { cm: ConfigMapObject; record: UsageRecord }[] = [];
    let unreadable = false;
    for (const cm of list.items) {
      const n = cm.metadata?.name ?? '';
      const mine = cm.metadata?.annotations?.[REPLICA_ANNOTATION] === replicaId || n === name;
      if (!mine) continue;
      const data = cm.binaryData?.[DATA_KEY];
      const record = data === undefined ? undefined : decodeRecord(Buffer.from(data, 'base64'));
      if (record === undefined || record.replicaId !== replicaId) {
        unreadable = true;
        log.warn('own usage record unreadable; ignored', { configMap: n });
        continue;
      }
      own.push({ cm, record });
    }
    if (own.length === 0) {
      if (unreadable) log.warn('own usage record unreadable; starting from zero', { configMap: name });
      return false;
    }
    const set = chooseShardSet(own);
    if (set === undefined) {
      log.warn('own usage record incomplete (a shard is missing); starting from zero', { configMap: name });
      return false;
    }
    count = set.length;
    shards = set.map((it) => ({ ...newShardState(), rv: it.cm.metadata?.resourceVersion }));
    const records = set.map((it) => it.record);
    const record = combineShards(records);
    windows.restore(record.spend);
    restoredWal = checkpointOf(records);
    // Spend is back in the windows; keep only what they cannot hold, without sliding counts.
    restoredExtras = {
      ...record,
      spend: { ...record.spend, workloads: [] },
      extras: record.extras.map((x) => ({ ...x, requestsLastMinute: 0, requestsLastHour: 0 })),
    };
    mergedCache = undefined;
    log.info('usage record restored', {
      configMap: name,
      shards: count,
      workloads: record.spend.workloads.length,
      writtenAt: new Date(record.writtenAt).toISOString(),
    });
    return true;
  }

  function writeNow(full = true): Promise<void> {
    if (writing !== undefined) return writing.then(() => writeNow(full));
    writing = write(full).finally(() => {
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
      void (due ? writeNow(false) : Promise.resolve()).finally(scheduleTick);
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
        if (r === undefined || r.replicaId === replicaId || !recordExpired(r, now)) continue;
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
    others: () => othersNow().records,
    shardCount: () => count,
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

interface ShardState {
  rv: string | undefined;
  /** Log position up to which this shard (as written) holds its workloads' charges. */
  heldAt: { readonly walId: string; readonly seq: number } | undefined;
  /** Hash of the content last written; undefined: write it next time. */
  hash: string | undefined;
  writtenAt: number;
}

function newShardState(): ShardState {
  return { rv: undefined, heldAt: undefined, hash: undefined, writtenAt: 0 };
}

/**
 * What the restored shards hold of the write-ahead log. One shard: its position, as before sharding.
 * Several: each holds its workloads up to its own position (a crash between two shard writes leaves
 * them at different positions); `seq` is the lowest, where every workload is held.
 */
function checkpointOf(records: readonly UsageRecord[]): RecordCheckpoint | undefined {
  const first = records.find((r) => r.wal !== undefined)?.wal;
  if (first === undefined) return undefined;
  if (records.length === 1) return { walId: first.id, seq: first.seq };
  const positions = records.map((r) => (r.wal?.id === first.id ? r.wal.seq : -1));
  const n = records.length;
  const walId = first.id;
  return {
    walId,
    seq: Math.max(0, Math.min(...positions)),
    holds: (id, seq, ref) => {
      if (id !== walId) return false;
      const at = positions[shardOf(ref, n)]!;
      return at >= 0 && seq <= at;
    },
  };
}
