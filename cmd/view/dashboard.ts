// Owns the terminal view of a running instance: a table of budgets and the latest decisions.
// Pure rendering: data in, text out, so it is tested without a terminal.

import { formatMicros } from '../../kernel/money.ts';
import type { Action, BudgetState, DecisionSet, Reason } from '../../decision/types.ts';

export interface DashboardOptions {
  readonly now: number;
  /** ANSI colours and a screen clear; off for plain output. */
  readonly color: boolean;
  readonly width: number;
  /** How many decision lines to show. */
  readonly maxDecisions: number;
}

const actionColor: Record<Action, string> = { allow: '32', warn: '33', throttle: '35', block: '31' };

export function renderDashboard(set: DecisionSet, options: DashboardOptions): string {
  const paint = (code: string, text: string): string =>
    options.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  const lines: string[] = [];
  lines.push(paint('1', `GenOps budgets  (${new Date(options.now).toISOString()})`));
  const budgets = [...set.budgets.values()].sort(
    (a, b) => b.utilizationPercent - a.utilizationPercent || a.source.name.localeCompare(b.source.name),
  );
  const rows: string[][] = [['BUDGET', 'SPEND (USD)', 'LIMIT (USD)', 'UTILIZATION', 'STATE', 'RESETS IN']];
  for (const b of budgets) rows.push(budgetRow(b, options.now));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  rows.forEach((r, idx) => {
    const text = r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
    if (idx === 0) lines.push(paint('2', text));
    else lines.push(colorState(text, budgets[idx - 1]!, paint));
  });
  if (budgets.length === 0) lines.push('  (no AIBudget loaded)');
  lines.push('');
  lines.push(paint('1', 'Latest decisions'));
  const decisions = [...set.workloads.values()]
    .filter((d) => d.reasons.length > 0)
    .sort((a, b) => rank(b.action) - rank(a.action) || a.key.localeCompare(b.key))
    .slice(0, options.maxDecisions);
  if (decisions.length === 0) lines.push('  all workloads within their budgets and policies');
  for (const d of decisions) {
    const head = `${paint(actionColor[d.action], d.action.toUpperCase().padEnd(8))} ${d.key}`;
    lines.push(truncate(`${head}  ${summarize(d.reasons)}`, options.width, options.color));
    if (d.bypass)
      lines.push(`         bypassed by ${d.bypass.by} until ${new Date(d.bypass.expires).toISOString()}`);
  }
  return lines.join('\n') + '\n';
}

function budgetRow(b: BudgetState, now: number): string[] {
  return [
    `${b.source.namespace}/${b.source.name}`,
    formatMicros(b.spendMicros).replace(/(\.\d{2})\d+$/, '$1'),
    formatMicros(b.limitMicros).replace(/(\.\d{2})\d+$/, '$1'),
    `${bar(b.utilizationPercent)} ${b.utilizationPercent.toFixed(1).padStart(5)}%`,
    b.pendingApproval ? `${b.action} (approval)` : b.action,
    duration(b.resetAt - now),
  ];
}

function colorState(text: string, b: BudgetState, paint: (c: string, t: string) => string): string {
  return b.action === 'allow' ? text : paint(actionColor[b.action], text);
}

function bar(percent: number): string {
  const width = 20;
  const filled = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function summarize(reasons: readonly Reason[]): string {
  return reasons.map((r) => `${r.code} (${r.source.kind} ${r.source.name}): ${r.message}`).join('; ');
}

function rank(a: Action): number {
  return { allow: 0, warn: 1, throttle: 2, block: 3 }[a];
}

/** Human duration such as "3d 4h" or "12m 5s". */
export function duration(ms: number): string {
  if (ms <= 0) return 'now';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

function truncate(text: string, width: number, color: boolean): string {
  // With colours the escape codes do not take screen columns; keep it simple and only cut plain text.
  if (color || text.length <= width) return text;
  return text.slice(0, Math.max(0, width - 1)) + '…';
}
