// Owns the decision for one AIPolicy: each enabled section checked against the usage of the
// workloads its selector matches, with the section's own enforcement. Pure.
//
// Semantics (the ADR in the report quotes these):
// - A section applies when present and `enabled` is not false.
// - costLimits: daily and monthly limits are SHARED by the workloads the policy selects: their
//   spend is summed (like a budget without alerts); every selected workload gets the reason.
//   Default enforcement warn (as the CRD defaults it). Ends at the day/month reset.
// - rateLimits: per workload, requests in the last 60 s / 3600 s (sliding) against
//   requestsPerMinute / requestsPerHour; strictly greater is a violation. Default warn.
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

import { formatMicros, usdToMicros } from '../../kernel/money.ts';
import type { AIPolicy } from '../../crds/index.ts';
import type { ModelUsage, UsageSnapshot } from '../../pipeline/snapshot.ts';
import { matchesAnyGlob } from './glob.ts';
import type { ViolationCategory } from './memory.ts';
import type { PeriodCalendar } from './period.ts';
import type { Action, PolicyViolation, Reason, ReasonCode, SourceRef } from './types.ts';
import type { WorkloadEntry } from './workload-index.ts';

export interface PolicyContext {
  readonly now: number;
  readonly calendar: PeriodCalendar;
  readonly snapshot: UsageSnapshot;
}

