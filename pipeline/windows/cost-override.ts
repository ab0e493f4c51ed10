// Owns which AIPolicy price override (spec.modelGovernance.costPerToken) applies to a workload:
// enabled modelGovernance, same namespace, selector matches the workload's labels. When several
// policies match, the first by name wins (deterministic; overlapping price overrides are a
// configuration smell the enforcer reports, not something to average).
// A costPerToken with only one of input/output set prices that side; the other side keeps the price
// the request has in the price book (the operator's price file over the maintained table), by tokens.

import { isEnabled } from '../../crds/index.ts';
import type { AIPolicy } from '../../crds/index.ts';
import { matchesSelector } from '../../kernel/selector.ts';
import type { PriceTableConfig } from '../pricing/overrides.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import { createPriceBook } from '../pricing/price-book.ts';
import { costWithPartialOverride, costWithPerTokenOverride } from '../pricing/price.ts';
import type { CostPerToken, PartialCostPerToken } from '../pricing/price.ts';
import type { CostOverrideResolver, SpanCostFn } from './windows.ts';

const DEFAULT_NAMESPACE = 'default';

interface Candidate {
  readonly policy: AIPolicy;
  readonly fn: SpanCostFn;
}

/**
 * undefined when no policy has a costPerToken (the windows then skip the lookup). `pricing` is the
 * price book (or the operator's price table for one) that prices the side a policy leaves unset;
 * default: the maintained table.
 */
export function costOverrideFromPolicies(
  policies: readonly AIPolicy[],
  pricing?: PriceBook | PriceTableConfig,
): CostOverrideResolver | undefined {
  let book: PriceBook | undefined;
  const priceBook = (): PriceBook =>
    (book ??=
      pricing !== undefined && 'lookup' in pricing
        ? pricing
        : createPriceBook(pricing === undefined ? {} : { config: pricing }));
  const byNamespace = new Map<string, Candidate[]>();
  const sorted = [...policies].sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
  for (const policy of sorted) {
    const mg = policy.spec.modelGovernance;
    if (!isEnabled(mg)) continue;
    const cpt = mg?.costPerToken;
    if (cpt?.input === undefined && cpt?.output === undefined) continue;
    const ns = policy.metadata.namespace ?? DEFAULT_NAMESPACE;
    const list = byNamespace.get(ns) ?? [];
    let fn: SpanCostFn;
    if (cpt.input !== undefined && cpt.output !== undefined) {
      const override: CostPerToken = { input: cpt.input, output: cpt.output };
      fn = (t) => costWithPerTokenOverride(t.inputTokens, t.outputTokens, override);
    } else {
      const partial: PartialCostPerToken = { input: cpt.input, output: cpt.output };
      fn = (t, provider, model) => {
        const b = priceBook();
        const tokens = {
          inputTokens: t.inputTokens,
          outputTokens: t.outputTokens,
          cacheReadTokens: t.cacheReadTokens ?? t.cacheTokens,
          cacheWriteTokens: t.cacheWriteTokens ?? 0,
          reasoningTokens: t.reasoningTokens,
        };
        return costWithPartialOverride(tokens, partial, b.lookup(provider, model) ?? b.fallbackFor(provider));
      };
    }
    list.push({ policy, fn });
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
