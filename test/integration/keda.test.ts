// Throttle and block next to KEDA, on the real API server with KEDA's real ScaledObject CRD (from the
// Go module github.com/kedacore/keda/v2, fetched by `go mod download` into the Go module cache at test
// time, not committed) and the operator's own identity (config/rbac, keda_role.yaml included):
// a workload a ScaledObject scales is paused through autoscaling.keda.sh/paused-replicas and restored;
// the HPA KEDA owns is not clamped; a paused-replicas value the user set comes back afterwards.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEventRecorder } from '../../enforcer/actions/events.ts';
import {
  createKedaPauser,
  KEDA_PAUSED_REPLICAS,
  ORIGINAL_PAUSED_ANNOTATION,
  SCALED_OBJECTS,
  type ScaledObject,
} from '../../enforcer/actions/keda.ts';
import { createWorkloadActuator, DEFAULT_SCALABLE, type HpaObject } from '../../enforcer/actions/workload.ts';
import type { Action, WorkloadDecision } from '../../decision/types.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { createManualClock, systemClock } from '../../kernel/clock.ts';
import { createRecordingLogger } from '../../kernel/logger.ts';
import type { WorkloadRef } from '../../pipeline/snapshot.ts';
import {
  annotationsOf,
  apiFor,
  createDeployment,
  ensureNamespace,
  kubeconfigPath,
  operatorKubeconfigPath,
  prepareCluster,
  replicasOf,
  uniqueName,
} from './enforcer-harness.ts';

const KEDA_MODULE = 'github.com/kedacore/keda/v2@v2.21.0';

