// The whole enforcement loop in one operator (the real composition, `startOperator`) on the real API
// server with the operator's identity and a clock the test moves: usage is charged through the real
// windows; decisions, status, Events and scaling follow. Budget exceeded -> status with spend and
// conditions, Deployment at 0, Event; period renewal with approvalRequired keeps it blocked until a
// person approves; throttle halves and restores; a bypass annotation suspends enforcement and expires.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type OperatorRuntime } from '../../cmd/operator-main.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES, type KubeObject } from '../../cluster/resources.ts';
import { createManualClock, type ManualClock } from '../../kernel/clock.ts';
import { signApproval } from '../../webhook/bypass/approval.ts';
import {
  annotationsOf,
  apiFor,
  charge,
  createDeployment,
  ensureNamespace,
  eventsFor,
  eventually,
  kubeconfigPath,
  OPERATOR_NAMESPACE,
  prepareCluster,
  replicasOf,
  testLogger,
  uniqueName,
  testOperatorOptions,
} from './enforcer-harness.ts';

interface Condition {
  type: string;
  status: string;
  reason: string;
}
interface BudgetObject extends KubeObject {
  status?: {
    spend?: string;
    limit?: string;
    remaining?: string;
    utilizationPercent?: number;
    state?: string;
    observedGeneration?: number;
    conditions?: Condition[];
    currentPeriod?: { start: string; resetTime: string };
    breakdown?: { byModel?: Record<string, string> };
    enforcementHistory?: Array<{ action: string }>;
  };
}

const cond = (b: BudgetObject | undefined, type: string) =>
  b?.status?.conditions?.find((c) => c.type === type)?.status;

