// Decision-engine entries of `npm run bench` (issue 19): incremental (production, decision/engine.ts)
// and full (the reference evaluation, decision/full-engine.ts) at 10k and 100k workloads, in ms per
// evaluation, with the memory the engine keeps per workload and the main thread's event-loop delay
// while evaluations run (what an ingest request arriving meanwhile waits).
//
// Run alone: node --expose-gc bench/decisions.ts [--quick]   (--quick: the 10k cases only)

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createManualClock } from '../kernel/clock.ts';
import { scenario } from '../decision/engine.bench.ts';
import { createDecisionEngine } from '../decision/engine.ts';
import type { DecisionEngine, DecisionEngineOptions, DecisionSnapshot } from '../decision/engine.ts';
import { createFullDecisionEngine } from '../decision/full-engine.ts';
import { emptyMemory } from '../decision/memory.ts';
import type { EnforcementMemory } from '../decision/memory.ts';

export interface DecisionBenchCase {
  readonly workloads: number;
  /** AIBudgets, and as many AIPolicies. */
  readonly resources: number;
  readonly namespaces: number;
  /** Fraction of workloads whose usage changes between snapshots. */
  readonly churn: number;
  readonly engine: 'incremental' | 'full';
  /** Evaluations after the first (cold) one. */
  readonly runs: number;
}

export interface DecisionBenchEntry {
  readonly name: string;
  readonly engine: 'incremental' | 'full';
  readonly workloads: number;
  readonly budgets: number;
  readonly policies: number;
  readonly changedPercent: number;
  /** The first evaluation, empty caches: a full evaluation by the production engine. */
  readonly coldMs: number;
  readonly medianMs: number;
  readonly maxMs: number;
  /** Main-thread CPU of an evaluation (process CPU; includes GC helper threads). */
  readonly medianCpuMs: number;
  /** Heap the engine keeps (its caches, the last DecisionSet and memory) per workload. */
  readonly bytesPerWorkload: number;
  /** Event-loop delay while an evaluation runs every 100 ms (1 ms resolution). */
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
}

function gcNow(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  else {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureDecisions(c: DecisionBenchCase): Promise<DecisionBenchEntry> {
  const s = scenario(c.namespaces, { workloads: c.workloads, resources: c.resources, churn: c.churn });
  const clock = createManualClock(Date.parse('2025-03-20T12:00:00Z'));
  // Snapshots are built first: the pipeline's work, not the engine's.
  const snapshots: DecisionSnapshot[] = [];
  for (let i = 0; i <= c.runs; i++) snapshots.push(s.snapshot(i + 1, clock.now() + i * 10_000));
  gcNow();
  const baseline = process.memoryUsage().heapUsed;
  const create: (o: DecisionEngineOptions) => DecisionEngine =
    c.engine === 'full' ? createFullDecisionEngine : createDecisionEngine;
  const engine = create({ clock });
  let memory: EnforcementMemory = emptyMemory;
  const evaluate = (i: number): { ms: number; cpuMs: number } => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = engine.evaluate({
      snapshot: snapshots[i] as DecisionSnapshot,
      budgets: s.budgets,
      policies: s.policies,
      memory,
    });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    memory = r.memory;
    if (r.decisions.workloads.size !== c.workloads)
      throw new Error('decision bench: missing workload decisions');
    clock.advance(10_000);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  };
  const cold = evaluate(0);
  gcNow();
  const bytesPerWorkload = Math.round((process.memoryUsage().heapUsed - baseline) / c.workloads);

  const delay = monitorEventLoopDelay({ resolution: 1 });
  const wall: number[] = [];
  const cpu: number[] = [];
  await sleep(50);
  delay.enable();
  for (let i = 1; i <= c.runs; i++) {
    const r = evaluate(i);
    wall.push(r.ms);
    cpu.push(r.cpuMs);
    await sleep(100);
  }
  delay.disable();
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const median = (xs: readonly number[]): number => xs[Math.floor(xs.length / 2)] ?? Number.NaN;
  const round = (x: number): number => Math.round(x * 10) / 10;
  return {
    name: `decisions-${c.engine}-${c.workloads / 1000}k`,
    engine: c.engine,
    workloads: c.workloads,
    budgets: c.resources,
    policies: c.resources,
    changedPercent: round(c.churn * 100),
    coldMs: round(cold.ms),
    medianMs: round(median(wall)),
    maxMs: round(wall[wall.length - 1] ?? Number.NaN),
    medianCpuMs: round(median(cpu)),
    bytesPerWorkload,
    eventLoopDelayP99Ms: round(delay.percentile(99) / 1e6),
    eventLoopDelayMaxMs: round(delay.max / 1e6),
  };
}

/** The cases of `npm run bench`; `quick` keeps only the 10k ones (tests). */
export function decisionCases(quick = false): DecisionBenchCase[] {
  const cases: DecisionBenchCase[] = [
    { workloads: 10_000, resources: 1_000, namespaces: 100, churn: 0.1, engine: 'full', runs: 10 },
    { workloads: 10_000, resources: 1_000, namespaces: 100, churn: 0.1, engine: 'incremental', runs: 20 },
  ];
  if (!quick) {
    cases.push(
      { workloads: 100_000, resources: 10_000, namespaces: 1_000, churn: 0.01, engine: 'full', runs: 3 },
      {
        workloads: 100_000,
        resources: 10_000,
        namespaces: 1_000,
        churn: 0.01,
        engine: 'incremental',
        runs: 30,
      },
    );
  }
  return cases;
}

export async function runDecisionBench(quick = false): Promise<DecisionBenchEntry[]> {
  const out: DecisionBenchEntry[] = [];
  for (const c of decisionCases(quick)) out.push(await measureDecisions(c));
  return out;
}

export function formatDecisionBench(entries: readonly DecisionBenchEntry[]): string {
  return entries
    .map(
      (e) =>
        `${e.name}: ${e.workloads} workloads, ${e.budgets} budgets + ${e.policies} policies, ${e.changedPercent}% changed: ` +
        `median ${e.medianMs} ms (max ${e.maxMs}, CPU ${e.medianCpuMs}) per evaluation, first ${e.coldMs} ms, ` +
        `${e.bytesPerWorkload} B/workload, event-loop delay p99 ${e.eventLoopDelayP99Ms} ms (max ${e.eventLoopDelayMaxMs})\n`,
    )
    .join('');
}

if (import.meta.main) {
  const entries = await runDecisionBench(process.argv.includes('--quick'));
  process.stdout.write(formatDecisionBench(entries));
}