export interface PolicyOutcome {
  readonly source: SourceRef;
  readonly violations: readonly PolicyViolation[];
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

const iso = (ms: number): string => new Date(ms).toISOString();
const usd = (micros: number): string => `${formatMicros(micros)} USD`;
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** ModelUsage may carry when the model was last used (proposed optional field of the snapshot). */
type ModelUsageWithLastUsed = ModelUsage & { readonly lastUsed?: number };

export function evaluatePolicy(
  policy: AIPolicy,
  matched: readonly WorkloadEntry[],
  ctx: PolicyContext,
): PolicyOutcome {
  const { now, calendar, snapshot } = ctx;
  const spec = policy.spec;
  const source: SourceRef = {
    kind: 'AIPolicy',
    namespace: policy.metadata.namespace ?? '',
    name: policy.metadata.name ?? '',
  };
  const violations: PolicyViolation[] = [];
  let wakeAt: number | undefined;
  const wake = (t: number): void => {
    if (t > now && (wakeAt === undefined || t < wakeAt)) wakeAt = t;
  };
  const day = calendar.bounds('daily', now);
  const month = calendar.bounds('monthly', now);
  // Day-scoped figures of a snapshot taken before today's reset belong to yesterday.
  const snapshotIsToday = snapshot.takenAt >= day.start;

  const add = (
    workload: string,
    category: ViolationCategory,
    code: ReasonCode,
    action: Action,
    message: string,
    figures: Record<string, string | number>,
    until: number | undefined,
  ): void => {
    violations.push({ workload, category, reason: { code, action, source, message, figures, until } });
    if (until !== undefined) wake(until);
  };
  const addShared = (category: ViolationCategory, reason: Reason): void => {
    for (const w of matched) violations.push({ workload: w.key, category, reason });
    if (reason.until !== undefined) wake(reason.until);
  };

  const cost = spec.costLimits;
  if (on(cost)) {
    const action = sectionAction(cost, 'warn');
    const windows = [
      { name: 'daily', usd: cost.daily, bounds: day, pick: 'daily' as const },
      { name: 'monthly', usd: cost.monthly, bounds: month, pick: 'monthly' as const },
    ];
    for (const win of windows) {
      if (win.usd === undefined) continue;
      const limit = usdToMicros(win.usd);
      let spend = 0;
      for (const w of matched) {
        const p = w.usage?.spend[win.pick];
        if (p && p.start <= now && now < p.end) spend += p.costMicros;
      }
      if (spend > limit) {
        addShared('costLimits', {
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
        });
      }
    }
  }

  const rate = spec.rateLimits;
  if (on(rate)) {
    const action = sectionAction(rate, 'warn');
    // Sliding counts are as of the snapshot; once a whole window has passed since, they are 0.
    const age = now - snapshot.takenAt;
    for (const w of matched) {
      const u = w.usage;
      if (!u) continue;
      if (
        rate.requestsPerMinute !== undefined &&
        age < MINUTE &&
        u.requestsLastMinute > rate.requestsPerMinute
      ) {
        add(
          w.key,
          'rateLimits',
          'RATE_LIMITED',
          action,
          `${u.requestsLastMinute} requests in the last minute exceed ${rate.requestsPerMinute} per minute`,
          { window: 'minute', requests: u.requestsLastMinute, limit: rate.requestsPerMinute },
          snapshot.takenAt + MINUTE,
        );
      }
      if (rate.requestsPerHour !== undefined && age < HOUR && u.requestsLastHour > rate.requestsPerHour) {
        add(
          w.key,
          'rateLimits',
          'RATE_LIMITED',
          action,
          `${u.requestsLastHour} requests in the last hour exceed ${rate.requestsPerHour} per hour`,
          { window: 'hour', requests: u.requestsLastHour, limit: rate.requestsPerHour },
          snapshot.takenAt + HOUR,
        );
      }
    }
  }

  const safety = spec.contentSafety;
  if (on(safety) && snapshotIsToday) {
    const action = sectionAction(safety, 'warn');
    for (const w of matched) {
      const s = w.usage?.safety;
      if (!s || s.count === 0 || !(s.min < safety.minimumSafetyScore)) continue;
      add(
        w.key,
        'contentSafety',
        'POLICY_DENY_CONTENT',
        action,
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
  }

  const classification = spec.dataClassification;
  if (on(classification) && snapshotIsToday) {
    const action = sectionAction(classification, 'block');
    const allowed =
      classification.allowedLevels === undefined
        ? undefined
        : new Set(classification.allowedLevels.map((l) => l.toLowerCase()));
    const required = classification.requireClassification === true;
    for (const w of matched) {
      const seen = w.usage?.classifications ?? [];
      const denied = allowed ? seen.filter((l) => l !== '' && !allowed.has(l.toLowerCase())) : [];
      const unclassified = required && seen.includes('');
      if (denied.length === 0 && !unclassified) continue;
      const problems = [
        ...(denied.length > 0
          ? [`level ${denied.join(', ')} not in ${[...(allowed ?? [])].join(', ')}`]
          : []),
        ...(unclassified ? ['unclassified requests while classification is required'] : []),
      ];
      add(
        w.key,
        'dataClassification',
        'POLICY_DENY_CLASSIFICATION',
        action,
        `data classification: ${problems.join('; ')}`,
        {
          deniedLevels: denied.join(','),
          unclassified: unclassified ? 'true' : 'false',
          allowedLevels: [...(allowed ?? [])].join(','),
          resetAt: iso(day.end),
        },
        day.end,
      );
    }
  }

  const models = spec.modelGovernance;
  if (on(models) && (models.allowedProviders || models.allowedModels)) {
    const action = sectionAction(models, 'block');
    const providers = models.allowedProviders
      ? new Set(models.allowedProviders.map((p) => p.toLowerCase()))
      : undefined;
    const globs = models.allowedModels;
    for (const w of matched) {
      const u = w.usage;
      if (!u) continue;
      const deniedProviders = new Set<string>();
      const deniedModels = new Set<string>();
      let until = month.end;
      for (const m of u.models as readonly ModelUsageWithLastUsed[]) {
        if (m.requests === 0) continue;
        if (m.lastUsed !== undefined) {
          if (m.lastUsed < day.start) continue;
          until = day.end;
        }
        if (providers && !providers.has(m.provider.toLowerCase())) {
          deniedProviders.add(m.provider);
          continue;
        }
        if (globs && !matchesAnyGlob(globs, m.model) && !matchesAnyGlob(globs, `${m.provider}/${m.model}`)) {
          deniedModels.add(m.model);
        }
      }
      if (deniedProviders.size > 0) {
        const list = [...deniedProviders].sort().join(', ');
        add(
          w.key,
          'modelGovernance',
          'POLICY_DENY_PROVIDER',
          action,
          `provider ${list} not allowed (allowed: ${[...(providers ?? [])].join(', ')})`,
          {
            providers: [...deniedProviders].sort().join(','),
            allowedProviders: [...(providers ?? [])].join(','),
          },
          until,
        );
      }
      if (deniedModels.size > 0) {
        const list = [...deniedModels].sort().join(', ');
        add(
          w.key,
          'modelGovernance',
          'POLICY_DENY_MODEL',
          action,
          `model ${list} not allowed (allowed: ${(globs ?? []).join(', ')})`,
          { models: [...deniedModels].sort().join(','), allowedModels: (globs ?? []).join(',') },
          until,
        );
      }
    }
  }

  return { source, violations, wakeAt };
}
