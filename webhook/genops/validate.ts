// Owns admission of AIPolicy and AIBudget: the same schema check as `genops validate` (crds/), plus the
// checks across resources that a CRD schema cannot express:
// - an AIBudget whose selector can pick the same workload as another AIBudget of the namespace in a
//   different currency is refused (spend of one workload cannot be summed in two currencies);
// - an AIBudget written with the same selector and period as another one is admitted with a warning
//   (the workloads' spend counts against both);
// - an AIPolicy whose allowed providers share none with an overlapping AIPolicy's is admitted with a
//   warning (the workloads both select may use no provider at all).

import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import { isEnabled } from '../../crds/index.ts';
import { validateResource } from '../../crds/validate.ts';
import type { AdmissionView } from '../view.ts';
import { sameSelector, selectorsOverlap } from './overlap.ts';

/** The schema check: problems as sentences, empty when the document is valid. */
export type SchemaCheck = (doc: unknown) => readonly string[];

/** The CRD's own schema and CEL rules, as `genops validate` checks them. */
export const crdSchemaCheck: SchemaCheck = (doc) =>
  validateResource(doc).map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));

export interface GenOpsVerdict {
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}

interface Named {
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown };
}

export function validateGenOps(input: {
  readonly object: unknown;
  readonly namespace: string;
  readonly view: AdmissionView;
  readonly schema: SchemaCheck;
}): GenOpsVerdict {
  const problems = [...input.schema(input.object)];
  if (problems.length > 0) return { problems, warnings: [] };
  const named = input.object as Named;
  const name = typeof named.metadata?.name === 'string' ? named.metadata.name : '';
  const namespace =
    input.namespace || (typeof named.metadata?.namespace === 'string' ? named.metadata.namespace : '');
  const others = <T extends AIPolicy | AIBudget>(list: readonly T[]) =>
    list.filter((r) => (r.metadata.namespace ?? '') === namespace && r.metadata.name !== name);

  const warnings: string[] = [];
  if (named.kind === 'AIBudget') {
    const budget = input.object as AIBudget;
    // Only USD exists today; compared as strings so a second currency needs no change here.
    const currency: string = budget.spec.allocation.currency ?? 'USD';
    for (const other of others(input.view.budgets())) {
      if (!selectorsOverlap(budget.spec.selector, other.spec.selector)) continue;
      const theirs: string = other.spec.allocation.currency ?? 'USD';
      if (theirs !== currency) {
        problems.push(
          `AIBudget "${other.metadata.name}" in namespace ${namespace} can select the same workloads in ${theirs}; ` +
            `this one is in ${currency}: use one currency for overlapping budgets`,
        );
      } else if (
        sameSelector(budget.spec.selector, other.spec.selector) &&
        (budget.spec.allocation.period ?? 'monthly') === (other.spec.allocation.period ?? 'monthly')
      ) {
        warnings.push(
          `AIBudget "${other.metadata.name}" has the same selector and period: the workloads' spend counts against both`,
        );
      }
    }
  } else if (named.kind === 'AIPolicy') {
    const policy = input.object as AIPolicy;
    const mine = policy.spec.modelGovernance;
    if (isEnabled(mine) && mine?.allowedProviders) {
      for (const other of others(input.view.policies())) {
        const theirs = other.spec.modelGovernance;
        if (!isEnabled(theirs) || !theirs?.allowedProviders) continue;
        if (!selectorsOverlap(policy.spec.selector, other.spec.selector)) continue;
        if (!mine.allowedProviders.some((p) => theirs.allowedProviders!.includes(p))) {
          warnings.push(
            `AIPolicy "${other.metadata.name}" selects some of the same workloads and allows only ` +
              `${theirs.allowedProviders.join(', ')}: together they allow no provider`,
          );
        }
      }
    }
  }
  return { problems, warnings };
}
