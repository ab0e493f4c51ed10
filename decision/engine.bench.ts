// Micro benchmark of the decision stage: 1k AIBudgets and 1k AIPolicies over 10k workloads.
// Run: node --expose-gc decision/engine.bench.ts   (engine.perf.test.ts asserts the same bound).

import { createManualClock } from '../kernel/clock.ts';
import type { AIBudget, AIPolicy } from '../crds/index.ts';
import type { WorkloadUsage } from '../pipeline/snapshot.ts';
import { createDecisionEngine } from './engine.ts';
import type { DecisionEngine, DecisionEngineOptions, DecisionSnapshot } from './engine.ts';
import { createFullDecisionEngine } from './full-engine.ts';
import { emptyMemory } from './memory.ts';
import type { EnforcementMemory } from './memory.ts';
import { budget, policy, snapshot, usage } from './test-fixtures.ts';

export interface BenchScenario {
  readonly name: string;
  readonly budgets: readonly AIBudget[];
  readonly policies: readonly AIPolicy[];
  /**
   * A fresh snapshot per call (new usage objects, same labels), as the pipeline publishes them, with
   * the `changedSince` hint of the workloads whose usage changed since the previous version.
   */
  snapshot(version: number, now: number): DecisionSnapshot;
}

/**
 * `namespaces` namespaces share 10k workloads and 1k budgets/policies evenly; each budget selects one
 * `team` label value, so with one namespace every selector is checked against all 10k workloads.
 */
export function scenario(
  namespaces: number,
  options: { workloads?: number; resources?: number; churn?: number } = {},
): BenchScenario {
  const workloads = options.workloads ?? 10_000;
  const resources = options.resources ?? 1_000;
  // Fraction of workloads whose usage changes from one snapshot to the next (1 = all of them).
  const every = Math.max(1, Math.round(1 / (options.churn ?? 1)));
  const previous: WorkloadUsage[] = [];
  const teamsPerNs = Math.max(1, Math.floor(resources / namespaces));
  const budgets: AIBudget[] = [];
  const policies: AIPolicy[] = [];
  for (let i = 0; i < resources; i++) {
    const ns = `ns-${i % namespaces}`;
    const team = `t-${Math.floor(i / namespaces) % teamsPerNs}`;
    budgets.push(
      budget(
        `b-${i}`,
        {
          allocation: { amount: 100 },
          limits: { dailySpendLimit: 20, perRequestLimit: 1, requestsPerDay: 10_000 },
          alerts: {
            thresholds: [{ percentage: 50 }, { percentage: 80 }, { percentage: 95, severity: 'critical' }],
          },
          enforcement: { onBudgetExceeded: 'throttle', gracePeriod: 5, approvalRequired: true },
          selector: { matchLabels: { team } },
        },
        { namespace: ns },
      ),
    );
    policies.push(
      policy(
        `p-${i}`,
        {
          costLimits: { daily: 50, monthly: 1000 },
          rateLimits: { requestsPerMinute: 60, requestsPerHour: 3600, enforcement: 'throttle' },
          contentSafety: { minimumSafetyScore: 0.8 },
          dataClassification: { allowedLevels: ['public', 'internal'], requireClassification: true },
          modelGovernance: {
            allowedProviders: ['openai', 'anthropic'],
            allowedModels: ['gpt-4*', 'claude-3*'],
          },
          selector: { matchExpressions: [{ key: 'team', operator: 'In', values: [team] }] },
        },
        { namespace: ns },
      ),
    );
  }
  const labelsOf: Array<Record<string, string>> = [];
  for (let w = 0; w < workloads; w++)
    labelsOf.push({ team: `t-${Math.floor(w / namespaces) % teamsPerNs}`, app: `a${w}` });
  return {
    name: `${workloads} workloads, ${resources} budgets + ${resources} policies, ${namespaces} namespace(s), ${Math.round(100 / every)}% of workloads changed per snapshot`,
    budgets,
    policies,
    snapshot(version, now) {
      const list: WorkloadUsage[] = [];
      const changed: string[] = [];
      for (let w = 0; w < workloads; w++) {
        const kept = previous[w];
        if (kept && w % every !== version % every) {
          list.push(kept);
          continue;
        }
        const spendUsd = ((w * 7 + version) % 300) / 10;
        if (kept) changed.push(kept.key);
        list.push(
          (previous[w] = usage(`ns-${w % namespaces}`, `w-${w}`, now, {
            labels: labelsOf[w] ?? {},
            spend: {
              daily: spendUsd / 3,
              monthly: spendUsd,
              weekly: spendUsd,
              quarterly: spendUsd,
              yearly: spendUsd,
            },
            requests: { daily: 100 },
            requestsLastMinute: (w + version) % 70,
            requestsLastHour: 100,
            maxRequestUsd: w % 97 === 0 ? 2 : 0.1,
            models: [
              { provider: 'openai', model: w % 13 === 0 ? 'gpt-3.5-turbo' : 'gpt-4o' },
              { provider: 'anthropic', model: 'claude-3-haiku' },
            ],
            safety: { min: w % 11 === 0 ? 0.5 : 0.9, mean: 0.95, count: 10 },
            classifications: w % 17 === 0 ? ['restricted'] : ['public'],
          })),
        );
      }
      const snap = snapshot(now, list, version);
      // Only the previous version's delta is known (the pipeline would keep a few).
      const changedSince = (since: number): Iterable<string> | undefined =>
        since === version - 1 && previous.length === list.length ? changed : undefined;
      return { ...snap, changedSince };
    },
  };
}

