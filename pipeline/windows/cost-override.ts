// Owns which AIPolicy price override (spec.modelGovernance.costPerToken) applies to a workload:
// enabled modelGovernance, same namespace, selector matches the workload's labels. When several
// policies match, the first by name wins (deterministic; overlapping price overrides are a
// configuration smell the enforcer reports, not something to average).
// A costPerToken with only one of input/output set is not applied (the table price stays):
// the span records carry no split of the table price to keep the other half from.

import { isEnabled } from '../../crds/index.ts';
import type { AIPolicy } from '../../crds/index.ts';
import { matchesSelector } from '../../kernel/selector.ts';
import { costWithPerTokenOverride } from '../pricing/price.ts';
import type { CostPerToken } from '../pricing/price.ts';
import type { CostOverrideResolver, SpanCostFn } from './windows.ts';

const DEFAULT_NAMESPACE = 'default';

interface Candidate {
  readonly policy: AIPolicy;
  readonly fn: SpanCostFn;
}

/** undefined when no policy has a complete costPerToken (the windows then skip the lookup). */
export function costOverrideFromPolicies(policies: readonly AIPolicy[]): CostOverrideResolver | undefined {
  const byNamespace = new Map<string, Candidate[]>();
  const sorted = [...policies].sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
  for (const policy of sorted) {
    const mg = policy.spec.modelGovernance;
    if (!isEnabled(mg)) continue;
    const cpt = mg?.costPerToken;
    if (cpt?.input === undefined || cpt.output === undefined) continue;
    const override: CostPerToken = { input: cpt.input, output: cpt.output };
    const ns = policy.metadata.namespace ?? DEFAULT_NAMESPACE;
    const list = byNamespace.get(ns) ?? [];
    list.push({ policy, fn: (t) => costWithPerTokenOverride(t.inputTokens, t.outputTokens, override) });
    byNamespace.set(ns, list);
  }
  if (byNamespace.size === 0) return undefined;
  return (workload) => {
    const list = byNamespace.get(workload.ref.namespace);
    if (!list) return undefined;
    for (const c of list) if (matchesSelector(c.policy.spec.selector, workload.labels)) return c.fn;
    return undefined;
  };
}
