// Owns the enforcer's metrics ports (observability/ adapts them to prom-client). Shapes match the
// adapters in observability/metrics.ts, so the composition root passes them straight through.

export interface EnforcementMetrics {
  /** One write to the cluster. `action`: scale, annotate, event, status, restore, hpa. */
  action(namespace: string, kind: string, action: string, outcome: 'success' | 'error'): void;
}

export const noopEnforcementMetrics: EnforcementMetrics = { action: () => undefined };

export interface LeaderMetrics {
  /** Called on every leadership change of this replica (and once at start with false). */
  leader(isLeader: boolean): void;
}

export const noopLeaderMetrics: LeaderMetrics = { leader: () => undefined };
