// Owns the decision for one AIPolicy: each enabled section checked against the usage of the
// workloads its selector matches, with the section's own enforcement. Pure.
//
// Semantics (the ADR in the report quotes these):
// - A section applies when present and `enabled` is not false.
// - costLimits: daily and monthly limits are SHARED by the workloads the policy selects: their
//   spend is summed (like a budget without alerts); every selected workload gets the reason.
//   Default enforcement warn (as the CRD defaults it). Ends at the day/month reset.
// - rateLimits: per workload, requests in the last 60 s / 3600 s (sliding) against
//   requestsPerMinute / requestsPerHour; strictly greater is a violation. Default warn. Ends (at
//   the latest) one window after the workload's last request; counts older than that are 0.
// - contentSafety: per workload, the LOWEST safety score seen today against minimumSafetyScore
//   ("minimum" means every evaluated response must reach it); the mean is reported alongside.
//   Default warn. Ends at the daily reset.
// - dataClassification: per workload, classification levels seen today; a level outside
//   allowedLevels, or an unclassified request ("") with requireClassification, is a violation.
//   Levels compare case-insensitively. The CRD has no enforcement field here: default block
//   (an optional `enforcement` field is honoured if the schema adds one). Ends at the daily reset.
// - modelGovernance: per workload, providers (case-insensitive) against allowedProviders and
//   models against allowedModels globs (`*`, `?`, case-insensitive; a glob may also match
//   `provider/model`). A model from a disallowed provider is reported under the provider only.
//   Default block like dataClassification. Models count when used today when the snapshot says
//   so (ModelUsage.lastUsed), otherwise when used in the current month; ends at that reset.
// - All comparisons are strict: a value equal to the limit is within it.
// - Day-scoped figures (safety, classifications) count only while the workload's daily window
//   contains now: a usage record published before midnight describes yesterday.
//
// Per-workload results are memoized per (policy object, WorkloadUsage object): the pipeline keeps
// the objects of workloads without new data, so most workloads cost one identity check.

import { formatMicros } from '../kernel/money.ts';
import type { AIPolicy } from '../crds/index.ts';
import type { ModelUsage, WorkloadUsage } from '../pipeline/snapshot.ts';
import type { ReasonInterner } from './compare.ts';
import { iso, specMicros, usd } from './format.ts';
import { matchesAnyGlob } from './glob.ts';
import type { ViolationCategory } from './memory.ts';
import type { PeriodCalendar } from './period.ts';
import type { Action, PolicyViolation, Reason, ReasonCode, SourceRef } from './types.ts';
import type { WorkloadEntry } from './workload-index.ts';

export interface PolicyContext {
  readonly now: number;
  readonly calendar: PeriodCalendar;
  /** Keeps identity of reasons equal to last time's (see compare.ts). */
  readonly intern?: ReasonInterner;
  /** Per-workload results of this policy object, kept by the caller between evaluations. */
  readonly memo?: PolicyWorkloadMemo;
}

interface WorkloadResult {
  readonly dayStart: number;
  readonly monthStart: number;
  readonly minuteFresh: boolean;
  readonly hourFresh: boolean;
  /** The workload's violations and their memory keys, kept to be reused as they are. */
  readonly violations: readonly PolicyViolation[];
  readonly keys: readonly string[];
}

/**
 * Per-workload results by position in the matched list (stable while the selection is), valid while
 * the WorkloadUsage object at that position is the same one: no hashing, no per-key garbage.
 */
export interface PolicyWorkloadMemo {
  readonly usages: (WorkloadUsage | undefined)[];
  readonly results: (WorkloadResult | undefined)[];
}

export function createPolicyWorkloadMemo(): PolicyWorkloadMemo {
  return { usages: [], results: [] };
}

const NO_VIOLATIONS: readonly PolicyViolation[] = [];
const NO_KEYS: readonly string[] = [];

export interface PolicyOutcome {
  readonly source: SourceRef;
  readonly violations: readonly PolicyViolation[];
  /** The workload of each violation (same positions as `violations`). */
  readonly targets: readonly WorkloadEntry[];
  /** violationKey() of each violation (same positions as `violations`). */
  readonly keys: readonly string[];
  readonly wakeAt: number | undefined;
}

