// Owns the judgement of a validating review of a workload, pod or scale request in a namespace with
// genops.ai/policy-enforcement=enabled. Pure over the in-memory view: no I/O, the clock is passed in.
//
// - A budget or policy "selects" the object when it is in the object's namespace and its selector matches
//   the pod (template) labels or the workload's own labels, or when the decision stage already lists the
//   workload among its matches (scale requests carry no labels).
// - Create and scale-up are refused while a selecting AIBudget/AIPolicy is in block state; throttle and
//   warn states admit with a warning. An AIPolicy blocks a workload through its shared cost limit, or
//   through a violation of that workload itself (models, providers, classification, safety, rates):
//   one workload's disallowed model does not refuse its neighbours. Scale-down, deletes and other updates are always admitted.
// - AIPolicy rules on the object (classification, models) refuse creates, and updates that add a
//   violation the old object did not have (so the operator can still annotate and scale old objects).
// - An AIPolicy/AIBudget annotated genops.ai/admission=warn only warns (a dry run for admission).
// - A valid genops.ai/bypass (object, namespace or the workload's decision) admits, with a warning and an audit.

import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import { matchesSelector } from '../../kernel/selector.ts';
import { BYPASS_ANNOTATION, BYPASS_APPROVAL_ANNOTATION, parseBypass } from '../../decision/annotations.ts';
import type { Action, BudgetState, DecisionSet, PolicyState, Reason } from '../../decision/types.ts';
import { actionRank } from '../../decision/types.ts';
import type { AdmissionView } from '../view.ts';
import { ruleViolations } from './rules.ts';
import type { Subject } from './subject.ts';

export const ENFORCEMENT_NAMESPACE_LABEL = 'genops.ai/policy-enforcement';
/** On an AIPolicy/AIBudget: "warn" turns its admission refusals into warnings. */
export const ADMISSION_MODE_ANNOTATION = 'genops.ai/admission';

export interface BypassUse {
  readonly reason: string;
  readonly by: string;
  readonly expires: number;
  /** Where the bypass was found: "object", "namespace" or "decision". */
  readonly from: 'object' | 'namespace' | 'decision';
}

export interface Verdict {
  readonly allowed: boolean;
  /** Why it is refused, one sentence each (only when not allowed). */
  readonly denials: readonly string[];
  readonly warnings: readonly string[];
  /** Set when a bypass admitted what would have been refused. */
  readonly bypass: BypassUse | undefined;
  /** Reason codes behind the refusals or warnings, for metrics. */
  readonly codes: readonly string[];
}

export const ADMIT: Verdict = { allowed: true, denials: [], warnings: [], bypass: undefined, codes: [] };

// ---- indexes over the view, rebuilt only when the view hands out new objects ----------------------------

type Resource = AIPolicy | AIBudget;
const resourceIndexes = new WeakMap<readonly Resource[], Map<string, Resource>>();
function byKey<T extends Resource>(list: readonly T[]): Map<string, T> {
  let index = resourceIndexes.get(list);
  if (!index) {
    index = new Map(list.map((r) => [`${r.metadata.namespace ?? ''}/${r.metadata.name}`, r]));
    resourceIndexes.set(list, index);
  }
  return index as Map<string, T>;
}
const policiesByNamespace = new WeakMap<readonly AIPolicy[], Map<string, AIPolicy[]>>();
function policiesIn(list: readonly AIPolicy[], namespace: string): readonly AIPolicy[] {
  let index = policiesByNamespace.get(list);
  if (!index) {
    index = new Map();
    for (const p of list) {
      const ns = p.metadata.namespace ?? '';
      const arr = index.get(ns) ?? [];
      arr.push(p);
      index.set(ns, arr);
    }
    policiesByNamespace.set(list, index);
  }
  return index.get(namespace) ?? [];
}
interface ActiveStates {
  budgets: BudgetState[];
  policies: PolicyState[];
}
const activeByNamespace = new WeakMap<DecisionSet, Map<string, ActiveStates>>();
/** Budgets and policies of a namespace whose action is not allow. */
function activeIn(decisions: DecisionSet, namespace: string): ActiveStates | undefined {
  let index = activeByNamespace.get(decisions);
  if (!index) {
    index = new Map();
    const at = (ns: string) => {
      let s = index!.get(ns);
      if (!s) index!.set(ns, (s = { budgets: [], policies: [] }));
      return s;
    };
    for (const b of decisions.budgets.values())
      if (b.action !== 'allow') at(b.source.namespace).budgets.push(b);
    for (const p of decisions.policies.values())
      if (p.action !== 'allow') at(p.source.namespace).policies.push(p);
    activeByNamespace.set(decisions, index);
  }
  return index.get(namespace);
}