export interface BenchFigures {
  /** CPU time of the first evaluation (empty caches). */
  readonly coldMs: number;
  /** CPU time of later evaluations, each on a new snapshot with changed usage. */
  readonly warmMinMs: number;
  readonly warmMedianMs: number;
  readonly workloadDecisions: number;
}

export interface MeasureOptions {
  /** 'incremental' (production, default) or 'full' (the reference evaluation of full-engine.ts). */
  readonly engine?: 'incremental' | 'full';
  /** Hand the engine the snapshot's change hint (default true). */
  readonly hint?: boolean;
}

export function measure(s: BenchScenario, runs = 7, o: MeasureOptions = {}): BenchFigures {
  const clock = createManualClock(Date.parse('2025-03-20T12:00:00Z'));
  const create: (options: DecisionEngineOptions) => DecisionEngine =
    o.engine === 'full' ? createFullDecisionEngine : createDecisionEngine;
  const engine: DecisionEngine = create({ clock });
  let memory: EnforcementMemory = emptyMemory;
  const gc = (globalThis as { gc?: () => void }).gc;
  const timed = (i: number): number => {
    const full = s.snapshot(i + 1, clock.now());
    const snap: DecisionSnapshot =
      o.hint === false ? { version: full.version, takenAt: full.takenAt, workloads: full.workloads } : full;
    // Measure the evaluation, not the collection of the fixture's garbage (run with --expose-gc).
    gc?.();
    // CPU time, not wall time: the shared test machines are heavily oversubscribed.
    const c0 = process.cpuUsage();
    const r = engine.evaluate({ snapshot: snap, budgets: s.budgets, policies: s.policies, memory });
    const c = process.cpuUsage(c0);
    const ms = (c.user + c.system) / 1000;
    memory = r.memory;
    decisions = r.decisions.workloads.size;
    clock.advance(10_000);
    return ms;
  };
  let decisions = 0;
  const coldMs = timed(0);
  const warm: number[] = [];
  for (let i = 1; i <= runs; i++) warm.push(timed(i));
  warm.sort((a, b) => a - b);
  return {
    coldMs,
    warmMinMs: warm[0] ?? Number.NaN,
    warmMedianMs: warm[Math.floor(warm.length / 2)] ?? Number.NaN,
    workloadDecisions: decisions,
  };
}

/** CPU ms of a fixed workload (3M string-keyed Map lookups) to compare machines: ~40 ms when idle. */
export function calibrate(): number {
  const m = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) m.set(`k${i}`, i);
  const keys = [...m.keys()];
  let sum = 0;
  const c0 = process.cpuUsage();
  for (let r = 0; r < 300; r++) for (const k of keys) sum += m.get(k) ?? 0;
  const c = process.cpuUsage(c0);
  return sum < 0 ? Number.NaN : (c.user + c.system) / 1000;
}

if (import.meta.main) {
  console.log(`calibration: ${calibrate().toFixed(0)} ms CPU (3M Map.get)`);
  for (const [ns, churn] of [
    [100, 1],
    [10, 1],
    [1, 1],
    [100, 0.1],
  ] as const) {
    const s = scenario(ns, { churn });
    const f = measure(s);
    console.log(
      `${s.name}: cold ${f.coldMs.toFixed(1)} ms, warm min ${f.warmMinMs.toFixed(1)} ms, median ${f.warmMedianMs.toFixed(1)} ms (${f.workloadDecisions} workload decisions)`,
    );
  }
}
