// Owns equality of decision data, written out field by field because it runs for every workload on
// every evaluation: unchanged decisions keep their previous objects (consumers diff by identity)
// and the DecisionSet version only moves when something did change.

import type {
  BudgetState,
  PolicyState,
  PolicyViolation,
  Reason,
  SourceRef,
  WorkloadDecision,
} from './types.ts';

function sameSource(a: SourceRef, b: SourceRef): boolean {
  return a === b || (a.kind === b.kind && a.name === b.name && a.namespace === b.namespace);
}

function sameFigures(a: Reason['figures'], b: Reason['figures']): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

export function sameReason(a: Reason, b: Reason): boolean {
  return (
    a === b ||
    (a.code === b.code &&
      a.action === b.action &&
      a.until === b.until &&
      a.message === b.message &&
      sameSource(a.source, b.source) &&
      sameFigures(a.figures, b.figures))
  );
}

export function sameReasons(a: readonly Reason[], b: readonly Reason[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameReason(a[i] as Reason, b[i] as Reason)) return false;
  return true;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameDecision(a: WorkloadDecision, b: WorkloadDecision): boolean {
  if (a === b) return true;
  if (a.key !== b.key || a.action !== b.action || a.bypassProblem !== b.bypassProblem) return false;
  if (a.workload.kind !== b.workload.kind || a.workload.name !== b.workload.name) return false;
  if (a.workload.namespace !== b.workload.namespace) return false;
  const x = a.bypass;
  const y = b.bypass;
  if (x !== y && (!x || !y || x.by !== y.by || x.expires !== y.expires || x.reason !== y.reason))
    return false;
  return sameReasons(a.reasons, b.reasons);
}

export function sameBudgetState(a: BudgetState, b: BudgetState): boolean {
  if (a === b) return true;
  for (const k in a) {
    if (k === 'reasons' || k === 'matchedWorkloads' || k === 'source') continue;
    if (a[k as keyof BudgetState] !== b[k as keyof BudgetState]) return false;
  }
  for (const k in b) if (!(k in a)) return false;
  return (
    sameSource(a.source, b.source) &&
    sameStrings(a.matchedWorkloads, b.matchedWorkloads) &&
    sameReasons(a.reasons ?? [], b.reasons ?? [])
  );
}

function sameViolations(a: readonly PolicyViolation[], b: readonly PolicyViolation[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as PolicyViolation;
    const y = b[i] as PolicyViolation;
    if (x.workload !== y.workload || x.category !== y.category || !sameReason(x.reason, y.reason))
      return false;
  }
  return true;
}

export function samePolicyState(a: PolicyState, b: PolicyState): boolean {
  return (
    a === b ||
    (a.action === b.action &&
      a.generation === b.generation &&
      a.evaluationError === b.evaluationError &&
      sameSource(a.source, b.source) &&
      sameStrings(a.matchedWorkloads, b.matchedWorkloads) &&
      sameViolations(a.violations ?? [], b.violations ?? []))
  );
}

/** Returns the previous equal reason when there is one, so unchanged reasons keep their identity. */
export type ReasonInterner = (reason: Reason, workload: string | undefined, position?: number) => Reason;

export const noIntern: ReasonInterner = (reason) => reason;

/** An interner over the reasons a budget produced last time (few: a linear scan is enough). */
export function internFromList(previous: readonly Reason[] | undefined): ReasonInterner {
  if (!previous || previous.length === 0) return noIntern;
  return (reason) => {
    for (const p of previous) if (sameReason(p, reason)) return p;
    return reason;
  };
}

/** An interner over the violations a policy produced last time, looked up by workload and code. */
export function internFromViolations(previous: readonly PolicyViolation[] | undefined): ReasonInterner {
  if (!previous || previous.length === 0) return noIntern;
  let byKey: Map<string, Reason[]> | undefined;
  const shared = new Map<Reason, Reason>();
  return (reason, workload, position) => {
    if (workload === undefined) return reason;
    // Usually the same violation sits at the same position as last time.
    const same = position === undefined ? undefined : previous[position];
    if (same && same.workload === workload && sameReason(same.reason, reason)) return same.reason;
    if (!byKey) {
      byKey = new Map();
      for (const v of previous) {
        const k = `${v.workload}|${v.reason.code}`;
        const list = byKey.get(k);
        if (!list) byKey.set(k, [v.reason]);
        else if (!list.includes(v.reason)) list.push(v.reason);
      }
    }
    const cached = shared.get(reason);
    if (cached) return cached;
    for (const p of byKey.get(`${workload}|${reason.code}`) ?? []) {
      if (sameReason(p, reason)) {
        shared.set(reason, p);
        return p;
      }
    }
    return reason;
  };
}
