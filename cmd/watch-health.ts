// Liveness of the operator's watches: an informer that keeps failing (no list succeeds, no watch ends
// normally) for longer than the allowed time is a dead watch, and /healthz says so, so the kubelet
// restarts the replica instead of leaving it serving a stale view. Fed by the informers' metrics hooks.

import type { Clock } from '../kernel/clock.ts';
import type { InformerMetrics } from '../cluster/informer.ts';

export interface DeadWatch {
  readonly resource: string;
  readonly failingForMs: number;
}

export interface WatchHealth {
  /** Hand these to the informers (they forward to `inner`). */
  readonly metrics: InformerMetrics;
  /** Watches failing without a success for longer than the allowed time. */
  dead(): DeadWatch[];
}

export function createWatchHealth(inner: InformerMetrics, clock: Clock, deadAfterMs: number): WatchHealth {
  const failingSince = new Map<string, number>();
  return {
    metrics: {
      restart(resource) {
        inner.restart(resource);
        if (!failingSince.has(resource)) failingSince.set(resource, clock.now());
      },
      healthy(resource) {
        inner.healthy?.(resource);
        failingSince.delete(resource);
      },
    },
    dead() {
      const now = clock.now();
      return [...failingSince]
        .filter(([, since]) => now - since > deadAfterMs)
        .map(([resource, since]) => ({ resource, failingForMs: now - since }));
    },
  };
}
