// Owns the answer to one check: may this workload make this LLM call now? Pure over the in-memory
// decisions every replica already computes (the same DecisionSet and AIPolicy/AIBudget view the
// admission webhook reads); no I/O, the clock and the price estimate are passed in.
//
// Denied (the first applicable wins; every one found is listed in the body):
// - 403: AIPolicy modelGovernance (provider, model) and dataClassification (allowedLevels,
//   requireClassification) of a policy selecting the workload, from the call's facts; a decision in
//   force for the workload with a POLICY_DENY_* reason in block.
// - 429: a decision in force for the workload in block (AIBudget allocation/daily/requests/per-request,
//   AIPolicy costLimits/rateLimits, pending approval); an AIBudget in block selecting the workload
//   (a workload that never spent yet is blocked with its team); an AIBudget with perRequestLimit and
//   enforcement block when the call states max_tokens and the most its output can cost is above the limit.
// Throttle and warn states allow, with an X-Genops-Warning header: throttling acts on replicas, not
// on single requests. A valid emergency bypass of the workload allows everything, with X-Genops-Bypass.

import type { AIBudget, AIPolicy } from '../crds/index.ts';
import { isEnabled } from '../crds/index.ts';
import { formatMicros, usdToMicros, type Micros } from '../kernel/money.ts';
import { matchesSelector } from '../kernel/selector.ts';
import type { BudgetState, DecisionSet, Reason, ReasonCode, SourceRef } from '../decision/types.ts';
import { modelAllowed, normaliseProvider } from '../webhook/policy/models.ts';
import { CLASSIFICATION_LABEL } from '../webhook/policy/rules.ts';
import type { CallerIdentity } from './identity.ts';
import type { CallFacts } from './request.ts';

/** What the check reads: a subset of the admission webhook's view (webhook/view.ts). */
export interface AuthzView {
  decisions(): DecisionSet;
  policies(): readonly AIPolicy[];
  budgets(): readonly AIBudget[];
}

/** Cost in micro-USD of `outputTokens` output tokens of a model for a workload; undefined when unpriced. */
export type OutputCostEstimator = (
  identity: CallerIdentity,
  provider: string | undefined,
  model: string,
  outputTokens: number,
) => Micros | undefined;

export type DenyCode =
  ReasonCode | 'POLICY_DENY_MODEL' | 'POLICY_DENY_PROVIDER' | 'POLICY_DENY_CLASSIFICATION';

export interface Denial {
  readonly status: 403 | 429;
  readonly code: DenyCode;
  readonly message: string;
  readonly source: SourceRef;
  readonly spend?: string;
  readonly limit?: string;
  /** ms epoch when the cause ends by itself; undefined when only a person can end it. */
  readonly resetAt?: number | undefined;
}

export interface CheckVerdict {
  readonly allowed: boolean;
  /** 200, or the status of the first denial. */
  readonly status: 200 | 403 | 429;
  readonly denials: readonly Denial[];
  /** Headers for an allowed call (remaining budget, warnings, identity). */
  readonly headers: Readonly<Record<string, string>>;
  readonly identity: CallerIdentity;
  /** 'budget' | 'rate' | 'model' | 'provider' | 'classification' | 'per-request' | undefined (allowed). */
  readonly category: DenyCategory | undefined;
  readonly bypassed: boolean;
}

export type DenyCategory =
  'budget' | 'rate' | 'model' | 'provider' | 'classification' | 'per-request' | 'policy';

const FORBIDDEN_CODES: ReadonlySet<string> = new Set([
  'POLICY_DENY_MODEL',
  'POLICY_DENY_PROVIDER',
  'POLICY_DENY_CONTENT',
  'POLICY_DENY_CLASSIFICATION',
]);

export function categoryOf(code: DenyCode): DenyCategory {
  switch (code) {
    case 'POLICY_DENY_MODEL':
      return 'model';
    case 'POLICY_DENY_PROVIDER':
      return 'provider';
    case 'POLICY_DENY_CLASSIFICATION':
      return 'classification';
    case 'POLICY_DENY_CONTENT':
      return 'policy';
    case 'RATE_LIMITED':
      return 'rate';
    case 'PER_REQUEST_LIMIT_EXCEEDED':
      return 'per-request';
    default:
      return 'budget';
  }
}

// ---- indexes over the view, rebuilt only when the view hands out new objects ---------------------------

