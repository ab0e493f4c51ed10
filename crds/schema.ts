// Owns the one schema of the genops.ai/v1alpha1 resources (AIPolicy, AIBudget). Everything else derives
// from it: the TypeScript types (crds/index.ts, via TypeBox Static<>), the CRD YAML (crds/generate.ts),
// and the runtime validator + defaulter (crds/validate.ts) used by `genops validate` and the webhook.
//
// Write only what a Kubernetes structural schema can express: object/array/string/number/integer/boolean,
// enums through `stringEnum` (not unions), maps through `Type.Record`, cross-field rules as CEL in
// `x-kubernetes-validations` via `cel(...)`. The generator rejects anything else.

import { Type } from '@sinclair/typebox';
import type { TSchema, TUnsafe } from '@sinclair/typebox';

export const GROUP = 'genops.ai';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** One CEL rule, as the API server evaluates it; `message` is what the user reads when it fails. */
export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath-like path relative to the node the rule sits on, e.g. `.monthly`. */
  fieldPath?: string;
}

/** Options that attach CEL rules to a schema node. */
export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/** A string limited to `values`; typed as the union of the values. */
export function stringEnum<const T extends readonly string[]>(
  values: T,
  options: Record<string, unknown> = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

const set = { 'x-kubernetes-list-type': 'set' } as const;
/**
 * The largest amount a spec may hold, in currency units: a billion USD per period is beyond any AI
 * budget, and keeps every sum of micro-units exact (2^53 micros is about 9 billion USD). Larger figures
 * are refused by the API server and `genops validate`, not discovered by the operator at run time.
 */
export const MAX_MONEY = 1_000_000_000;
/** The largest price per token: a dollar a token is a thousand times the dearest model's. */
export const MAX_PRICE_PER_TOKEN = 1;
const money = (description: string, options: Record<string, unknown> = {}): ReturnType<typeof Type.Number> =>
  Type.Number({ minimum: 0, maximum: MAX_MONEY, description, ...options });
/** Exact money in status: a decimal string in the budget's currency, e.g. "1234.567890". */
const decimal = (description: string): ReturnType<typeof Type.String> =>
  Type.String({ pattern: '^-?[0-9]+(\\.[0-9]+)?$', maxLength: 32, description });
const time = (description: string): ReturnType<typeof Type.String> =>
  Type.String({ format: 'date-time', description });
const enabled = Type.Optional(
  Type.Boolean({
    default: true,
    description: 'Whether this section applies; true when the section is present.',
  }),
);

// ---------------------------------------------------------------------------------------------------------
// Shared pieces

export const ENFORCEMENT_ACTIONS = ['warn', 'throttle', 'block'] as const;
export const EnforcementActionSchema = stringEnum(ENFORCEMENT_ACTIONS, {
  description:
    'What happens when the limit is crossed: warn (events, alerts, metrics only), throttle (slow the workload down), block (stop new AI traffic / admissions).',
});

export const BUDGET_PERIODS = ['daily', 'weekly', 'monthly', 'quarterly', 'yearly'] as const;
export const BudgetPeriodSchema = stringEnum(BUDGET_PERIODS, {
  description:
    'Budget period. Periods start at 00:00 UTC; weeks start on Monday; quarters in January, April, July, October.',
});

/** Only USD is supported: prices and metered spend are in USD. */
export const CURRENCIES = ['USD'] as const;
export const CurrencySchema = stringEnum(CURRENCIES, {
  default: 'USD',
  description: 'Currency of the amounts. Only USD is supported (provider prices are in USD).',
});

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

export const LabelSelectorRequirementSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 317, description: 'The label key the selector applies to.' }),
    operator: stringEnum(SELECTOR_OPERATORS, { description: 'In, NotIn, Exists or DoesNotExist.' }),
    values: Type.Optional(
      Type.Array(Type.String({ maxLength: 63 }), {
        maxItems: 64,
        description: 'Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.',
      }),
    ),
  },
  cel({
    rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && self.values.size() > 0) : (!has(self.values) || self.values.size() == 0)",
    message: 'values must be non-empty for operator In and NotIn, and empty for Exists and DoesNotExist',
  }),
);

/**
 * A standard Kubernetes label selector. For AIPolicy and AIBudget a missing selector and an empty one both
 * select every workload in the resource's namespace (see kernel/selector.ts).
 */
