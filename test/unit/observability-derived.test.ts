// The arithmetic behind the budget and autoscaling gauges.

import { describe, expect, it } from 'vitest';
import {
  allowedReplicas,
  BURN_RATIO_CAP,
  burnRatio,
  decisionValues,
  exhaustionTime,
  headroomRatio,
  parseWorkloadKey,
} from '../../observability/derived.ts';
import { budget, decisionSet } from './observability-fixtures.ts';

const day = 86_400_000;
const api = { namespace: 'prod', kind: 'Deployment', name: 'api' };

describe('budget-aware autoscaling signals', () => {
  it('burn ratio: what is still to come over what is left', () => {
    expect(burnRatio(budget('b', 'n', { spend: 50, limit: 100, projected: 100 }))).toBe(1);
    expect(burnRatio(budget('b', 'n', { spend: 50, limit: 100, projected: 75 }))).toBe(0.5);
    expect(burnRatio(budget('b', 'n', { spend: 50, limit: 100, projected: 50 }))).toBe(0);
    expect(burnRatio(budget('b', 'n', { spend: 100, limit: 100, projected: 120 }))).toBe(BURN_RATIO_CAP);
    expect(burnRatio(budget('b', 'n', { spend: 120, limit: 100, projected: 120 }))).toBe(BURN_RATIO_CAP);
    expect(burnRatio(budget('b', 'n', { spend: 0, limit: 100, projected: 1e9 }))).toBe(BURN_RATIO_CAP);
  });

  it('headroom ratio is clamped to 0..1', () => {
    expect(headroomRatio(budget('b', 'n', { spend: 25, limit: 100, projected: 0 }))).toBe(0.75);
    expect(headroomRatio(budget('b', 'n', { spend: 150, limit: 100, projected: 0 }))).toBe(0);
    expect(headroomRatio(budget('b', 'n', { spend: 0, limit: 0, projected: 0 }))).toBe(0);
  });

  it('allowed replicas scale down with the burn ratio and never exceed the cap', () => {
    expect(allowedReplicas(4, 1, 1000)).toBe(4);
    expect(allowedReplicas(4, 2, 1000)).toBe(2);
    expect(allowedReplicas(4, 3, 1000)).toBe(1);
    expect(allowedReplicas(4, 0.5, 1000)).toBe(8);
    expect(allowedReplicas(4, 0.001, 20)).toBe(20);
    expect(allowedReplicas(4, 0, 20)).toBe(20);
    expect(allowedReplicas(3, 1 / 3, 1000)).toBe(9); // no float rounding down to 8
    expect(allowedReplicas(4, BURN_RATIO_CAP, 1000)).toBe(0);
  });

  it('exhaustion time follows the projection', () => {
    const b = budget('b', 'n', { spend: 40, limit: 100, projected: 160, resetAt: 30 * day });
    // 120 more over 20 days -> 6/day; 60 left -> 10 days after day 10.
    expect(exhaustionTime(b, 10 * day)).toBe(20 * day);
    expect(
      exhaustionTime(budget('b', 'n', { spend: 40, limit: 100, projected: 40 }), 10 * day),
    ).toBeUndefined();
    expect(exhaustionTime(budget('b', 'n', { spend: 100, limit: 100, projected: 100 }), 10 * day)).toBe(
      10 * day,
    );
  });

  it('a workload under two budgets gets the lowest headroom and the highest burn', () => {
    const values = decisionValues(
      decisionSet({
        budgets: [
          budget('team', 'prod', { spend: 10, limit: 100, projected: 190, matched: [api] }), // headroom .9, burn 2
          budget('project', 'prod', { spend: 50, limit: 100, projected: 75, matched: [api] }), // headroom .5, burn .5
        ],
      }),
      { replicasOf: () => 4 },
    );
    const one = (name: string) => values.get(name)?.map((s) => s.value);
    expect(one('genops_workload_budget_headroom_ratio')).toEqual([0.5]);
    expect(one('genops_workload_budget_burn_ratio')).toEqual([2]);
    expect(one('genops_workload_allowed_replicas')).toEqual([2]);
    expect(values.get('genops_workload_allowed_replicas')?.[0]?.labels).toEqual({
      namespace: 'prod',
      workload: 'api',
      workload_kind: 'Deployment',
    });
  });

  it('omits allowed replicas when the replica count is unknown', () => {
    const values = decisionValues(
      decisionSet({
        budgets: [budget('team', 'prod', { spend: 10, limit: 100, projected: 20, matched: [api] })],
      }),
    );
    expect(values.get('genops_workload_allowed_replicas')).toBeUndefined();
    expect(values.get('genops_workload_budget_burn_ratio')?.length).toBe(1);
  });

  it('parses workload keys', () => {
    expect(parseWorkloadKey('prod/Deployment/api')).toEqual(api);
    expect(parseWorkloadKey('prod/api')).toBeUndefined();
    expect(parseWorkloadKey('prod//api')).toBeUndefined();
  });
});
