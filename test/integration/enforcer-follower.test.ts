// The replica that does not lead answers admission too, from its own decisions. Its spend view lags
// the leader's by one usage-record write; the enforcement the leader already declared (status Blocked,
// awaiting approval) must reach it at once, or a pod created right after the budget shows Blocked is
// admitted by whichever replica the Service picked. Two real operators (`startOperator`) on the real
// API server: the leader's record is written hourly here, so only its status can tell the follower.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type OperatorRuntime } from '../../cmd/operator-main.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES, type KubeObject } from '../../cluster/resources.ts';
import {
  apiFor,
  charge,
  createDeployment,
  ensureNamespace,
  eventually,
  kubeconfigPath,
  prepareCluster,
  testLogger,
  uniqueName,
  testOperatorOptions,
} from './enforcer-harness.ts';

interface BudgetObject extends KubeObject {
  status?: { state?: string };
}

describe('a follower replica and the leader it does not hear from', () => {
  let admin: KubeApi;
  const lease = uniqueName('follow-lease');
  const started: OperatorRuntime[] = [];

  const start = (replica: string, usageWriteIntervalMs: number) =>
    startOperator(
      testOperatorOptions(replica, {
        leaderElect: true,
        leaseName: lease,
        retryPeriodMs: 200,
        usageWriteIntervalMs,
      }),
      { logger: testLogger() },
    );

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
  });
  afterAll(async () => {
    for (const op of started.reverse()) await op.shutdown();
  });

  it("blocks on the follower as soon as the leader's status says Blocked, before any record of the spend", async () => {
    const ns = uniqueName('enf-follow');
    await ensureNamespace(admin, ns);
    // At zero replicas already: blocking changes nothing on the workload that could wake the follower.
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 0);
    await admin.create(RESOURCES.aiBudget, ns, {
      apiVersion: 'genops.ai/v1alpha1',
      kind: 'AIBudget',
      metadata: { name: 'team-budget', namespace: ns },
      spec: {
        allocation: { amount: 10, period: 'monthly' },
        enforcement: { onBudgetExceeded: 'block', gracePeriod: 0, approvalRequired: true },
        selector: { matchLabels: { team: 'a' } },
      },
    } as never);

    const leader = await start('follow-a', 3_600_000);
    started.push(leader);
    await eventually('a leads', () => (leader.leader.isLeader() ? true : undefined), 10_000);
    const follower = await start('follow-b', 200);
    started.push(follower);
    const key = `${ns}/team-budget`;
    const actionOn = (op: OperatorRuntime) => op.enforcer.decisions().budgets.get(key)?.action;
    await eventually('the follower knows the budget', () =>
      actionOn(follower) === 'allow' ? true : undefined,
    );
    expect(follower.leader.isLeader()).toBe(false);

    // The spend reaches the leader only (as when the Service routed every span to it).
    charge(leader.pipeline.windows, { namespace: ns, kind: 'Deployment', name: 'chat' }, 12_000_000, 3);
    leader.pipeline.windows.publish();
    leader.enforcer.evaluateNow();
    await eventually('status Blocked', async () => {
      const b = await admin.get<BudgetObject>(RESOURCES.aiBudget, ns, 'team-budget');
      return b?.status?.state === 'Blocked' ? true : undefined;
    });
    const seen = Date.now();

    // Well inside the follower's periodic re-evaluation (15 s): the status write itself wakes it.
    await eventually(
      'the follower blocks',
      () => (actionOn(follower) === 'block' ? true : undefined),
      3_000,
      50,
    );
    expect(Date.now() - seen).toBeLessThan(3_000);
    // It blocks from the leader's declared enforcement, not from spend it has not been told of.
    const own = follower.enforcer.decisions().budgets.get(key);
    expect(own?.spendMicros ?? 0).toBe(0);
    // And it never writes: the leader alone acts.
    expect(follower.leader.isLeader()).toBe(false);
  });
});
