// Owns the decision stage as a whole: (snapshot, budgets, policies, bypass annotations, memory,
// now) -> DecisionSet + next memory + events. Pure in effect: the engine object only caches, and
// those caches never change an answer (engine.equivalence.test.ts compares it with the full
// evaluation of full-engine.ts over random sequences of changes).
//
// Combination: every reason from every budget and policy selecting a workload is kept; the
// workload's action is the most restrictive of them. A valid, unexpired `genops.ai/bypass` on the
// workload (else on its namespace) makes the action 'allow' with `bypass` set; reasons stay listed.
//
// Incremental: the cost of an evaluation follows what changed, not the cluster's size.
// - Workloads are diffed against the previous snapshot (by usage object identity; the snapshot's
//   `changedSince` hint, when it has one, avoids even that walk) and inventory.
// - Budgets and policies are indexed by selector (namespace, then one label pair of the selector):
//   a workload that appears, disappears or changes labels is matched only against the resources that
//   can select it; a changed resource is matched only against its namespace's candidates.
// - A resource is re-evaluated when its object, its input memory, its selection or the usage of a
//   workload it covers changed, or when the clock reaches the first moment its outcome can change by
//   time alone (period or day boundary, grace end, rate window, a usage window's edge): those moments
//   sit in a heap, nothing is rescanned. Sums are recomputed over the resource's own workloads, in
//   exact integer micro-USD, by the same evaluateBudget/evaluatePolicy as the full evaluation.
// - A workload's decision is rebuilt only when a resource's contribution to it, its bypass, or the
//   workload itself changed. The workload map is persistent (persistent-map.ts): a new version
//   shares every unchanged bucket with the previous one, which consumers keep to diff against.
// - The only per-evaluation work over all budgets is the projected spend, which moves with the clock.

import type { Clock } from '../kernel/clock.ts';
import { matchesSelector } from '../kernel/selector.ts';
import type { AIBudget, AIPolicy, LabelSelector } from '../crds/index.ts';
import type { UsageSnapshot, WorkloadUsage } from '../pipeline/snapshot.ts';
import { APPROVED_AT_ANNOTATION, APPROVED_BY_ANNOTATION } from './annotations.ts';
import { evaluateBudget, projectSpend } from './budget.ts';
import {
  internFromList,
  internFromViolations,
  sameBudgetState,
  sameDecision,
  samePolicyState,
} from './compare.ts';
import {
  DAY,
  auditBypasses,
  createBypassChecker,
  evaluationFailure,
  nextPolicyMemory,
  sameStrings,
} from './engine-parts.ts';
import type { BypassCheck } from './engine-parts.ts';
import type { BudgetMemory, DecisionEvent, EnforcementMemory, PolicyMemory } from './memory.ts';
import { emptyBudgetMemory, emptyPolicyMemory } from './memory.ts';
import { createPeriodCalendar, isPeriodKind } from './period.ts';
import { PersistentMap } from './persistent-map.ts';
import { createPolicyWorkloadMemo, evaluatePolicy } from './policy.ts';
import type { PolicyWorkloadMemo } from './policy.ts';
import type { Action, BudgetState, DecisionSet, PolicyState, Reason, WorkloadDecision } from './types.ts';
import { mostRestrictive, resourceKey } from './types.ts';
import type { InventoryWorkload, WorkloadEntry } from './workload-index.ts';

/** Narrow metrics port; observability/ adapts it to prom-client. */
export interface DecisionMetrics {
  /** One evaluation: how long it took and how many workloads ended with each action. */
  evaluated(
    durationSeconds: number,
    workloadsByAction: Readonly<Record<Action, number>>,
    bypassed: number,
  ): void;
}

export const noopDecisionMetrics: DecisionMetrics = { evaluated: () => undefined };

/**
 * Checks the approval of a bypass annotation (the admission webhook's marker): who approved it and until
 * when. Holder is `workload:<namespace/Kind/name>` or `namespace:<name>`. Without a verifier every
 * well-formed bypass counts (local mode, where no webhook exists).
 */
export type BypassVerifier = (
  holder: string,
  raw: string,
  marker: string | undefined,
) =>
  | { readonly ok: true; readonly user: string; readonly expires: number }
  | { readonly ok: false; readonly problem: string };

export interface DecisionEngineOptions {
  readonly clock: Clock;
  readonly verifyBypass?: BypassVerifier;
  /** IANA zone of period boundaries; must match the pipeline's windows. Default UTC. */
  readonly timeZone?: string;
  readonly metrics?: DecisionMetrics;
}

export interface BypassAnnotations {
  /** Raw `genops.ai/bypass` values by workload key (namespace/Kind/name). */
  readonly workloads?: ReadonlyMap<string, string>;
  /** Raw `genops.ai/bypass` values by namespace name. */
  readonly namespaces?: ReadonlyMap<string, string>;
  /** Their approval markers (`genops.ai/bypass-approval`), keyed like the values. */
  readonly workloadApprovals?: ReadonlyMap<string, string>;
  readonly namespaceApprovals?: ReadonlyMap<string, string>;
}

/**
 * What the engine reads of a usage snapshot: pipeline/snapshot.ts's UsageSnapshot, optionally with a
 * change hint. Kept this narrow so the snapshot's implementation can change under it.
 */
export type DecisionSnapshot = UsageSnapshot & {
  /**
   * Keys of the workloads added, changed or removed since the snapshot of `version`; undefined when
   * not known (then the engine compares the usage objects of every workload itself).
   */
  readonly changedSince?: (version: number) => Iterable<string> | undefined;
};

