// Owns the enforcement loop of one replica: evaluate decisions (pure engine) whenever usage, policies,
// budgets, namespaces or workloads change or the clock reaches a boundary; publish them (webhook,
// metrics); and, while this replica leads, act on them: workloads reconciled through a per-object
// work queue, status written (coalesced) to AIBudget/AIPolicy, decision events recorded. Followers
// evaluate too (their webhook needs decisions) with memory read back from the leader's status.

import type { AIBudget, AIBudgetStatus, AIPolicy, AIPolicyStatus } from '../crds/index.ts';
import type { Clock } from '../kernel/clock.ts';
import type { Component } from '../kernel/lifecycle.ts';
import type { Logger } from '../kernel/logger.ts';
import type { SnapshotSource, UsageSnapshot, WorkloadRef } from '../pipeline/snapshot.ts';
import type { ClusterView } from './cluster-view.ts';
import type { DecisionEngine, DecisionResult } from '../decision/engine.ts';
import type { BudgetMemory, DecisionEvent, EnforcementMemory, PolicyMemory } from '../decision/memory.ts';
import type { BudgetState, DecisionSet, PolicyState, WorkloadDecision } from '../decision/types.ts';
import { ORIGINAL_REPLICAS_ANNOTATION, STATUS_ANNOTATION } from './actions/annotations.ts';
import { createEventRecorder, type EventRecorder, type ObjectRef } from './actions/events.ts';
import { defaultThrottle, type ThrottleOptions } from './actions/throttle.ts';
import { createWorkloadActuator, DEFAULT_SCALABLE, type WorkloadActuator } from './actions/workload.ts';
import { createKedaPauser } from './actions/keda.ts';
import type { KubeApi } from '../cluster/api.ts';
import { RESOURCES, type ResourceType } from '../cluster/resources.ts';
import { createWorkQueue, type WorkQueue, type WorkQueueMetrics } from '../cluster/workqueue.ts';
import { noopEnforcementMetrics, type EnforcementMetrics } from './metrics.ts';
import { createStatusWriter, type StatusWriter } from './status/writer.ts';

/** Who may act: the leader elector, or `alwaysLeader` when leader election is off. */
export interface LeaderGate {
  isLeader(): boolean;
  onChange(listener: (leading: boolean) => void): () => void;
}

export const alwaysLeader: LeaderGate = { isLeader: () => true, onChange: () => () => undefined };

/** The pure status builders of the decision stage (decision/status.ts), as the enforcer uses them. */
export interface StatusBuilders {
  budgetStatus(input: {
    budget: AIBudget;
    state: BudgetState;
    memory: BudgetMemory | undefined;
    snapshot: UsageSnapshot;
    now: number;
  }): AIBudgetStatus;
  policyStatus(input: {
    policy: AIPolicy;
    state: PolicyState;
    memory: PolicyMemory | undefined;
    now: number;
  }): AIPolicyStatus;
  /** The memory a new leader (or a follower) starts from, read back from status. */
  memoryFromStatus(budgets: readonly AIBudget[], policies: readonly AIPolicy[]): EnforcementMemory;
}

export interface Enforcer extends Component {
  /** The latest decisions (empty before the first evaluation). */
  decisions(): DecisionSet;
  subscribe(listener: (result: DecisionResult) => void): () => void;
  /** Evaluates now (tests, or after a clock jump) and acts if leading. */
  evaluateNow(): DecisionResult;
  /** Resolves when the work queue is empty and no status write is pending (tests). */
  settle(): Promise<void>;
  /** True after the cluster view synced and the first evaluation ran. */
  ready(): boolean;
}

export interface EnforcerOptions {
  readonly api: KubeApi;
  readonly view: ClusterView;
  /** Usage for decisions: this replica's windows merged with the other replicas' records. */
  readonly snapshots: SnapshotSource;
  readonly engine: DecisionEngine;
  readonly status: StatusBuilders;
  readonly leader: LeaderGate;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This replica (events' reportingInstance, audit lines). */
  readonly identity: string;
  readonly events?: EventRecorder;
  readonly throttle?: ThrottleOptions;
  /** Kinds scaled through /scale, by workload kind (default Deployment, StatefulSet). */
  readonly scalable?: ReadonlyMap<string, ResourceType>;
  /** At most one status write per resource per interval (default 5 s). */
  readonly statusIntervalMs?: number;
  /** Changes arriving within this time are evaluated together (default 100 ms). */
  readonly debounceMs?: number;
  /** How often the clock is checked for boundaries (default 1 s). */
  readonly tickMs?: number;
  /** Evaluate at least this often even without changes (projections, default 15 s). */
  readonly maxEvaluationIntervalMs?: number;
  /** Every workload with a decision or our annotations is reconciled again this often (default 60 s). */
  readonly resyncIntervalMs?: number;
  readonly concurrency?: number;
  readonly metrics?: {
    readonly enforcement?: EnforcementMetrics;
    readonly workQueue?: WorkQueueMetrics;
  };
}

const EMPTY: DecisionSet = {
  version: 0,
  computedAt: 0,
  workloads: new Map(),
  budgets: new Map(),
  policies: new Map(),
};

const WORKLOAD_API_VERSION: Readonly<Record<string, string>> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  Pod: 'v1',
};