const budgetStatesByNs = new WeakMap<DecisionSet, Map<string, BudgetState[]>>();
function budgetStatesIn(set: DecisionSet, namespace: string): readonly BudgetState[] {
  let index = budgetStatesByNs.get(set);
  if (!index) {
    index = new Map();
    for (const b of set.budgets.values()) {
      const list = index.get(b.source.namespace) ?? [];
      list.push(b);
      index.set(b.source.namespace, list);
    }
    budgetStatesByNs.set(set, index);
  }
  return index.get(namespace) ?? [];
}

const byNamespace = new WeakMap<readonly (AIPolicy | AIBudget)[], Map<string, (AIPolicy | AIBudget)[]>>();
function resourcesIn<T extends AIPolicy | AIBudget>(list: readonly T[], namespace: string): readonly T[] {
  let index = byNamespace.get(list);
  if (!index) {
    index = new Map();
    for (const r of list) {
      const ns = r.metadata.namespace ?? 'default';
      const arr = index.get(ns) ?? [];
      arr.push(r);
      index.set(ns, arr);
    }
    byNamespace.set(list, index);
  }
  return (index.get(namespace) ?? []) as unknown as readonly T[];
}

const budgetsByName = new WeakMap<readonly AIBudget[], Map<string, AIBudget>>();
/** AIBudget by `namespace/name`. */
function budgetNamed(list: readonly AIBudget[], key: string): AIBudget | undefined {
  let index = budgetsByName.get(list);
  if (!index) {
    index = new Map(list.map((b) => [`${b.metadata.namespace ?? 'default'}/${b.metadata.name ?? ''}`, b]));
    budgetsByName.set(list, index);
  }
  return index.get(key);
}

const providersOf = new WeakMap<readonly string[], readonly string[]>();
function normalisedProviders(list: readonly string[]): readonly string[] {
  let out = providersOf.get(list);
  if (!out) {
    out = list.map(normaliseProvider);
    providersOf.set(list, out);
  }
  return out;
}

const kindIndex = new WeakMap<DecisionSet, Map<string, string>>();
/** The kind of a workload the decisions know by namespace and name (for a bare X-Genops-Workload). */
export function knownKind(set: DecisionSet, namespace: string, name: string): string | undefined {
  let index = kindIndex.get(set);
  if (!index) {
    index = new Map();
    for (const d of set.workloads.values()) {
      const k = `${d.workload.namespace}/${d.workload.name}`;
      if (!index.has(k)) index.set(k, d.workload.kind);
    }
    kindIndex.set(set, index);
  }
  return index.get(`${namespace}/${name}`);
}

// ---- messages ------------------------------------------------------------------------------------------

const usd = (micros: number): string => (micros / 1_000_000).toFixed(2);
export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

function budgetDenial(state: BudgetState): Denial {
  const s = state.source;
  const cause = state.reasons?.find((r) => r.action === 'block');
  const resetAt = state.pendingApproval ? undefined : (cause?.until ?? state.resetAt);
  let message =
    `AIBudget "${s.name}" is blocking this workload: spend ${usd(state.spendMicros)} USD of ` +
    `${usd(state.limitMicros)} USD limit (${Math.round(state.utilizationPercent)}%)`;
  if (cause && cause.code !== 'BUDGET_EXCEEDED') message += `; ${cause.message}`;
  message += state.pendingApproval
    ? '; waits for approval (annotation genops.ai/approved-by)'
    : `; resets at ${iso(resetAt ?? state.resetAt)}`;
  return {
    status: 429,
    code: state.pendingApproval ? 'PENDING_APPROVAL' : (cause?.code ?? 'BUDGET_EXCEEDED'),
    message,
    source: s,
    spend: formatMicros(state.spendMicros),
    limit: formatMicros(state.limitMicros),
    resetAt,
  };
}

function reasonDenial(reason: Reason, states: DecisionSet): Denial {
  if (reason.source.kind === 'AIBudget') {
    const state = states.budgets.get(`${reason.source.namespace}/${reason.source.name}`);
    if (state) return { ...budgetDenial(state), code: reason.code, resetAt: reason.until };
  }
  const f = reason.figures;
  const spend = f['spend'] ?? f['observed'] ?? f['requestsLastMinute'] ?? f['requestsLastHour'];
  const limit = f['limit'] ?? f['requestsPerMinute'] ?? f['requestsPerHour'];
  return {
    status: FORBIDDEN_CODES.has(reason.code) ? 403 : 429,
    code: reason.code,
    message: `${reason.source.kind} "${reason.source.name}": ${reason.message}`,
    source: reason.source,
    ...(spend === undefined ? {} : { spend: String(spend) }),
    ...(limit === undefined ? {} : { limit: String(limit) }),
    resetAt: reason.until,
  };
}

