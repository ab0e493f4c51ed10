// Workload actions on the real API server, done with the operator's own (non-admin) identity: throttle
// halves through /scale and restores, an HPA is clamped and restored, block scales to zero, every
// change is audited with Events on the workload and on the AIBudget, and re-running changes nothing.

import { beforeAll, describe, expect, it } from 'vitest';
import { createEventRecorder } from '../../enforcer/actions/events.ts';
import { createWorkloadActuator, DEFAULT_SCALABLE, type HpaObject } from '../../enforcer/actions/workload.ts';
import type { Action, Reason, WorkloadDecision } from '../../decision/types.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { createManualClock } from '../../kernel/clock.ts';
import { createRecordingLogger } from '../../kernel/logger.ts';
import type { WorkloadRef } from '../../pipeline/snapshot.ts';
import {
  annotationsOf,
  apiFor,
  createDeployment,
  ensureNamespace,
  eventsFor,
  eventually,
  kubeconfigPath,
  operatorKubeconfigPath,
  prepareCluster,
  replicasOf,
  uniqueName,
} from './enforcer-harness.ts';

function decision(ref: WorkloadRef, action: Action, budget = 'team-budget'): WorkloadDecision {
  const reason: Reason = {
    code: action === 'block' ? 'BUDGET_EXCEEDED' : 'DAILY_LIMIT_EXCEEDED',
    action,
    source: { kind: 'AIBudget', namespace: ref.namespace, name: budget },
    message: 'spend 12.000000 USD exceeds 10.000000 USD',
    figures: { spend: '12.000000', limit: '10.000000' },
    until: undefined,
  };
  return {
    workload: ref,
    key: `${ref.namespace}/${ref.kind}/${ref.name}`,
    action,
    reasons: [reason],
    bypass: undefined,
  };
}