// ---- messages -----------------------------------------------------------------------------------------

const usd = (micros: number) => (micros / 1_000_000).toFixed(2);
const when = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

function budgetMessage(state: BudgetState, verb: string): string {
  const s = state.source;
  let text =
    `AIBudget "${s.name}" ${verb}: spend ${usd(state.spendMicros)} USD of ${usd(state.limitMicros)} USD limit ` +
    `(${Math.round(state.utilizationPercent)}%)`;
  // A daily, per-request or request-count limit may be what is in force: say which.
  const cause = state.reasons?.find((r) => r.action === state.action);
  if (cause && cause.code !== 'BUDGET_EXCEEDED' && cause.code !== 'BUDGET_THRESHOLD')
    text += `; ${cause.message}`;
  const resetAt = cause?.until ?? state.resetAt;
  return state.pendingApproval
    ? `${text}; stays so after the period resets at ${when(state.resetAt)} until approved (annotation genops.ai/approved-by)`
    : `${text}; resets at ${when(resetAt)}`;
}

function policyMessage(state: PolicyState, verb: string, reasons: readonly Reason[]): string {
  const s = state.source;
  const own = [
    ...(state.violations ?? []).map((v) => v.reason),
    ...reasons.filter(
      (r) => r.source.kind === 'AIPolicy' && r.source.name === s.name && r.source.namespace === s.namespace,
    ),
  ];
  const best = own.find((r) => r.action === state.action) ?? own[0];
  if (!best) return `AIPolicy "${s.name}" ${verb}`;
  const until = best.until === undefined ? '' : `; until ${when(best.until)}`;
  return `AIPolicy "${s.name}" ${verb}: ${best.message}${until}`;
}

// ---- the judgement ------------------------------------------------------------------------------------

export interface EvaluateInput {
  readonly subject: Subject;
  /** The subject as it was before an UPDATE, for rules on the object. */
  readonly oldSubject: Subject | undefined;
  readonly operation: string;
  readonly view: AdmissionView;
  readonly now: number;
}

export function enforcementEnabled(view: AdmissionView, namespace: string): boolean {
  // Unknown namespace (informer lag right after creation): the API server's namespaceSelector already
  // sent us only labelled namespaces, so trust it.
  const labels = view.namespaceLabels(namespace);
  return labels === undefined || labels[ENFORCEMENT_NAMESPACE_LABEL] === 'enabled';
}

function findBypass(input: EvaluateInput, decisions: DecisionSet): BypassUse | undefined {
  const verify = input.view.verifyBypass;
  const valid = (
    annotations: Readonly<Record<string, string>> | undefined,
    holder: string,
    from: BypassUse['from'],
  ): BypassUse | undefined => {
    const raw = annotations?.[BYPASS_ANNOTATION];
    if (raw === undefined) return undefined;
    const parsed = parseBypass(raw);
    if (!parsed.ok) return undefined;
    let bypass = parsed.bypass;
    if (verify !== undefined) {
      // Only what the webhook approved for this very object counts, with the approved user and expiry.
      const approval = verify(holder, raw, annotations?.[BYPASS_APPROVAL_ANNOTATION]);
      if (!approval.ok) return undefined;
      bypass = { ...bypass, by: approval.user, expires: Math.min(bypass.expires, approval.expires) };
    }
    if (bypass.expires <= input.now) return undefined;
    return { ...bypass, from };
  };
  const s = input.subject;
  for (const a of s.annotations) {
    const found = valid(a, `workload:${s.namespace}/${s.kind}/${s.name}`, 'object');
    if (found) return found;
  }
  const ns = valid(input.view.namespaceAnnotations?.(s.namespace), `namespace:${s.namespace}`, 'namespace');
  if (ns) return ns;
  for (const key of input.subject.workloadKeys) {
    const b = decisions.workloads.get(key)?.bypass;
    if (b && b.expires > input.now) return { ...b, from: 'decision' };
  }
  return undefined;
}

/** The action a policy in force takes on this object: shared cost limits, or its own violations. */
export function policyActionFor(state: PolicyState, workloadKeys: readonly string[]): Action {
  let action: Action = 'allow';
  for (const v of state.violations ?? []) {
    if (v.category !== 'costLimits' && !workloadKeys.includes(v.workload)) continue;
    if (actionRank[v.reason.action] > actionRank[action]) action = v.reason.action;
  }
  return action;
}

function warnOnly(resource: Resource | undefined): boolean {
  return resource?.metadata.annotations?.[ADMISSION_MODE_ANNOTATION] === 'warn';
}

