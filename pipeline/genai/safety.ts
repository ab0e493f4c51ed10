// Owns content-safety scores: every evaluation a span carries (gen_ai.evaluation.result events,
// evaluation spans with gen_ai.evaluation.* attributes, genops.eval.* attributes) that speaks about
// safety becomes a score in [0, 1] where 1 is safe. Which names count: pipeline/genai/README.md.

import type { AttrValue, AttributeSlots, SpanView } from '../otlp/span-view.ts';
import {
  E_EVALUATION_RESULT,
  K_EVAL_SAFETY_SCORE,
  K_EVAL_TOXICITY_SCORE,
  K_EVALUATION_NAME,
  K_EVALUATION_SCORE_LABEL,
  K_EVALUATION_SCORE_VALUE,
} from './keys.ts';

/** Evaluation names whose score is a safety score (1 = safe). Compared lower-cased. */
export const SAFETY_EVALUATIONS: ReadonlySet<string> = new Set([
  'safety',
  'content_safety',
  'content-safety',
  'content safety',
  'contentsafety',
  'harmlessness',
  'genops.safety',
]);

/** Evaluation names whose score measures harm (1 = harmful): safety = 1 - score. */
export const HARM_EVALUATIONS: ReadonlySet<string> = new Set([
  'toxicity',
  'harmfulness',
  'harm',
  'hate',
  'violence',
  'self_harm',
  'self-harm',
  'sexual',
  'jailbreak',
]);

/** Labels understood when an evaluation has no numeric score. */
const SAFE_LABELS: ReadonlySet<string> = new Set([
  'safe',
  'pass',
  'passed',
  'ok',
  'harmless',
  'benign',
  'non_toxic',
  'not_toxic',
]);
const UNSAFE_LABELS: ReadonlySet<string> = new Set([
  'unsafe',
  'fail',
  'failed',
  'toxic',
  'harmful',
  'blocked',
  'flagged',
]);

function score01(v: AttrValue | undefined): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && v.trim() !== '') n = Number(v);
  else return -1;
  return n >= 0 && n <= 1 ? n : -1;
}

/** Safety score of one evaluation, or -1 when it is not about safety or not understood. */
export function evaluationSafety(
  name: AttrValue | undefined,
  value: AttrValue | undefined,
  label: AttrValue | undefined,
): number {
  if (typeof name !== 'string') return -1;
  const n = name.trim().toLowerCase();
  const safety = SAFETY_EVALUATIONS.has(n);
  const harm = !safety && HARM_EVALUATIONS.has(n);
  if (!safety && !harm) return -1;
  const s = score01(value);
  if (s >= 0) return safety ? s : 1 - s;
  if (typeof label === 'string') {
    const l = label.trim().toLowerCase();
    if (SAFE_LABELS.has(l)) return 1;
    if (UNSAFE_LABELS.has(l)) return 0;
  }
  return -1;
}

function evaluationOf(slots: AttributeSlots): number {
  return evaluationSafety(
    slots.get(K_EVALUATION_NAME),
    slots.get(K_EVALUATION_SCORE_VALUE),
    slots.get(K_EVALUATION_SCORE_LABEL),
  );
}

/**
 * Calls `report(score)` for each safety score on the span; returns how many. Out-of-range scores
 * are ignored rather than clamped: a 0..10 scale misread as 0..1 would otherwise block workloads.
 */
export function forEachSafetyScore(span: SpanView, report: (score: number) => void): number {
  const slots = span.attributes;
  let count = 0;
  const direct = score01(slots.get(K_EVAL_SAFETY_SCORE));
  if (direct >= 0) {
    report(direct);
    count++;
  }
  const toxicity = score01(slots.get(K_EVAL_TOXICITY_SCORE));
  if (toxicity >= 0) {
    report(1 - toxicity);
    count++;
  }
  const onSpan = evaluationOf(slots);
  if (onSpan >= 0) {
    report(onSpan);
    count++;
  }
  for (let i = 0; i < span.eventCount; i++) {
    const event = span.events[i]!;
    if (event.nameId !== E_EVALUATION_RESULT) continue;
    const s = evaluationOf(event.attributes);
    if (s >= 0) {
      report(s);
      count++;
    }
  }
  return count;
}