const ACTIONS: readonly Action[] = ['allow', 'warn', 'throttle', 'block'];

function sectionAction(section: object, fallback: Action): Action {
  const value = (section as { enforcement?: unknown }).enforcement;
  return typeof value === 'string' && (ACTIONS as readonly string[]).includes(value)
    ? (value as Action)
    : fallback;
}

function on<T extends { enabled?: boolean }>(section: T | undefined): section is T {
  return section !== undefined && section.enabled !== false;
}

/** Identity of a violation in PolicyMemory.active: one per workload and reason code. */
export function violationKey(workload: string, code: ReasonCode): string {
  return `${workload}|${code}`;
}

/** A shared violation (cost limit of all selected workloads) counts once per policy and window. */
export function sharedViolationKey(code: ReasonCode, window: string): string {
  return `*|${code}|${window}`;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** ModelUsage may carry when the model was last used (proposed optional field of the snapshot). */
type ModelUsageWithLastUsed = ModelUsage & { readonly lastUsed?: number };

export function evaluatePolicy(
  policy: AIPolicy,
  matched: readonly WorkloadEntry[],
  ctx: PolicyContext,
): PolicyOutcome {
  const { now, calendar } = ctx;
  const intern = ctx.intern ?? ((r: Reason) => r);
  const spec = policy.spec;
  const source: SourceRef = {
    kind: 'AIPolicy',
    namespace: policy.metadata.namespace ?? '',
    name: policy.metadata.name ?? '',
  };
  const violations: PolicyViolation[] = [];
  const targets: WorkloadEntry[] = [];
  const keys: string[] = [];
  let wakeAt: number | undefined;
  const wake = (t: number | undefined): void => {
    if (t !== undefined && t > now && (wakeAt === undefined || t < wakeAt)) wakeAt = t;
  };
  const day = calendar.bounds('daily', now);
  const month = calendar.bounds('monthly', now);

  // Shared section: cost limits over the sum of the selected workloads.
  const cost = spec.costLimits;
  if (on(cost)) {
    const action = sectionAction(cost, 'warn');
    const windows = [
      { name: 'daily', usd: cost.daily, bounds: day, pick: 'daily' as const },
      { name: 'monthly', usd: cost.monthly, bounds: month, pick: 'monthly' as const },
    ];
    for (const win of windows) {
      if (win.usd === undefined) continue;
      const limit = specMicros(win.usd) ?? 0;
      let spend = 0;
      for (const w of matched) {
        const p = w.usage?.spend[win.pick];
        if (p && p.start <= now && now < p.end) spend += p.costMicros;
      }
      if (spend <= limit) continue;
      const reason = intern(
        {
          code: 'COST_LIMIT_EXCEEDED',
          action,
          source,
          message: `${win.name} spend ${usd(spend)} of the selected workloads exceeds the policy limit ${usd(limit)}`,
          figures: {
            window: win.name,
            spend: formatMicros(spend),
            limit: formatMicros(limit),
            resetAt: iso(win.bounds.end),
          },
          until: win.bounds.end,
        },
        matched[0]?.key,
        violations.length,
      );
      const sharedKey = sharedViolationKey(reason.code, win.name);
      for (const w of matched) {
        violations.push({ workload: w.key, category: 'costLimits', reason });
        keys.push(sharedKey);
        targets.push(w);
      }
      wake(reason.until);
    }
  }

  // Per-workload sections.
  const rate = on(spec.rateLimits) ? spec.rateLimits : undefined;
  const safety = on(spec.contentSafety) ? spec.contentSafety : undefined;
  const classification = on(spec.dataClassification) ? spec.dataClassification : undefined;
  const models =
    on(spec.modelGovernance) && (spec.modelGovernance.allowedProviders || spec.modelGovernance.allowedModels)
      ? spec.modelGovernance
      : undefined;
  if (!rate && !safety && !classification && !models) return { source, violations, targets, keys, wakeAt };

  const rateAction = rate ? sectionAction(rate, 'warn') : 'warn';
  const safetyAction = safety ? sectionAction(safety, 'warn') : 'warn';
  const classificationAction = classification ? sectionAction(classification, 'block') : 'block';
  const modelsAction = models ? sectionAction(models, 'block') : 'block';
  const allowedLevels =
    classification?.allowedLevels === undefined
      ? undefined
      : new Set(classification.allowedLevels.map((l) => l.toLowerCase()));
  const allowedProviders = models?.allowedProviders
    ? new Set(models.allowedProviders.map((p) => p.toLowerCase()))
    : undefined;
  const globs = models?.allowedModels;
  // Verdicts per (provider, model): thousands of workloads share a few models.
  const verdicts = new Map<string, Map<string, 'ok' | 'provider' | 'model'>>();
  const verdict = (provider: string, model: string): 'ok' | 'provider' | 'model' => {
    let byModel = verdicts.get(provider);
    if (!byModel) verdicts.set(provider, (byModel = new Map<string, 'ok' | 'provider' | 'model'>()));
    let v = byModel.get(model);
    if (v === undefined) {
      if (allowedProviders && !allowedProviders.has(provider.toLowerCase())) v = 'provider';
      else if (globs && !matchesAnyGlob(globs, model) && !matchesAnyGlob(globs, `${provider}/${model}`))
        v = 'model';
      else v = 'ok';
      byModel.set(model, v);
    }
    return v;
  };

  const found: { category: ViolationCategory; reason: Reason }[] = [];
  const add = (
    category: ViolationCategory,
    code: ReasonCode,
    action: Action,
    message: string,
    figures: Record<string, string | number>,
    until: number | undefined,
  ): void => {
    found.push({ category, reason: { code, action, source, message, figures, until } });
  };
  // Fills `found` (emptied first) with the violations of one workload.
  const evaluateWorkload = (u: WorkloadUsage, minuteFresh: boolean, hourFresh: boolean): void => {
    found.length = 0;
    const d = u.spend.daily;
    const today = d.start <= now && now < d.end;

    if (rate) {
      if (
        rate.requestsPerMinute !== undefined &&
        minuteFresh &&
        u.requestsLastMinute > rate.requestsPerMinute
      ) {
        add(
          'rateLimits',
          'RATE_LIMITED',
          rateAction,
          `${u.requestsLastMinute} requests in the last minute exceed ${rate.requestsPerMinute} per minute`,
          { window: 'minute', requests: u.requestsLastMinute, limit: rate.requestsPerMinute },
          u.lastSeen + MINUTE,
        );
      }
      if (rate.requestsPerHour !== undefined && hourFresh && u.requestsLastHour > rate.requestsPerHour) {
        add(
          'rateLimits',
          'RATE_LIMITED',
          rateAction,
          `${u.requestsLastHour} requests in the last hour exceed ${rate.requestsPerHour} per hour`,
          { window: 'hour', requests: u.requestsLastHour, limit: rate.requestsPerHour },
          u.lastSeen + HOUR,
        );
      }
    }

    const s = u.safety;
    if (safety && today && s && s.count > 0 && s.min < safety.minimumSafetyScore) {
      add(
        'contentSafety',
        'POLICY_DENY_CONTENT',
        safetyAction,
        `lowest content-safety score today ${s.min} is below the minimum ${safety.minimumSafetyScore}`,
        {
          minScore: s.min,
          meanScore: Math.round(s.mean * 10_000) / 10_000,
          evaluations: s.count,
          minimumSafetyScore: safety.minimumSafetyScore,
          resetAt: iso(day.end),
        },
        day.end,
      );
    }

    if (classification && today && u.classifications.length > 0) {
      const required = classification.requireClassification === true;
      let denied: string[] | undefined;
      let unclassified = false;
      for (const l of u.classifications) {
        if (l === '') unclassified = required;
        else if (allowedLevels && !allowedLevels.has(l.toLowerCase())) (denied ??= []).push(l);
      }
      if (denied || unclassified) {
        const allowedList = [...(allowedLevels ?? [])];
        const problems = [
          ...(denied ? [`level ${denied.join(', ')} not in ${allowedList.join(', ')}`] : []),
          ...(unclassified ? ['unclassified requests while classification is required'] : []),
        ];
        add(
          'dataClassification',
          'POLICY_DENY_CLASSIFICATION',
          classificationAction,
          `data classification: ${problems.join('; ')}`,
          {
            deniedLevels: (denied ?? []).join(','),
            unclassified: unclassified ? 'true' : 'false',
            allowedLevels: allowedList.join(','),
            resetAt: iso(day.end),
          },
          day.end,
        );
      }
    }

    if (models) {
      let deniedProviders: Set<string> | undefined;
      let deniedModels: Set<string> | undefined;
      let until = month.end;
      for (const m of u.models as readonly ModelUsageWithLastUsed[]) {
        if (m.requests === 0) continue;
        if (m.lastUsed !== undefined) {
          if (m.lastUsed < day.start) continue;
          until = day.end;
        }
        const v = verdict(m.provider, m.model);
        if (v === 'provider') (deniedProviders ??= new Set()).add(m.provider);
        else if (v === 'model') (deniedModels ??= new Set()).add(m.model);
      }
      if (deniedProviders) {
        const list = [...deniedProviders].sort();
        const allowed = [...(allowedProviders ?? [])];
        add(
          'modelGovernance',
          'POLICY_DENY_PROVIDER',
          modelsAction,
          `provider ${list.join(', ')} not allowed (allowed: ${allowed.join(', ')})`,
          { providers: list.join(','), allowedProviders: allowed.join(',') },
          until,
        );
      }
      if (deniedModels) {
        const list = [...deniedModels].sort();
        add(
          'modelGovernance',
          'POLICY_DENY_MODEL',
          modelsAction,
          `model ${list.join(', ')} not allowed (allowed: ${(globs ?? []).join(', ')})`,
          { models: list.join(','), allowedModels: (globs ?? []).join(',') },
          until,
        );
      }
    }
  };

  const clean = new Map<number, WorkloadResult>();
  const memo = ctx.memo ?? createPolicyWorkloadMemo();
  memo.usages.length = matched.length;
  memo.results.length = matched.length;
  for (let p = 0; p < matched.length; p++) {
    const w = matched[p] as WorkloadEntry;
    const u = w.usage;
    if (!u) continue;
    const minuteFresh = now < u.lastSeen + MINUTE;
    const hourFresh = now < u.lastSeen + HOUR;
    let result = memo.usages[p] === u ? memo.results[p] : undefined;
    if (
      !result ||
      result.dayStart !== day.start ||
      result.monthStart !== month.start ||
      result.minuteFresh !== minuteFresh ||
      result.hourFresh !== hourFresh
    ) {
      evaluateWorkload(u, minuteFresh, hourFresh);
      if (found.length === 0) {
        // Most workloads comply: share one result per freshness combination.
        const flags = (minuteFresh ? 1 : 0) + (hourFresh ? 2 : 0);
        result = clean.get(flags);
        if (!result) {
          result = {
            dayStart: day.start,
            monthStart: month.start,
            minuteFresh,
            hourFresh,
            violations: NO_VIOLATIONS,
            keys: NO_KEYS,
          };
          clean.set(flags, result);
        }
      } else {
        // Interned against last time's violations, so equal reasons keep their identity.
        const list: PolicyViolation[] = [];
        const keyList: string[] = [];
        for (const f of found) {
          const reason = intern(f.reason, w.key, violations.length + list.length);
          list.push({ workload: w.key, category: f.category, reason });
          keyList.push(violationKey(w.key, reason.code));
        }
        result = {
          dayStart: day.start,
          monthStart: month.start,
          minuteFresh,
          hourFresh,
          violations: list,
          keys: keyList,
        };
      }
      memo.usages[p] = u;
      memo.results[p] = result;
    }
    for (let i = 0; i < result.violations.length; i++) {
      const v = result.violations[i] as PolicyViolation;
      violations.push(v);
      keys.push(result.keys[i] as string);
      targets.push(w);
      wake(v.reason.until);
    }
  }
  return { source, violations, targets, keys, wakeAt };
}
