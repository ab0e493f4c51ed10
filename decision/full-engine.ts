// Owns the full (reference) evaluation of the decision stage: every budget and policy over every
// workload on each call, as the engine worked before it became incremental. It is the oracle of the
// randomized equivalence test (engine.equivalence.test.ts) and the "full" figure of the benchmark;
// production uses createDecisionEngine (engine.ts), which must decide exactly the same.

import type { AIPolicy } from '../crds/index.ts';
import { evaluateBudget } from './budget.ts';
import {
  internFromList,
  internFromViolations,
  sameBudgetState,
  sameDecision,
  samePolicyState,
} from './compare.ts';
import type { DecisionEngine, DecisionEngineOptions } from './engine.ts';
import { noopDecisionMetrics } from './engine.ts';
import {
  auditBypasses,
  byKey,
  createBypassChecker,
  evaluationFailure,
  nextPolicyMemory,
  reuse,
  sameStrings,
} from './engine-parts.ts';
import type { BudgetMemory, DecisionEvent, EnforcementMemory, PolicyMemory } from './memory.ts';
import { emptyBudgetMemory, emptyPolicyMemory } from './memory.ts';
import { createPeriodCalendar } from './period.ts';
import { createPolicyWorkloadMemo, evaluatePolicy } from './policy.ts';
import type { PolicyWorkloadMemo } from './policy.ts';
import type { Action, BudgetState, DecisionSet, PolicyState, Reason, WorkloadDecision } from './types.ts';
import { mostRestrictive, resourceKey } from './types.ts';
import { createWorkloadSelection } from './workload-index.ts';
import type { WorkloadEntry } from './workload-index.ts';
import type { AIBudget } from '../crds/index.ts';

