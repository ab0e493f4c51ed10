// Owns the decision stage as a whole: (snapshot, budgets, policies, bypass annotations, memory,
// now) -> DecisionSet + next memory + events. Pure in effect: the engine object only caches
// (workload index, selector matches, parsed annotations, the previous set for versioning), and
// those caches never change an answer.
//
// Combination: every reason from every budget and policy selecting a workload is kept; the
// workload's action is the most restrictive of them. A valid, unexpired `genops.ai/bypass` on the
// workload (else on its namespace) makes the action 'allow' with `bypass` set; reasons stay listed.

import type { Clock } from '../../kernel/clock.ts';
import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import type { UsageSnapshot } from '../../pipeline/snapshot.ts';
import { parseBypass } from './annotations.ts';
import type { Bypass, BypassParse } from './annotations.ts';
import { evaluateBudget } from './budget.ts';
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
import { evaluatePolicy } from './policy.ts';
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
import { createWorkloadSelection, resourceId } from './workload-index.ts';
import type { InventoryWorkload } from './workload-index.ts';

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

export interface DecisionEngineOptions {
  readonly clock: Clock;
  /** IANA zone of period boundaries; must match the pipeline's windows. Default UTC. */
  readonly timeZone?: string;
  readonly metrics?: DecisionMetrics;
}