export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(
      Type.Record(Type.String(), Type.String({ maxLength: 63 }), {
        description: 'Labels a workload must all carry (ANDed with matchExpressions).',
      }),
    ),
    matchExpressions: Type.Optional(
      Type.Array(LabelSelectorRequirementSchema, {
        maxItems: 32,
        description: 'Label requirements, all of which must hold.',
      }),
    ),
  },
  {
    'x-kubernetes-map-type': 'atomic',
    description:
      'Which workloads (by pod template labels) in this namespace the resource applies to. Missing or empty selects all workloads in the namespace.',
  },
);

/** metav1.Condition, as every Kubernetes status uses it. */
export const ConditionSchema = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 316, description: 'Condition type, e.g. Ready.' }),
  status: stringEnum(['True', 'False', 'Unknown'] as const),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  lastTransitionTime: time('When the status last changed.'),
  reason: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
  message: Type.String({ maxLength: 32768 }),
});

const conditions = Type.Optional(
  Type.Array(ConditionSchema, {
    maxItems: 16,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
    description: 'Standard conditions (Ready, ...).',
  }),
);
const observedGeneration = Type.Optional(
  Type.Integer({ minimum: 0, format: 'int64', description: 'The metadata.generation this status reflects.' }),
);

/** The subset of ObjectMeta the operator reads; the CRD leaves metadata to the API server. */
export const ObjectMetaSchema = Type.Object({
  name: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  uid: Type.Optional(Type.String()),
  generation: Type.Optional(Type.Integer()),
  resourceVersion: Type.Optional(Type.String()),
  creationTimestamp: Type.Optional(Type.String()),
});

// ---------------------------------------------------------------------------------------------------------
// AIPolicy

export const CostLimitsSchema = Type.Object(
  {
    enabled,
    daily: Type.Optional(
      money('Maximum spend per day (operator time zone, UTC by default), in currency units.'),
    ),
    monthly: Type.Optional(
      money('Maximum spend per calendar month (operator time zone, UTC by default), in currency units.'),
    ),
    currency: Type.Optional(CurrencySchema),
    enforcement: Type.Optional({ ...EnforcementActionSchema, default: 'warn' }),
  },
  {
    description: 'Spend limits shared by the selected workloads: their spend is summed against each limit.',
    ...cel(
      { rule: 'has(self.daily) || has(self.monthly)', message: 'costLimits needs daily, monthly or both' },
      {
        rule: '!has(self.daily) || !has(self.monthly) || self.daily <= self.monthly',
        message: 'costLimits.daily must not be greater than costLimits.monthly',
        fieldPath: '.daily',
      },
    ),
  },
);

export const RateLimitsSchema = Type.Object(
  {
    enabled,
    requestsPerMinute: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Maximum AI requests per minute.' }),
    ),
    requestsPerHour: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 600_000_000, description: 'Maximum AI requests per hour.' }),
    ),
    enforcement: Type.Optional({ ...EnforcementActionSchema, default: 'warn' }),
  },
  {
    description: 'Request-rate limits for the selected workloads, each workload counted separately.',
    ...cel(
      {
        rule: 'has(self.requestsPerMinute) || has(self.requestsPerHour)',
        message: 'rateLimits needs requestsPerMinute, requestsPerHour or both',
      },
      {
        rule: '!has(self.requestsPerMinute) || !has(self.requestsPerHour) || self.requestsPerMinute <= self.requestsPerHour',
        message: 'rateLimits.requestsPerMinute must not be greater than rateLimits.requestsPerHour',
        fieldPath: '.requestsPerMinute',
      },
    ),
  },
);

export const ContentSafetySchema = Type.Object(
  {
    enabled,
    minimumSafetyScore: Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'Lowest acceptable content-safety score, from 0 (unsafe) to 1 (safe).',
    }),
    enforcement: Type.Optional({ ...EnforcementActionSchema, default: 'warn' }),
  },
  { description: 'Content-safety floor for the responses of the selected workloads.' },
);

const level = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$',
  description: 'A data classification level, lower case (e.g. public, internal, confidential, restricted).',
});

export const DataClassificationSchema = Type.Object(
  {
    enabled,
    allowedLevels: Type.Optional(
      Type.Array(level, {
        minItems: 1,
        maxItems: 16,
        ...set,
        description: 'Classification levels the selected workloads may process.',
      }),
    ),
    requireClassification: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Whether every AI request must carry a data classification.',
      }),
    ),
    enforcement: Type.Optional({ ...EnforcementActionSchema, default: 'block' }),
  },
  { description: 'Which data classification levels the selected workloads may process.' },
);