/** KEDA's ScaledObject CRD from its Go module (downloaded once into GOMODCACHE through the Go proxy). */
function scaledObjectCrd(): Record<string, unknown> {
  const r = spawnSync('go', ['mod', 'download', '-json', KEDA_MODULE], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, GOTOOLCHAIN: 'local', GOWORK: 'off', GOFLAGS: '-mod=mod' },
  });
  if (r.error) throw new Error(`go is needed to fetch KEDA's CRDs: ${r.error.message}`);
  const info = JSON.parse(r.stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${KEDA_MODULE} failed: ${info.Error ?? r.stderr}`);
  return parse(readFileSync(join(info.Dir, 'config/crd/bases/keda.sh_scaledobjects.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
}

function decision(ref: WorkloadRef, action: Action): WorkloadDecision {
  return {
    workload: ref,
    key: `${ref.namespace}/${ref.kind}/${ref.name}`,
    action,
    reasons: [
      {
        code: action === 'block' ? 'BUDGET_EXCEEDED' : 'DAILY_LIMIT_EXCEEDED',
        action,
        source: { kind: 'AIBudget', namespace: ref.namespace, name: 'team-budget' },
        message: 'spend 12.000000 USD exceeds 10.000000 USD',
        figures: { spend: '12.000000', limit: '10.000000' },
        until: undefined,
      },
    ],
    bypass: undefined,
  };
}

describe('throttle and block next to KEDA', () => {
  let admin: KubeApi;
  let operator: KubeApi;
  let ns: string;
  const logger = createRecordingLogger();

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    operator = apiFor(operatorKubeconfigPath());
    await prepareCluster(admin);
    const crd = scaledObjectCrd();
    const kubectl = (args: string[], input?: string) =>
      spawnSync('kubectl', args, {
        encoding: 'utf8',
        input,
        env: { ...process.env, KUBECONFIG: kubeconfigPath() },
        timeout: 90_000,
      });
    const applied = kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify(crd));
    expect(applied.status, applied.stderr).toBe(0);
    const ready = kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/scaledobjects.keda.sh',
    ]);
    expect(ready.status, ready.stderr).toBe(0);
    ns = uniqueName('keda');
    await ensureNamespace(admin, ns);
  }, 600_000);

  const scaledObject = (name: string, target: string, annotations?: Record<string, string>) =>
    admin.create(SCALED_OBJECTS, ns, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) },
      spec: {
        scaleTargetRef: { name: target },
        minReplicaCount: 0,
        maxReplicaCount: 10,
        triggers: [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } }],
      },
    } as never);

  /** The HPA KEDA creates for a ScaledObject (KEDA's controller is not running here). */
  const kedaHpa = (target: string) =>
    admin.create(RESOURCES.hpa, ns, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: `keda-hpa-${target}`, namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
        minReplicas: 1,
        maxReplicas: 10,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } },
          },
        ],
      },
    } as never) as Promise<HpaObject>;

  const actuator = (hpas: HpaObject[]) =>
    createWorkloadActuator({
      api: operator,
      events: createEventRecorder({
        api: operator,
        clock: createManualClock(Date.now()),
        logger,
        instance: 't',
      }),
      logger,
      throttle: { fraction: 0.5, floor: 1 },
      scalable: DEFAULT_SCALABLE,
      hpas: () => hpas,
      keda: createKedaPauser({ api: operator, logger, clock: systemClock }),
      instance: 't',
    });

  const soAnnotations = async (name: string) =>
    (await admin.get<ScaledObject>(SCALED_OBJECTS, ns, name))?.metadata?.annotations ?? {};

  it('pauses the ScaledObject at the throttled and the blocked count, leaves its HPA alone, restores', async () => {
    const ref = { namespace: ns, kind: 'Deployment', name: 'chat' };
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 4);
    await scaledObject('chat', 'chat');
    const hpa = await kedaHpa('chat');
    const a = actuator([hpa]);

    const throttled = await a.reconcile(ref, decision(ref, 'throttle'));
    expect(throttled).toMatchObject({ changed: true, status: 'throttle', replicas: { from: 4, to: 2 } });
    expect(await soAnnotations('chat')).toMatchObject({
      [KEDA_PAUSED_REPLICAS]: '2',
      [ORIGINAL_PAUSED_ANNOTATION]: '',
    });
    expect(await replicasOf(admin, ns, 'chat')).toBe(2);
    // KEDA's HPA is KEDA's: not clamped, no annotations of ours.
    const untouched = await admin.get<HpaObject>(RESOURCES.hpa, ns, 'keda-hpa-chat');
    expect(untouched?.spec).toMatchObject({ minReplicas: 1, maxReplicas: 10 });
    expect(untouched?.metadata?.annotations ?? {}).not.toHaveProperty('genops.ai/original-max-replicas');

    // Level-based: again, nothing changes.
    expect((await a.reconcile(ref, decision(ref, 'throttle'))).changed).toBe(false);

    // Block: KEDA keeps it at zero (paused at 0) instead of waking it; the record is the first one.
    const blocked = await a.reconcile(ref, decision(ref, 'block'));
    expect(blocked.status).toBe('block');
    expect(await soAnnotations('chat')).toMatchObject({
      [KEDA_PAUSED_REPLICAS]: '0',
      [ORIGINAL_PAUSED_ANNOTATION]: '',
    });
    expect(await replicasOf(admin, ns, 'chat')).toBe(0);

    // The cause clears: KEDA scales again (annotation gone), the replicas come back.
    const restored = await a.reconcile(ref, undefined);
    expect(restored.changed).toBe(true);
    const after = await soAnnotations('chat');
    expect(after).not.toHaveProperty(KEDA_PAUSED_REPLICAS);
    expect(after).not.toHaveProperty(ORIGINAL_PAUSED_ANNOTATION);
    expect(await replicasOf(admin, ns, 'chat')).toBe(4);
    const deploymentAnnotations = await annotationsOf(admin, RESOURCES.deployment, ns, 'chat');
    expect(deploymentAnnotations).not.toHaveProperty('genops.ai/status');
  });

  it('puts back a pause the user had set, and ignores ScaledObjects of other workloads', async () => {
    const ref = { namespace: ns, kind: 'Deployment', name: 'batch' };
    await createDeployment(admin, ns, 'batch', { team: 'a' }, 6);
    await createDeployment(admin, ns, 'other', { team: 'a' }, 3);
    await scaledObject('batch', 'batch', { [KEDA_PAUSED_REPLICAS]: '5' });
    await scaledObject('other', 'other');
    const a = actuator([]);

    await a.reconcile(ref, decision(ref, 'throttle'));
    expect(await soAnnotations('batch')).toMatchObject({
      [KEDA_PAUSED_REPLICAS]: '3',
      [ORIGINAL_PAUSED_ANNOTATION]: '5',
    });
    expect(await soAnnotations('other')).toEqual({});
    await a.reconcile(ref, undefined);
    const back = await soAnnotations('batch');
    expect(back[KEDA_PAUSED_REPLICAS]).toBe('5');
    expect(back).not.toHaveProperty(ORIGINAL_PAUSED_ANNOTATION);
  });

  it('without a ScaledObject the HPA is clamped as before', async () => {
    const ref = { namespace: ns, kind: 'Deployment', name: 'plain' };
    await createDeployment(admin, ns, 'plain', { team: 'a' }, 4);
    const hpa = (await admin.create(RESOURCES.hpa, ns, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'plain', namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'plain' },
        minReplicas: 2,
        maxReplicas: 8,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
          },
        ],
      },
    } as never)) as HpaObject;
    await actuator([hpa]).reconcile(ref, decision(ref, 'throttle'));
    const clamped = await admin.get<HpaObject>(RESOURCES.hpa, ns, 'plain');
    expect(clamped?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 2 });
  });
});
