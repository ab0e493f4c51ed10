// Owns label-selector matching (metav1.LabelSelector semantics) for AIPolicy/AIBudget targeting.
//
// Decision for genops resources: a MISSING selector matches every workload in the resource's namespace,
// exactly like an empty selector `{}`. (Kubernetes APIs differ here — PodDisruptionBudget treats a null
// selector as "nothing" — but a policy or budget without a selector is meant for the whole namespace.)
// Namespace scoping is the caller's job: this function only looks at labels.

import type { LabelSelector } from '../crds/index.ts';

export type Labels = Readonly<Record<string, string>> | undefined;

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

export function matchesSelector(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  const have = labels ?? EMPTY;
  const matchLabels = selector.matchLabels;
  if (matchLabels !== undefined) {
    for (const key in matchLabels) {
      if (!Object.hasOwn(matchLabels, key)) continue;
      if (!Object.hasOwn(have, key) || have[key] !== matchLabels[key]) return false;
    }
  }
  const expressions = selector.matchExpressions;
  if (expressions === undefined) return true;
  for (const req of expressions) {
    const present = Object.hasOwn(have, req.key);
    const value = have[req.key];
    switch (req.operator) {
      case 'In':
        if (!present || value === undefined || !(req.values ?? []).includes(value)) return false;
        break;
      case 'NotIn':
        // As in Kubernetes: a workload without the label satisfies NotIn.
        if (present && value !== undefined && (req.values ?? []).includes(value)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        // An operator the schema does not allow: match nothing rather than everything.
        return false;
    }
  }
  return true;
}