const provider = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$',
  description: 'Provider name as in gen_ai.provider.name, lower case (openai, anthropic, aws.bedrock, ...).',
});
const modelGlob = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[A-Za-z0-9*?][A-Za-z0-9._:/@*?-]*$',
  description: 'A model name or glob: * matches any run of characters, ? one character (gpt-4*, claude-3*).',
});

export const CostPerTokenSchema = Type.Object(
  {
    input: Type.Optional(
      money('Price per input token, in currency units (0.00001 = $0.01 per 1K tokens).', {
        maximum: MAX_PRICE_PER_TOKEN,
      }),
    ),
    output: Type.Optional(
      money('Price per output token, in currency units.', { maximum: MAX_PRICE_PER_TOKEN }),
    ),
  },
  {
    description: 'Override of provider prices for the selected workloads, per token.',
    ...cel({
      rule: 'has(self.input) || has(self.output)',
      message: 'costPerToken needs input, output or both',
    }),
  },
);

export const ModelGovernanceSchema = Type.Object(
  {
    enabled,
    allowedProviders: Type.Optional(
      Type.Array(provider, {
        minItems: 1,
        maxItems: 32,
        ...set,
        description: 'Providers the selected workloads may call.',
      }),
    ),
    allowedModels: Type.Optional(
      Type.Array(modelGlob, {
        minItems: 1,
        maxItems: 64,
        ...set,
        description: 'Models (globs) the selected workloads may call.',
      }),
    ),
    costPerToken: Type.Optional(CostPerTokenSchema),
    enforcement: Type.Optional({ ...EnforcementActionSchema, default: 'block' }),
  },
  {
    description: 'Which providers and models the selected workloads may use, and optional price overrides.',
    ...cel({
      rule: 'has(self.allowedProviders) || has(self.allowedModels) || has(self.costPerToken)',
      message: 'modelGovernance needs allowedProviders, allowedModels or costPerToken',
    }),
  },
);

export const AIPolicySpecSchema = Type.Object(
  {
    costLimits: Type.Optional(CostLimitsSchema),
    rateLimits: Type.Optional(RateLimitsSchema),
    contentSafety: Type.Optional(ContentSafetySchema),
    dataClassification: Type.Optional(DataClassificationSchema),
    modelGovernance: Type.Optional(ModelGovernanceSchema),
    selector: Type.Optional(LabelSelectorSchema),
  },
  {
    description: 'Governance rules for the AI workloads the selector picks in this namespace.',
    ...cel({
      rule: 'has(self.costLimits) || has(self.rateLimits) || has(self.contentSafety) || has(self.dataClassification) || has(self.modelGovernance)',
      message:
        'an AIPolicy needs at least one of costLimits, rateLimits, contentSafety, dataClassification, modelGovernance',
    }),
  },
);

export const VIOLATION_CATEGORIES = [
  'costLimits',
  'rateLimits',
  'contentSafety',
  'dataClassification',
  'modelGovernance',
] as const;

const count = (description: string): ReturnType<typeof Type.Integer> =>
  Type.Integer({ minimum: 0, format: 'int64', description });

export const ViolationCountsSchema = Type.Object(
  {
    total: Type.Optional(count('All categories.')),
    costLimits: Type.Optional(count('Cost limit violations.')),
    rateLimits: Type.Optional(count('Rate limit violations.')),
    contentSafety: Type.Optional(count('Content safety violations.')),
    dataClassification: Type.Optional(count('Data classification violations.')),
    modelGovernance: Type.Optional(count('Model governance violations.')),
  },
  { description: 'Violation counts by category.' },
);

export const AIPolicyStatusSchema = Type.Object(
  {
    observedGeneration,
    conditions,
    matchedWorkloads: Type.Optional(count('Workloads the selector currently matches.')),
    violations: Type.Optional(
      Type.Object(
        {
          total: Type.Optional(ViolationCountsSchema),
          last24h: Type.Optional(ViolationCountsSchema),
        },
        { description: 'Violations since creation (total) and in the last 24 hours.' },
      ),
    ),
    lastViolation: Type.Optional(
      Type.Object(
        {
          time: time('When it happened.'),
          category: stringEnum(VIOLATION_CATEGORIES),
          workload: Type.Optional(Type.String({ maxLength: 512, description: 'kind/name of the workload.' })),
          action: Type.Optional(EnforcementActionSchema),
          message: Type.Optional(Type.String({ maxLength: 1024 })),
        },
        { description: 'The most recent violation.' },
      ),
    ),
    lastUpdated: Type.Optional(time('When the operator last wrote this status.')),
  },
  { description: 'Observed state, written by the operator.' },
);