export interface BypassAnnotations {
  /** Raw `genops.ai/bypass` values by workload key (namespace/Kind/name). */
  readonly workloads?: ReadonlyMap<string, string>;
  /** Raw `genops.ai/bypass` values by namespace name. */
  readonly namespaces?: ReadonlyMap<string, string>;
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

/** Structural equality of plain decision data (objects, arrays, primitives). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function byKey<T extends { metadata: { namespace?: string | undefined; name?: string | undefined } }>(
  list: readonly T[],
): T[] {
  const key = (r: T): string => resourceKey(r.metadata.namespace ?? '', r.metadata.name ?? '');
  return [...list].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

type BypassCheck =
  | { readonly status: 'active'; readonly bypass: Bypass }
  | { readonly status: 'expired'; readonly bypass: Bypass; readonly problem: string }
  | { readonly status: 'malformed'; readonly problem: string };

export function createDecisionEngine(options: DecisionEngineOptions): DecisionEngine {
  const calendar = createPeriodCalendar(options.timeZone ?? 'UTC');
  const metrics = options.metrics ?? noopDecisionMetrics;
  const selection = createWorkloadSelection();
  const parsedBypass = new Map<string, BypassParse>();
  let last: DecisionSet | undefined;

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
      const reasonsOf = new Map<string, Reason[]>();
      const addReason = (workload: string, reason: Reason): void => {
        const list = reasonsOf.get(workload);
        if (list) list.push(reason);
        else reasonsOf.set(workload, [reason]);
      };
      const liveIds = new Set<string>();

      // Budgets.
      const budgets = new Map<string, BudgetState>();
      const budgetMemory = new Map<string, BudgetMemory>();
      for (const budget of byKey(input.budgets)) {
        const key = resourceKey(budget.metadata.namespace ?? '', budget.metadata.name ?? '');
        liveIds.add(resourceId(budget));
        const matched = selection.select(budget, index);
        const outcome = evaluateBudget(budget, matched, input.memory.budgets.get(key) ?? emptyBudgetMemory, {
          now,
          calendar,
        });
        budgets.set(key, outcome.state);
        budgetMemory.set(key, outcome.memory);
        events.push(...outcome.events);
        wake(outcome.wakeAt);
        for (const w of matched) for (const r of outcome.shared) addReason(w.key, r);
        for (const [w, list] of outcome.perWorkload) for (const r of list) addReason(w, r);
      }

      // Policies.
      const policies = new Map<string, PolicyState>();
      const policyMemory = new Map<string, PolicyMemory>();
      for (const policy of byKey(input.policies)) {
        const key = resourceKey(policy.metadata.namespace ?? '', policy.metadata.name ?? '');
        liveIds.add(resourceId(policy));
        const matched = selection.select(policy, index);
        const outcome = evaluatePolicy(policy, matched, { now, calendar, snapshot: input.snapshot });
        wake(outcome.wakeAt);
        let action: Action = 'allow';
        for (const v of outcome.violations) {
          addReason(v.workload, v.reason);
          action = mostRestrictive(action, v.reason.action);
        }
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
          generation,
          now,
          events,
        );
        policyMemory.set(key, next);
      }
      selection.prune(liveIds);

      // Bypass annotations: audited per holder (workload or namespace), applied per workload.
      const bypassMemory = new Map<string, BypassMemory>();
      const holderChecks = new Map<string, BypassCheck>();
      const audit = (
        holder: string,
        raw: string,
        workload: string | undefined,
        namespace: string | undefined,
      ): void => {
        const check = checkBypass(raw, now);
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
      for (const [key, raw] of input.bypass?.workloads ?? []) audit(`workload:${key}`, raw, key, undefined);
      for (const [ns, raw] of input.bypass?.namespaces ?? []) audit(`namespace:${ns}`, raw, undefined, ns);
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
      for (const entry of index.all.values()) {
        const reasons = reasonsOf.get(entry.key) ?? [];
        let action: Action = 'allow';
        for (const r of reasons) action = mostRestrictive(action, r.action);
        const own = holderChecks.get(`workload:${entry.key}`);
        const ns = holderChecks.get(`namespace:${entry.ref.namespace}`);
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
        const decision: WorkloadDecision = {
          workload: entry.ref,
          key: entry.key,
          action,
          reasons,
          bypass: active?.status === 'active' ? active.bypass : undefined,
          ...(problem === undefined ? {} : { bypassProblem: problem }),
        };
        const before = previous?.workloads.get(entry.key);
        if (before && same(before, decision)) workloads.set(entry.key, before);
        else {
          workloads.set(entry.key, decision);
          changed = true;
        }
      }
      if (previous && previous.workloads.size !== workloads.size) changed = true;
      const budgetStates = reuse(budgets, previous?.budgets, () => (changed = true));
      const policyStates = reuse(policies, previous?.policies, () => (changed = true));

      const decisions: DecisionSet = {
        version: previous === undefined ? 1 : changed ? previous.version + 1 : previous.version,
        computedAt: now,
        workloads,
        budgets: budgetStates,
        policies: policyStates,
      };
      last = decisions;
      metrics.evaluated((performance.now() - started) / 1000, byAction, bypassed);
      return {
        decisions,
        memory: { budgets: budgetMemory, policies: policyMemory, bypasses: bypassMemory },
        events,
        nextEvaluationAt: wakeAt,
      };
    },
  };
}

/** Keeps the previous object for every unchanged entry (cheap diffs downstream); reports changes. */
function reuse<T>(
  current: Map<string, T>,
  previous: ReadonlyMap<string, T> | undefined,
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
  generation: number | undefined,
  now: number,
  events: DecisionEvent[],
): PolicyMemory {
  const active = new Map<string, number>();
  const adopt = prev.active === undefined;
  const totals = { ...zeroViolationCounts(), ...prev.totals };
  let recent: ViolationRecord[] = prev.recent.filter((r) => r.at > now - DAY);
  let lastViolation = prev.lastViolation;
  for (const v of violations) {
    const key = `${v.workload}|${v.reason.code}`;
    if (active.has(key)) continue;
    const since = prev.active?.get(key);
    if (since !== undefined || adopt) {
      active.set(key, since ?? now);
      continue;
    }
    active.set(key, now);
    totals[v.category]++;
    recent.push({ category: v.category, at: now });
    lastViolation = {
      at: now,
      category: v.category,
      workload: v.workload,
      action: v.reason.action,
      message: v.reason.message,
    };
    events.push({
      type: 'ViolationStarted',
      severity: 'Warning',
      at: now,
      source: v.reason.source,
      workload: v.workload,
      namespace: undefined,
      message: `${v.reason.code} (${v.reason.action}): ${v.reason.message}`,
      figures: { code: v.reason.code, category: v.category, action: v.reason.action, ...v.reason.figures },
    });
  }
  for (const [key] of prev.active ?? []) {
    if (active.has(key)) continue;
    const bar = key.lastIndexOf('|');
    events.push({
      type: 'ViolationEnded',
      severity: 'Normal',
      at: now,
      source,
      workload: key.slice(0, bar),
      namespace: undefined,
      message: `${key.slice(bar + 1)} no longer applies`,
      figures: { code: key.slice(bar + 1) },
    });
  }
  if (recent.length > MAX_RECENT_VIOLATIONS) recent = recent.slice(-MAX_RECENT_VIOLATIONS);
  return { generation, active, totals, recent, lastViolation };
}
