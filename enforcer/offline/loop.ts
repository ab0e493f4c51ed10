// Owns decisions without a cluster (`genops local`): evaluates the pure decision engine whenever the
// usage snapshot or the loaded resources change (coalesced) and when the clock reaches the next
// boundary, keeps the enforcement memory and the statuses the operator would write, and logs every
// decision event as an audit record. Nothing is acted on: there is no workload to scale.

import type { AIBudget, AIBudgetStatus, AIPolicy, AIPolicyStatus } from '../../crds/index.ts';
import type { Clock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { SnapshotSource } from '../../pipeline/snapshot.ts';
import { createDecisionEngine, type DecisionMetrics, type DecisionResult } from '../../decision/engine.ts';
import {
  emptyBudgetMemory,
  emptyMemory,
  emptyPolicyMemory,
  type EnforcementMemory,
} from '../../decision/memory.ts';
import { buildBudgetStatus, buildPolicyStatus } from '../../decision/status.ts';
import { resourceKey, type DecisionSet } from '../../decision/types.ts';

export interface OfflineDecisionsOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly usage: SnapshotSource;
  /** The AIPolicy/AIBudget resources currently loaded. */
  readonly resources: () => { readonly policies: readonly AIPolicy[]; readonly budgets: readonly AIBudget[] };
  readonly timeZone?: string;
  readonly metrics?: DecisionMetrics;
  /** Shortest time between two evaluations, ms (default 250). */
  readonly minIntervalMs?: number;
}

export interface OfflineDecisions extends Component {
  decisions(): DecisionSet;
  /** AIBudget/AIPolicy with the status the operator would write, for `genops status --local`. */
  budgets(): readonly AIBudget[];
  policies(): readonly AIPolicy[];
  subscribe(listener: (result: DecisionResult) => void): () => void;
  /** Evaluates now; also called by the loop. */
  evaluateNow(): DecisionResult;
  /** Call after the resources changed. */
  resourcesChanged(): void;
}

const EMPTY_SET: DecisionSet = {
  version: 0,
  computedAt: 0,
  workloads: new Map(),
  budgets: new Map(),
  policies: new Map(),
};

export function createOfflineDecisions(options: OfflineDecisionsOptions): OfflineDecisions {
  const engine = createDecisionEngine({
    clock: options.clock,
    ...(options.timeZone !== undefined ? { timeZone: options.timeZone } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const minInterval = options.minIntervalMs ?? 250;
  const log = options.logger.child({ component: 'decisions' });
  const listeners = new Set<(r: DecisionResult) => void>();
  let memory: EnforcementMemory = emptyMemory;
  let current: DecisionSet = EMPTY_SET;
  const budgetStatus = new Map<string, AIBudgetStatus>();
  const policyStatus = new Map<string, AIPolicyStatus>();
  let timer: NodeJS.Timeout | undefined;
  let boundaryTimer: NodeJS.Timeout | undefined;
  let lastRun = 0;
  let unsubscribe: (() => void) | undefined;
  let running = false;

  const key = (r: { metadata: { namespace?: string | undefined; name?: string | undefined } }): string =>
    resourceKey(r.metadata.namespace ?? 'default', r.metadata.name ?? '');

  function evaluateNow(): DecisionResult {
    const now = options.clock.now();
    const snapshot = options.usage.current();
    const { policies, budgets } = options.resources();
    const result = engine.evaluate({ snapshot, budgets, policies, memory });
    memory = result.memory;
    current = result.decisions;
    lastRun = now;
    for (const b of budgets) {
      const k = key(b);
      const state = result.decisions.budgets.get(k);
      if (!state) continue;
      budgetStatus.set(
        k,
        buildBudgetStatus({
          budget: b,
          state,
          memory: result.memory.budgets.get(k) ?? emptyBudgetMemory,
          snapshot,
          previous: budgetStatus.get(k),
          now,
        }),
      );
    }
    for (const p of policies) {
      const k = key(p);
      const state = result.decisions.policies.get(k);
      if (!state) continue;
      policyStatus.set(
        k,
        buildPolicyStatus({
          policy: p,
          state,
          memory: result.memory.policies.get(k) ?? emptyPolicyMemory,
          previous: policyStatus.get(k),
          now,
        }),
      );
    }
    for (const e of result.events) {
      const fields = {
        audit: true,
        event: e.type,
        ...(e.source ? { source: `${e.source.kind}/${e.source.namespace}/${e.source.name}` } : {}),
        ...(e.workload !== undefined ? { workload: e.workload } : {}),
        figures: e.figures,
      };
      if (e.severity === 'Warning') log.warn(e.message, fields);
      else log.info(e.message, fields);
    }
    scheduleBoundary(result.nextEvaluationAt, now);
    for (const l of listeners) l(result);
    return result;
  }

  function scheduleBoundary(at: number | undefined, now: number): void {
    if (boundaryTimer) clearTimeout(boundaryTimer);
    boundaryTimer = undefined;
    if (!running || at === undefined) return;
    // Timers are capped at ~24.8 days; a later boundary is rescheduled by the next evaluation.
    const delay = Math.min(Math.max(0, at - now) + 5, 2 ** 31 - 1);
    boundaryTimer = setTimeout(() => evaluateNow(), delay);
  }

  function request(): void {
    if (!running || timer) return;
    const wait = Math.max(0, lastRun + minInterval - options.clock.now());
    timer = setTimeout(() => {
      timer = undefined;
      try {
        evaluateNow();
      } catch (err) {
        log.error('decision evaluation failed', { err });
      }
    }, wait);
  }

  return {
    start() {
      if (running) return Promise.resolve();
      running = true;
      unsubscribe = options.usage.subscribe(() => request());
      evaluateNow();
      return Promise.resolve();
    },
    shutdown() {
      running = false;
      unsubscribe?.();
      unsubscribe = undefined;
      if (timer) clearTimeout(timer);
      if (boundaryTimer) clearTimeout(boundaryTimer);
      timer = undefined;
      boundaryTimer = undefined;
      return Promise.resolve();
    },
    decisions: () => current,
    budgets: () =>
      options.resources().budgets.map((b) => {
        const status = budgetStatus.get(key(b));
        return status ? { ...b, status } : b;
      }),
    policies: () =>
      options.resources().policies.map((p) => {
        const status = policyStatus.get(key(p));
        return status ? { ...p, status } : p;
      }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    evaluateNow,
    resourcesChanged: () => request(),
  };
}
