// Owns the decision stage as a whole: (snapshot, budgets, policies, bypass annotations, memory,
// now) -> DecisionSet + next memory + events. Pure in effect: the engine object only caches
// (workload index, selector matches, parsed annotations, the previous set for versioning), and
// those caches never change an answer.
//
// Combination: every reason from every budget and policy selecting a workload is kept; the
// workload's action is the most restrictive of them. A valid, unexpired `genops.ai/bypass` on the
// workload (else on its namespace) makes the action 'allow' with `bypass` set; reasons stay listed.

import type { Clock } from '../kernel/clock.ts';
import type { AIBudget, AIPolicy } from '../crds/index.ts';
import type { UsageSnapshot } from '../pipeline/snapshot.ts';
import { parseBypass } from './annotations.ts';
import type { Bypass, BypassParse } from './annotations.ts';
import { evaluateBudget } from './budget.ts';
import {
  internFromList,
  internFromViolations,
  sameBudgetState,
  sameDecision,
  samePolicyState,
} from './compare.ts';
import type {
  BudgetMemory,
  BypassMemory,
  DecisionEvent,
  EnforcementMemory,
  PolicyMemory,
  ViolationRecord,
} from './memory.ts';
import { emptyBudgetMemory, emptyPolicyMemory, zeroViolationCounts } from './memory.ts';
import { createPeriodCalendar } from './period.ts';
import { createPolicyWorkloadMemo, evaluatePolicy } from './policy.ts';
import type { PolicyWorkloadMemo } from './policy.ts';
import type {
  Action,
  BudgetState,
  DecisionSet,
  PolicyState,
  PolicyViolation,
  Reason,
  SourceRef,
  WorkloadDecision,
} from './types.ts';
import { mostRestrictive, resourceKey } from './types.ts';
import { createWorkloadSelection } from './workload-index.ts';
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

