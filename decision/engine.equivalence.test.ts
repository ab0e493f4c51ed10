// The incremental engine (engine.ts) must decide exactly what the full evaluation (full-engine.ts)
// decides: same DecisionSets (version included), events, memory and next evaluation time, over
// seeded random sequences of changes: usage, workloads added/removed/relabelled (telemetry and
// inventory labels), budgets and policies added/changed/deleted (selectors included), approvals,
// bypass annotations on workloads and namespaces, memory handed in from elsewhere (leader change),
// and the clock crossing minute, hour, day, week, month and quarter boundaries.

import { describe, expect, it } from 'vitest';
import { createManualClock } from '../kernel/clock.ts';
import type { AIBudget, AIBudgetSpec, AIPolicy, AIPolicySpec, LabelSelector } from '../crds/index.ts';
import type { WorkloadUsage } from '../pipeline/snapshot.ts';
import { createDecisionEngine } from './engine.ts';
import type { BypassAnnotations, DecisionInput, DecisionResult, DecisionSnapshot } from './engine.ts';
import { createFullDecisionEngine } from './full-engine.ts';
import { emptyMemory } from './memory.ts';
import type { EnforcementMemory } from './memory.ts';
import { budget, policy, usage } from './test-fixtures.ts';
import type { DecisionSet } from './types.ts';
import type { InventoryWorkload } from './workload-index.ts';

