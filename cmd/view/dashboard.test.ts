import { describe, expect, it } from 'vitest';
import type { BudgetState, DecisionSet, WorkloadDecision } from '../../decision/types.ts';
import { duration, renderDashboard } from './dashboard.ts';

const now = Date.UTC(2026, 10, 25, 12, 0, 0);

function budget(name: string, spend: number, limit: number, action: BudgetState['action']): BudgetState {
  return {
    source: { kind: 'AIBudget', namespace: 'default', name },
    periodStart: Date.UTC(2026, 10, 1),
    resetAt: Date.UTC(2026, 11, 1),
    spendMicros: spend,
    limitMicros: limit,
    utilizationPercent: (spend / limit) * 100,
    projectedSpendMicros: spend * 2,
    action,
    pendingApproval: false,
    matchedWorkloads: [],
  };
}

describe('renderDashboard', () => {
  it('lists budgets by utilization with exact spend and the latest decisions', () => {
    const blocked: WorkloadDecision = {
      workload: { namespace: 'default', kind: 'Deployment', name: 'research-agent' },
      key: 'default/Deployment/research-agent',
      action: 'block',
      reasons: [
        {
          code: 'BUDGET_EXCEEDED',
          action: 'block',
          source: { kind: 'AIBudget', namespace: 'default', name: 'research-sandbox' },
          message: 'spend 2.10 USD exceeds 2.00 USD',
          figures: {},
          until: Date.UTC(2026, 10, 26),
        },
      ],
      bypass: undefined,
    };
    const set: DecisionSet = {
      version: 3,
      computedAt: now,
      workloads: new Map([[blocked.key, blocked]]),
      budgets: new Map([
        ['a', budget('team-budget', 1_250_000_000, 5_000_000_000, 'allow')],
        ['b', budget('research-sandbox', 2_100_000, 2_000_000, 'block')],
      ]),
      policies: new Map(),
    };
    const text = renderDashboard(set, { now, color: false, width: 200, maxDecisions: 5 });
    const lines = text.split('\n');
    expect(lines[1]).toMatch(/^BUDGET\s+SPEND/);
    expect(lines[2]).toContain('default/research-sandbox');
    expect(lines[2]).toContain('2.10');
    expect(lines[2]).toContain('105.0%');
    expect(lines[2]).toContain('[####################]');
    expect(lines[3]).toContain('1250.00');
    expect(lines[3]).toContain(' 25.0%');
    expect(text).toContain(
      'BLOCK    default/Deployment/research-agent  BUDGET_EXCEEDED (AIBudget research-sandbox)',
    );
    expect(text).not.toContain('\u001b[');
  });

  it('formats durations', () => {
    expect(duration(3 * 86400_000 + 4 * 3600_000)).toBe('3d 4h');
    expect(duration(12 * 60_000 + 5000)).toBe('12m 5s');
    expect(duration(-1)).toBe('now');
  });
});
