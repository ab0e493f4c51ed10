// Owns the pieces both decision engines share (the incremental one in engine.ts and the full
// reference in full-engine.ts): bypass checks and their audit, evaluation failures, the next
// memory of a policy, resource ordering. Moved out of engine.ts unchanged, so both engines decide
// with the very same code.

import type { AIBudget, AIPolicy } from '../crds/index.ts';
import { parseBypass } from './annotations.ts';
import type { Bypass, BypassParse } from './annotations.ts';
import type { BypassAnnotations, BypassVerifier } from './engine.ts';
import type {
  BypassMemory,
  DecisionEvent,
  EnforcementMemory,
  PolicyMemory,
  ViolationRecord,
} from './memory.ts';
import { zeroViolationCounts } from './memory.ts';
import type { PolicyViolation, SourceRef } from './types.ts';
import { resourceKey } from './types.ts';

export const DAY = 86_400_000;
const MAX_RECENT_VIOLATIONS = 10_000;

export function byKey<T extends { metadata: { namespace?: string | undefined; name?: string | undefined } }>(
  list: readonly T[],
): T[] {
  const key = (r: T): string => resourceKey(r.metadata.namespace ?? '', r.metadata.name ?? '');
  return [...list].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export type BypassCheck =
  | { readonly status: 'active'; readonly bypass: Bypass }
  | { readonly status: 'expired'; readonly bypass: Bypass; readonly problem: string }
  | { readonly status: 'malformed' | 'unapproved'; readonly problem: string };

export type BypassChecker = (
  holder: string,
  raw: string,
  marker: string | undefined,
  now: number,
) => BypassCheck;

/** Checks bypass values (parsed once per distinct value) and their approval markers. */
export function createBypassChecker(verifyBypass: BypassVerifier | undefined): BypassChecker {
  const parsedBypass = new Map<string, BypassParse>();
  const options = { verifyBypass };
  /** A well-formed bypass counts only with a valid approval: approved user, expiry capped by it. */
  function approvedBypass(holder: string, raw: string, marker: string | undefined, now: number): BypassCheck {
    const check = checkBypass(raw, now);
    const verify = options.verifyBypass;
    if (verify === undefined || (check.status !== 'active' && check.status !== 'expired')) return check;
    const v = verify(holder, raw, marker);
    if (!v.ok) return { status: 'unapproved', problem: v.problem };
    const base = check.bypass;
    const bypass: Bypass = { reason: base.reason, by: v.user, expires: Math.min(base.expires, v.expires) };
    if (bypass.expires <= now)
      return {
        status: 'expired',
        bypass,
        problem: `bypass expired at ${new Date(bypass.expires).toISOString()}`,
      };
    return { status: 'active', bypass };
  }

  function checkBypass(raw: string, now: number): BypassCheck {
    let parsed = parsedBypass.get(raw);
    if (!parsed) {
      parsed = parseBypass(raw);
      if (parsedBypass.size > 10_000) parsedBypass.clear();
      parsedBypass.set(raw, parsed);
    }
    if (!parsed.ok) return { status: 'malformed', problem: parsed.problem };
    if (parsed.bypass.expires <= now) {
      return {
        status: 'expired',
        bypass: parsed.bypass,
        problem: `bypass expired at ${new Date(parsed.bypass.expires).toISOString()}`,
      };
    }
    return { status: 'active', bypass: parsed.bypass };
  }

  return approvedBypass;
}

export interface BypassAudit {
  readonly bypassMemory: Map<string, BypassMemory>;
  readonly holderChecks: Map<string, BypassCheck>;
}

/** Audits every bypass annotation (events on change against the memory), per holder. */
export function auditBypasses(
  bp: BypassAnnotations | undefined,
  memory: EnforcementMemory,
  now: number,
  approvedBypass: BypassChecker,
  events: DecisionEvent[],
  wake: (t: number | undefined) => void,
): BypassAudit {
  const input = { memory };
  // Bypass annotations: audited per holder (workload or namespace), applied per workload.
  const bypassMemory = new Map<string, BypassMemory>();
  const holderChecks = new Map<string, BypassCheck>();
  const audit = (
    holder: string,
    raw: string,
    marker: string | undefined,
    workload: string | undefined,
    namespace: string | undefined,
  ): void => {
    const check = approvedBypass(holder, raw, marker, now);
    holderChecks.set(holder, check);
    bypassMemory.set(holder, { raw, status: check.status });
    const prev = input.memory.bypasses.get(holder);
    const what = workload ?? `namespace ${namespace ?? ''}`;
    const base = { at: now, source: undefined, workload, namespace };
    if (check.status === 'active') {
      wake(check.bypass.expires);
      if (prev?.raw !== raw || prev.status !== 'active') {
        events.push({
          ...base,
          type: 'BypassActivated',
          severity: 'Warning',
          message: `enforcement suspended for ${what} by ${check.bypass.by} until ${new Date(check.bypass.expires).toISOString()}: ${check.bypass.reason}`,
          figures: {
            by: check.bypass.by,
            reason: check.bypass.reason,
            expires: new Date(check.bypass.expires).toISOString(),
          },
        });
      }
    } else if (prev?.raw !== raw || prev.status !== check.status) {
      const expiredNow = check.status === 'expired' && prev?.raw === raw && prev.status === 'active';
      events.push({
        ...base,
        type: expiredNow ? 'BypassExpired' : 'BypassRejected',
        severity: 'Warning',
        message: expiredNow
          ? `bypass of ${what} expired; enforcement applies again`
          : `bypass annotation of ${what} ignored: ${check.problem}`,
        figures: { problem: check.problem },
      });
    }
  };
  for (const [key, raw] of bp?.workloads ?? [])
    audit(`workload:${key}`, raw, bp?.workloadApprovals?.get(key), key, undefined);
  for (const [ns, raw] of bp?.namespaces ?? [])
    audit(`namespace:${ns}`, raw, bp?.namespaceApprovals?.get(ns), undefined, ns);
  for (const [holder, prev] of input.memory.bypasses) {
    if (bypassMemory.has(holder) || prev.status !== 'active') continue;
    const isWorkload = holder.startsWith('workload:');
    const name = holder.slice(holder.indexOf(':') + 1);
    events.push({
      type: 'BypassExpired',
      severity: 'Normal',
      at: now,
      source: undefined,
      workload: isWorkload ? name : undefined,
      namespace: isWorkload ? undefined : name,
      message: `bypass annotation removed from ${isWorkload ? name : `namespace ${name}`}; enforcement applies again`,
      figures: {},
    });
  }
  return { bypassMemory, holderChecks };
}

/**
 * The report of a resource the engine could not evaluate: its source, a message, and an
 * `EvaluationFailed` Event when the failure is new (not on every evaluation of the same spec).
 */
export function evaluationFailure(
  resource: AIBudget | AIPolicy,
  kind: SourceRef['kind'],
  err: unknown,
  now: number,
  before: { readonly evaluationError?: string; readonly generation?: number } | undefined,
  events: DecisionEvent[],
): { source: SourceRef; message: string } {
  const source: SourceRef = {
    kind,
    namespace: resource.metadata.namespace ?? '',
    name: resource.metadata.name ?? '',
  };
  const detail = err instanceof Error ? err.message : String(err);
  const message = `cannot evaluate this ${kind}: ${detail.slice(0, 512)}; it enforces nothing until its spec is fixed`;
  if (before?.evaluationError !== message || before.generation !== resource.metadata.generation) {
    events.push({
      type: 'EvaluationFailed',
      severity: 'Warning',
      at: now,
      source,
      workload: undefined,
      namespace: undefined,
      message,
      figures: { error: detail.slice(0, 512) },
    });
  }
  return { source, message };
}

export function sameStrings(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

export function nextPolicyMemory(
  source: SourceRef,
  prev: PolicyMemory,
  violations: readonly PolicyViolation[],
  keys: readonly string[],
  previousViolations: readonly PolicyViolation[] | undefined,
  generation: number | undefined,
  now: number,
  events: DecisionEvent[],
): PolicyMemory {
  // Fast path: the very same violations (interned reasons) as last time change nothing but age.
  if (
    prev.active !== undefined &&
    prev.generation === generation &&
    previousViolations !== undefined &&
    previousViolations.length === violations.length &&
    violations.every(
      (v, i) => v.reason === previousViolations[i]?.reason && v.workload === previousViolations[i]?.workload,
    )
  ) {
    const oldest = prev.recent[0];
    if (oldest === undefined || oldest.at > now - DAY) return prev;
    return { ...prev, recent: prev.recent.filter((r) => r.at > now - DAY) };
  }
  const active = new Map<string, number>();
  const adopt = prev.active === undefined;
  const totals = { ...zeroViolationCounts(), ...prev.totals };
  let recent: ViolationRecord[] = prev.recent.filter((r) => r.at > now - DAY);
  let lastViolation = prev.lastViolation;
  for (let i = 0; i < violations.length; i++) {
    const v = violations[i] as PolicyViolation;
    const key = keys[i] as string;
    if (active.has(key)) continue;
    const since = prev.active?.get(key);
    if (since !== undefined || adopt) {
      active.set(key, since ?? now);
      continue;
    }
    active.set(key, now);
    // Shared violations (key "*|...") concern all selected workloads: counted and reported once.
    const shared = key.startsWith('*|');
    totals[v.category]++;
    recent.push({ category: v.category, at: now });
    lastViolation = {
      at: now,
      category: v.category,
      workload: shared ? '' : v.workload,
      action: v.reason.action,
      message: v.reason.message,
    };
    events.push({
      type: 'ViolationStarted',
      severity: 'Warning',
      at: now,
      source: v.reason.source,
      workload: shared ? undefined : v.workload,
      namespace: undefined,
      message: `${v.reason.code} (${v.reason.action}): ${v.reason.message}`,
      figures: { code: v.reason.code, category: v.category, action: v.reason.action, ...v.reason.figures },
    });
  }
  for (const [key] of prev.active ?? []) {
    if (active.has(key)) continue;
    // Keys are "<namespace/Kind/name>|<CODE>" or "*|<CODE>|<window>" (see policy.ts).
    const [workload = '', code = ''] = key.split('|');
    events.push({
      type: 'ViolationEnded',
      severity: 'Normal',
      at: now,
      source,
      workload: workload === '*' ? undefined : workload,
      namespace: undefined,
      message: `${code} no longer applies`,
      figures: { code },
    });
  }
  if (recent.length > MAX_RECENT_VIOLATIONS) recent = recent.slice(-MAX_RECENT_VIOLATIONS);
  return { generation, active, totals, recent, lastViolation };
}

/** Keeps the previous object for every unchanged entry (cheap diffs downstream); reports changes. */
export function reuse<T>(
  current: Map<string, T>,
  previous: ReadonlyMap<string, T> | undefined,
  same: (a: T, b: T) => boolean,
  onChange: () => void,
): Map<string, T> {
  if (previous === undefined || previous.size !== current.size) onChange();
  for (const [key, value] of current) {
    const before = previous?.get(key);
    if (before !== undefined && same(before, value)) current.set(key, before);
    else onChange();
  }
  return current;
}