/** mulberry32: small, seeded, good enough to pick test cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const NAMESPACES = ['ns-a', 'ns-b', 'ns-c'];
const TEAMS = ['red', 'green', 'blue'];

function sorted<V>(m: ReadonlyMap<string, V>): [string, V][] {
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function comparable(d: DecisionSet): unknown {
  return {
    version: d.version,
    computedAt: d.computedAt,
    workloads: sorted(d.workloads),
    // Budgets come out in key order from both engines.
    budgets: [...d.budgets],
    policies: sorted(d.policies),
  };
}

function comparableMemory(m: EnforcementMemory): unknown {
  const policies = sorted(m.policies).map(([k, p]) => [k, { ...p, active: p.active && sorted(p.active) }]);
  return { budgets: sorted(m.budgets), policies, bypasses: sorted(m.bypasses) };
}

interface World {
  now: number;
  usages: Map<string, WorkloadUsage>;
  labels: Map<string, Record<string, string>>;
  inventory: Map<string, InventoryWorkload>;
  budgets: Map<string, AIBudget>;
  policies: Map<string, AIPolicy>;
  bypassWorkloads: Map<string, string>;
  bypassNamespaces: Map<string, string>;
  generation: number;
}

function run(
  seed: number,
  steps: number,
  withHint: boolean,
  quiet = false,
): { evaluations: number; events: number } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const chance = (p: number): boolean => r() < p;
  const start = Date.parse('2025-03-31T23:20:00Z'); // day, week, month and quarter end within the run
  const clock = createManualClock(start);
  const full = createFullDecisionEngine({ clock });
  const incremental = createDecisionEngine({ clock });
  const w: World = {
    now: start,
    usages: new Map(),
    labels: new Map(),
    inventory: new Map(),
    budgets: new Map(),
    policies: new Map(),
    bypassWorkloads: new Map(),
    bypassNamespaces: new Map(),
    generation: 1,
  };
  const workloadIds = Array.from({ length: 24 }, (_, i) => ({ ns: pick(NAMESPACES), name: `w${i}` }));
  const keyOf = (id: { ns: string; name: string }): string => `${id.ns}/Deployment/${id.name}`;
  const randomLabels = (): Record<string, string> => {
    const l: Record<string, string> = { team: pick(TEAMS) };
    if (chance(0.5)) l.tier = pick(['gold', 'silver']);
    return l;
  };
  const randomSelector = (): LabelSelector | undefined => {
    const k = Math.floor(r() * 6);
    if (k === 0) return undefined;
    if (k === 1) return { matchLabels: { team: pick(TEAMS) } };
    if (k === 2)
      return { matchExpressions: [{ key: 'team', operator: 'In', values: [pick(TEAMS), pick(TEAMS)] }] };
    if (k === 3) return { matchExpressions: [{ key: 'tier', operator: 'Exists' }] };
    if (k === 4) return { matchExpressions: [{ key: 'team', operator: 'NotIn', values: [pick(TEAMS)] }] };
    return { matchLabels: { team: pick(TEAMS), tier: pick(['gold', 'silver']) } };
  };
  const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');
  const setUsage = (id: { ns: string; name: string }): void => {
    const key = keyOf(id);
    const labels = w.labels.get(key) ?? randomLabels();
    w.labels.set(key, labels);
    const spend = Math.floor(r() * 4000) / 100;
    w.usages.set(
      key,
      usage(id.ns, id.name, w.now - (chance(0.3) ? Math.floor(r() * 4_000_000) : 0), {
        labels,
        spend: { daily: spend / 4, weekly: spend / 2, monthly: spend, quarterly: spend, yearly: spend },
        requests: { daily: Math.floor(r() * 300) },
        requestsLastMinute: Math.floor(r() * 90),
        requestsLastHour: Math.floor(r() * 5000),
        maxRequestUsd: chance(0.2) ? 3 : 0.2,
        models: [
          {
            provider: pick(['openai', 'anthropic', 'mistral']),
            model: pick(['gpt-4o', 'claude-3-haiku', 'x-1']),
          },
        ],
        ...(chance(0.5) ? { safety: { min: pick([0.4, 0.85, 0.95]), mean: 0.9, count: 3 } } : {}),
        classifications: chance(0.3) ? [pick(['public', 'restricted', ''])] : [],
      }),
    );
  };
  const setBudget = (name: string): void => {
    const amount = pick([5, 20, 60, 200]);
    const spec = {
      allocation: {
        amount,
        period: pick(['daily', 'weekly', 'monthly', 'quarterly', 'yearly']),
        ...(chance(0.2) ? { autoRenew: false } : {}),
      },
      ...(chance(0.6)
        ? {
            limits: {
              ...(chance(0.5) ? { dailySpendLimit: Math.min(amount, pick([2, 10, 30])) } : {}),
              ...(chance(0.4) ? { perRequestLimit: Math.min(amount, 1) } : {}),
              ...(chance(0.4) ? { requestsPerDay: pick([100, 500]) } : {}),
            },
          }
        : {}),
      ...(chance(0.6)
        ? {
            alerts: {
              thresholds: [
                { percentage: 50 },
                { percentage: 90, severity: pick(['info', 'warning', 'critical']) },
              ],
            },
          }
        : {}),
      enforcement: {
        onBudgetExceeded: pick(['warn', 'throttle', 'block']),
        gracePeriod: pick([0, 0, 5, 30]),
        approvalRequired: chance(0.5),
      },
      ...(chance(0.9) ? { selector: randomSelector() } : {}),
    } as unknown as AIBudgetSpec;
    const approval = chance(0.25)
      ? {
          annotations: {
            'genops.ai/approved-by': 'lead@example.com',
            'genops.ai/approved-at': iso(w.now + pick([-7_200_000, -60_000, 60_000, 600_000])),
          },
        }
      : {};
    w.budgets.set(
      name,
      budget(name, spec, { namespace: pick(NAMESPACES), generation: w.generation++, ...approval }),
    );
  };
  const setPolicy = (name: string): void => {
    const spec = {
      ...(chance(0.5) ? { costLimits: { daily: pick([1, 10, 50]), monthly: pick([20, 100]) } } : {}),
      ...(chance(0.5)
        ? {
            rateLimits: {
              requestsPerMinute: 60,
              requestsPerHour: 4000,
              enforcement: pick(['warn', 'throttle']),
            },
          }
        : {}),
      ...(chance(0.4) ? { contentSafety: { minimumSafetyScore: 0.8 } } : {}),
      ...(chance(0.4)
        ? {
            dataClassification: { allowedLevels: ['public', 'internal'], requireClassification: chance(0.5) },
          }
        : {}),
      ...(chance(0.4)
        ? {
            modelGovernance: {
              allowedProviders: ['openai', 'anthropic'],
              allowedModels: ['gpt-4*', 'claude-3*'],
            },
          }
        : {}),
      ...(chance(0.9) ? { selector: randomSelector() } : {}),
    } as unknown as AIPolicySpec;
    w.policies.set(name, policy(name, spec, { namespace: pick(NAMESPACES), generation: w.generation++ }));
  };
  const bypassValue = (): string =>
    pick([
      `reason=incident;expires=${iso(w.now + pick([120_000, 3_600_000]))};by=oncall@example.com`,
      `reason=old;expires=${iso(w.now - 60_000)};by=oncall@example.com`,
      'not a bypass',
    ]);

  for (let i = 0; i < 16; i++) if (chance(0.7)) setUsage(pick(workloadIds));
  for (let i = 0; i < 4; i++) setBudget(`b${i}`);
  for (let i = 0; i < 4; i++) setPolicy(`p${i}`);

  let fullMemory: EnforcementMemory = emptyMemory;
  let incMemory: EnforcementMemory = emptyMemory;
  let version = 0;
  let previousSnapshotVersion = 0;
  let changedKeys = new Set<string>();
  let budgetList: AIBudget[] = [];
  let policyList: AIPolicy[] = [];
  let eventCount = 0;
  const history = new Map<number, Set<string>>();

  for (let s = 0; s < steps; s++) {
    // Some random changes (none at all in some steps: only the clock moves).
    // Quiet runs: mostly the clock alone, so what only time changes must be found by the schedule.
    const changes = quiet ? (chance(0.05) ? 1 : 0) : Math.floor(r() * 4);
    for (let c = 0; c < changes; c++) {
      const what = Math.floor(r() * 14);
      const id = pick(workloadIds);
      const key = keyOf(id);
      switch (what) {
        case 0:
        case 1:
        case 2:
          setUsage(id);
          changedKeys.add(key);
          break;
        case 3:
          if (w.usages.delete(key)) changedKeys.add(key);
          break;
        case 4: {
          // Relabel: the telemetry reports new labels with the next usage.
          w.labels.set(key, randomLabels());
          if (w.usages.has(key)) {
            setUsage(id);
            changedKeys.add(key);
          }
          break;
        }
        case 5:
          if (chance(0.5))
            w.inventory.set(key, {
              ref: { namespace: id.ns, kind: 'Deployment', name: id.name },
              labels: randomLabels(),
            });
          else w.inventory.delete(key);
          break;
        case 6:
          setBudget(`b${Math.floor(r() * 6)}`);
          break;
        case 7:
          w.budgets.delete(`b${Math.floor(r() * 6)}`);
          break;
        case 8:
          setPolicy(`p${Math.floor(r() * 6)}`);
          break;
        case 9:
          w.policies.delete(`p${Math.floor(r() * 6)}`);
          break;
        case 10:
          if (chance(0.6)) w.bypassWorkloads.set(key, bypassValue());
          else w.bypassWorkloads.delete(key);
          break;
        case 11:
          if (chance(0.5)) w.bypassNamespaces.set(pick(NAMESPACES), bypassValue());
          else w.bypassNamespaces.delete(pick(NAMESPACES));
          break;
        case 12: {
          // Approve (or mis-approve) a budget: a new object, same generation (metadata only).
          const name = `b${Math.floor(r() * 6)}`;
          const b = w.budgets.get(name);
          if (b) {
            const at = iso(w.now + pick([-600_000, -1000, 0, 120_000, 3_600_000]));
            w.budgets.set(name, {
              ...b,
              metadata: {
                ...b.metadata,
                annotations: { 'genops.ai/approved-by': 'lead@example.com', 'genops.ai/approved-at': at },
              },
            });
          }
          break;
        }
        default:
          break;
      }
    }
    // The clock: seconds to hours; boundaries get crossed along the way.
    w.now += pick([0, 1000, 15_000, 61_000, 300_000, 1_800_000, 3_700_000]);
    clock.set(w.now);

    if (s === 0 || chance(0.8)) budgetList = [...w.budgets.values()];
    if (s === 0 || chance(0.8)) policyList = [...w.policies.values()];
    const inventory = w.inventory.size === 0 && chance(0.5) ? undefined : [...w.inventory.values()];
    const bypass: BypassAnnotations = {
      workloads: new Map(w.bypassWorkloads),
      namespaces: new Map(w.bypassNamespaces),
    };
    const snapVersion = ++version;
    const keys = changedKeys;
    history.set(snapVersion, keys);
    changedKeys = new Set();
    const sinceVersion = previousSnapshotVersion;
    previousSnapshotVersion = snapVersion;
    const base = { version: snapVersion, takenAt: w.now, workloads: new Map(w.usages) };
    const snapshot: DecisionSnapshot = withHint
      ? {
          ...base,
          // Exact hint, as a pipeline would give it: everything changed after `since`.
          changedSince: (since: number) => {
            if (since !== sinceVersion) return undefined;
            return keys;
          },
        }
      : base;
    const input = (memory: EnforcementMemory): DecisionInput => ({
      snapshot,
      budgets: budgetList,
      policies: policyList,
      memory,
      ...(inventory ? { inventory } : {}),
      bypass,
    });
    // A leader change or restart now and then: both get the same memory from elsewhere.
    if (s > 0 && chance(0.05)) incMemory = fullMemory;
    else if (s > 0 && chance(0.02)) fullMemory = incMemory = emptyMemory;
    const a: DecisionResult = full.evaluate(input(fullMemory));
    const b: DecisionResult = incremental.evaluate(input(incMemory));
    const where = `seed ${seed}, step ${s}, ${new Date(w.now).toISOString()}`;
    expect(comparable(b.decisions), where).toEqual(comparable(a.decisions));
    expect(b.events, where).toEqual(a.events);
    expect(b.nextEvaluationAt, where).toBe(a.nextEvaluationAt);
    expect(comparableMemory(b.memory), where).toEqual(comparableMemory(a.memory));
    fullMemory = a.memory;
    incMemory = b.memory;
    eventCount += a.events.length;
  }
  return { evaluations: steps, events: eventCount };
}

describe('incremental decision engine against the full evaluation', () => {
  it('decides the same over random sequences of changes (snapshot diffed by the engine)', () => {
    let events = 0;
    for (let seed = 1; seed <= 12; seed++) events += run(seed, 120, false).events;
    // The sequences must exercise the state machines, not just agree on "allow".
    expect(events).toBeGreaterThan(200);
  }, 60_000);

  it('decides the same when the snapshot tells which workloads changed', () => {
    for (let seed = 101; seed <= 112; seed++) run(seed, 120, true);
  }, 60_000);

  it('decides the same when mostly only the clock moves (periods, grace, windows, expiry)', () => {
    for (let seed = 201; seed <= 216; seed++) run(seed, 150, seed % 2 === 0, true);
  }, 60_000);

  it('notices a difference: a stale cache is not hidden by the comparison', () => {
    // The comparison itself must be able to fail: an engine that keeps its first answer differs.
    const clock = createManualClock(Date.parse('2025-03-20T12:00:00Z'));
    const engine = createDecisionEngine({ clock });
    const snap = (spend: number, v: number): DecisionSnapshot => {
      const u = usage('ns-a', 'w', clock.now(), { labels: { team: 'red' }, spend: { monthly: spend } });
      return { version: v, takenAt: clock.now(), workloads: new Map([[u.key, u]]) };
    };
    const b = budget(
      'b',
      { allocation: { amount: 10 }, selector: { matchLabels: { team: 'red' } } },
      {
        namespace: 'ns-a',
      },
    );
    const first = engine.evaluate({ snapshot: snap(1, 1), budgets: [b], policies: [], memory: emptyMemory });
    const second = engine.evaluate({
      snapshot: snap(50, 2),
      budgets: [b],
      policies: [],
      memory: first.memory,
    });
    expect(comparable(second.decisions)).not.toEqual(comparable(first.decisions));
    expect(second.decisions.workloads.get('ns-a/Deployment/w')?.reasons.map((x) => x.code)).toEqual([
      'BUDGET_EXCEEDED',
    ]);
  });
});
