// Owns the public TypeScript view of the genops.ai/v1alpha1 resources. Every type here is inferred from the
// one schema in crds/schema.ts, so the types, the CRD YAML and the validator cannot drift apart.
//
// Field conventions: spec money is a number in currency units (only USD); status money is an exact decimal
// string. Defaults (enabled: true when a section is present, currency USD, enforcement warn, period monthly,
// ...) are filled by the API server and by `applyDefaults` (crds/validate.ts) — code reading a spec should
// still treat a missing `enabled` as true.

import type { Static } from '@sinclair/typebox';
import type {
  AIBudgetSchema,
  AIBudgetSpecSchema,
  AIBudgetStatusSchema,
  AIPolicySchema,
  AIPolicySpecSchema,
  AIPolicyStatusSchema,
  AlertThresholdSchema,
  AlertsSchema,
  AllocationSchema,
  AttributionSchema,
  BudgetEnforcementSchema,
  BudgetLimitsSchema,
  ConditionSchema,
  ContentSafetySchema,
  CostLimitsSchema,
  CostPerTokenSchema,
  DataClassificationSchema,
  LabelSelectorRequirementSchema,
  LabelSelectorSchema,
  ModelGovernanceSchema,
  ObjectMetaSchema,
  RateLimitsSchema,
  ViolationCountsSchema,
} from './schema.ts';
import {
  ALERT_SEVERITIES,
  API_VERSION,
  BUDGET_PERIODS,
  BUDGET_STATES,
  CURRENCIES,
  ENFORCEMENT_ACTIONS,
  GROUP,
  VERSION,
  VIOLATION_CATEGORIES,
} from './schema.ts';

export {
  ALERT_SEVERITIES,
  API_VERSION,
  BUDGET_PERIODS,
  BUDGET_STATES,
  CURRENCIES,
  ENFORCEMENT_ACTIONS,
  GROUP,
  VERSION,
  VIOLATION_CATEGORIES,
};

export type EnforcementAction = (typeof ENFORCEMENT_ACTIONS)[number];
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
export type BudgetState = (typeof BUDGET_STATES)[number];
export type ViolationCategory = (typeof VIOLATION_CATEGORIES)[number];

export type ObjectMeta = Static<typeof ObjectMetaSchema>;
export type LabelSelector = Static<typeof LabelSelectorSchema>;
export type LabelSelectorRequirement = Static<typeof LabelSelectorRequirementSchema>;
export type Condition = Static<typeof ConditionSchema>;

export type CostLimits = Static<typeof CostLimitsSchema>;
export type RateLimits = Static<typeof RateLimitsSchema>;
export type ContentSafety = Static<typeof ContentSafetySchema>;
export type DataClassification = Static<typeof DataClassificationSchema>;
export type ModelGovernance = Static<typeof ModelGovernanceSchema>;
export type CostPerToken = Static<typeof CostPerTokenSchema>;
export type AIPolicySpec = Static<typeof AIPolicySpecSchema>;
export type AIPolicyStatus = Static<typeof AIPolicyStatusSchema>;
export type ViolationCounts = Static<typeof ViolationCountsSchema>;
export type AIPolicy = Static<typeof AIPolicySchema>;

export type Allocation = Static<typeof AllocationSchema>;
export type Attribution = Static<typeof AttributionSchema>;
export type BudgetLimits = Static<typeof BudgetLimitsSchema>;
export type Alerts = Static<typeof AlertsSchema>;
export type AlertThreshold = Static<typeof AlertThresholdSchema>;
export type BudgetEnforcement = Static<typeof BudgetEnforcementSchema>;
export type AIBudgetSpec = Static<typeof AIBudgetSpecSchema>;
export type AIBudgetStatus = Static<typeof AIBudgetStatusSchema>;
export type AIBudget = Static<typeof AIBudgetSchema>;

export type GenOpsResource = AIPolicy | AIBudget;
export type GenOpsKind = GenOpsResource['kind'];

/** Plural resource names, as in the API path and RBAC rules. */
export const PLURALS = { AIPolicy: 'aipolicies', AIBudget: 'aibudgets' } as const satisfies Record<
  GenOpsKind,
  string
>;

/** A section applies when present and not switched off (`enabled` defaults to true). */
export function isEnabled(section: { enabled?: boolean } | undefined): boolean {
  return section !== undefined && section.enabled !== false;
}