export function createFullDecisionEngine(options: DecisionEngineOptions): DecisionEngine {
  const calendar = createPeriodCalendar(options.timeZone ?? 'UTC');
  const metrics = options.metrics ?? noopDecisionMetrics;
  const selection = createWorkloadSelection();
  const approvedBypass = createBypassChecker(options.verifyBypass);
  let last: DecisionSet | undefined;
  let lastMemory: EnforcementMemory | undefined;
  let lastByOrdinal: readonly WorkloadDecision[] = [];
  const policyMemos = new WeakMap<AIPolicy, PolicyWorkloadMemo>();

  return {
    evaluate(input) {
      const started = performance.now();
      const now = options.clock.now();
      const events: DecisionEvent[] = [];
      let wakeAt: number | undefined;
      const wake = (t: number | undefined): void => {
        if (t !== undefined && t > now && (wakeAt === undefined || t < wakeAt)) wakeAt = t;
      };

      const index = selection.index(input.snapshot, input.inventory);
      let byKeyIndex: Map<string, WorkloadEntry> | undefined;
      /**
       * The selected workloads plus those the budget selected earlier in this period (same generation):
       * spend charged to a budget stays in it for the period, so relabelling a workload does not take
       * its spend (or the enforcement that spend caused) out of the budget.
       */
      const withMembers = (
        budget: AIBudget,
        selected: readonly WorkloadEntry[],
        prev: BudgetMemory,
      ): readonly WorkloadEntry[] => {
        const members = prev.members;
        if (members === undefined || members.length === 0) return selected;
        if (prev.generation !== budget.metadata.generation) return selected;
        const period = budget.spec.allocation.period ?? 'monthly';
        if (prev.periodStart !== calendar.bounds(period, now).start) return selected;
        const have = new Set(selected.map((w) => w.key));
        const extra: WorkloadEntry[] = [];
        for (const k of members) {
          if (have.has(k)) continue;
          byKeyIndex ??= new Map(index.entries.map((e) => [e.key, e]));
          const e = byKeyIndex.get(k);
          if (e !== undefined) extra.push(e);
        }
        if (extra.length === 0) return selected;
        return [...selected, ...extra].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      };
      // Reasons per workload, by entry ordinal (arrays, not string-keyed maps: this is the hot loop).
      const reasonsOf: (Reason[] | undefined)[] = new Array<Reason[] | undefined>(index.entries.length);
      const addReason = (entry: WorkloadEntry, reason: Reason): void => {
        const list = reasonsOf[entry.ordinal];
        if (list) list.push(reason);
        else reasonsOf[entry.ordinal] = [reason];
      };

      // Budgets.
      const budgets = new Map<string, BudgetState>();
      const budgetMemory = new Map<string, BudgetMemory>();
      for (const budget of byKey(input.budgets)) {
        const key = resourceKey(budget.metadata.namespace ?? '', budget.metadata.name ?? '');
        const previousMemory = input.memory.budgets.get(key) ?? emptyBudgetMemory;
        const matched = withMembers(budget, selection.select(budget, index), previousMemory);
        let outcome: ReturnType<typeof evaluateBudget>;
        try {
          outcome = evaluateBudget(budget, matched, previousMemory, {
            now,
            calendar,
            intern: internFromList(last?.budgets.get(key)?.reasons),
          });
        } catch (err) {
          // One budget that cannot be evaluated (a figure the schema should have refused, a bug) must
          // not stop the cluster's evaluation: it is reported on itself and enforces nothing until fixed.
          const failure = evaluationFailure(budget, 'AIBudget', err, now, last?.budgets.get(key), events);
          budgets.set(key, {
            source: failure.source,
            periodStart: calendar.bounds('daily', now).start,
            resetAt: calendar.bounds('daily', now).end,
            spendMicros: 0,
            limitMicros: 0,
            utilizationPercent: 0,
            projectedSpendMicros: 0,
            action: 'allow',
            pendingApproval: false,
            matchedWorkloads: matched.map((w) => w.key),
            ...(budget.metadata.generation === undefined ? {} : { generation: budget.metadata.generation }),
            evaluationError: failure.message,
          });
          budgetMemory.set(key, previousMemory);
          continue;
        }
        budgets.set(key, outcome.state);
        const members = matched.map((w) => w.key);
        budgetMemory.set(
          key,
          sameStrings(previousMemory.members, members)
            ? { ...outcome.memory, members: previousMemory.members! }
            : { ...outcome.memory, members },
        );
        events.push(...outcome.events);
        wake(outcome.wakeAt);
        for (const w of matched) for (const r of outcome.shared) addReason(w, r);
        for (const p of outcome.perWorkload) addReason(p.entry, p.reason);
      }

      // Policies.
      const policies = new Map<string, PolicyState>();
      const policyMemory = new Map<string, PolicyMemory>();
      for (const policy of byKey(input.policies)) {
        const key = resourceKey(policy.metadata.namespace ?? '', policy.metadata.name ?? '');
        const matched = selection.select(policy, index);
        let memo = policyMemos.get(policy);
        if (!memo) policyMemos.set(policy, (memo = createPolicyWorkloadMemo()));
        let outcome: ReturnType<typeof evaluatePolicy>;
        try {
          outcome = evaluatePolicy(policy, matched, {
            now,
            calendar,
            memo,
            intern: internFromViolations(last?.policies.get(key)?.violations),
          });
        } catch (err) {
          const failure = evaluationFailure(policy, 'AIPolicy', err, now, last?.policies.get(key), events);
          policies.set(key, {
            source: failure.source,
            action: 'allow',
            matchedWorkloads: matched.map((w) => w.key),
            ...(policy.metadata.generation === undefined ? {} : { generation: policy.metadata.generation }),
            violations: [],
            evaluationError: failure.message,
          });
          policyMemory.set(key, input.memory.policies.get(key) ?? emptyPolicyMemory);
          continue;
        }
        wake(outcome.wakeAt);
        let action: Action = 'allow';
        outcome.violations.forEach((v, i) => {
          addReason(outcome.targets[i] as WorkloadEntry, v.reason);
          action = mostRestrictive(action, v.reason.action);
        });
        const generation = policy.metadata.generation;
        policies.set(key, {
          source: outcome.source,
          action,
          matchedWorkloads: matched.map((w) => w.key),
          ...(generation === undefined ? {} : { generation }),
          violations: outcome.violations,
        });
        const next = nextPolicyMemory(
          outcome.source,
          input.memory.policies.get(key) ?? emptyPolicyMemory,
          outcome.violations,
          outcome.keys,
          // Only when the memory handed in is the one this engine produced with those violations.
          lastMemory?.policies.get(key) === input.memory.policies.get(key)
            ? last?.policies.get(key)?.violations
            : undefined,
          generation,
          now,
          events,
        );
        policyMemory.set(key, next);
      }
      const { bypassMemory, holderChecks } = auditBypasses(
        input.bypass,
        input.memory,
        now,
        approvedBypass,
        events,
        wake,
      );

      // Workload decisions: every known workload gets one.
      const previous = last;
      let changed = previous === undefined;
      const workloads = new Map<string, WorkloadDecision>();
      const byAction: Record<Action, number> = { allow: 0, warn: 0, throttle: 0, block: 0 };
      let bypassed = 0;
      const none: Reason[] = [];
      const byOrdinal = new Array<WorkloadDecision>(index.entries.length);
      for (const entry of index.entries) {
        const reasons = reasonsOf[entry.ordinal] ?? none;
        let action: Action = 'allow';
        for (let i = 0; i < reasons.length; i++)
          action = mostRestrictive(action, (reasons[i] as Reason).action);
        const own = holderChecks.size === 0 ? undefined : holderChecks.get(`workload:${entry.key}`);
        const ns = holderChecks.size === 0 ? undefined : holderChecks.get(`namespace:${entry.ref.namespace}`);
        const active = own?.status === 'active' ? own : ns?.status === 'active' ? ns : undefined;
        const problem =
          own && own.status !== 'active'
            ? own.problem
            : !active && ns && ns.status !== 'active'
              ? ns.problem
              : undefined;
        if (active) {
          action = 'allow';
          bypassed++;
        }
        byAction[action]++;
        const bypass = active?.status === 'active' ? active.bypass : undefined;
        // Usually at the same position as last time; the map is the fallback.
        const atOrdinal = lastByOrdinal[entry.ordinal];
        const before = atOrdinal?.key === entry.key ? atOrdinal : previous?.workloads.get(entry.key);
        // Fast path: the same reason objects (interned) and bypass as last time.
        if (
          before &&
          before.action === action &&
          before.bypass === bypass &&
          before.bypassProblem === problem &&
          before.reasons.length === reasons.length &&
          before.reasons.every((r, i) => r === reasons[i])
        ) {
          workloads.set(entry.key, before);
          byOrdinal[entry.ordinal] = before;
          continue;
        }
        let decision: WorkloadDecision =
          problem === undefined
            ? { workload: entry.ref, key: entry.key, action, reasons, bypass }
            : { workload: entry.ref, key: entry.key, action, reasons, bypass, bypassProblem: problem };
        if (before && sameDecision(before, decision)) decision = before;
        else changed = true;
        workloads.set(entry.key, decision);
        byOrdinal[entry.ordinal] = decision;
      }
      if (previous && previous.workloads.size !== workloads.size) changed = true;
      const budgetStates = reuse(budgets, previous?.budgets, sameBudgetState, () => (changed = true));
      const policyStates = reuse(policies, previous?.policies, samePolicyState, () => (changed = true));

      const decisions: DecisionSet = {
        version: previous === undefined ? 1 : changed ? previous.version + 1 : previous.version,
        computedAt: now,
        workloads,
        budgets: budgetStates,
        policies: policyStates,
      };
      last = decisions;
      lastByOrdinal = byOrdinal;
      const memory: EnforcementMemory = {
        budgets: budgetMemory,
        policies: policyMemory,
        bypasses: bypassMemory,
      };
      lastMemory = memory;
      metrics.evaluated((performance.now() - started) / 1000, byAction, bypassed);
      return {
        decisions,
        memory,
        events,
        nextEvaluationAt: wakeAt,
      };
    },
  };
}