export function parseWorkloadKey(key: string): WorkloadRef | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  return { namespace: parts[0]!, kind: parts[1]!, name: parts[2]! };
}

const acts = (d: WorkloadDecision | undefined): boolean =>
  d !== undefined && (d.action !== 'allow' || d.bypass !== undefined);

export function createEnforcer(options: EnforcerOptions): Enforcer {
  const { api, view, clock, leader, engine } = options;
  const log = options.logger.child({ component: 'enforcer', instance: options.identity });
  const enforcementMetrics = options.metrics?.enforcement ?? noopEnforcementMetrics;
  const events =
    options.events ??
    createEventRecorder({
      api,
      clock,
      logger: options.logger,
      instance: options.identity,
      metrics: enforcementMetrics,
    });
  const scalable = options.scalable ?? DEFAULT_SCALABLE;
  const actuator: WorkloadActuator = createWorkloadActuator({
    api,
    events,
    logger: options.logger,
    throttle: options.throttle ?? defaultThrottle,
    scalable,
    hpas: (ns) => view.hpas.list(ns),
    keda: createKedaPauser({ api, logger: options.logger, clock }),
    metrics: enforcementMetrics,
    instance: options.identity,
  });
  const statusWriter: StatusWriter = createStatusWriter({
    api,
    logger: options.logger,
    minIntervalMs: options.statusIntervalMs ?? 5000,
    canWrite: () => leader.isLeader(),
    observed: (t) => {
      const inf = t.resource === RESOURCES.aiBudget ? view.budgets : view.policies;
      return inf.getByName(t.namespace, t.name)?.status;
    },
    metrics: enforcementMetrics,
  });
  const debounceMs = options.debounceMs ?? 100;
  const tickMs = options.tickMs ?? 1000;
  const maxIntervalMs = options.maxEvaluationIntervalMs ?? 15_000;
  const resyncMs = options.resyncIntervalMs ?? 60_000;

  let current: DecisionSet = EMPTY;
  let leaderMemory: EnforcementMemory | undefined;
  let bypassMemory: EnforcementMemory['bypasses'] = new Map();
  let nextEvaluationAt: number | undefined;
  let lastEvaluationMono = 0;
  let evaluated = false;
  let debounce: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let resyncer: NodeJS.Timeout | undefined;
  let stopped = false;
  let started = false;
  const unsubscribe: Array<() => void> = [];
  const listeners = new Set<(r: DecisionResult) => void>();
  const pendingActions = new Set<Promise<unknown>>();
  /** What each status was last built from (see unchanged()). */
  const built = new Map<string, { state: object; rv: string | undefined; mem: string }>();

  const queue: WorkQueue = createWorkQueue({
    name: 'workloads',
    logger: options.logger,
    concurrency: options.concurrency ?? 4,
    ...(options.metrics?.workQueue === undefined ? {} : { metrics: options.metrics.workQueue }),
    handler: async (key) => {
      if (!leader.isLeader()) return;
      const decision = current.workloads.get(key);
      const ref = decision?.workload ?? parseWorkloadKey(key);
      if (ref === undefined) return;
      await actuator.reconcile(ref, decision);
    },
  });

  const track = (p: Promise<unknown>): void => {
    pendingActions.add(p);
    void p.finally(() => pendingActions.delete(p));
  };

  function requestEvaluation(): void {
    if (stopped || !started || debounce !== undefined) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      runEvaluation();
    }, debounceMs);
    debounce.unref();
  }

  function runEvaluation(): void {
    if (stopped || !view.hasSynced()) return;
    try {
      evaluateNow();
    } catch (err) {
      log.error('evaluation failed', { err });
    }
  }

  function memoryFor(
    leading: boolean,
    budgets: readonly AIBudget[],
    policies: readonly AIPolicy[],
  ): EnforcementMemory {
    if (leading && leaderMemory !== undefined) return leaderMemory;
    const fromStatus = options.status.memoryFromStatus(budgets, policies);
    return { ...fromStatus, bypasses: bypassMemory };
  }

  let wasLeading = false;

  function evaluateNow(): DecisionResult {
    const leading = leader.isLeader();
    // Leadership (re)gained: continue from the status the last leader wrote, never from the memory this
    // replica kept when it led before (stale: it would announce again what another leader announced).
    if (leading && !wasLeading) leaderMemory = undefined;
    wasLeading = leading;
    const budgets = view.budgets.list() as AIBudget[];
    const policies = view.policies.list() as AIPolicy[];
    const snapshot = options.snapshots.current();
    const result = engine.evaluate({
      snapshot,
      budgets,
      policies,
      memory: memoryFor(leading, budgets, policies),
      inventory: view.inventory(),
      bypass: view.bypass(),
    });
    const previous = current;
    current = result.decisions;
    bypassMemory = result.memory.bypasses;
    nextEvaluationAt = result.nextEvaluationAt;
    lastEvaluationMono = performance.now();
    evaluated = true;
    if (leading) {
      leaderMemory = result.memory;
      act(result, previous, budgets, policies, snapshot);
    }
    for (const l of listeners) {
      try {
        l(result);
      } catch (err) {
        log.error('decision listener failed', { err });
      }
    }
    return result;
  }

  function act(
    result: DecisionResult,
    previous: DecisionSet,
    budgets: readonly AIBudget[],
    policies: readonly AIPolicy[],
    snapshot: UsageSnapshot,
  ): void {
    const now = clock.now();
    const d = result.decisions;
    // Workloads whose decision changed (the engine keeps unchanged decisions by identity).
    for (const [key, w] of d.workloads) {
      const before = previous.workloads.get(key);
      if (before !== w && (acts(w) || acts(before))) queue.add(key);
    }
    for (const [key, before] of previous.workloads) if (!d.workloads.has(key) && acts(before)) queue.add(key);
    // Status.
    const budgetByKey = new Map(
      budgets.map((b) => [`${b.metadata.namespace ?? ''}/${b.metadata.name ?? ''}`, b]),
    );
    for (const [key, state] of d.budgets) {
      const budget = budgetByKey.get(key);
      if (budget === undefined) continue;
      if (unchanged(`b/${key}`, state, budget, result.memory.budgets.get(key))) continue;
      let status: AIBudgetStatus;
      try {
        status = options.status.budgetStatus({
          budget,
          state,
          memory: result.memory.budgets.get(key),
          snapshot,
          now,
        });
      } catch (err) {
        // One status that cannot be built must not keep the others (and the actions) from happening.
        log.error('building budget status failed', { err, budget: key });
        continue;
      }
      statusWriter.set(
        {
          resource: RESOURCES.aiBudget,
          namespace: budget.metadata.namespace ?? '',
          name: budget.metadata.name ?? '',
        },
        status,
      );
    }
    const policyByKey = new Map(
      policies.map((p) => [`${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`, p]),
    );
    for (const [key, state] of d.policies) {
      const policy = policyByKey.get(key);
      if (policy === undefined) continue;
      if (unchanged(`p/${key}`, state, policy, result.memory.policies.get(key))) continue;
      let status: AIPolicyStatus;
      try {
        status = options.status.policyStatus({
          policy,
          state,
          memory: result.memory.policies.get(key),
          now,
        });
      } catch (err) {
        log.error('building policy status failed', { err, policy: key });
        continue;
      }
      statusWriter.set(
        {
          resource: RESOURCES.aiPolicy,
          namespace: policy.metadata.namespace ?? '',
          name: policy.metadata.name ?? '',
        },
        status,
      );
    }
    for (const e of result.events) track(recordDecisionEvent(e));
  }

  /**
   * Building a status costs more than deciding; skip it when nothing it is built from changed: the
   * decided state (kept by identity by the engine), the resource's version and the memory.
   */
  function unchanged(
    key: string,
    state: object,
    resource: { metadata: { resourceVersion?: string } },
    memory: unknown,
  ): boolean {
    const mem = JSON.stringify(memory, (_k, v: unknown) => (v instanceof Map ? [...v] : v));
    const before = built.get(key);
    if (
      before !== undefined &&
      before.state === state &&
      before.rv === resource.metadata.resourceVersion &&
      before.mem === mem
    ) {
      return true;
    }
    built.set(key, { state, rv: resource.metadata.resourceVersion, mem });
    return false;
  }

  async function recordDecisionEvent(e: DecisionEvent): Promise<void> {
    log.info('audit: decision event', {
      audit: true,
      type: e.type,
      source: e.source === undefined ? undefined : `${e.source.kind}/${e.source.namespace}/${e.source.name}`,
      workload: e.workload,
      namespace: e.namespace,
      message: e.message,
      figures: e.figures,
    });
    const targets: ObjectRef[] = [];
    if (e.source !== undefined) {
      const inf = e.source.kind === 'AIBudget' ? view.budgets : view.policies;
      targets.push({
        apiVersion: 'genops.ai/v1alpha1',
        kind: e.source.kind,
        namespace: e.source.namespace,
        name: e.source.name,
        uid: inf.getByName(e.source.namespace, e.source.name)?.metadata?.uid,
      });
    }
    const ref = e.workload === undefined ? undefined : parseWorkloadKey(e.workload);
    if (ref !== undefined) {
      targets.push({
        apiVersion: WORKLOAD_API_VERSION[ref.kind] ?? 'apps/v1',
        kind: ref.kind,
        namespace: ref.namespace,
        name: ref.name,
        uid: view.workloads.get(ref.kind)?.getByName(ref.namespace, ref.name)?.metadata?.uid,
      });
    }
    if (e.namespace !== undefined && ref === undefined) {
      targets.push({ apiVersion: 'v1', kind: 'Namespace', namespace: '', name: e.namespace });
    }
    const [regarding, related] = targets;
    if (regarding === undefined) return;
    const dedupe = `${e.type}|${e.source?.kind ?? ''}/${e.source?.namespace ?? ''}/${e.source?.name ?? ''}|${e.workload ?? ''}|${e.namespace ?? ''}|${e.at}`;
    await events.record({
      regarding,
      related,
      type: e.severity,
      reason: e.type,
      action: 'Decide',
      note: e.message,
      dedupeKey: dedupe,
    });
    // Workload-level events also land on the workload itself.
    if (related !== undefined && related.kind !== 'Namespace') {
      await events.record({
        regarding: related,
        related: regarding,
        type: e.severity,
        reason: e.type,
        action: 'Decide',
        note: e.message,
        dedupeKey: `${dedupe}|w`,
      });
    }
  }

  /** The workload carries our annotations (we may owe it a restore). */
  function annotated(key: string): boolean {
    const ref = parseWorkloadKey(key);
    if (ref === undefined) return false;
    const a = view.workloads.get(ref.kind)?.getByName(ref.namespace, ref.name)?.metadata?.annotations;
    return a?.[STATUS_ANNOTATION] !== undefined || a?.[ORIGINAL_REPLICAS_ANNOTATION] !== undefined;
  }

  /** Everything the leader may need to (re)apply: acting decisions and workloads we annotated. */
  function resync(): void {
    if (!leader.isLeader()) return;
    for (const [key, w] of current.workloads) if (acts(w)) queue.add(key);
    for (const ref of view.annotatedWorkloads()) queue.add(`${ref.namespace}/${ref.kind}/${ref.name}`);
  }

  return {
    decisions: () => current,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    evaluateNow,
    ready: () => evaluated && view.hasSynced(),
    async settle() {
      for (let i = 0; i < 50; i++) {
        await queue.idle();
        await Promise.allSettled([...pendingActions]);
        await statusWriter.flush();
        if (queue.depth() === 0 && pendingActions.size === 0) return;
      }
    },
    start() {
      if (started) return Promise.resolve();
      started = true;
      // Told of new usage without having the merged snapshot made for it (the evaluation reads it).
      const snapshots = options.snapshots;
      unsubscribe.push(
        snapshots.changed !== undefined
          ? snapshots.changed(() => requestEvaluation())
          : snapshots.subscribe(() => requestEvaluation()),
      );
      unsubscribe.push(
        view.onChange((what, key) => {
          if (what === 'workload-state' || what === 'hpa') {
            // Level-based: a workload we act on that changed (someone scaled it) is reconciled again.
            if (
              what === 'workload-state' &&
              leader.isLeader() &&
              (acts(current.workloads.get(key)) || annotated(key))
            ) {
              queue.add(key);
            }
            return;
          }
          // A follower's memory is the leader's status: a Blocked written there must reach this
          // replica's webhook now, not at the next usage change. The leader ignores its own writes.
          if (what === 'status' && leader.isLeader()) return;
          requestEvaluation();
        }),
      );
      unsubscribe.push(
        leader.onChange((leading) => {
          leaderMemory = undefined;
          statusWriter.reset();
          built.clear();
          if (leading) {
            log.info('leading: acting on decisions');
            runEvaluation();
            resync();
          } else {
            log.info('not leading: decisions only');
          }
        }),
      );
      ticker = setInterval(() => {
        const due = nextEvaluationAt !== undefined && clock.now() >= nextEvaluationAt;
        if (due || performance.now() - lastEvaluationMono >= maxIntervalMs) runEvaluation();
      }, tickMs);
      ticker.unref();
      resyncer = setInterval(resync, resyncMs);
      resyncer.unref();
      requestEvaluation();
      return Promise.resolve();
    },
    async shutdown(deadlineMs) {
      if (stopped) return;
      stopped = true;
      if (debounce !== undefined) clearTimeout(debounce);
      if (ticker !== undefined) clearInterval(ticker);
      if (resyncer !== undefined) clearInterval(resyncer);
      for (const u of unsubscribe) u();
      await queue.shutdown(deadlineMs);
      await Promise.allSettled([...pendingActions]);
      await statusWriter.shutdown(deadlineMs);
    },
  };
}