export interface DecisionInput {
  readonly snapshot: UsageSnapshot;
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

const DAY = 86_400_000;
const MAX_RECENT_VIOLATIONS = 10_000;

function byKey<T extends { metadata: { namespace?: string | undefined; name?: string | undefined } }>(
  list: readonly T[],
): T[] {
  const key = (r: T): string => resourceKey(r.metadata.namespace ?? '', r.metadata.name ?? '');
  return [...list].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

type BypassCheck =
  | { readonly status: 'active'; readonly bypass: Bypass }
  | { readonly status: 'expired'; readonly bypass: Bypass; readonly problem: string }
  | { readonly status: 'malformed' | 'unapproved'; readonly problem: string };

export function createDecisionEngine(options: DecisionEngineOptions): DecisionEngine {
  const calendar = createPeriodCalendar(options.timeZone ?? 'UTC');
  const metrics = options.metrics ?? noopDecisionMetrics;
  const selection = createWorkloadSelection();
  const parsedBypass = new Map<string, BypassParse>();
  let last: DecisionSet | undefined;
  let lastMemory: EnforcementMemory | undefined;
  let lastByOrdinal: readonly WorkloadDecision[] = [];
  const policyMemos = new WeakMap<AIPolicy, PolicyWorkloadMemo>();

  /** A well-formed bypass counts only with a valid approval: approved user, expiry capped by it. */
  function approvedBypass(holder: string, raw: string, marker: string | undefined, now: number): BypassCheck {
    const check = checkBypass(raw, now);
    const verify = options.verifyBypass;
    if (verify === undefined || (check.status !== 'active' && check.status !== 'expired')) return check;
    const v = verify(holder, raw, marker);
    if (!v.ok) return { status: 'unapproved', problem: v.problem };
    const base = check.bypass;
    const bypass: Bypass = { reason: base.reason, by: v.user, expires: Math.min(base.expires, v.expires) };
    if (bypass.expires <= now)
      return {
        status: 'expired',
        bypass,
        problem: `bypass expired at ${new Date(bypass.expires).toISOString()}`,
      };
    return { status: 'active', bypass };
  }

  function checkBypass(raw: string, now: number): BypassCheck {
    let parsed = parsedBypass.get(raw);
    if (!parsed) {
      parsed = parseBypass(raw);
      if (parsedBypass.size > 10_000) parsedBypass.clear();
      parsedBypass.set(raw, parsed);
    }
    if (!parsed.ok) return { status: 'malformed', problem: parsed.problem };
    if (parsed.bypass.expires <= now) {
      return {
        status: 'expired',
        bypass: parsed.bypass,
        problem: `bypass expired at ${new Date(parsed.bypass.expires).toISOString()}`,
      };
    }
    return { status: 'active', bypass: parsed.bypass };
  }

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

      // Bypass annotations: audited per holder (workload or namespace), applied per workload.
      const bypassMemory = new Map<string, BypassMemory>();
      const holderChecks = new Map<string, BypassCheck>();
      const audit = (
        holder: string,
        raw: string,
        marker: string | undefined,
        workload: string | undefined,
        namespace: string | undefined,
      ): void => {
        const check = approvedBypass(holder, raw, marker, now);
        holderChecks.set(holder, check);
        bypassMemory.set(holder, { raw, status: check.status });
        const prev = input.memory.bypasses.get(holder);
        const what = workload ?? `namespace ${namespace ?? ''}`;
        const base = { at: now, source: undefined, workload, namespace };
        if (check.status === 'active') {
          wake(check.bypass.expires);
          if (prev?.raw !== raw || prev.status !== 'active') {
            events.push({
              ...base,
              type: 'BypassActivated',
              severity: 'Warning',
              message: `enforcement suspended for ${what} by ${check.bypass.by} until ${new Date(check.bypass.expires).toISOString()}: ${check.bypass.reason}`,
              figures: {
                by: check.bypass.by,
                reason: check.bypass.reason,
                expires: new Date(check.bypass.expires).toISOString(),
              },
            });
          }
        } else if (prev?.raw !== raw || prev.status !== check.status) {
          const expiredNow = check.status === 'expired' && prev?.raw === raw && prev.status === 'active';
          events.push({
            ...base,
            type: expiredNow ? 'BypassExpired' : 'BypassRejected',
            severity: 'Warning',
            message: expiredNow
              ? `bypass of ${what} expired; enforcement applies again`
              : `bypass annotation of ${what} ignored: ${check.problem}`,
            figures: { problem: check.problem },
          });
        }
      };
      const bp = input.bypass;
      for (const [key, raw] of bp?.workloads ?? [])
        audit(`workload:${key}`, raw, bp?.workloadApprovals?.get(key), key, undefined);
      for (const [ns, raw] of bp?.namespaces ?? [])
        audit(`namespace:${ns}`, raw, bp?.namespaceApprovals?.get(ns), undefined, ns);
      for (const [holder, prev] of input.memory.bypasses) {
        if (bypassMemory.has(holder) || prev.status !== 'active') continue;
        const isWorkload = holder.startsWith('workload:');
        const name = holder.slice(holder.indexOf(':') + 1);
        events.push({
          type: 'BypassExpired',
          severity: 'Normal',
          at: now,
          source: undefined,
          workload: isWorkload ? name : undefined,
          namespace: isWorkload ? undefined : name,
          message: `bypass annotation removed from ${isWorkload ? name : `namespace ${name}`}; enforcement applies again`,
          figures: {},
        });
      }

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

/**
 * The report of a resource the engine could not evaluate: its source, a message, and an
 * `EvaluationFailed` Event when the failure is new (not on every evaluation of the same spec).
 */
function evaluationFailure(
  resource: AIBudget | AIPolicy,
  kind: SourceRef['kind'],
  err: unknown,
  now: number,
  before: { readonly evaluationError?: string; readonly generation?: number } | undefined,
  events: DecisionEvent[],
): { source: SourceRef; message: string } {
  const source: SourceRef = {
    kind,
    namespace: resource.metadata.namespace ?? '',
    name: resource.metadata.name ?? '',
  };
  const detail = err instanceof Error ? err.message : String(err);
  const message = `cannot evaluate this ${kind}: ${detail.slice(0, 512)}; it enforces nothing until its spec is fixed`;
  if (before?.evaluationError !== message || before.generation !== resource.metadata.generation) {
    events.push({
      type: 'EvaluationFailed',
      severity: 'Warning',
      at: now,
      source,
      workload: undefined,
      namespace: undefined,
      message,
      figures: { error: detail.slice(0, 512) },
    });
  }
  return { source, message };
}

function sameStrings(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Keeps the previous object for every unchanged entry (cheap diffs downstream); reports changes. */
function reuse<T>(
  current: Map<string, T>,
  previous: ReadonlyMap<string, T> | undefined,
  same: (a: T, b: T) => boolean,
  onChange: () => void,
): Map<string, T> {
  if (previous === undefined || previous.size !== current.size) onChange();
  for (const [key, value] of current) {
    const before = previous?.get(key);
    if (before !== undefined && same(before, value)) current.set(key, before);
    else onChange();
  }
  return current;
}

function nextPolicyMemory(
  source: SourceRef,
  prev: PolicyMemory,
  violations: readonly PolicyViolation[],
  keys: readonly string[],
  previousViolations: readonly PolicyViolation[] | undefined,
  generation: number | undefined,
  now: number,
  events: DecisionEvent[],
): PolicyMemory {
  // Fast path: the very same violations (interned reasons) as last time change nothing but age.
  if (
    prev.active !== undefined &&
    prev.generation === generation &&
    previousViolations !== undefined &&
    previousViolations.length === violations.length &&
    violations.every(
      (v, i) => v.reason === previousViolations[i]?.reason && v.workload === previousViolations[i]?.workload,
    )
  ) {
    const oldest = prev.recent[0];
    if (oldest === undefined || oldest.at > now - DAY) return prev;
    return { ...prev, recent: prev.recent.filter((r) => r.at > now - DAY) };
  }
  const active = new Map<string, number>();
  const adopt = prev.active === undefined;
  const totals = { ...zeroViolationCounts(), ...prev.totals };
  let recent: ViolationRecord[] = prev.recent.filter((r) => r.at > now - DAY);
  let lastViolation = prev.lastViolation;
  for (let i = 0; i < violations.length; i++) {
    const v = violations[i] as PolicyViolation;
    const key = keys[i] as string;
    if (active.has(key)) continue;
    const since = prev.active?.get(key);
    if (since !== undefined || adopt) {
      active.set(key, since ?? now);
      continue;
    }
    active.set(key, now);
    // Shared violations (key "*|...") concern all selected workloads: counted and reported once.
    const shared = key.startsWith('*|');
    totals[v.category]++;
    recent.push({ category: v.category, at: now });
    lastViolation = {
      at: now,
      category: v.category,
      workload: shared ? '' : v.workload,
      action: v.reason.action,
      message: v.reason.message,
    };
    events.push({
      type: 'ViolationStarted',
      severity: 'Warning',
      at: now,
      source: v.reason.source,
      workload: shared ? undefined : v.workload,
      namespace: undefined,
      message: `${v.reason.code} (${v.reason.action}): ${v.reason.message}`,
      figures: { code: v.reason.code, category: v.category, action: v.reason.action, ...v.reason.figures },
    });
  }
  for (const [key] of prev.active ?? []) {
    if (active.has(key)) continue;
    // Keys are "<namespace/Kind/name>|<CODE>" or "*|<CODE>|<window>" (see policy.ts).
    const [workload = '', code = ''] = key.split('|');
    events.push({
      type: 'ViolationEnded',
      severity: 'Normal',
      at: now,
      source,
      workload: workload === '*' ? undefined : workload,
      namespace: undefined,
      message: `${code} no longer applies`,
      figures: { code },
    });
  }
  if (recent.length > MAX_RECENT_VIOLATIONS) recent = recent.slice(-MAX_RECENT_VIOLATIONS);
  return { generation, active, totals, recent, lastViolation };
}
