// Owns the status document that `genops status` prints and `genops local` serves on /status: the
// AIBudget and AIPolicy resources with their status, as the operator writes them in a cluster.

import { stringify } from 'yaml';
import type { AIBudget, AIPolicy } from '../../crds/index.ts';
import { duration } from '../view/dashboard.ts';

export interface StatusDocument {
  readonly budgets: readonly AIBudget[];
  readonly policies: readonly AIPolicy[];
}

export type OutputFormat = 'table' | 'json' | 'yaml';

export function renderStatus(doc: StatusDocument, format: OutputFormat, now: number): string {
  if (format === 'json') return JSON.stringify(doc, null, 2) + '\n';
  if (format === 'yaml') return stringify(doc);
  const budgetRows = doc.budgets.map((b) => {
    const s = b.status;
    const reset = s?.currentPeriod?.resetTime;
    return [
      b.metadata.namespace ?? 'default',
      b.metadata.name ?? '',
      s?.spend ?? '-',
      s?.limit ?? String(b.spec.allocation.amount),
      s?.utilizationPercent === undefined ? '-' : `${s.utilizationPercent.toFixed(2)}%`,
      s?.state ?? 'Unknown',
      s?.enforcement?.awaitingApproval === true ? 'approval' : (s?.enforcement?.action ?? '-'),
      reset === undefined ? '-' : duration(Date.parse(reset) - now),
    ];
  });
  const policyRows = doc.policies.map((p) => {
    const s = p.status;
    const last = s?.lastViolation;
    return [
      p.metadata.namespace ?? 'default',
      p.metadata.name ?? '',
      String(s?.matchedWorkloads ?? '-'),
      String(s?.violations?.last24h?.total ?? 0),
      String(s?.violations?.total?.total ?? 0),
      last === undefined ? '-' : `${last.category} ${last.workload ?? ''} ${last.action ?? ''}`.trim(),
    ];
  });
  return (
    table(
      ['NAMESPACE', 'AIBUDGET', 'SPEND', 'LIMIT', 'UTILIZATION', 'STATE', 'ENFORCEMENT', 'RESETS IN'],
      budgetRows,
    ) +
    '\n' +
    table(
      ['NAMESPACE', 'AIPOLICY', 'WORKLOADS', 'VIOLATIONS 24H', 'VIOLATIONS', 'LAST VIOLATION'],
      policyRows,
    )
  );
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return `(no ${header[1]?.toLowerCase() ?? 'resource'} found)\n`;
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return (
    all
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