const resource = <K extends string, S extends TSchema, T extends TSchema>(kind: K, spec: S, status: T) =>
  Type.Object({
    apiVersion: Type.Literal(API_VERSION),
    kind: Type.Literal(kind),
    metadata: ObjectMetaSchema,
    spec,
    status: Type.Optional(status),
  });

export const AIPolicySchema = resource('AIPolicy', AIPolicySpecSchema, AIPolicyStatusSchema);

// ---------------------------------------------------------------------------------------------------------
// AIBudget

export const AllocationSchema = Type.Object(
  {
    amount: money('Budget per period, in currency units.'),
    currency: Type.Optional(CurrencySchema),
    period: Type.Optional({ ...BudgetPeriodSchema, default: 'monthly' }),
    autoRenew: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'Start a new period automatically; when false the budget expires at the end of its period.',
      }),
    ),
  },
  { description: 'How much may be spent per period.' },
);

const attr = (description: string): ReturnType<typeof Type.String> =>
  Type.String({ minLength: 1, maxLength: 253, description });

export const AttributionSchema = Type.Object(
  {
    team: Type.Optional(attr('Team the spend is charged to.')),
    project: Type.Optional(attr('Project the spend is charged to.')),
    costCenter: Type.Optional(attr('Cost center the spend is charged to.')),
    environment: Type.Optional(attr('Environment (production, staging, development, ...).')),
  },
  { description: 'Who the spend is charged to; copied onto metrics and cost records.' },
);

export const BudgetLimitsSchema = Type.Object(
  {
    dailySpendLimit: Type.Optional(
      money('Maximum spend per day (operator time zone, UTC by default), in currency units.'),
    ),
    perRequestLimit: Type.Optional(money('Maximum cost of a single AI request, in currency units.')),
    requestsPerDay: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000_000,
        description: 'Maximum AI requests per day (days in the operator time zone, UTC by default).',
      }),
    ),
  },
  {
    description: 'Limits inside the period, for all selected workloads together.',
    ...cel(
      {
        rule: 'has(self.dailySpendLimit) || has(self.perRequestLimit) || has(self.requestsPerDay)',
        message: 'limits needs at least one of dailySpendLimit, perRequestLimit, requestsPerDay',
      },
      {
        rule: '!has(self.perRequestLimit) || !has(self.dailySpendLimit) || self.perRequestLimit <= self.dailySpendLimit',
        message: 'limits.perRequestLimit must not be greater than limits.dailySpendLimit',
        fieldPath: '.perRequestLimit',
      },
    ),
  },
);

export const AlertThresholdSchema = Type.Object({
  percentage: Type.Number({
    exclusiveMinimum: 0,
    maximum: 1000,
    description:
      'Utilization of the allocation, in percent, at which the alert fires (above 100 for overspend).',
  }),
  severity: Type.Optional(stringEnum(ALERT_SEVERITIES, { default: 'warning' })),
});

export const AlertsSchema = Type.Object(
  {
    enabled,
    thresholds: Type.Array(AlertThresholdSchema, {
      minItems: 1,
      maxItems: 10,
      description: 'Alert thresholds, in ascending order of percentage.',
      ...cel(
        {
          rule: 'self.all(a, self.exists_one(b, b.percentage == a.percentage))',
          message: 'alert threshold percentages must be unique',
        },
        {
          rule: 'self.map(t, t.percentage).isSorted()',
          message: 'alert thresholds must be listed in ascending order of percentage',
        },
      ),
    }),
  },
  { description: 'Alerts when utilization crosses thresholds.' },
);

export const BudgetEnforcementSchema = Type.Object(
  {
    onBudgetExceeded: Type.Optional({ ...EnforcementActionSchema, default: 'warn' }),
    gracePeriod: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10080,
        default: 0,
        description: 'Minutes to wait after the budget is exceeded before throttling or blocking.',
      }),
    ),
    approvalRequired: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Once exceeded, enforcement stays until a person approves more spend.',
      }),
    ),
  },
  { description: 'What happens when the allocation is used up.' },
);