export interface DecisionInput {
  readonly snapshot: DecisionSnapshot;
  readonly budgets: readonly AIBudget[];
  readonly policies: readonly AIPolicy[];
  readonly memory: EnforcementMemory;
  /**
   * Workloads known from the cluster with their pod-template labels. Their labels win over the
   * telemetry's, and they get decisions even without usage (a blocked workload sends no spans,
   * yet must stay blocked while its budget awaits approval).
   */
  readonly inventory?: readonly InventoryWorkload[];
  readonly bypass?: BypassAnnotations;
}

export interface DecisionResult {
  readonly decisions: DecisionSet;
  readonly memory: EnforcementMemory;
  readonly events: readonly DecisionEvent[];
  /** The earliest time at which the clock alone changes a decision (grace end, reset, bypass expiry). */
  readonly nextEvaluationAt: number | undefined;
}

export interface DecisionEngine {
  evaluate(input: DecisionInput): DecisionResult;
}

const NO_REASONS: readonly Reason[] = [];

/** One label pair (or In list) every workload a selector matches must carry: where to look it up. */
interface Anchor {
  readonly key: string;
  readonly values: readonly string[];
}

function anchorOf(selector: LabelSelector | undefined): Anchor | undefined {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) return { key, values: [value] };
  for (const req of selector?.matchExpressions ?? [])
    if (req.operator === 'In') return { key: req.key, values: [...new Set(req.values ?? [])] };
  return undefined;
}

type Kind = 'AIBudget' | 'AIPolicy';

/** What the engine keeps of one AIBudget/AIPolicy between evaluations. */
interface ResourceRecord {
  readonly kind: Kind;
  readonly key: string;
  readonly namespace: string;
  obj: AIBudget | AIPolicy;
  selectorJson: string;
  anchor: Anchor | undefined;
  /** Keys of the workloads of its namespace its selector matches. */
  readonly selected: Set<string>;
  /** `selected`, sorted; undefined when it must be sorted again. */
  sortedSelected: readonly string[] | undefined;
  /** Workloads of the last evaluation (a budget's include earlier members of the period), sorted. */
  matched: readonly string[];
  /** Reasons it gave each of them (only non-empty lists). */
  contrib: Map<string, readonly Reason[]>;
  /** Its state in the last DecisionSet. */
  state: BudgetState | PolicyState | undefined;
  /** Memory it produced last time; a different one handed in means evaluating again. */
  memoryOut: BudgetMemory | PolicyMemory | undefined;
  /** The first moment the clock alone may change its outcome. */
  validUntil: number;
  /** Its contribution to nextEvaluationAt. */
  wakeAt: number | undefined;
  /** Bumped at every evaluation: heap entries with an older stamp are stale. */
  stamp: number;
  alive: boolean;
  dirty: boolean;
}

interface WorkloadRecord {
  entry: WorkloadEntry;
  /** Resources whose last evaluation covered it (a few: an array costs less than a Set). */
  covering: ResourceRecord[] | undefined;
}

/** Workload keys carrying one label value: one key alone (most values, e.g. `app`), else a set. */
type Posting = string | Set<string>;

function postingKeys(p: Posting | undefined): Iterable<string> {
  return p === undefined ? [] : typeof p === 'string' ? [p] : p;
}

interface NamespaceIndex {
  /** Workload keys of the namespace. */
  readonly workloads: Set<string>;
  /** label key -> value -> workload keys. */
  readonly postings: Map<string, Map<string, Posting>>;
  /** Resources by anchor: label key -> value -> resources. */
  readonly anchored: Map<string, Map<string, Set<ResourceRecord>>>;
  /** Resources without an anchor: every workload of the namespace is a candidate. */
  readonly floating: Set<ResourceRecord>;
}

interface HeapItem {
  readonly t: number;
  readonly rec: ResourceRecord;
  readonly stamp: number;
}

/** A binary min-heap on `t` with lazy deletion (stale stamps are dropped when they surface). */
class TimeHeap {
  items: HeapItem[] = [];
  push(item: HeapItem): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as HeapItem).t <= item.t) break;
      a[i] = a[p] as HeapItem;
      i = p;
    }
    a[i] = item;
  }
  /** The earliest live item, dropping stale ones. */
  peek(): HeapItem | undefined {
    for (;;) {
      const top = this.items[0];
      if (top === undefined) return undefined;
      if (top.rec.alive && top.rec.stamp === top.stamp) return top;
      this.pop();
    }
  }
  pop(): void {
    const a = this.items;
    const last = a.pop();
    if (last === undefined || a.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && (a[r] as HeapItem).t < (a[l] as HeapItem).t ? r : l;
      if ((a[c] as HeapItem).t >= last.t) break;
      a[i] = a[c] as HeapItem;
      i = c;
    }
    a[i] = last;
  }
  /** Drops stale items once they outnumber the live ones. */
  compact(live: number): void {
    if (this.items.length < 2 * live + 1024) return;
    const keep = this.items.filter((x) => x.rec.alive && x.rec.stamp === x.stamp);
    this.items = [];
    for (const x of keep) this.push(x);
  }
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

