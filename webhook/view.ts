// Owns what admission reads from the rest of the operator: the latest decisions and an informer-backed view
// of AIPolicy/AIBudget resources and namespace labels. Everything is in memory: no API call per review.
// The operator wires this to its informers; tests and the benchmark use createStaticAdmissionView.

import type { AIBudget, AIPolicy } from '../crds/index.ts';
import type { DecisionSet } from '../decision/types.ts';
import type { BypassVerifier } from '../decision/engine.ts';

export interface AdmissionView {
  /** The latest decisions (budgets' and policies' states, workloads' decisions). */
  decisions(): DecisionSet;
  /** Every AIPolicy the operator sees (all namespaces). */
  policies(): readonly AIPolicy[];
  /** Every AIBudget the operator sees (all namespaces). */
  budgets(): readonly AIBudget[];
  /** Labels of a namespace; undefined when the namespace is not (yet) known. */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
  /** Annotations of a namespace (for a namespace-wide bypass); optional. */
  namespaceAnnotations?(namespace: string): Readonly<Record<string, string>> | undefined;
  /** False until the informers behind the view have synced; the webhook is not ready before. Default true. */
  synced?(): boolean;
  /**
   * Checks the webhook's approval marker of a bypass annotation; when set, a bypass without a valid
   * marker is ignored. Unset (local mode, tests of other rules): every well-formed bypass counts.
   */
  verifyBypass?: BypassVerifier;
}

export const EMPTY_DECISIONS: DecisionSet = {
  version: 0,
  computedAt: 0,
  workloads: new Map(),
  budgets: new Map(),
  policies: new Map(),
};

export interface StaticAdmissionView extends AdmissionView {
  setDecisions(decisions: DecisionSet): void;
  setPolicies(policies: readonly AIPolicy[]): void;
  setBudgets(budgets: readonly AIBudget[]): void;
  setNamespace(
    name: string,
    labels: Readonly<Record<string, string>>,
    annotations?: Readonly<Record<string, string>>,
  ): void;
  setSynced(synced: boolean): void;
}

/** An in-memory view whose content the caller sets; for tests, benchmarks and `genops local`. */
export function createStaticAdmissionView(): StaticAdmissionView {
  let decisions = EMPTY_DECISIONS;
  let policies: readonly AIPolicy[] = [];
  let budgets: readonly AIBudget[] = [];
  let synced = true;
  const namespaces = new Map<
    string,
    { labels: Readonly<Record<string, string>>; annotations: Readonly<Record<string, string>> | undefined }
  >();
  return {
    decisions: () => decisions,
    policies: () => policies,
    budgets: () => budgets,
    namespaceLabels: (name) => namespaces.get(name)?.labels,
    namespaceAnnotations: (name) => namespaces.get(name)?.annotations,
    synced: () => synced,
    setDecisions: (d) => {
      decisions = d;
    },
    setPolicies: (p) => {
      policies = p;
    },
    setBudgets: (b) => {
      budgets = b;
    },
    setNamespace: (name, labels, annotations) => {
      namespaces.set(name, { labels, annotations });
    },
    setSynced: (s) => {
      synced = s;
    },
  };
}