export const AIBudgetSpecSchema = Type.Object(
  {
    allocation: AllocationSchema,
    attribution: Type.Optional(AttributionSchema),
    limits: Type.Optional(BudgetLimitsSchema),
    alerts: Type.Optional(AlertsSchema),
    enforcement: Type.Optional(BudgetEnforcementSchema),
    selector: Type.Optional(LabelSelectorSchema),
  },
  {
    description: 'A spend budget for the AI workloads the selector picks in this namespace.',
    ...cel(
      {
        rule: '!has(self.limits) || !has(self.limits.dailySpendLimit) || self.limits.dailySpendLimit <= self.allocation.amount',
        message: 'limits.dailySpendLimit must not be greater than allocation.amount',
        fieldPath: '.limits.dailySpendLimit',
      },
      {
        rule: '!has(self.limits) || !has(self.limits.perRequestLimit) || self.limits.perRequestLimit <= self.allocation.amount',
        message: 'limits.perRequestLimit must not be greater than allocation.amount',
        fieldPath: '.limits.perRequestLimit',
      },
    ),
  },
);

export const BUDGET_STATES = ['Active', 'Warning', 'Exceeded', 'Throttled', 'Blocked', 'Expired'] as const;

const spendMap = (description: string) =>
  Type.Record(Type.String(), decimal('Spend, decimal string.'), { description });

export const AIBudgetStatusSchema = Type.Object(
  {
    observedGeneration,
    conditions,
    state: Type.Optional(
      stringEnum(BUDGET_STATES, {
        description:
          'Active (below every threshold), Warning (an alert threshold crossed), Exceeded (allocation used up, not yet enforced), Throttled, Blocked, Expired (period ended without autoRenew).',
      }),
    ),
    currency: Type.Optional(CurrencySchema),
    currentPeriod: Type.Optional(
      Type.Object(
        {
          start: time('Start of the current period.'),
          resetTime: time('When the next period starts (end of this one).'),
        },
        { description: 'The period being counted.' },
      ),
    ),
    limit: Type.Optional(decimal('allocation.amount as an exact decimal string.')),
    spend: Type.Optional(decimal('Spend in the current period.')),
    remaining: Type.Optional(decimal('allocation.amount minus spend; negative when over budget.')),
    utilizationPercent: Type.Optional(
      Type.Number({ minimum: 0, description: 'spend / allocation.amount * 100, rounded to 2 decimals.' }),
    ),
    projectedSpend: Type.Optional(decimal('Spend expected by the end of the period at the current rate.')),
    today: Type.Optional(
      Type.Object(
        {
          spend: Type.Optional(decimal('Spend in the current UTC day.')),
          requests: Type.Optional(count('Requests in the current UTC day.')),
        },
        { description: 'Counters for limits.dailySpendLimit and limits.requestsPerDay.' },
      ),
    ),
    breakdown: Type.Optional(
      Type.Object(
        {
          byProvider: Type.Optional(spendMap('Spend in the period by provider.')),
          byModel: Type.Optional(spendMap('Spend in the period by provider/model.')),
        },
        { description: 'Where the spend went.' },
      ),
    ),
    matchedWorkloads: Type.Optional(count('Workloads the selector currently matches.')),
    alertHistory: Type.Optional(
      Type.Array(
        Type.Object({
          time: time('When the alert fired.'),
          percentage: Type.Number({ description: 'The threshold crossed.' }),
          severity: stringEnum(ALERT_SEVERITIES),
          spend: Type.Optional(decimal('Spend when it fired.')),
        }),
        { maxItems: 50, description: 'Alerts fired, most recent last (bounded).' },
      ),
    ),
    enforcement: Type.Optional(
      Type.Object(
        {
          action: Type.Optional(
            stringEnum(['none', ...ENFORCEMENT_ACTIONS] as const, { description: 'Action in force now.' }),
          ),
          since: Type.Optional(time('When the current action started.')),
          graceEndsAt: Type.Optional(time('When the grace period ends, while in grace.')),
          awaitingApproval: Type.Optional(
            Type.Boolean({ description: 'Exceeded with approvalRequired, waiting for a person.' }),
          ),
        },
        { description: 'Current enforcement state.' },
      ),
    ),
    enforcementHistory: Type.Optional(
      Type.Array(
        Type.Object({
          time: time('When the action changed.'),
          action: stringEnum(['none', ...ENFORCEMENT_ACTIONS] as const),
          reason: Type.String({ maxLength: 1024 }),
        }),
        { maxItems: 50, description: 'Enforcement changes, most recent last (bounded).' },
      ),
    ),
    lastUpdated: Type.Optional(time('When the operator last wrote this status.')),
  },
  { description: 'Observed state, written by the operator.' },
);

export const AIBudgetSchema = resource('AIBudget', AIBudgetSpecSchema, AIBudgetStatusSchema);