function sameList(a: readonly Reason[] | undefined, b: readonly Reason[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameCheck(a: BypassCheck | undefined, b: BypassCheck | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.status !== b.status) return false;
  if ('problem' in a !== 'problem' in b) return false;
  if ('problem' in a && 'problem' in b && a.problem !== b.problem) return false;
  const x = 'bypass' in a ? a.bypass : undefined;
  const y = 'bypass' in b ? b.bypass : undefined;
  return x === y || (!!x && !!y && x.by === y.by && x.expires === y.expires && x.reason === y.reason);
}

/** Budgets before policies, each in key order: the order the full evaluation adds reasons in. */
function byKindThenKey(a: ResourceRecord, b: ResourceRecord): number {
  if (a.kind !== b.kind) return a.kind === 'AIBudget' ? -1 : 1;
  return byRecordKey(a, b);
}

function uncover(w: WorkloadRecord, rec: ResourceRecord): void {
  const list = w.covering;
  if (list === undefined) return;
  const i = list.indexOf(rec);
  if (i < 0) return;
  list[i] = list[list.length - 1] as ResourceRecord;
  list.pop();
}

function byRecordKey(a: ResourceRecord, b: ResourceRecord): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function resourceKeyOf(r: AIBudget | AIPolicy): string {
  return resourceKey(r.metadata.namespace ?? '', r.metadata.name ?? '');
}

export function createDecisionEngine(options: DecisionEngineOptions): DecisionEngine {
  const calendar = createPeriodCalendar(options.timeZone ?? 'UTC');
  const metrics = options.metrics ?? noopDecisionMetrics;
  const approvedBypass = createBypassChecker(options.verifyBypass);
  const policyMemos = new WeakMap<AIPolicy, PolicyWorkloadMemo>();

  // Everything below is cache: reset() forgets it and the next evaluation starts from nothing.
  let workloads = new Map<string, WorkloadRecord>();
  let namespaces = new Map<string, NamespaceIndex>();
  let records: Record<Kind, Map<string, ResourceRecord>> = { AIBudget: new Map(), AIPolicy: new Map() };
  /** Records in key order; undefined when it must be sorted again. */
  let ordered: Record<Kind, ResourceRecord[] | undefined> = { AIBudget: [], AIPolicy: [] };
  let dirty: Record<Kind, Set<ResourceRecord>> = { AIBudget: new Set(), AIPolicy: new Set() };
  let dirtyWorkloads = new Set<string>();
  /** Keys of the resources deleted since the last evaluation. */
  let removed: Record<Kind, string[]> = { AIBudget: [], AIPolicy: [] };
  let validHeap = new TimeHeap();
  let wakeHeap = new TimeHeap();
  let inventoryByKey = new Map<string, InventoryWorkload>();
  let lastSnapshot: DecisionSnapshot | undefined;
  let lastInventory: readonly InventoryWorkload[] | undefined;
  let lastLists: Record<Kind, readonly (AIBudget | AIPolicy)[] | undefined> = {
    AIBudget: undefined,
    AIPolicy: undefined,
  };
  let last: DecisionSet | undefined;
  let lastWorkloads = PersistentMap.empty<WorkloadDecision>();
  let lastPolicies = PersistentMap.empty<PolicyState>();
  let lastBudgetMemory = PersistentMap.empty<BudgetMemory>();
  let lastPolicyMemory = PersistentMap.empty<PolicyMemory>();
  let lastMemory: EnforcementMemory | undefined;
  let lastHolderChecks = new Map<string, BypassCheck>();
  let byAction: Record<Action, number> = { allow: 0, warn: 0, throttle: 0, block: 0 };
  let bypassed = 0;
  let nextOrdinal = 0;

  function reset(): void {
    workloads = new Map();
    namespaces = new Map();
    records = { AIBudget: new Map(), AIPolicy: new Map() };
    ordered = { AIBudget: [], AIPolicy: [] };
    dirty = { AIBudget: new Set(), AIPolicy: new Set() };
    dirtyWorkloads = new Set();
    removed = { AIBudget: [], AIPolicy: [] };
    validHeap = new TimeHeap();
    wakeHeap = new TimeHeap();
    inventoryByKey = new Map();
    lastSnapshot = undefined;
    lastInventory = undefined;
    lastLists = { AIBudget: undefined, AIPolicy: undefined };
    last = undefined;
    lastWorkloads = PersistentMap.empty();
    lastPolicies = PersistentMap.empty();
    lastBudgetMemory = PersistentMap.empty();
    lastPolicyMemory = PersistentMap.empty();
    lastMemory = undefined;
    lastHolderChecks = new Map();
    byAction = { allow: 0, warn: 0, throttle: 0, block: 0 };
    bypassed = 0;
  }

  function namespaceIndex(ns: string): NamespaceIndex {
    let idx = namespaces.get(ns);
    if (!idx) {
      idx = { workloads: new Set(), postings: new Map(), anchored: new Map(), floating: new Set() };
      namespaces.set(ns, idx);
    }
    return idx;
  }

  function markDirty(rec: ResourceRecord): void {
    if (!rec.alive || rec.dirty) return;
    rec.dirty = true;
    dirty[rec.kind].add(rec);
  }

  // --- Workloads ------------------------------------------------------------------------------

  function indexLabels(idx: NamespaceIndex, key: string, labels: Readonly<Record<string, string>>): void {
    for (const k in labels) {
      const v = labels[k] as string;
      let byValue = idx.postings.get(k);
      if (!byValue) idx.postings.set(k, (byValue = new Map<string, Posting>()));
      const p = byValue.get(v);
      if (p === undefined) byValue.set(v, key);
      else if (typeof p === 'string') {
        if (p !== key) byValue.set(v, new Set([p, key]));
      } else p.add(key);
    }
  }

  function unindexLabels(idx: NamespaceIndex, key: string, labels: Readonly<Record<string, string>>): void {
    for (const k in labels) {
      const byValue = idx.postings.get(k);
      const v = labels[k] as string;
      const p = byValue?.get(v);
      if (byValue === undefined || p === undefined) continue;
      if (typeof p === 'string') {
        if (p === key) byValue.delete(v);
      } else {
        p.delete(key);
        if (p.size === 0) byValue.delete(v);
      }
      if (byValue.size === 0) idx.postings.delete(k);
    }
  }

  /** Matches a workload whose labels changed (or that came or went) against the resources that can select it. */
  function reselect(
    idx: NamespaceIndex,
    key: string,
    before: Readonly<Record<string, string>> | undefined,
    after: Readonly<Record<string, string>> | undefined,
  ): void {
    const candidates = new Set<ResourceRecord>(idx.floating);
    for (const labels of [before, after]) {
      if (!labels) continue;
      for (const k in labels) {
        const set = idx.anchored.get(k)?.get(labels[k] as string);
        if (set) for (const r of set) candidates.add(r);
      }
    }
    for (const rec of candidates) {
      const want = after !== undefined && matchesSelector(rec.obj.spec.selector, after);
      if (want === rec.selected.has(key)) continue;
      if (want) rec.selected.add(key);
      else rec.selected.delete(key);
      rec.sortedSelected = undefined;
      markDirty(rec);
    }
  }

  function touched(w: WorkloadRecord): void {
    for (const r of w.covering ?? []) markDirty(r);
    dirtyWorkloads.add(w.entry.key);
  }

  /** Brings one workload in line with the snapshot and the inventory. */
  function refresh(key: string, snapshot: DecisionSnapshot): void {
    const usage: WorkloadUsage | undefined = snapshot.workloads.get(key);
    const known = inventoryByKey.get(key);
    const w = workloads.get(key);
    if (usage === undefined && known === undefined) {
      if (!w) return;
      const idx = namespaceIndex(w.entry.ref.namespace);
      workloads.delete(key);
      idx.workloads.delete(key);
      unindexLabels(idx, key, w.entry.labels);
      reselect(idx, key, w.entry.labels, undefined);
      touched(w);
      return;
    }
    const labels = known?.labels ?? (usage as WorkloadUsage).labels;
    const ref = usage?.ref ?? (known as InventoryWorkload).ref;
    if (w) {
      const before = w.entry;
      const same = sameLabels(before.labels, labels);
      if (before.usage === usage && same) return;
      w.entry = { key, ref, labels: same ? before.labels : labels, usage, ordinal: before.ordinal };
      touched(w);
      if (!same) {
        const idx = namespaceIndex(ref.namespace);
        unindexLabels(idx, key, before.labels);
        indexLabels(idx, key, labels);
        reselect(idx, key, before.labels, labels);
      }
      return;
    }
    const rec: WorkloadRecord = {
      entry: { key, ref, labels, usage, ordinal: nextOrdinal++ },
      covering: undefined,
    };
    workloads.set(key, rec);
    const idx = namespaceIndex(ref.namespace);
    idx.workloads.add(key);
    indexLabels(idx, key, labels);
    reselect(idx, key, undefined, labels);
    dirtyWorkloads.add(key);
  }

  function syncWorkloads(
    snapshot: DecisionSnapshot,
    inventory: readonly InventoryWorkload[] | undefined,
  ): void {
    const changed = new Set<string>();
    if (inventory !== lastInventory) {
      const next = new Map<string, InventoryWorkload>();
      for (const w of inventory ?? []) next.set(`${w.ref.namespace}/${w.ref.kind}/${w.ref.name}`, w);
      for (const [k, w] of next) {
        const before = inventoryByKey.get(k);
        if (before !== w && (before === undefined || !sameLabels(before.labels, w.labels))) changed.add(k);
      }
      for (const k of inventoryByKey.keys()) if (!next.has(k)) changed.add(k);
      inventoryByKey = next;
      lastInventory = inventory;
    }
    if (snapshot !== lastSnapshot) {
      const hint =
        lastSnapshot !== undefined && snapshot.changedSince !== undefined
          ? snapshot.changedSince(lastSnapshot.version)
          : undefined;
      if (hint !== undefined) {
        for (const k of hint) changed.add(k);
      } else {
        const previous = lastSnapshot?.workloads;
        let kept = 0;
        for (const [k, u] of snapshot.workloads) {
          if (previous?.has(k)) kept++;
          if (workloads.get(k)?.entry.usage !== u) changed.add(k);
        }
        // Gone from the snapshot: only looked for when some are.
        if (previous !== undefined && kept !== previous.size)
          for (const k of previous.keys()) if (!snapshot.workloads.has(k)) changed.add(k);
      }
      lastSnapshot = snapshot;
    }
    for (const k of changed) refresh(k, snapshot);
  }

  // --- Resources ------------------------------------------------------------------------------

  function anchorSets(rec: ResourceRecord, add: boolean): void {
    const idx = namespaceIndex(rec.namespace);
    const anchor = rec.anchor;
    if (!anchor) {
      if (add) idx.floating.add(rec);
      else idx.floating.delete(rec);
      return;
    }
    let byValue = idx.anchored.get(anchor.key);
    if (!byValue) {
      if (!add) return;
      idx.anchored.set(anchor.key, (byValue = new Map<string, Set<ResourceRecord>>()));
    }
    for (const v of anchor.values) {
      let set = byValue.get(v);
      if (!set) {
        if (!add) continue;
        byValue.set(v, (set = new Set()));
      }
      if (add) set.add(rec);
      else {
        set.delete(rec);
        if (set.size === 0) byValue.delete(v);
      }
    }
    if (byValue.size === 0) idx.anchored.delete(anchor.key);
  }

  /** Matches a new or changed selector against the candidates of its namespace. */
  function select(rec: ResourceRecord): void {
    rec.selected.clear();
    rec.sortedSelected = undefined;
    const idx = namespaces.get(rec.namespace);
    if (!idx) return;
    const selector = rec.obj.spec.selector;
    const test = (k: string): void => {
      const w = workloads.get(k);
      if (w && matchesSelector(selector, w.entry.labels)) rec.selected.add(k);
    };
    if (rec.anchor) {
      const byValue = idx.postings.get(rec.anchor.key);
      for (const v of rec.anchor.values) for (const k of postingKeys(byValue?.get(v))) test(k);
    } else {
      for (const k of idx.workloads) test(k);
    }
  }

  function removeResource(rec: ResourceRecord): void {
    rec.alive = false;
    anchorSets(rec, false);
    for (const k of rec.matched) {
      const w = workloads.get(k);
      if (w) uncover(w, rec);
      if (rec.contrib.has(k)) dirtyWorkloads.add(k);
    }
    records[rec.kind].delete(rec.key);
    removed[rec.kind].push(rec.key);
    dirty[rec.kind].delete(rec);
    ordered[rec.kind] = undefined;
  }

  function syncResources(kind: Kind, list: readonly (AIBudget | AIPolicy)[]): boolean {
    const before = lastLists[kind];
    if (before === list) return false;
    lastLists[kind] = list;
    if (before !== undefined && before.length === list.length && list.every((r, i) => r === before[i]))
      return false;
    const map = records[kind];
    const seen = new Set<string>();
    let changed = false;
    for (const obj of list) {
      const key = resourceKeyOf(obj);
      seen.add(key);
      const rec = map.get(key);
      if (rec?.obj === obj) continue;
      changed = true;
      const selectorJson = JSON.stringify(obj.spec.selector ?? null);
      if (rec) {
        rec.obj = obj;
        if (rec.selectorJson !== selectorJson) {
          anchorSets(rec, false);
          rec.selectorJson = selectorJson;
          rec.anchor = anchorOf(obj.spec.selector);
          anchorSets(rec, true);
          select(rec);
        }
        markDirty(rec);
        continue;
      }
      const created: ResourceRecord = {
        kind,
        key,
        namespace: obj.metadata.namespace ?? '',
        obj,
        selectorJson,
        anchor: anchorOf(obj.spec.selector),
        selected: new Set(),
        sortedSelected: undefined,
        matched: [],
        contrib: new Map(),
        state: undefined,
        memoryOut: undefined,
        validUntil: Number.POSITIVE_INFINITY,
        wakeAt: undefined,
        stamp: 0,
        alive: true,
        dirty: false,
      };
      map.set(key, created);
      anchorSets(created, true);
      select(created);
      markDirty(created);
      ordered[kind] = undefined;
    }
    for (const rec of [...map.values()]) {
      if (seen.has(rec.key)) continue;
      changed = true;
      removeResource(rec);
    }
    return changed;
  }

  function orderOf(kind: Kind): ResourceRecord[] {
    let list = ordered[kind];
    if (!list) ordered[kind] = list = [...records[kind].values()].sort(byRecordKey);
    return list;
  }

  function selectedEntries(rec: ResourceRecord): WorkloadEntry[] {
    rec.sortedSelected ??= [...rec.selected].sort();
    const out = new Array<WorkloadEntry>(rec.sortedSelected.length);
    for (let i = 0; i < out.length; i++)
      out[i] = (workloads.get(rec.sortedSelected[i] as string) as WorkloadRecord).entry;
    return out;
  }

  /** Records what a resource now gives each workload, and marks the workloads whose share changed. */
  function contribute(
    rec: ResourceRecord,
    matched: readonly string[],
    contrib: Map<string, readonly Reason[]>,
  ): void {
    const old = rec.contrib;
    for (const [k, list] of contrib) if (!sameList(old.get(k), list)) dirtyWorkloads.add(k);
    for (const k of old.keys()) if (!contrib.has(k)) dirtyWorkloads.add(k);
    if (!sameStrings(rec.matched, matched)) {
      for (const k of rec.matched) {
        const w = workloads.get(k);
        if (w) uncover(w, rec);
      }
      for (const k of matched) {
        const w = workloads.get(k) as WorkloadRecord;
        (w.covering ??= []).push(rec);
      }
      rec.matched = matched;
    }
    rec.contrib = contrib;
  }

  function schedule(rec: ResourceRecord, validUntil: number, wakeAt: number | undefined): void {
    rec.stamp++;
    rec.validUntil = validUntil;
    rec.wakeAt = wakeAt;
    rec.dirty = false;
    if (Number.isFinite(validUntil)) validHeap.push({ t: validUntil, rec, stamp: rec.stamp });
    if (wakeAt !== undefined) wakeHeap.push({ t: wakeAt, rec, stamp: rec.stamp });
  }

  function step(input: DecisionInput): DecisionResult {
    const started = performance.now();
    const now = options.clock.now();
    const events: DecisionEvent[] = [];
    let wakeAt: number | undefined;
    const wake = (t: number | undefined): void => {
      if (t !== undefined && t > now && (wakeAt === undefined || t < wakeAt)) wakeAt = t;
    };
    const previous = last;
    let changed = previous === undefined;

    // What changed since last time: workloads, resources, memory handed in, the clock.
    syncWorkloads(input.snapshot, input.inventory);
    const budgetSetChanged = syncResources('AIBudget', input.budgets);
    syncResources('AIPolicy', input.policies);
    if (input.memory !== lastMemory) {
      for (const rec of records.AIBudget.values())
        if (input.memory.budgets.get(rec.key) !== rec.memoryOut) markDirty(rec);
      for (const rec of records.AIPolicy.values())
        if (input.memory.policies.get(rec.key) !== rec.memoryOut) markDirty(rec);
    }
    for (let top = validHeap.peek(); top !== undefined && top.t <= now; top = validHeap.peek()) {
      markDirty(top.rec);
      validHeap.pop();
    }

    // Budgets whose outcome may have changed, in key order (events come out in that order).
    const budgetMemoryChanges = new Map<string, BudgetMemory>();
    const budgetStates = new Map<string, BudgetState>();
    for (const rec of [...dirty.AIBudget].sort(byRecordKey)) {
      const budget = rec.obj as AIBudget;
      const key = rec.key;
      const previousMemory = input.memory.budgets.get(key) ?? emptyBudgetMemory;
      const period = isPeriodKind(budget.spec.allocation.period) ? budget.spec.allocation.period : 'monthly';
      const bounds = calendar.bounds(period, now);
      const matched = withMembers(budget, selectedEntries(rec), previousMemory, bounds.start);
      const matchedKeys = matched.map((w) => w.key);
      const day = calendar.bounds('daily', now);
      let until = Math.min(bounds.end, day.end);
      const consider = (t: number): void => {
        if (t > now && t < until) until = t;
      };
      for (const w of matched) {
        const u = w.usage;
        if (!u) continue;
        const p = u.spend[period] ?? u.spend.monthly;
        consider(p.start);
        consider(p.end);
        consider(u.spend.daily.start);
        consider(u.spend.daily.end);
      }
      let outcome: ReturnType<typeof evaluateBudget>;
      try {
        outcome = evaluateBudget(budget, matched, previousMemory, {
          now,
          calendar,
          intern: internFromList(previous?.budgets.get(key)?.reasons),
        });
      } catch (err) {
        // One budget that cannot be evaluated (a figure the schema should have refused, a bug) must
        // not stop the cluster's evaluation: it is reported on itself and enforces nothing until fixed.
        const failure = evaluationFailure(budget, 'AIBudget', err, now, previous?.budgets.get(key), events);
        budgetStates.set(key, {
          source: failure.source,
          periodStart: day.start,
          resetAt: day.end,
          spendMicros: 0,
          limitMicros: 0,
          utilizationPercent: 0,
          projectedSpendMicros: 0,
          action: 'allow',
          pendingApproval: false,
          matchedWorkloads: matchedKeys,
          ...(budget.metadata.generation === undefined ? {} : { generation: budget.metadata.generation }),
          evaluationError: failure.message,
        });
        budgetMemoryChanges.set(key, previousMemory);
        rec.memoryOut = previousMemory;
        contribute(rec, matchedKeys, new Map());
        schedule(rec, until, undefined);
        continue;
      }
      budgetStates.set(key, outcome.state);
      const memory: BudgetMemory = sameStrings(previousMemory.members, matchedKeys)
        ? { ...outcome.memory, members: previousMemory.members! }
        : { ...outcome.memory, members: matchedKeys };
      budgetMemoryChanges.set(key, memory);
      rec.memoryOut = memory;
      events.push(...outcome.events);
      const contrib = new Map<string, readonly Reason[]>();
      const shared = outcome.shared;
      if (shared.length > 0) for (const k of matchedKeys) contrib.set(k, shared);
      for (const p of outcome.perWorkload) {
        const have = contrib.get(p.entry.key);
        contrib.set(p.entry.key, have ? [...have, p.reason] : [p.reason]);
      }
      contribute(rec, matchedKeys, contrib);
      if (outcome.wakeAt !== undefined) consider(outcome.wakeAt);
      // A future approval becomes usable with time alone: look at such a budget every time.
      const annotations = budget.metadata.annotations;
      if (
        memory.awaitingApproval &&
        annotations !== undefined &&
        (annotations[APPROVED_AT_ANNOTATION] !== undefined ||
          annotations[APPROVED_BY_ANNOTATION] !== undefined)
      )
        until = now;
      // `now + 1`: any later evaluation looks again (the same instant decides the same).
      schedule(rec, until <= now ? now + 1 : until, outcome.wakeAt);
    }

    // Policies whose outcome may have changed, in key order.
    const policyMemoryChanges = new Map<string, PolicyMemory>();
    const policyStates = new Map<string, PolicyState>();
    for (const rec of [...dirty.AIPolicy].sort(byRecordKey)) {
      const policy = rec.obj as AIPolicy;
      const key = rec.key;
      const matched = selectedEntries(rec);
      const matchedKeys = rec.sortedSelected as readonly string[];
      const day = calendar.bounds('daily', now);
      const month = calendar.bounds('monthly', now);
      let until = Math.min(day.end, month.end);
      const consider = (t: number): void => {
        if (t > now && t < until) until = t;
      };
      // A rate window going stale matters only when it ends a violation, and that violation's
      // `until` (last request + window) is in wakeAt: no need to wake for every workload's window.
      for (const w of matched) {
        const u = w.usage;
        if (!u) continue;
        consider(u.spend.daily.start);
        consider(u.spend.daily.end);
        consider(u.spend.monthly.start);
        consider(u.spend.monthly.end);
      }
      let memo = policyMemos.get(policy);
      if (!memo) policyMemos.set(policy, (memo = createPolicyWorkloadMemo()));
      const inputMemory = input.memory.policies.get(key);
      let outcome: ReturnType<typeof evaluatePolicy>;
      try {
        outcome = evaluatePolicy(policy, matched, {
          now,
          calendar,
          memo,
          intern: internFromViolations(previous?.policies.get(key)?.violations),
        });
      } catch (err) {
        const failure = evaluationFailure(policy, 'AIPolicy', err, now, previous?.policies.get(key), events);
        policyStates.set(key, {
          source: failure.source,
          action: 'allow',
          matchedWorkloads: matchedKeys,
          ...(policy.metadata.generation === undefined ? {} : { generation: policy.metadata.generation }),
          violations: [],
          evaluationError: failure.message,
        });
        const kept = inputMemory ?? emptyPolicyMemory;
        policyMemoryChanges.set(key, kept);
        rec.memoryOut = kept;
        contribute(rec, matchedKeys, new Map());
        schedule(rec, until, undefined);
        continue;
      }
      let action: Action = 'allow';
      const contrib = new Map<string, Reason[]>();
      outcome.violations.forEach((v, i) => {
        const k = (outcome.targets[i] as WorkloadEntry).key;
        const list = contrib.get(k);
        if (list) list.push(v.reason);
        else contrib.set(k, [v.reason]);
        action = mostRestrictive(action, v.reason.action);
      });
      const generation = policy.metadata.generation;
      policyStates.set(key, {
        source: outcome.source,
        action,
        matchedWorkloads: matchedKeys,
        ...(generation === undefined ? {} : { generation }),
        violations: outcome.violations,
      });
      const next = nextPolicyMemory(
        outcome.source,
        inputMemory ?? emptyPolicyMemory,
        outcome.violations,
        outcome.keys,
        // Only when the memory handed in is the one this engine produced with those violations.
        lastMemory?.policies.get(key) === inputMemory ? previous?.policies.get(key)?.violations : undefined,
        generation,
        now,
        events,
      );
      policyMemoryChanges.set(key, next);
      rec.memoryOut = next;
      contribute(rec, matchedKeys, contrib);
      const oldest = next.recent[0];
      if (oldest !== undefined) consider(oldest.at + DAY);
      if (outcome.wakeAt !== undefined) consider(outcome.wakeAt);
      schedule(rec, until, outcome.wakeAt);
    }

    // Budget states in key order: the re-evaluated ones, the others as they were with the projected
    // spend moved on (the one figure that follows the clock between boundaries).
    let budgetsChanged = previous === undefined || budgetStates.size > 0 || budgetSetChanged;
    const budgets = new Map<string, BudgetState>();
    for (const rec of orderOf('AIBudget')) {
      const before = rec.state as BudgetState | undefined;
      let state = budgetStates.size === 0 ? undefined : budgetStates.get(rec.key);
      if (state !== undefined) {
        if (before !== undefined && sameBudgetState(before, state)) state = before;
        else changed = true;
      } else {
        if (before === undefined)
          throw new Error(`decision engine: no previous state of AIBudget ${rec.key}`);
        state = before;
        const projected = projectSpend(state.spendMicros, state.periodStart, state.resetAt, now);
        if (projected !== state.projectedSpendMicros) {
          state = { ...state, projectedSpendMicros: projected };
          changed = budgetsChanged = true;
        }
      }
      budgets.set(rec.key, state);
      rec.state = state;
    }
    if (previous !== undefined && previous.budgets.size !== budgets.size) changed = true;

    // Policy states: only the re-evaluated ones change (a persistent map: the rest is shared).
    const policyBuilder = lastPolicies.edit();
    for (const key of removed.AIPolicy) if (!records.AIPolicy.has(key)) policyBuilder.delete(key);
    for (const [key, computed] of policyStates) {
      const rec = records.AIPolicy.get(key) as ResourceRecord;
      const before = rec.state as PolicyState | undefined;
      let state = computed;
      if (before !== undefined && samePolicyState(before, state)) state = before;
      else changed = true;
      rec.state = state;
      policyBuilder.set(key, state);
    }
    const policies = policyBuilder.done();
    if (previous !== undefined && previous.policies.size !== policies.size) changed = true;
    lastPolicies = policies;

    // Bypass annotations: few, audited in full every time (they expire by the clock); a holder whose
    // check changed makes its workload (or every workload of its namespace) decide again.
    const { bypassMemory, holderChecks } = auditBypasses(
      input.bypass,
      input.memory,
      now,
      approvedBypass,
      events,
      wake,
    );
    for (const holder of new Set([...holderChecks.keys(), ...lastHolderChecks.keys()])) {
      if (sameCheck(holderChecks.get(holder), lastHolderChecks.get(holder))) continue;
      const name = holder.slice(holder.indexOf(':') + 1);
      if (holder.startsWith('workload:')) dirtyWorkloads.add(name);
      else for (const k of namespaces.get(name)?.workloads ?? []) dirtyWorkloads.add(k);
    }
    lastHolderChecks = holderChecks;

    // Workload decisions: only those whose inputs changed are decided again.
    const builder = lastWorkloads.edit();
    const count = (d: WorkloadDecision, by: number): void => {
      byAction[d.action] += by;
      if (d.bypass !== undefined) bypassed += by;
    };
    for (const key of dirtyWorkloads) {
      const w = workloads.get(key);
      const before = builder.get(key);
      if (w === undefined) {
        if (before !== undefined) {
          builder.delete(key);
          count(before, -1);
          changed = true;
        }
        continue;
      }
      const entry = w.entry;
      const reasons = reasonsOf(w);
      let action: Action = 'allow';
      for (let i = 0; i < reasons.length; i++)
        action = mostRestrictive(action, (reasons[i] as Reason).action);
      const own = holderChecks.size === 0 ? undefined : holderChecks.get(`workload:${key}`);
      const ns = holderChecks.size === 0 ? undefined : holderChecks.get(`namespace:${entry.ref.namespace}`);
      const active = own?.status === 'active' ? own : ns?.status === 'active' ? ns : undefined;
      const problem =
        own && own.status !== 'active'
          ? own.problem
          : !active && ns && ns.status !== 'active'
            ? ns.problem
            : undefined;
      if (active) action = 'allow';
      const bypass = active?.status === 'active' ? active.bypass : undefined;
      if (
        before &&
        before.action === action &&
        before.bypass === bypass &&
        before.bypassProblem === problem &&
        before.reasons.length === reasons.length &&
        before.reasons.every((r, i) => r === reasons[i])
      )
        continue;
      const decision: WorkloadDecision =
        problem === undefined
          ? { workload: entry.ref, key, action, reasons, bypass }
          : { workload: entry.ref, key, action, reasons, bypass, bypassProblem: problem };
      if (before && sameDecision(before, decision)) continue;
      changed = true;
      if (before) count(before, -1);
      count(decision, 1);
      builder.set(key, decision);
    }
    dirtyWorkloads = new Set();
    const workloadDecisions = builder.done();
    if (previous !== undefined && previous.workloads.size !== workloadDecisions.size) changed = true;

    const decisions: DecisionSet = {
      version: previous === undefined ? 1 : changed ? previous.version + 1 : previous.version,
      computedAt: now,
      workloads: workloadDecisions,
      budgets: budgetsChanged || previous === undefined ? budgets : previous.budgets,
      policies,
    };

    // Memory: last time's maps with the re-evaluated resources' entries replaced.
    lastBudgetMemory = nextMemoryMap(
      lastBudgetMemory,
      removed.AIBudget,
      records.AIBudget,
      budgetMemoryChanges,
    );
    lastPolicyMemory = nextMemoryMap(
      lastPolicyMemory,
      removed.AIPolicy,
      records.AIPolicy,
      policyMemoryChanges,
    );
    removed = { AIBudget: [], AIPolicy: [] };
    const memory: EnforcementMemory = {
      budgets: lastBudgetMemory,
      policies: lastPolicyMemory,
      bypasses: bypassMemory,
    };

    for (let top = wakeHeap.peek(); top !== undefined && top.t <= now; top = wakeHeap.peek()) wakeHeap.pop();
    wake(wakeHeap.peek()?.t);
    validHeap.compact(records.AIBudget.size + records.AIPolicy.size);
    wakeHeap.compact(records.AIBudget.size + records.AIPolicy.size);
    dirty = { AIBudget: new Set(), AIPolicy: new Set() };

    last = decisions;
    lastWorkloads = workloadDecisions;
    lastMemory = memory;
    metrics.evaluated((performance.now() - started) / 1000, { ...byAction }, bypassed);
    return { decisions, memory, events, nextEvaluationAt: wakeAt };
  }

  /** Its budgets' then its policies' reasons, each in key order (as the full evaluation adds them). */
  function reasonsOf(w: WorkloadRecord): readonly Reason[] {
    const covering = w.covering;
    if (covering === undefined || covering.length === 0) return NO_REASONS;
    let out: Reason[] | undefined;
    let only: readonly Reason[] | undefined;
    let sources = 0;
    {
      const list = covering.length > 1 ? [...covering].sort(byKindThenKey) : covering;
      for (const rec of list) {
        const c = rec.contrib.get(w.entry.key);
        if (c === undefined || c.length === 0) continue;
        sources++;
        if (sources === 1) only = c;
        else {
          out ??= [...(only as readonly Reason[])];
          out.push(...c);
        }
      }
    }
    // A list shared with the resource (one source) is never mutated: decisions only read reasons.
    return out ?? only ?? NO_REASONS;
  }

  /**
   * The selected workloads plus those the budget selected earlier in this period (same generation):
   * spend charged to a budget stays in it for the period, so relabelling a workload does not take
   * its spend (or the enforcement that spend caused) out of the budget.
   */
  function withMembers(
    budget: AIBudget,
    selected: readonly WorkloadEntry[],
    prev: BudgetMemory,
    periodStart: number,
  ): readonly WorkloadEntry[] {
    const members = prev.members;
    if (members === undefined || members.length === 0) return selected;
    if (prev.generation !== budget.metadata.generation) return selected;
    if (prev.periodStart !== periodStart) return selected;
    const have = new Set(selected.map((w) => w.key));
    const extra: WorkloadEntry[] = [];
    for (const k of members) {
      if (have.has(k)) continue;
      const e = workloads.get(k)?.entry;
      if (e !== undefined) extra.push(e);
    }
    if (extra.length === 0) return selected;
    return [...selected, ...extra].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  return {
    evaluate(input) {
      try {
        return step(input);
      } catch (err) {
        // A half-applied change would make the caches lie: forget them, the next call starts over.
        reset();
        throw err;
      }
    },
  };
}

/** Last time's memory map with the changed entries replaced and the deleted resources' removed. */
function nextMemoryMap<T>(
  before: PersistentMap<T>,
  removedKeys: readonly string[],
  live: ReadonlyMap<string, unknown>,
  changes: ReadonlyMap<string, T>,
): PersistentMap<T> {
  const b = before.edit();
  for (const k of removedKeys) if (!live.has(k)) b.delete(k);
  for (const [k, v] of changes) b.set(k, v);
  return b.done();
}
