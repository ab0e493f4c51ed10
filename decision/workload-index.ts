// Owns which workloads each AIBudget/AIPolicy selects, fast: workloads indexed by namespace, and
// selector results cached per resource until its selector (generation) or its namespace's
// membership changes. A namespace's membership "epoch" moves only when a workload appears,
// disappears or changes labels, so new usage figures (every snapshot) do not invalidate matches.

import { matchesSelector } from '../kernel/selector.ts';
import type { LabelSelector } from '../crds/index.ts';
import type { UsageSnapshot, WorkloadRef, WorkloadUsage } from '../pipeline/snapshot.ts';
import { workloadKey } from '../pipeline/snapshot.ts';

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
  /** Position in WorkloadIndex.entries, for array-indexed bookkeeping by callers. */
  readonly ordinal: number;
}

export interface WorkloadIndex {
  /** Every known workload: the snapshot's in its order, then cluster-only ones. */
  readonly entries: readonly WorkloadEntry[];
  /** Per namespace, in snapshot order (stable while membership does not change). */
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
  /** Workloads of the resource's namespace its selector matches, sorted by key. */
  select(resource: SelectableResource, index: WorkloadIndex): readonly WorkloadEntry[];
}

interface CachedMatch {
  readonly epoch: number;
  /** Positions in the namespace list, sorted by workload key. */
  readonly positions: readonly number[];
}

interface NamespaceState {
  readonly epoch: number;
  /** label key -> value -> positions; built on the first cache miss of the epoch. */
  postings: Map<string, Map<string, number[]>> | undefined;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

function buildPostings(list: readonly WorkloadEntry[]): Map<string, Map<string, number[]>> {
  const postings = new Map<string, Map<string, number[]>>();
  list.forEach((e, i) => {
    for (const k in e.labels) {
      const value = e.labels[k] as string;
      let byValue = postings.get(k);
      if (!byValue) postings.set(k, (byValue = new Map<string, number[]>()));
      const at = byValue.get(value);
      if (at) at.push(i);
      else byValue.set(value, [i]);
    }
  });
  return postings;
}

/** Positions that can possibly match: narrowed by one matchLabels pair or one In expression. */
function candidatePositions(
  selector: LabelSelector | undefined,
  postings: Map<string, Map<string, number[]>>,
  size: number,
): readonly number[] | undefined {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) return postings.get(k)?.get(v) ?? [];
  for (const req of selector?.matchExpressions ?? []) {
    if (req.operator === 'Exists' || req.operator === 'In') {
      const byValue = postings.get(req.key);
      if (!byValue) return [];
      const values = req.operator === 'In' ? (req.values ?? []) : [...byValue.keys()];
      const merged: number[] = [];
      for (const v of new Set(values)) merged.push(...(byValue.get(v) ?? []));
      return merged.length === size ? undefined : merged.sort((a, b) => a - b);
    }
  }
  return undefined;
}

export function createWorkloadSelection(): WorkloadSelection {
  let lastSnapshot: UsageSnapshot | undefined;
  let lastInventory: readonly InventoryWorkload[] | undefined;
  let lastIndex: WorkloadIndex | undefined;
  const namespaces = new Map<string, NamespaceState>();
  let nextEpoch = 1;
  // Informers hand out the same object until the resource changes: a new object is a new match.
  let matches = new WeakMap<SelectableResource, CachedMatch>();

  function build(
    snapshot: UsageSnapshot,
    inventory: readonly InventoryWorkload[] | undefined,
  ): WorkloadIndex {
    const entries: WorkloadEntry[] = [];
    const previousEntries = lastIndex?.entries;
    const known = new Map<string, InventoryWorkload>();
    for (const w of inventory ?? []) known.set(workloadKey(w.ref), w);
    const add = (
      key: string,
      ref: WorkloadRef,
      labels: Readonly<Record<string, string>>,
      usage: WorkloadUsage | undefined,
    ): void => {
      // Keep last time's entry when nothing about it changed: fewer new objects, cheaper GC.
      const ordinal = entries.length;
      const before = previousEntries?.[ordinal];
      const entry: WorkloadEntry =
        before !== undefined && before.usage === usage && before.key === key && before.labels === labels
          ? before
          : { key, ref, labels, usage, ordinal };
      entries.push(entry);
    };
    for (const [key, usage] of snapshot.workloads)
      add(key, usage.ref, known.get(key)?.labels ?? usage.labels, usage);
    for (const [key, w] of known) if (!snapshot.workloads.has(key)) add(key, w.ref, w.labels, undefined);
    const byNamespace = new Map<string, WorkloadEntry[]>();
    for (const entry of entries) {
      const list = byNamespace.get(entry.ref.namespace);
      if (list) list.push(entry);
      else byNamespace.set(entry.ref.namespace, [entry]);
    }
    for (const [ns, list] of byNamespace) {
      const before = lastIndex?.byNamespace.get(ns);
      let unchanged = before !== undefined && before.length === list.length && namespaces.has(ns);
      for (let i = 0; unchanged && i < list.length; i++) {
        const a = list[i] as WorkloadEntry;
        const b = (before as readonly WorkloadEntry[])[i] as WorkloadEntry;
        unchanged = a.key === b.key && sameLabels(a.labels, b.labels);
      }
      if (!unchanged) namespaces.set(ns, { epoch: nextEpoch++, postings: undefined });
    }
    for (const ns of namespaces.keys()) if (!byNamespace.has(ns)) namespaces.delete(ns);
    return { entries, byNamespace };
  }

  return {
    index(snapshot, inventory) {
      if (lastIndex && snapshot === lastSnapshot && inventory === lastInventory) return lastIndex;
      lastIndex = build(snapshot, inventory);
      lastSnapshot = snapshot;
      lastInventory = inventory;
      if (nextEpoch > 1e15) {
        matches = new WeakMap();
        nextEpoch = 1;
      }
      return lastIndex;
    },
    select(resource, index) {
      const ns = resource.metadata.namespace ?? '';
      const list = index.byNamespace.get(ns);
      const state = namespaces.get(ns);
      if (!list || !state) return [];
      const cached = matches.get(resource);
      let positions: readonly number[];
      if (cached?.epoch === state.epoch) positions = cached.positions;
      else {
        const selector = resource.spec.selector;
        state.postings ??= buildPostings(list);
        const candidates = candidatePositions(selector, state.postings, list.length);
        const found: number[] = [];
        if (candidates === undefined) {
          for (let i = 0; i < list.length; i++)
            if (matchesSelector(selector, (list[i] as WorkloadEntry).labels)) found.push(i);
        } else {
          for (const i of candidates)
            if (matchesSelector(selector, (list[i] as WorkloadEntry).labels)) found.push(i);
        }
        found.sort((a, b) => {
          const ka = (list[a] as WorkloadEntry).key;
          const kb = (list[b] as WorkloadEntry).key;
          return ka < kb ? -1 : ka > kb ? 1 : 0;
        });
        positions = found;
        matches.set(resource, { epoch: state.epoch, positions });
      }
      const out: WorkloadEntry[] = new Array<WorkloadEntry>(positions.length);
      for (let i = 0; i < positions.length; i++) out[i] = list[positions[i] as number] as WorkloadEntry;
      return out;
    },
  };
}
