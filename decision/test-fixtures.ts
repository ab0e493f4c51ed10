// Owns small builders for decision tests (and benchmarks): usage snapshots whose period windows are
// computed like the pipeline's, and AIBudget/AIPolicy objects. Not used by production code.

import { usdToMicros } from '../kernel/money.ts';
import type { AIBudget, AIBudgetSpec, AIPolicy, AIPolicySpec } from '../crds/index.ts';
import type {
  ModelUsage,
  PeriodKind,
  PeriodSpend,
  UsageSnapshot,
  WorkloadUsage,
} from '../pipeline/snapshot.ts';
import { workloadKey } from '../pipeline/snapshot.ts';
import { createManualClock } from '../kernel/clock.ts';
import type { ManualClock } from '../kernel/clock.ts';
import { createDecisionEngine } from './engine.ts';
import type { DecisionEngine, DecisionInput, DecisionResult } from './engine.ts';
import { emptyMemory } from './memory.ts';
import type { EnforcementMemory } from './memory.ts';
import { periodBounds } from './period.ts';
import type { PeriodBounds } from './period.ts';

export interface UsageOptions {
  readonly kind?: string;
  readonly labels?: Record<string, string>;
  /** Spend per period in USD (decimal strings or numbers); periods not given get 0. */
  readonly spend?: Partial<Record<PeriodKind, number | string>>;
  readonly requests?: Partial<Record<PeriodKind, number>>;
  readonly requestsLastMinute?: number;
  readonly requestsLastHour?: number;
  readonly maxRequestUsd?: number | string;
  readonly models?: readonly Partial<ModelUsage>[];
  readonly safety?: { min: number; mean: number; count: number };
  readonly classifications?: readonly string[];
  readonly timeZone?: string;
}

const boundsCache = new Map<string, PeriodBounds>();
function cachedBounds(kind: PeriodKind, now: number, timeZone: string): PeriodBounds {
  const key = `${kind}|${now}|${timeZone}`;
  let b = boundsCache.get(key);
  if (!b) {
    if (boundsCache.size > 1000) boundsCache.clear();
    boundsCache.set(key, (b = periodBounds(kind, now, timeZone)));
  }
  return b;
}

export function usage(namespace: string, name: string, now: number, o: UsageOptions = {}): WorkloadUsage {
  const ref = { namespace, kind: o.kind ?? 'Deployment', name };
  const kinds: PeriodKind[] = ['daily', 'weekly', 'monthly', 'quarterly', 'yearly'];
  const spend = {} as Record<PeriodKind, PeriodSpend>;
  for (const k of kinds) {
    const b = cachedBounds(k, now, o.timeZone ?? 'UTC');
    spend[k] = {
      start: b.start,
      end: b.end,
      costMicros: usdToMicros(o.spend?.[k] ?? 0),
      requests: o.requests?.[k] ?? 0,
    };
  }
  return {
    ref,
    key: workloadKey(ref),
    labels: o.labels ?? {},
    spend,
    requestsLastMinute: o.requestsLastMinute ?? 0,
    requestsLastHour: o.requestsLastHour ?? 0,
    maxRequestCostMicrosToday: usdToMicros(o.maxRequestUsd ?? 0),
    models: (o.models ?? []).map((m) => ({
      provider: 'openai',
      model: 'gpt-4o',
      costMicros: 0,
      requests: 1,
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      unpriced: false,
      ...m,
    })),
    safety: o.safety,
    classifications: o.classifications ?? [],
    lastSeen: now,
  };
}

export function snapshot(now: number, workloads: readonly WorkloadUsage[], version = 1): UsageSnapshot {
  return { version, takenAt: now, workloads: new Map(workloads.map((w) => [w.key, w])) };
}

export interface MetaOptions {
  readonly namespace?: string;
  readonly generation?: number;
  readonly annotations?: Record<string, string>;
}

export function budget(name: string, spec: AIBudgetSpec, meta: MetaOptions = {}): AIBudget {
  return {
    apiVersion: 'genops.ai/v1alpha1',
    kind: 'AIBudget',
    metadata: {
      name,
      namespace: meta.namespace ?? 'ai',
      uid: `uid-budget-${name}`,
      generation: meta.generation ?? 1,
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec,
  };
}

export function policy(name: string, spec: AIPolicySpec, meta: MetaOptions = {}): AIPolicy {
  return {
    apiVersion: 'genops.ai/v1alpha1',
    kind: 'AIPolicy',
    metadata: {
      name,
      namespace: meta.namespace ?? 'ai',
      uid: `uid-policy-${name}`,
      generation: meta.generation ?? 1,
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec,
  };
}

export interface HarnessRun {
  readonly budgets?: readonly AIBudget[];
  readonly policies?: readonly AIPolicy[];
  /** Workloads in namespace `ai` (or `ns/name`) with their usage options, built at the current time. */
  readonly usage?: Readonly<Record<string, UsageOptions>>;
  readonly inventory?: DecisionInput['inventory'];
  readonly bypass?: DecisionInput['bypass'];
  /** When the snapshot was taken; default now. */
  readonly takenAt?: number;
}

export interface Harness {
  readonly clock: ManualClock;
  readonly engine: DecisionEngine;
  memory: EnforcementMemory;
  run(input: HarnessRun): DecisionResult;
}

/** An engine on a manual clock that carries its memory from one evaluation to the next. */
export function harness(startIso: string, timeZone = 'UTC'): Harness {
  const clock = createManualClock(Date.parse(startIso));
  const engine = createDecisionEngine({ clock, timeZone });
  let version = 0;
  const h: Harness = {
    clock,
    engine,
    memory: emptyMemory,
    run(input) {
      const now = clock.now();
      const takenAt = input.takenAt ?? now;
      const workloads = Object.entries(input.usage ?? {}).map(([id, o]) => {
        const [ns, name] = id.includes('/') ? (id.split('/') as [string, string]) : ['ai', id];
        return usage(ns, name, takenAt, { timeZone, ...o });
      });
      const result = engine.evaluate({
        snapshot: snapshot(takenAt, workloads, ++version),
        budgets: input.budgets ?? [],
        policies: input.policies ?? [],
        memory: h.memory,
        ...(input.inventory ? { inventory: input.inventory } : {}),
        ...(input.bypass ? { bypass: input.bypass } : {}),
      });
      h.memory = result.memory;
      return result;
    },
  };
  return h;
}
