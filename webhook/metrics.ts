// Owns the metrics port of the admission webhook: what it counts, by meaning. The observability stage
// adapts it to Prometheus; tests and benchmarks use the no-op or a recording implementation.

export type WebhookName = 'mutate-pods' | 'mutate-bypass' | 'validate-workloads' | 'validate-genops';
export type ReviewOutcome = 'allowed' | 'patched' | 'warned' | 'denied' | 'bypassed' | 'error';

export interface WebhookMetrics {
  /** One AdmissionReview answered, with the time spent from request received to response written. */
  reviewed(webhook: WebhookName, outcome: ReviewOutcome, seconds: number): void;
  /** A rule refused or warned about a request (code: BUDGET, POLICY, POLICY_DENY_MODEL, INVALID_RESOURCE, ...). */
  ruled(webhook: WebhookName, code: string, effect: 'denied' | 'warned'): void;
  /** An emergency bypass admitted what would have been refused (audited in the log too). */
  bypassUsed(namespace: string, kind: string): void;
  /** The serving certificate in use changed; notAfter in ms epoch (for an expiry gauge). */
  certificateLoaded(notAfterMs: number): void;
  /** A certificate reload or rotation failed; the previous certificate stays in use. */
  certificateError(stage: 'reload' | 'rotate'): void;
}

export const noopWebhookMetrics: WebhookMetrics = {
  reviewed: () => undefined,
  ruled: () => undefined,
  bypassUsed: () => undefined,
  certificateLoaded: () => undefined,
  certificateError: () => undefined,
};

export interface RecordedReview {
  webhook: WebhookName;
  outcome: ReviewOutcome;
  seconds: number;
}

/** Keeps what it is told, for tests and the benchmark's server-side latency. */
export function createRecordingWebhookMetrics(): WebhookMetrics & {
  reviews: RecordedReview[];
  rulings: Array<{ webhook: WebhookName; code: string; effect: string }>;
  bypasses: Array<{ namespace: string; kind: string }>;
  certificates: number[];
  errors: string[];
} {
  const reviews: RecordedReview[] = [];
  const rulings: Array<{ webhook: WebhookName; code: string; effect: string }> = [];
  const bypasses: Array<{ namespace: string; kind: string }> = [];
  const certificates: number[] = [];
  const errors: string[] = [];
  return {
    reviews,
    rulings,
    bypasses,
    certificates,
    errors,
    reviewed: (webhook, outcome, seconds) => reviews.push({ webhook, outcome, seconds }),
    ruled: (webhook, code, effect) => rulings.push({ webhook, code, effect }),
    bypassUsed: (namespace, kind) => bypasses.push({ namespace, kind }),
    certificateLoaded: (notAfter) => certificates.push(notAfter),
    certificateError: (stage) => errors.push(stage),
  };
}
