// Owns the metrics port of the gateway authorization API: what it counts, by meaning. The
// observability stage adapts it to Prometheus (genops_authz_*); tests and the benchmark record it.

export type AuthzProtocol = 'grpc' | 'http';
/** allowed, denied, bypassed (a bypass allowed it), error (malformed request), unavailable (not ready). */
export type CheckOutcome = 'allowed' | 'denied' | 'bypassed' | 'error' | 'unavailable';

export interface AuthzMetrics {
  /**
   * One check answered. `reason` is the deny code of the first denial (BUDGET_EXCEEDED, RATE_LIMITED,
   * POLICY_DENY_MODEL, ...), "" when allowed; seconds from request arrival to the answer, recorded
   * just before it is written.
   */
  checked(protocol: AuthzProtocol, outcome: CheckOutcome, reason: string, seconds: number): void;
}

export const noopAuthzMetrics: AuthzMetrics = { checked: () => undefined };

export interface RecordedCheck {
  readonly protocol: AuthzProtocol;
  readonly outcome: CheckOutcome;
  readonly reason: string;
  readonly seconds: number;
}

export function createRecordingAuthzMetrics(): AuthzMetrics & { checks: RecordedCheck[] } {
  const checks: RecordedCheck[] = [];
  return {
    checks,
    checked: (protocol, outcome, reason, seconds) => checks.push({ protocol, outcome, reason, seconds }),
  };
}
