// Owns leader election over a coordination.k8s.io/v1 Lease, in the manner of client-go: acquire when
// the lease is free or its holder stopped renewing for a whole lease duration (measured on the local
// clock from the last change we observed, so clock skew between replicas does not matter), renew
// every retry period, give up leadership when renewals fail for the renew deadline (shorter than the
// lease duration, so two replicas never both believe they lead), release on shutdown.

import type { Clock } from '../../kernel/clock.ts';
import { systemClock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { sleep } from '../../cluster/backoff.ts';
import { isAlreadyExists, isConflict } from '../../cluster/errors.ts';
import { RESOURCES, type KubeObject } from '../../cluster/resources.ts';
import { noopLeaderMetrics, type LeaderMetrics } from '../metrics.ts';

export interface LeaseObject extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElector extends Component {
  /** True while this replica holds the lease and renewed it within the renew deadline. */
  isLeader(): boolean;
  /** Identity of the current holder as last observed ('' when free or unknown). */
  currentLeader(): string;
  /** Called with true when leadership starts and false when it ends; returns an unsubscribe. */
  onChange(listener: (leading: boolean) => void): () => void;
  /** From now on never take the lease (a replica shutting down); what it holds it keeps until shutdown. */
  stopAcquiring(): void;
}

export interface LeaderElectorOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly name: string;
  /** This replica's identity (pod name). */
  readonly identity: string;
  readonly logger: Logger;
  /** Time used to judge expiry; the system clock unless a test moves it. */
  readonly clock?: Clock;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly metrics?: LeaderMetrics;
}

/** RFC 3339 with microseconds, the MicroTime format of Lease times. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  const clock = options.clock ?? systemClock;
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  if (!(renewDeadlineMs < leaseDurationMs && retryPeriodMs < renewDeadlineMs)) {
    throw new RangeError('leader election needs retryPeriod < renewDeadline < leaseDuration');
  }
  const metrics = options.metrics ?? noopLeaderMetrics;
  const { api, namespace, name, identity } = options;
  const log = options.logger.child({ component: 'leader-election', lease: `${namespace}/${name}`, identity });
  const listeners = new Set<(leading: boolean) => void>();

  let leading = false;
  let lastRenewAt = 0;
  let observed: { holder: string; renewTime: string; rv: string } | undefined;
  let observedAt = 0;
  let controller: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let lease: LeaseObject | undefined;

  const setLeading = (value: boolean): void => {
    if (leading === value) return;
    leading = value;
    metrics.leader(value);
    log.info(value ? 'became leader' : 'stopped leading');
    for (const l of listeners) {
      try {
        l(value);
      } catch (err) {
        log.error('leadership listener failed', { err });
      }
    }
  };

  const desired = (prev: LeaseObject['spec'], now: number): NonNullable<LeaseObject['spec']> => {
    const renewing = prev?.holderIdentity === identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: renewing && prev?.acquireTime !== undefined ? prev.acquireTime : microTime(now),
      renewTime: microTime(now),
      // As client-go: every acquisition of an existing lease by a new holder is a transition.
      leaseTransitions: (prev?.leaseTransitions ?? 0) + (renewing || prev === undefined ? 0 : 1),
    };
  };

  /** One attempt; true when we hold the lease afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    const now = clock.now();
    const current = await api.get<LeaseObject>(RESOURCES.lease, namespace, name);
    if (current === undefined) {
      if (!candidate) return false;
      try {
        lease = await api.create<LeaseObject>(RESOURCES.lease, namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: desired(undefined, now),
        });
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        throw err;
      }
      observe(lease, now);
      return true;
    }
    observe(current, now);
    const holder = current.spec?.holderIdentity ?? '';
    const durationMs = (current.spec?.leaseDurationSeconds ?? leaseDurationMs / 1000) * 1000;
    if (holder !== '' && holder !== identity && observedAt + durationMs > now) return false;
    // A replica that is shutting down renews what it holds (to finish and release) but takes nothing.
    if (!candidate && holder !== identity) return false;
    try {
      lease = await api.replace<LeaseObject>(RESOURCES.lease, namespace, name, {
        ...current,
        spec: { ...current.spec, ...desired(current.spec, now) },
      });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    observe(lease, now);
    return true;
  }

  function observe(l: LeaseObject, now: number): void {
    const rec = {
      holder: l.spec?.holderIdentity ?? '',
      renewTime: l.spec?.renewTime ?? '',
      rv: l.metadata?.resourceVersion ?? '',
    };
    // Any write to the lease (a new resourceVersion) is a sign of life of its holder.
    if (
      observed === undefined ||
      observed.holder !== rec.holder ||
      observed.renewTime !== rec.renewTime ||
      observed.rv !== rec.rv
    ) {
      observedAt = now;
    }
    observed = rec;
  }

  let candidate = true;

  async function run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await tryAcquireOrRenew();
      } catch (err) {
        log.warn('lease update failed', { err });
      }
      if (signal.aborted) break;
      const now = clock.now();
      if (ok) {
        lastRenewAt = now;
        setLeading(true);
      } else if (leading && now - lastRenewAt >= renewDeadlineMs) {
        setLeading(false);
      } else if (leading && observed !== undefined && observed.holder !== identity) {
        // Someone else holds it now (we were too slow): never act beside them.
        setLeading(false);
      }
      // Jitter spreads candidates; the leader renews on the plain period.
      await sleep(leading ? retryPeriodMs : retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
  }

  async function release(): Promise<void> {
    if (!leading || lease === undefined) return;
    setLeading(false);
    try {
      const now = clock.now();
      await api.replace<LeaseObject>(RESOURCES.lease, namespace, name, {
        ...lease,
        spec: {
          ...(lease.spec?.leaseTransitions === undefined
            ? {}
            : { leaseTransitions: lease.spec.leaseTransitions }),
          leaseDurationSeconds: 1,
          acquireTime: microTime(now),
          renewTime: microTime(now),
        },
      });
      log.info('lease released');
    } catch (err) {
      log.warn('lease release failed; it expires by itself', { err });
    }
  }

  return {
    isLeader: () => leading && clock.now() - lastRenewAt < leaseDurationMs,
    currentLeader: () => observed?.holder ?? '',
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start() {
      if (loop === undefined) {
        controller = new AbortController();
        metrics.leader(false);
        loop = run(controller.signal);
      }
      return Promise.resolve();
    },
    stopAcquiring() {
      candidate = false;
    },
    async shutdown() {
      candidate = false;
      if (controller === undefined) return;
      controller.abort();
      await loop;
      await release();
      controller = undefined;
    },
  };
}