export function evaluate(input: EvaluateInput): Verdict {
  const { subject, view } = input;
  if (input.operation === 'DELETE' || input.operation === 'CONNECT') return ADMIT;
  if (!enforcementEnabled(view, subject.namespace)) return ADMIT;

  const decisions = view.decisions();
  const denials: string[] = [];
  const warnings: string[] = [];
  const codes: string[] = [];
  const startsPods =
    (subject.change.type === 'create' && subject.change.startsPods) || subject.change.type === 'scale-up';

  // 1. Budgets and policies in block/throttle/warn state that select the object.
  if (subject.change.type !== 'other') {
    const active = activeIn(decisions, subject.namespace);
    const reasons: Reason[] = [];
    const decided = new Set<string>();
    for (const key of subject.workloadKeys) {
      const d = decisions.workloads.get(key);
      if (!d) continue;
      reasons.push(...d.reasons);
      for (const r of d.reasons) decided.add(`${r.source.kind}/${r.source.namespace}/${r.source.name}`);
    }
    const selects = (
      selector: Parameters<typeof matchesSelector>[0] | null,
      matched: readonly string[],
      sourceKey: string,
    ) =>
      decided.has(sourceKey) ||
      subject.workloadKeys.some((k) => matched.includes(k)) ||
      (selector !== null && subject.selectable.some((labels) => matchesSelector(selector, labels)));
    const judge = (
      action: Action,
      message: (verb: string) => string,
      resource: Resource | undefined,
      code: string,
    ) => {
      if (action === 'block' && startsPods && !warnOnly(resource)) {
        denials.push(message('is blocking the workloads it selects'));
        codes.push(code);
      } else if (action === 'block') {
        warnings.push(message('is blocking the workloads it selects'));
        codes.push(code);
      } else if (action === 'throttle' || action === 'warn') {
        warnings.push(
          message(action === 'throttle' ? 'is throttling the workloads it selects' : 'is warning'),
        );
        codes.push(code);
      }
    };
    if (active) {
      const budgets = byKey(view.budgets());
      for (const state of active.budgets) {
        const s = state.source;
        const resource = budgets.get(`${s.namespace}/${s.name}`);
        // A budget the view does not know (deleted a moment ago) is matched through the decisions only.
        const selector = resource ? resource.spec.selector : null;
        if (!selects(selector, state.matchedWorkloads, `AIBudget/${s.namespace}/${s.name}`)) continue;
        judge(state.action, (verb) => budgetMessage(state, verb), resource, 'BUDGET');
      }
      const policies = byKey(view.policies());
      for (const state of active.policies) {
        const s = state.source;
        const resource = policies.get(`${s.namespace}/${s.name}`);
        const selector = resource ? resource.spec.selector : null;
        if (!selects(selector, state.matchedWorkloads, `AIPolicy/${s.namespace}/${s.name}`)) continue;
        // Blast radius: a shared cost limit acts on every selected workload; the per-request sections
        // (models, providers, classification, safety, rate limits) only on the workload that violated.
        const action = policyActionFor(state, subject.workloadKeys);
        if (action === 'allow') continue;
        judge(action, (verb) => policyMessage({ ...state, action }, verb, reasons), resource, 'POLICY');
      }
    }
  }

  // 2. Rules on the object itself (not for scale: a Scale carries no labels or pod spec).
  if (!subject.isScale && (input.operation === 'CREATE' || input.operation === 'UPDATE')) {
    for (const policy of policiesIn(view.policies(), subject.namespace)) {
      if (!subject.selectable.some((labels) => matchesSelector(policy.spec.selector, labels))) continue;
      let violations = ruleViolations(policy, subject);
      if (violations.length === 0) continue;
      if (input.operation === 'UPDATE' && input.oldSubject) {
        const before = new Set(ruleViolations(policy, input.oldSubject).map((v) => v.message));
        violations = violations.filter((v) => !before.has(v.message));
      }
      for (const v of violations) {
        (warnOnly(policy) ? warnings : denials).push(v.message);
        codes.push(v.code);
      }
    }
  }

  if (denials.length === 0) return { allowed: true, denials, warnings, bypass: undefined, codes };
  const bypass = findBypass(input, decisions);
  if (bypass) {
    const note = `genops.ai/bypass by ${bypass.by} (${bypass.reason}, expires ${when(bypass.expires)}) admits what would be refused: `;
    return { allowed: true, denials: [], warnings: [note + denials.join('; '), ...warnings], bypass, codes };
  }
  return { allowed: false, denials, warnings, bypass: undefined, codes };
}