const policyRef = (p: AIPolicy): SourceRef => ({
  kind: 'AIPolicy',
  namespace: p.metadata.namespace ?? 'default',
  name: p.metadata.name ?? '',
});

/** modelGovernance and dataClassification of one policy against the call. */
function policyDenials(policy: AIPolicy, identity: CallerIdentity, facts: CallFacts, out: Denial[]): void {
  const name = `AIPolicy "${policy.metadata.name}"`;
  const mg = policy.spec.modelGovernance;
  if (isEnabled(mg) && mg) {
    const providers = mg.allowedProviders && normalisedProviders(mg.allowedProviders);
    if (providers !== undefined && facts.provider !== undefined && !providers.includes(facts.provider)) {
      out.push({
        status: 403,
        code: 'POLICY_DENY_PROVIDER',
        message: `${name} allows providers ${providers.join(', ')}; the request calls "${facts.provider}"`,
        source: policyRef(policy),
      });
    } else if (
      mg.allowedModels !== undefined &&
      facts.model !== undefined &&
      !modelAllowed(mg.allowedModels, facts.provider, facts.model)
    ) {
      const called = facts.provider ? `${facts.provider}/${facts.model}` : facts.model;
      out.push({
        status: 403,
        code: 'POLICY_DENY_MODEL',
        message: `${name} allows models ${mg.allowedModels.join(', ')}; the request calls "${called}"`,
        source: policyRef(policy),
      });
    }
  }
  const dc = policy.spec.dataClassification;
  if (isEnabled(dc) && dc) {
    const level = facts.classification ?? identity.labels[CLASSIFICATION_LABEL];
    const allowed = dc.allowedLevels ?? [];
    if (level === undefined || level === '') {
      if (dc.requireClassification === true) {
        out.push({
          status: 403,
          code: 'POLICY_DENY_CLASSIFICATION',
          message: `${name} requires a data classification (header X-Genops-Data-Classification or label ${CLASSIFICATION_LABEL})${allowed.length ? `, one of ${allowed.join(', ')}` : ''}`,
          source: policyRef(policy),
        });
      }
    } else if (allowed.length > 0 && !allowed.includes(level)) {
      out.push({
        status: 403,
        code: 'POLICY_DENY_CLASSIFICATION',
        message: `${name} allows data classification ${allowed.join(', ')}; the request is "${level}"`,
        source: policyRef(policy),
      });
    }
  }
}

// ---- the check -----------------------------------------------------------------------------------------

export interface CheckInput {
  readonly identity: CallerIdentity;
  readonly facts: CallFacts;
  readonly view: AuthzView;
  readonly now: number;
  readonly estimate?: OutputCostEstimator;
}

