// Owns the minimal Prometheus exposition of `genops local` (spend per workload and model, budget
// utilisation), computed from the latest usage snapshot and the loaded budgets. Deliberately
// small and self-contained: the observability stage replaces it with the full catalogue.

import type { AIBudget } from '../crds/index.ts';
import { matchesSelector } from '../kernel/selector.ts';
import { microsToUsd, usdToMicros } from '../kernel/money.ts';
import type { UsageSnapshot } from './snapshot.ts';

const DEFAULT_NAMESPACE = 'default';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  return (
    '{' +
    Object.entries(pairs)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',') +
    '}'
  );
}

/** Spend of a budget's current period: workloads in its namespace matched by its selector. */
export function budgetSpendMicros(budget: AIBudget, snapshot: UsageSnapshot): number {
  const namespace = budget.metadata.namespace ?? DEFAULT_NAMESPACE;
  const period = budget.spec.allocation.period ?? 'monthly';
  let micros = 0;
  for (const w of snapshot.workloads.values()) {
    if (w.ref.namespace !== namespace) continue;
    if (!matchesSelector(budget.spec.selector, w.labels)) continue;
    micros += w.spend[period].costMicros;
  }
  return micros;
}

/** Prometheus text format 0.0.4. */
export function renderLocalMetrics(snapshot: UsageSnapshot, budgets: readonly AIBudget[]): string {
  const out: string[] = [];
  out.push('# HELP genops_cost_total_usd Spend on AI models in the current monthly period, USD.');
  out.push('# TYPE genops_cost_total_usd counter');
  for (const w of snapshot.workloads.values()) {
    for (const m of w.models) {
      const l = labels({
        namespace: w.ref.namespace,
        workload: w.ref.name,
        provider: m.provider,
        model: m.model,
      });
      out.push(`genops_cost_total_usd${l} ${microsToUsd(m.costMicros)}`);
    }
  }
  out.push(
    '# HELP genops_budget_utilization_percent Spend of the current budget period as a percentage of its allocation.',
  );
  out.push('# TYPE genops_budget_utilization_percent gauge');
  for (const b of budgets) {
    const allocation = usdToMicros(b.spec.allocation.amount);
    const spent = budgetSpendMicros(b, snapshot);
    const percent = allocation > 0 ? (spent / allocation) * 100 : 0;
    const l = labels({
      budget_name: b.metadata.name ?? '',
      namespace: b.metadata.namespace ?? DEFAULT_NAMESPACE,
    });
    out.push(`genops_budget_utilization_percent${l} ${percent}`);
  }
  return out.join('\n') + '\n';
}
