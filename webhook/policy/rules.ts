// Owns the admission rules of AIPolicy that look at the object itself: data classification
// (dataClassification.requireClassification / allowedLevels) and model governance (modelGovernance
// allowedProviders / allowedModels against what the workload declares, see models.ts).

import type { AIPolicy } from '../../crds/index.ts';
import { isEnabled } from '../../crds/index.ts';
import { declaredModels, modelAllowed, normaliseProvider } from './models.ts';
import type { Subject } from './subject.ts';

export const CLASSIFICATION_LABEL = 'genops.ai/data-classification';

export interface RuleViolation {
  readonly code: 'POLICY_DENY_CLASSIFICATION' | 'POLICY_DENY_PROVIDER' | 'POLICY_DENY_MODEL';
  /** Stable text (no times): an UPDATE only counts violations its old object did not have. */
  readonly message: string;
}

export function ruleViolations(policy: AIPolicy, subject: Subject): RuleViolation[] {
  const out: RuleViolation[] = [];
  const name = `AIPolicy "${policy.metadata.name}"`;
  const what = subject.kind === 'Pod' ? 'pod label' : 'pod template label';

  const dc = policy.spec.dataClassification;
  if (isEnabled(dc) && dc) {
    const level = subject.podLabels[CLASSIFICATION_LABEL];
    const allowed = dc.allowedLevels ?? [];
    if (level === undefined || level === '') {
      if (dc.requireClassification === true) {
        out.push({
          code: 'POLICY_DENY_CLASSIFICATION',
          message: `${name} requires the ${what} ${CLASSIFICATION_LABEL}${allowed.length ? ` (one of ${allowed.join(', ')})` : ''}`,
        });
      }
    } else if (allowed.length > 0 && !allowed.includes(level)) {
      out.push({
        code: 'POLICY_DENY_CLASSIFICATION',
        message: `${name} allows data classification ${allowed.join(', ')}; ${what} ${CLASSIFICATION_LABEL} is "${level}"`,
      });
    }
  }

  const mg = policy.spec.modelGovernance;
  if (isEnabled(mg) && mg && (mg.allowedProviders !== undefined || mg.allowedModels !== undefined)) {
    const providers = mg.allowedProviders?.map(normaliseProvider);
    for (const d of declaredModels(subject.annotations, subject.containers)) {
      if (providers !== undefined && d.provider !== undefined && !providers.includes(d.provider)) {
        out.push({
          code: 'POLICY_DENY_PROVIDER',
          message: `${name} allows providers ${providers.join(', ')}; ${d.source} declares provider "${d.provider}"`,
        });
        continue;
      }
      if (
        mg.allowedModels !== undefined &&
        d.model !== undefined &&
        !modelAllowed(mg.allowedModels, d.provider, d.model)
      ) {
        const declared = d.provider ? `${d.provider}/${d.model}` : d.model;
        out.push({
          code: 'POLICY_DENY_MODEL',
          message: `${name} allows models ${mg.allowedModels.join(', ')}; ${d.source} declares "${declared}"`,
        });
      }
    }
  }
  return out;
}