export function check(input: CheckInput): CheckVerdict {
  const { identity, facts, view, now } = input;
  const set = view.decisions();
  const decision = set.workloads.get(identity.key);
  const headers: Record<string, string> = { 'x-genops-workload': identity.key };

  if (decision?.bypass !== undefined && decision.bypass.expires > now) {
    headers['x-genops-bypass'] = `by ${decision.bypass.by} until ${iso(decision.bypass.expires)}`;
    return {
      allowed: true,
      status: 200,
      denials: [],
      headers,
      identity,
      category: undefined,
      bypassed: true,
    };
  }

  const denials: Denial[] = [];
  const warnings: string[] = [];
  const decided = new Set<string>();

  // 1. Rules on the call itself.
  const policies = resourcesIn(view.policies(), identity.ref.namespace);
  for (const p of policies) {
    if (matchesSelector(p.spec.selector, identity.labels)) policyDenials(p, identity, facts, denials);
  }

  // 2. Decisions in force for this workload.
  if (decision) {
    for (const r of decision.reasons) {
      decided.add(`${r.source.kind}/${r.source.namespace}/${r.source.name}`);
      if (r.action === 'block') denials.push(reasonDenial(r, set));
      else if (r.action === 'throttle' || r.action === 'warn')
        warnings.push(`${r.source.kind} "${r.source.name}": ${r.message}`);
    }
  }

  // 3. Budgets of the namespace selecting the workload (also one that has not spent yet).
  const budgets = view.budgets();
  let tightest: { state: BudgetState; remaining: number } | undefined;
  for (const state of budgetStatesIn(set, identity.ref.namespace)) {
    const spec = budgetNamed(budgets, `${state.source.namespace}/${state.source.name}`);
    const selects =
      decided.has(`AIBudget/${state.source.namespace}/${state.source.name}`) ||
      state.matchedWorkloads.includes(identity.key) ||
      (spec !== undefined && matchesSelector(spec.spec.selector, identity.labels));
    if (!selects) continue;
    const remaining = state.limitMicros - state.spendMicros;
    if (tightest === undefined || remaining < tightest.remaining) tightest = { state, remaining };
    const key = `AIBudget/${state.source.namespace}/${state.source.name}`;
    if (state.action === 'block' && !decided.has(key)) denials.push(budgetDenial(state));
    else if (!decided.has(key) && (state.action === 'throttle' || state.action === 'warn') && state.exceeded)
      warnings.push(`AIBudget "${state.source.name}" is over its limit (${state.action})`);
    // 4. Per-request limit, before the call, from the most its output can cost.
    const perRequest = spec?.spec.limits?.perRequestLimit;
    if (
      perRequest !== undefined &&
      spec?.spec.enforcement?.onBudgetExceeded === 'block' &&
      facts.maxTokens !== undefined &&
      facts.model !== undefined &&
      input.estimate !== undefined
    ) {
      const cost = input.estimate(identity, facts.provider, facts.model, facts.maxTokens);
      const limit = usdToMicros(perRequest);
      if (cost !== undefined && cost > limit) {
        denials.push({
          status: 429,
          code: 'PER_REQUEST_LIMIT_EXCEEDED',
          message:
            `AIBudget "${state.source.name}" allows ${usd(limit)} USD per request; max_tokens ${facts.maxTokens} ` +
            `of ${facts.model} can cost ${formatMicros(cost)} USD: lower max_tokens`,
          source: state.source,
          spend: formatMicros(cost),
          limit: formatMicros(limit),
          resetAt: undefined,
        });
      }
    }
  }

  if (denials.length > 0) {
    // A forbidden call stays forbidden: say so before "try later".
    const first = denials.find((d) => d.status === 403) ?? denials[0]!;
    const ordered = [first, ...denials.filter((d) => d !== first)];
    return {
      allowed: false,
      status: first.status,
      denials: ordered,
      headers,
      identity,
      category: categoryOf(first.code),
      bypassed: false,
    };
  }

  if (tightest !== undefined) {
    const s = tightest.state;
    headers['x-genops-budget'] = `${s.source.namespace}/${s.source.name}`;
    headers['x-genops-budget-remaining'] = formatMicros(tightest.remaining);
    headers['x-genops-budget-limit'] = formatMicros(s.limitMicros);
    headers['x-genops-budget-reset'] = iso(s.resetAt);
  }
  if (warnings.length > 0) headers['x-genops-warning'] = warnings.join('; ').slice(0, 1000);
  return { allowed: true, status: 200, denials: [], headers, identity, category: undefined, bypassed: false };
}

/** The JSON body of a denial, for the gateway to send to the caller. */
export function denialBody(verdict: CheckVerdict, now: number): string {
  const first = verdict.denials[0];
  if (!first) return JSON.stringify({ allowed: true });
  const describe = (d: Denial) => ({
    code: d.code,
    message: d.message,
    kind: d.source.kind,
    namespace: d.source.namespace,
    name: d.source.name,
    ...(d.spend === undefined ? {} : { spend: d.spend }),
    ...(d.limit === undefined ? {} : { limit: d.limit }),
    currency: 'USD',
    ...(d.resetAt === undefined ? {} : { resetAt: iso(d.resetAt) }),
  });
  return JSON.stringify({
    allowed: false,
    status: verdict.status,
    ...describe(first),
    ...(first.resetAt === undefined ? {} : { retryAfterSeconds: retryAfter(first.resetAt, now) }),
    workload: verdict.identity.key,
    denials: verdict.denials.map(describe),
  });
}

export function retryAfter(resetAt: number, now: number): number {
  return Math.max(1, Math.ceil((resetAt - now) / 1000));
}