describe('enforcement loop on the real API server', () => {
  let admin: KubeApi;
  let clock: ManualClock;
  let op: OperatorRuntime;

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
    clock = createManualClock(Date.parse('2031-03-10T12:00:00Z'));
    op = await startOperator(
      testOperatorOptions('loop', {
        leaderElect: true,
        leaseName: uniqueName('loop-lease'),
        retryPeriodMs: 200,
      }),
      { logger: testLogger(), clock },
    );
    await eventually('leading', () => (op.leader.isLeader() ? true : undefined), 10_000);
  });
  afterAll(async () => {
    await op?.shutdown();
  });

  /** Moves business time and lets the windows and the decisions catch up at once. */
  const moveTo = (iso: string) => {
    clock.set(Date.parse(iso));
    op.pipeline.windows.publish();
    op.enforcer.evaluateNow();
  };
  const budgetOf = (ns: string) => admin.get<BudgetObject>(RESOURCES.aiBudget, ns, 'team-budget');

  async function budget(ns: string, spec: Record<string, unknown>): Promise<void> {
    await admin.create(RESOURCES.aiBudget, ns, {
      apiVersion: 'genops.ai/v1alpha1',
      kind: 'AIBudget',
      metadata: { name: 'team-budget', namespace: ns },
      spec: { selector: { matchLabels: { team: 'a' } }, ...spec },
    } as never);
    await eventually('budget in the cache', () =>
      op.view.budgets.getByName(ns, 'team-budget') ? true : undefined,
    );
  }

  it('blocks an exceeded budget, keeps it blocked after renewal until approved, then restores', async () => {
    const ns = uniqueName('enf-loop');
    await ensureNamespace(admin, ns);
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 2);
    await budget(ns, {
      allocation: { amount: 10, period: 'monthly', autoRenew: true },
      enforcement: { onBudgetExceeded: 'block', gracePeriod: 0, approvalRequired: true },
    });
    charge(op.pipeline.windows, { namespace: ns, kind: 'Deployment', name: 'chat' }, 12_345_678, 3);
    moveTo('2031-03-10T12:00:05Z');

    const blocked = await eventually('status blocked', async () => {
      const b = await budgetOf(ns);
      return b?.status?.state === 'Blocked' ? b : undefined;
    });
    expect(blocked.status).toMatchObject({
      spend: '12.345678',
      limit: '10.000000',
      remaining: '-2.345678',
      utilizationPercent: 123.46,
      currentPeriod: { start: '2031-03-01T00:00:00.000Z', resetTime: '2031-04-01T00:00:00.000Z' },
    });
    expect(blocked.status?.breakdown?.byModel).toEqual({ 'openai/gpt-4o': '12.345678' });
    expect(cond(blocked, 'BudgetExceeded')).toBe('True');
    expect(cond(blocked, 'Blocked')).toBe('True');
    expect(cond(blocked, 'Ready')).toBe('True');
    expect(blocked.status?.observedGeneration).toBe(blocked.metadata?.generation);
    await eventually('scaled to 0', async () =>
      (await replicasOf(admin, ns, 'chat')) === 0 ? true : undefined,
    );
    expect((await annotationsOf(admin, RESOURCES.deployment, ns, 'chat'))['genops.ai/reason']).toBe(
      'BUDGET_EXCEEDED:AIBudget/team-budget',
    );
    // The audit Event follows the scale call.
    await eventually('Blocked event on the workload', async () => {
      const ev = await eventsFor(admin, ns, 'Deployment', 'chat');
      return ev.some((e) => e.reason === 'Blocked' && e.reportingController === 'genops.ai/operator')
        ? true
        : undefined;
    });
    await eventually('events on the budget', async () => {
      const ev = await eventsFor(admin, ns, 'AIBudget', 'team-budget');
      return ev.some((e) => e.reason === 'EnforcementStarted') && ev.some((e) => e.reason === 'Blocked')
        ? true
        : undefined;
    });

    // The period renews: spend is 0, but a person must approve first.
    moveTo('2031-04-01T00:00:10Z');
    const pending = await eventually('pending approval', async () => {
      const b = await budgetOf(ns);
      return cond(b, 'PendingApproval') === 'True' && b?.status?.spend === '0.000000' ? b : undefined;
    });
    expect(cond(pending, 'BudgetExceeded')).toBe('False');
    await new Promise((r) => setTimeout(r, 500));
    expect(await replicasOf(admin, ns, 'chat')).toBe(0);

    // Approved (annotations documented in decision/annotations.ts): restored.
    await admin.patch(
      RESOURCES.aiBudget,
      ns,
      'team-budget',
      {
        metadata: {
          annotations: {
            'genops.ai/approved-by': 'alice',
            'genops.ai/approved-at': new Date(clock.now()).toISOString(),
          },
        },
      },
      { type: 'merge' },
    );
    await eventually('restored after approval', async () =>
      (await replicasOf(admin, ns, 'chat')) === 2 ? true : undefined,
    );
    const after = await eventually('status active', async () => {
      const b = await budgetOf(ns);
      return b?.status?.state === 'Active' ? b : undefined;
    });
    expect(cond(after, 'PendingApproval')).toBe('False');
    expect(cond(after, 'Blocked')).toBe('False');
    expect(after.status?.enforcementHistory?.map((h) => h.action)).toEqual(['block', 'none']);
    // The record goes last, after the replicas are back.
    await eventually('annotations removed', async () => {
      const ann = await annotationsOf(admin, RESOURCES.deployment, ns, 'chat');
      return ann['genops.ai/status'] === undefined && ann['genops.ai/original-replicas'] === undefined
        ? true
        : undefined;
    });
  });

  it('a blocked workload gets its replicas back when the period renews (no approval required)', async () => {
    const ns = uniqueName('enf-loop');
    await ensureNamespace(admin, ns);
    moveTo('2031-04-30T23:00:00Z');
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 3);
    await budget(ns, {
      allocation: { amount: 1, period: 'monthly' },
      enforcement: { onBudgetExceeded: 'block', gracePeriod: 0 },
    });
    charge(op.pipeline.windows, { namespace: ns, kind: 'Deployment', name: 'chat' }, 1_000_001, 1);
    moveTo('2031-04-30T23:00:01Z');
    await eventually('blocked', async () => ((await replicasOf(admin, ns, 'chat')) === 0 ? true : undefined));
    moveTo('2031-05-01T00:00:01Z');
    await eventually('restored at renewal', async () =>
      (await replicasOf(admin, ns, 'chat')) === 3 ? true : undefined,
    );
    const b = await eventually('status of the new period', async () => {
      const x = await budgetOf(ns);
      return x?.status?.currentPeriod?.start === '2031-05-01T00:00:00.000Z' && cond(x, 'Blocked') === 'False'
        ? x
        : undefined;
    });
    expect(b.status?.spend).toBe('0.000000');
    expect(b.status?.state).toBe('Active');
  });

  it('throttle halves; a bypass suspends it until it expires; renewal restores', async () => {
    const ns = uniqueName('enf-loop');
    await ensureNamespace(admin, ns);
    moveTo('2031-05-20T08:00:00Z');
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 4);
    await budget(ns, {
      allocation: { amount: 5, period: 'monthly' },
      enforcement: { onBudgetExceeded: 'throttle', gracePeriod: 0 },
    });
    charge(op.pipeline.windows, { namespace: ns, kind: 'Deployment', name: 'chat' }, 6_000_000, 2);
    moveTo('2031-05-20T08:00:01Z');
    await eventually('throttled to 2', async () =>
      (await replicasOf(admin, ns, 'chat')) === 2 ? true : undefined,
    );
    await eventually('status throttled', async () =>
      cond(await budgetOf(ns), 'Throttled') === 'True' ? true : undefined,
    );

    // Emergency bypass for an hour, on the workload. Written without the admission webhook's approval
    // (as while it is down, or by a controller), it is ignored: still throttled, and reported.
    const expires = new Date(clock.now() + 3_600_000).toISOString();
    const raw = `reason=incident-42;expires=${expires};by=bob`;
    await admin.patch(
      RESOURCES.deployment,
      ns,
      'chat',
      { metadata: { annotations: { 'genops.ai/bypass': raw } } },
      { type: 'merge' },
    );
    await eventually('unapproved bypass reported', async () => {
      const ev = await eventsFor(admin, ns, 'Deployment', 'chat');
      return ev.some((e) => e.reason === 'BypassRejected' && (e.note ?? '').includes('approval'))
        ? true
        : undefined;
    });
    moveTo('2031-05-20T08:00:02Z');
    expect(await replicasOf(admin, ns, 'chat')).toBe(2);
    // Approved as the webhook approves it (the marker signed with the operator's key), for bob.
    const secret = await admin.get<KubeObject & { data?: Record<string, string> }>(
      { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
      OPERATOR_NAMESPACE,
      'genops-bypass-key',
    );
    const key = Buffer.from(secret?.data?.['key'] ?? '', 'base64');
    const marker = signApproval(key, `workload:${ns}/Deployment/chat`, raw, {
      user: 'bob@example.com',
      expires: Date.parse(expires),
    });
    await admin.patch(
      RESOURCES.deployment,
      ns,
      'chat',
      { metadata: { annotations: { 'genops.ai/bypass-approval': marker } } },
      { type: 'merge' },
    );
    await eventually('restored while bypassed', async () =>
      (await replicasOf(admin, ns, 'chat')) === 4 ? true : undefined,
    );
    // The annotations follow the restore.
    await eventually('annotated as bypassed', async () =>
      (await annotationsOf(admin, RESOURCES.deployment, ns, 'chat'))['genops.ai/status'] === 'bypassed'
        ? true
        : undefined,
    );
    await eventually('bypass audited', async () => {
      const ev = await eventsFor(admin, ns, 'Deployment', 'chat');
      return ev.some((e) => e.reason === 'BypassActivated' && (e.note ?? '').includes('bob@example.com')) &&
        ev.some((e) => e.reason === 'EnforcementBypassed')
        ? true
        : undefined;
    });

    // It expires by itself: throttled again.
    moveTo('2031-05-20T09:30:00Z');
    await eventually('throttled again after expiry', async () =>
      (await replicasOf(admin, ns, 'chat')) === 2 ? true : undefined,
    );
    await eventually('expiry audited', async () => {
      const ev = await eventsFor(admin, ns, 'Deployment', 'chat');
      return ev.some((e) => e.reason === 'BypassExpired') ? true : undefined;
    });

    // Next month: the budget renews and the workload gets its 4 replicas back.
    moveTo('2031-06-01T00:00:05Z');
    await eventually('restored at renewal', async () =>
      (await replicasOf(admin, ns, 'chat')) === 4 ? true : undefined,
    );
    const b = await eventually('status renewed', async () => {
      const x = await budgetOf(ns);
      return x?.status?.currentPeriod?.start === '2031-06-01T00:00:00.000Z' ? x : undefined;
    });
    expect(b.status?.spend).toBe('0.000000');
    expect(cond(b, 'Throttled')).toBe('False');
  });

  it('serves /readyz and its usage record once running', async () => {
    const res = await fetch(`http://127.0.0.1:${op.ports().health}/readyz`);
    expect(res.status).toBe(200);
    expect(op.ready()).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${op.ports().metrics}/metrics`)).text();
    expect(metrics).toContain('genops_enforcement_actions_total');
    expect(metrics).toMatch(/genops_leader(\{[^}]*\})? 1/);
    await op.usage.flush();
    expect(await admin.get(RESOURCES.configMap, OPERATOR_NAMESPACE, op.usage.recordName)).toBeDefined();
  });
});
