// Owns the "relabelling escape" rule: a workload whose labels change so that an AIBudget or AIPolicy
// that is throttling or blocking it no longer selects it. Pure over the view, like evaluate.ts.

import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import { matchesSelector } from '../../kernel/selector.ts';
import type { Action, SourceRef } from '../../decision/types.ts';
import type { AdmissionView } from '../view.ts';
import type { Subject } from './subject.ts';

export interface Escape extends SourceRef {
  readonly action: Action;
}

/** The enforcing sources (throttle, block) of the old object that the new object's labels leave. */
export function labelEscapes(before: Subject, after: Subject, view: AdmissionView): Escape[] {
  const decisions = view.decisions();
  const enforcing = new Map<string, Escape>();
  for (const key of before.workloadKeys) {
    for (const r of decisions.workloads.get(key)?.reasons ?? []) {
      if (r.action !== 'throttle' && r.action !== 'block') continue;
      const id = `${r.source.kind}/${r.source.namespace}/${r.source.name}`;
      const prev = enforcing.get(id);
      if (prev === undefined || (prev.action === 'throttle' && r.action === 'block'))
        enforcing.set(id, { ...r.source, action: r.action });
    }
  }
  if (enforcing.size === 0) return [];
  const resources = new Map<string, AIBudget | AIPolicy>();
  for (const b of view.budgets())
    resources.set(`AIBudget/${b.metadata.namespace ?? ''}/${b.metadata.name ?? ''}`, b);
  for (const p of view.policies())
    resources.set(`AIPolicy/${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`, p);
  const out: Escape[] = [];
  for (const [id, source] of enforcing) {
    const resource = resources.get(id);
    if (resource === undefined) continue;
    const selector = resource.spec.selector;
    const selects = (s: Subject) => s.selectable.some((labels) => matchesSelector(selector, labels));
    if (selects(before) && !selects(after)) out.push(source);
  }
  return out;
}
