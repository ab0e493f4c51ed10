// Leader election over a real coordination.k8s.io Lease with the operator's identity: one leader at a
// time, the follower takes over after a release at once, and after a silent leader only once the
// lease duration passed on its own clock; a partitioned leader steps down before that.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError } from '../../cluster/errors.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { createLeaderElector, type LeaderElector, type LeaseObject } from '../../enforcer/leader/lease.ts';
import { createManualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import {
  apiFor,
  eventually,
  kubeconfigPath,
  OPERATOR_NAMESPACE,
  operatorKubeconfigPath,
  prepareCluster,
  uniqueName,
} from './enforcer-harness.ts';

/** The real API, with a switch that makes every call fail as if the network were cut. */
function partitionable(api: KubeApi): KubeApi & { cut: boolean } {
  const wrapped = { cut: false } as KubeApi & { cut: boolean };
  for (const k of ['get', 'list', 'create', 'replace', 'patch', 'delete', 'watch', 'request'] as const) {
    (wrapped as unknown as Record<string, unknown>)[k] = (...args: unknown[]) => {
      if (wrapped.cut) {
        return Promise.reject(
          new KubeApiError({ status: 0, reason: 'ECONNRESET', message: 'cut', method: k, path: '' }),
        );
      }
      return (api[k] as (...a: unknown[]) => unknown)(...args);
    };
  }
  wrapped.close = () => api.close();
  return wrapped;
}

describe('leader election on a real Lease', () => {
  let admin: KubeApi;
  let operator: KubeApi;
  const electors: LeaderElector[] = [];

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    operator = apiFor(operatorKubeconfigPath());
    await prepareCluster(admin);
  });
  afterEach(async () => {
    for (const e of electors.splice(0)) await e.shutdown();
  });

  const make = (api: KubeApi, name: string, identity: string, clock = createManualClock(Date.now())) => {
    const e = createLeaderElector({
      api,
      namespace: OPERATOR_NAMESPACE,
      name,
      identity,
      logger: silentLogger,
      clock,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 50,
    });
    electors.push(e);
    return { e, clock };
  };

  it('a replica that is shutting down never takes the Lease; a live one does', async () => {
    const lease = uniqueName('lease');
    const a = make(operator, lease, 'replica-a');
    await a.e.start();
    await eventually('a leads', () => (a.e.isLeader() ? true : undefined));
    const leaving = make(operator, lease, 'replica-leaving');
    await leaving.e.start();
    leaving.e.stopAcquiring();
    await a.e.shutdown();
    // The released Lease is free, but the leaving replica must not take it.
    await new Promise((r) => setTimeout(r, 600));
    expect(leaving.e.isLeader()).toBe(false);
    const free = await admin.get<LeaseObject>(RESOURCES.lease, OPERATOR_NAMESPACE, lease);
    expect(free?.spec?.holderIdentity ?? '').not.toBe('replica-leaving');
    const c = make(operator, lease, 'replica-c');
    await c.e.start();
    await eventually('c leads', () => (c.e.isLeader() ? true : undefined), 5000);
  });

  it('one leader; release hands over at once; expiry is judged on the observer clock', async () => {
    const lease = uniqueName('lease');
    const a = make(operator, lease, 'replica-a');
    await a.e.start();
    await eventually('a leads', () => (a.e.isLeader() ? true : undefined));
    const b = make(operator, lease, 'replica-b');
    await b.e.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(b.e.isLeader()).toBe(false);
    expect(b.e.currentLeader()).toBe('replica-a');

    // Graceful: A releases, B takes it within a few retry periods (no lease duration to wait out).
    // B's clock is an hour behind: the times it writes look stale to anyone comparing timestamps.
    b.clock.set(Date.now() - 3_600_000);
    await a.e.shutdown();
    await eventually('b leads', () => (b.e.isLeader() ? true : undefined), 5000);
    const l = await admin.get<LeaseObject>(RESOURCES.lease, OPERATOR_NAMESPACE, lease);
    expect(l?.spec?.holderIdentity).toBe('replica-b');
    expect(l?.spec?.leaseTransitions).toBe(1);

    // C judges expiry by the changes it observes on its own clock, not by B's stale timestamps.
    const c = make(operator, lease, 'replica-c');
    await c.e.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(c.e.isLeader()).toBe(false);
    expect(c.e.currentLeader()).toBe('replica-b');
    expect(b.e.isLeader()).toBe(true);
  });

  it('a partitioned leader steps down within the renew deadline and the other takes over after the lease duration', async () => {
    const lease = uniqueName('lease');
    const cutApi = partitionable(operator);
    const a = make(cutApi, lease, 'replica-a');
    await a.e.start();
    await eventually('a leads', () => (a.e.isLeader() ? true : undefined));
    const b = make(operator, lease, 'replica-b');
    await b.e.start();
    await new Promise((r) => setTimeout(r, 200));

    cutApi.cut = true;
    const changes: boolean[] = [];
    a.e.onChange((leading) => changes.push(leading));
    // Not yet: B saw the last renewal less than a lease duration ago (on its clock).
    b.clock.advance(10_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(b.e.isLeader()).toBe(false);
    // A cannot renew for longer than its renew deadline: it stops acting (before the lease expires).
    a.clock.advance(10_001);
    await eventually('a steps down', () => (changes.includes(false) ? true : undefined), 3000);
    expect(a.e.isLeader()).toBe(false);
    // B's clock passes the lease duration since the last renewal it saw: it takes over.
    b.clock.advance(6_000);
    await eventually('b leads', () => (b.e.isLeader() ? true : undefined), 3000);
    const l = await admin.get<LeaseObject>(RESOURCES.lease, OPERATOR_NAMESPACE, lease);
    expect(l?.spec?.holderIdentity).toBe('replica-b');
    // The partition heals: A sees B's lease and stays a follower.
    cutApi.cut = false;
    await new Promise((r) => setTimeout(r, 300));
    expect(a.e.isLeader()).toBe(false);
    expect(a.e.currentLeader()).toBe('replica-b');
  });
});
