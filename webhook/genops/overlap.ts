// Owns the question "can one workload be selected by both of these label selectors?", decided exactly
// for matchLabels and the In / NotIn / Exists / DoesNotExist operators (a missing selector selects all).

import type { LabelSelector } from '../../crds/index.ts';

interface KeyConstraint {
  /** Values the key must take one of (intersection of matchLabels and In); undefined = unconstrained. */
  allowed: Set<string> | undefined;
  excluded: Set<string>;
  mustExist: boolean;
  mustNotExist: boolean;
}

function constrain(map: Map<string, KeyConstraint>, selector: LabelSelector | undefined): boolean {
  const at = (key: string) => {
    let c = map.get(key);
    if (!c)
      map.set(key, (c = { allowed: undefined, excluded: new Set(), mustExist: false, mustNotExist: false }));
    return c;
  };
  const restrict = (c: KeyConstraint, values: readonly string[]) => {
    c.allowed = c.allowed === undefined ? new Set(values) : new Set(values.filter((v) => c.allowed!.has(v)));
    c.mustExist = true;
  };
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) restrict(at(key), [value]);
  for (const req of selector?.matchExpressions ?? []) {
    const c = at(req.key);
    switch (req.operator) {
      case 'In':
        restrict(c, req.values ?? []);
        break;
      case 'NotIn':
        for (const v of req.values ?? []) c.excluded.add(v);
        break;
      case 'Exists':
        c.mustExist = true;
        break;
      case 'DoesNotExist':
        c.mustNotExist = true;
        break;
      default:
        // An operator that matches nothing makes the selector unsatisfiable.
        return false;
    }
  }
  return true;
}

/** True when some set of labels satisfies both selectors. */
export function selectorsOverlap(a: LabelSelector | undefined, b: LabelSelector | undefined): boolean {
  const map = new Map<string, KeyConstraint>();
  if (!constrain(map, a) || !constrain(map, b)) return false;
  for (const c of map.values()) {
    if (c.mustNotExist && c.mustExist) return false;
    if (c.allowed !== undefined && ![...c.allowed].some((v) => !c.excluded.has(v))) return false;
  }
  return true;
}

/** True when both selectors are written the same way (order of terms aside). */
export function sameSelector(a: LabelSelector | undefined, b: LabelSelector | undefined): boolean {
  const canon = (s: LabelSelector | undefined) =>
    JSON.stringify({
      l: Object.entries(s?.matchLabels ?? {}).sort(([x], [y]) => x.localeCompare(y)),
      e: (s?.matchExpressions ?? [])
        .map((e) => `${e.key} ${e.operator} ${[...(e.values ?? [])].sort().join(',')}`)
        .sort(),
    });
  return canon(a) === canon(b);
}