describe('enforcer actions on the real API server', () => {
  let admin: KubeApi;
  let operator: KubeApi;
  let ns: string;
  const logger = createRecordingLogger();

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    operator = apiFor(operatorKubeconfigPath());
    await prepareCluster(admin);
    ns = uniqueName('enf-actions');
    await ensureNamespace(admin, ns);
    await admin.create(RESOURCES.aiBudget, ns, {
      apiVersion: 'genops.ai/v1alpha1',
      kind: 'AIBudget',
      metadata: { name: 'team-budget', namespace: ns },
      spec: { allocation: { amount: 10, period: 'monthly' }, selector: { matchLabels: { team: 'a' } } },
    } as never);
  });

  const actuator = (hpas: HpaObject[] = []) =>
    createWorkloadActuator({
      api: operator,
      events: createEventRecorder({
        api: operator,
        clock: createManualClock(Date.now()),
        logger,
        instance: 'test-replica',
      }),
      logger,
      throttle: { fraction: 0.5, floor: 1 },
      scalable: DEFAULT_SCALABLE,
      hpas: (n) => hpas.filter((h) => h.metadata?.namespace === n),
      instance: 'test-replica',
    });

  it('throttle halves through /scale, clamps the HPA, and everything is restored when the cause clears', async () => {
    const ref = { namespace: ns, kind: 'Deployment', name: 'chat' };
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 4);
    await admin.create(RESOURCES.hpa, ns, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'chat', namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat' },
        minReplicas: 2,
        maxReplicas: 8,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
          },
        ],
      },
    } as never);
    const hpa = () => admin.get<HpaObject>(RESOURCES.hpa, ns, 'chat');
    const a = actuator();
    // The actuator reads HPAs from the informer cache; here from a fresh read.
    const withHpa = async () => actuator([(await hpa())!]);

    const out = await (await withHpa()).reconcile(ref, decision(ref, 'throttle'));
    expect(out).toMatchObject({ changed: true, status: 'throttle', replicas: { from: 4, to: 2 } });
    expect(await replicasOf(admin, ns, 'chat')).toBe(2);
    const ann = await annotationsOf(admin, RESOURCES.deployment, ns, 'chat');
    expect(ann['genops.ai/status']).toBe('throttle');
    expect(ann['genops.ai/reason']).toBe('DAILY_LIMIT_EXCEEDED:AIBudget/team-budget');
    expect(ann['genops.ai/original-replicas']).toBe('4');
    const clamped = await hpa();
    expect(clamped?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 2 });
    expect(clamped?.metadata?.annotations).toMatchObject({
      'genops.ai/original-max-replicas': '8',
      'genops.ai/original-min-replicas': '2',
    });

    // Level-based: the same decision again changes nothing and records no new event.
    const ourEvents = async () =>
      (await eventsFor(admin, ns, 'Deployment', 'chat')).filter(
        (e) => e.reportingController === 'genops.ai/operator',
      ).length;
    const eventsBefore = await ourEvents();
    expect(eventsBefore).toBe(1);
    const again = await (await withHpa()).reconcile(ref, decision(ref, 'throttle'));
    expect(again.changed).toBe(false);
    expect(await ourEvents()).toBe(eventsBefore);

    // Someone scales it back up by hand: the next reconcile puts the throttle back, original kept.
    await admin.patch(
      RESOURCES.deployment,
      ns,
      'chat',
      { spec: { replicas: 6 } },
      { type: 'merge', subresource: 'scale' },
    );
    const fixed = await (await withHpa()).reconcile(ref, decision(ref, 'throttle'));
    expect(fixed.replicas).toEqual({ from: 6, to: 2 });
    expect(
      (await annotationsOf(admin, RESOURCES.deployment, ns, 'chat'))['genops.ai/original-replicas'],
    ).toBe('4');

    // The cause clears (decision allow): HPA bounds first, then replicas, then the record goes.
    const restored = await (await withHpa()).reconcile(ref, undefined);
    expect(restored).toMatchObject({ changed: true, status: undefined, replicas: { from: 2, to: 4 } });
    expect(await replicasOf(admin, ns, 'chat')).toBe(4);
    const after = await annotationsOf(admin, RESOURCES.deployment, ns, 'chat');
    expect(after['genops.ai/status']).toBeUndefined();
    expect(after['genops.ai/original-replicas']).toBeUndefined();
    const hpaAfter = await hpa();
    expect(hpaAfter?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 8 });
    expect(hpaAfter?.metadata?.annotations?.['genops.ai/original-max-replicas']).toBeUndefined();
    expect((await a.reconcile(ref, undefined)).changed).toBe(false);

    const ours = (await eventsFor(admin, ns, 'Deployment', 'chat')).filter(
      (e) => e.reportingController === 'genops.ai/operator',
    );
    // Throttled, throttle re-applied after the manual scale-up, cleared.
    expect(ours.map((e) => e.reason).sort()).toEqual(['EnforcementCleared', 'Throttled', 'Throttled']);
    const audit = logger.records.filter(
      (r) => r['audit'] === true && r['workload'] === `${ns}/Deployment/chat`,
    );
    expect(audit.length).toBeGreaterThanOrEqual(3);
  });

  it('block scales to zero and restores; the AIBudget gets an Event naming the workload', async () => {
    const ref = { namespace: ns, kind: 'Deployment', name: 'batch' };
    await createDeployment(admin, ns, 'batch', { team: 'a' }, 3);
    const a = actuator();
    expect(await a.reconcile(ref, decision(ref, 'block'))).toMatchObject({
      status: 'block',
      replicas: { from: 3, to: 0 },
    });
    expect(await replicasOf(admin, ns, 'batch')).toBe(0);
    const onBudget = await eventsFor(admin, ns, 'AIBudget', 'team-budget');
    const blocked = onBudget.find((e) => e.reason === 'Blocked' && e.related?.name === 'batch');
    expect(blocked?.type).toBe('Warning');
    expect(blocked?.note).toContain('Scaled from 3 to 0');
    // Warn keeps replicas restored but the workload annotated.
    expect(await a.reconcile(ref, decision(ref, 'warn'))).toMatchObject({
      status: 'warn',
      replicas: { from: 0, to: 3 },
    });
    expect((await annotationsOf(admin, RESOURCES.deployment, ns, 'batch'))['genops.ai/status']).toBe('warn');
    expect(await replicasOf(admin, ns, 'batch')).toBe(3);
  });

  it('throttle never raises replicas: a workload its owner scaled below the target stays there', async () => {
    const ref = { namespace: ns, kind: 'Deployment', name: 'small' };
    await createDeployment(admin, ns, 'small', { team: 'a' }, 4);
    const a = actuator();
    expect((await a.reconcile(ref, decision(ref, 'throttle'))).replicas).toEqual({ from: 4, to: 2 });
    // The owner scales it to 1 while throttled (target 2): the next reconciles leave it at 1.
    await admin.patch(
      RESOURCES.deployment,
      ns,
      'small',
      { spec: { replicas: 1 } },
      { type: 'merge', subresource: 'scale' },
    );
    for (let i = 0; i < 2; i++) {
      const out = await a.reconcile(ref, decision(ref, 'throttle'));
      expect(out.replicas).toBeUndefined();
      expect(await replicasOf(admin, ns, 'small')).toBe(1);
    }
    // Our own block relaxed to a throttle is the one raise allowed: 0 -> the throttled target.
    expect((await a.reconcile(ref, decision(ref, 'block'))).replicas).toEqual({ from: 1, to: 0 });
    expect((await a.reconcile(ref, decision(ref, 'throttle'))).replicas).toEqual({ from: 0, to: 2 });
    expect(await replicasOf(admin, ns, 'small')).toBe(2);
  });

  it('scales a StatefulSet through its scale subresource the same way', async () => {
    const ref = { namespace: ns, kind: 'StatefulSet', name: 'vector-db' };
    await createDeployment(admin, ns, 'vector-db', { team: 'a' }, 2, 'StatefulSet');
    const a = actuator();
    expect((await a.reconcile(ref, decision(ref, 'block'))).replicas).toEqual({ from: 2, to: 0 });
    expect(await replicasOf(admin, ns, 'vector-db', RESOURCES.statefulSet)).toBe(0);
    expect((await a.reconcile(ref, undefined)).replicas).toEqual({ from: 0, to: 2 });
    expect(await replicasOf(admin, ns, 'vector-db', RESOURCES.statefulSet)).toBe(2);
  });

  it('scales any custom resource with a /scale subresource, with merge patches only', async () => {
    // A test CRD with a scale subresource, and the RBAC a user grants for `--scale-resource`.
    const crd = {
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      kind: 'CustomResourceDefinition',
      namespaced: false,
    };
    await admin.patch(
      crd,
      undefined,
      'widgets.enforcer-test.example.com',
      {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'widgets.enforcer-test.example.com' },
        spec: {
          group: 'enforcer-test.example.com',
          names: { kind: 'Widget', plural: 'widgets', singular: 'widget' },
          scope: 'Namespaced',
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              subresources: {
                scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
              },
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: { type: 'object', properties: { replicas: { type: 'integer' } } },
                    status: { type: 'object', properties: { replicas: { type: 'integer' } } },
                  },
                },
              },
            },
          ],
        },
      },
      { type: 'apply', force: true },
    );
    const rbac = (plural: string, kind: string) => ({
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      plural,
      kind,
      namespaced: false,
    });
    await admin.patch(
      rbac('clusterroles', 'ClusterRole'),
      undefined,
      'genops-test-widgets',
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'genops-test-widgets' },
        rules: [
          { apiGroups: ['enforcer-test.example.com'], resources: ['widgets'], verbs: ['get', 'patch'] },
          { apiGroups: ['enforcer-test.example.com'], resources: ['widgets/scale'], verbs: ['get', 'patch'] },
        ],
      },
      { type: 'apply', force: true },
    );
    await admin.patch(
      rbac('clusterrolebindings', 'ClusterRoleBinding'),
      undefined,
      'genops-test-widgets',
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'genops-test-widgets' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'genops-test-widgets' },
        subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'genops-operator' }],
      },
      { type: 'apply', force: true },
    );
    const widgets = {
      group: 'enforcer-test.example.com',
      version: 'v1',
      plural: 'widgets',
      kind: 'Widget',
      namespaced: true,
    };
    await eventually(
      'widget CRD served',
      async () =>
        await admin
          .list(widgets, { namespace: ns })
          .then(() => true)
          .catch(() => undefined),
    );
    await admin.create(widgets, ns, {
      apiVersion: 'enforcer-test.example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w', namespace: ns },
      spec: { replicas: 6 },
    } as never);
    const a = createWorkloadActuator({
      api: operator,
      events: createEventRecorder({
        api: operator,
        clock: createManualClock(Date.now()),
        logger,
        instance: 'test-replica',
      }),
      logger,
      throttle: { fraction: 0.5, floor: 1 },
      scalable: new Map([['Widget', widgets]]),
      hpas: () => [],
      instance: 'test-replica',
    });
    const ref = { namespace: ns, kind: 'Widget', name: 'w' };
    const read = async () =>
      (await admin.get<{ spec?: { replicas?: number }; metadata?: { annotations?: Record<string, string> } }>(
        widgets,
        ns,
        'w',
      ))!;
    await eventually('throttled widget', async () => {
      await a.reconcile(ref, decision(ref, 'throttle'));
      return (await read()).spec?.replicas === 3 ? true : undefined;
    });
    expect((await read()).metadata?.annotations?.['genops.ai/original-replicas']).toBe('6');
    await a.reconcile(ref, undefined);
    expect((await read()).spec?.replicas).toBe(6);
    expect((await read()).metadata?.annotations?.['genops.ai/status']).toBeUndefined();
    await admin.delete(crd, undefined, 'widgets.enforcer-test.example.com');
    await admin.delete(rbac('clusterrolebindings', 'ClusterRoleBinding'), undefined, 'genops-test-widgets');
    await admin.delete(rbac('clusterroles', 'ClusterRole'), undefined, 'genops-test-widgets');
  });

  it('the operator identity cannot write what it does not need', async () => {
    // Least privilege: no deleting workloads, no Secrets outside its namespace.
    await expect(operator.delete(RESOURCES.deployment, ns, 'chat')).rejects.toMatchObject({ status: 403 });
    await expect(
      operator.list(
        { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
        { namespace: ns },
      ),
    ).rejects.toMatchObject({ status: 403 });
  });
});
