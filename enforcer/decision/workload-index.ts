// Owns which workloads each AIBudget/AIPolicy selects, fast: workloads indexed by namespace, and
// selector results cached per resource until its selector (generation) or its namespace's
// membership changes. A namespace's membership "epoch" moves only when a workload appears,
// disappears or changes labels, so new usage figures (every snapshot) do not invalidate matches.

import { matchesSelector } from '../../kernel/selector.ts';
import type { LabelSelector } from '../../crds/index.ts';
import type { UsageSnapshot, WorkloadRef, WorkloadUsage } from '../../pipeline/snapshot.ts';
import { workloadKey } from '../../pipeline/snapshot.ts';

/** A workload known from the cluster (informers), with its pod-template labels. */
export interface InventoryWorkload {
  readonly ref: WorkloadRef;
  readonly labels: Readonly<Record<string, string>>;
}

export interface WorkloadEntry {
  readonly key: string;
  readonly ref: WorkloadRef;
  /** Labels used for selection: the cluster's when known, else those reported with the telemetry. */
  readonly labels: Readonly<Record<string, string>>;
  /** Usage in the snapshot; undefined for a known workload that has not used AI in its periods. */
  readonly usage: WorkloadUsage | undefined;
}

export interface WorkloadIndex {
  readonly all: ReadonlyMap<string, WorkloadEntry>;
  readonly byNamespace: ReadonlyMap<string, readonly WorkloadEntry[]>;
}

export interface SelectableResource {
  readonly kind: string;
  readonly metadata: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly uid?: string | undefined;
    readonly generation?: number | undefined;
  };
  readonly spec: { readonly selector?: LabelSelector | undefined };
}

export interface WorkloadSelection {
  /** Builds (or reuses) the index for this snapshot and inventory. */
  index(snapshot: UsageSnapshot, inventory: readonly InventoryWorkload[] | undefined): WorkloadIndex;
  /** Workloads of the resource's namespace its selector matches, in a stable order. */
  select(resource: SelectableResource, index: WorkloadIndex): readonly WorkloadEntry[];
  /** Forgets cached matches of resources not in `keep` (ids `Kind/namespace/name`). */
  prune(keep: ReadonlySet<string>): void;
}

interface CachedMatch {
  readonly uid: string | undefined;
  readonly generation: number | undefined;
  readonly selectorJson: string;
  readonly epoch: number;
  readonly keys: readonly string[];
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

export function resourceId(resource: SelectableResource): string {
  return `${resource.kind}/${resource.metadata.namespace ?? ''}/${resource.metadata.name ?? ''}`;
}

export function createWorkloadSelection(): WorkloadSelection {
  let lastSnapshot: UsageSnapshot | undefined;
  let lastInventory: readonly InventoryWorkload[] | undefined;
  let lastIndex: WorkloadIndex | undefined;
  const epochs = new Map<string, number>();
  let nextEpoch = 1;
  const matches = new Map<string, CachedMatch>();

  function build(
    snapshot: UsageSnapshot,
    inventory: readonly InventoryWorkload[] | undefined,
  ): WorkloadIndex {
    const all = new Map<string, WorkloadEntry>();
    const known = new Map<string, InventoryWorkload>();
    for (const w of inventory ?? []) known.set(workloadKey(w.ref), w);
    for (const [key, usage] of snapshot.workloads) {
      all.set(key, { key, ref: usage.ref, labels: known.get(key)?.labels ?? usage.labels, usage });
    }
    for (const [key, w] of known) {
      if (!all.has(key)) all.set(key, { key, ref: w.ref, labels: w.labels, usage: undefined });
    }
    const byNamespace = new Map<string, WorkloadEntry[]>();
    for (const entry of all.values()) {
      let list = byNamespace.get(entry.ref.namespace);
      if (!list) byNamespace.set(entry.ref.namespace, (list = []));
      list.push(entry);
    }
    for (const [ns, list] of byNamespace) {
      list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const before = lastIndex?.byNamespace.get(ns);
      const unchanged =
        before !== undefined &&
        before.length === list.length &&
        list.every((e, i) => {
          const b = before[i];
          return b !== undefined && b.key === e.key && sameLabels(b.labels, e.labels);
        });
      if (!unchanged || !epochs.has(ns)) epochs.set(ns, nextEpoch++);
    }
    for (const ns of epochs.keys()) if (!byNamespace.has(ns)) epochs.delete(ns);
    return { all, byNamespace };
  }

  return {
    index(snapshot, inventory) {
      if (lastIndex && snapshot === lastSnapshot && inventory === lastInventory) return lastIndex;
      lastIndex = build(snapshot, inventory);
      lastSnapshot = snapshot;
      lastInventory = inventory;
      return lastIndex;
    },
    select(resource, index) {
      const ns = resource.metadata.namespace ?? '';
      const candidates = index.byNamespace.get(ns);
      if (!candidates) return [];
      const id = resourceId(resource);
      const epoch = epochs.get(ns) ?? 0;
      const selectorJson = JSON.stringify(resource.spec.selector ?? null);
      const cached = matches.get(id);
      if (
        cached &&
        cached.epoch === epoch &&
        cached.uid === resource.metadata.uid &&
        cached.generation === resource.metadata.generation &&
        cached.selectorJson === selectorJson
      ) {
        const out: WorkloadEntry[] = [];
        for (const k of cached.keys) {
          const e = index.all.get(k);
          if (e) out.push(e);
        }
        return out;
      }
      const selector = resource.spec.selector;
      const out = candidates.filter((e) => matchesSelector(selector, e.labels));
      matches.set(id, {
        uid: resource.metadata.uid,
        generation: resource.metadata.generation,
        selectorJson,
        epoch,
        keys: out.map((e) => e.key),
      });
      return out;
    },
    prune(keep) {
      for (const id of matches.keys()) if (!keep.has(id)) matches.delete(id);
    },
  };
}
