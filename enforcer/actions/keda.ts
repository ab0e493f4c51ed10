// Owns throttling and blocking a workload that a KEDA ScaledObject scales. KEDA owns that workload's HPA
// (keda-hpa-<name>) and wakes a workload scaled to zero, so clamping the HPA or scaling alone fights
// KEDA. Instead the ScaledObject is paused at the operator's replica count with KEDA's own annotation
// autoscaling.keda.sh/paused-replicas, and restored afterwards:
// - pause: record the annotation's previous value (or that there was none) in
//   genops.ai/original-paused-replicas, then set paused-replicas to the target;
// - restore: put the previous value back (or remove the annotation), then drop the record.
// ScaledObjects are read when an action needs them (a list in the workload's namespace), not watched:
// without KEDA's CRD the list answers 404, and without the RBAC of config/rbac/keda_role.yaml 403; both
// mean "no KEDA here" (the HPA is clamped as before) and are remembered for a minute.

import type { KubeApi } from '../../cluster/api.ts';
import { isForbidden, isNotFound } from '../../cluster/errors.ts';
import type { KubeObject, ResourceType } from '../../cluster/resources.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Clock } from '../../kernel/clock.ts';

export const SCALED_OBJECTS: ResourceType = {
  group: 'keda.sh',
  version: 'v1alpha1',
  plural: 'scaledobjects',
  kind: 'ScaledObject',
  namespaced: true,
};
export const KEDA_PAUSED_REPLICAS = 'autoscaling.keda.sh/paused-replicas';
/** The paused-replicas value before the operator paused the ScaledObject; '' when there was none. */
export const ORIGINAL_PAUSED_ANNOTATION = 'genops.ai/original-paused-replicas';

const NO_CRD_RETRY_MS = 60_000;

export interface ScaledObject extends KubeObject {
  spec?: { scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string } };
}

export interface KedaPauserOptions {
  readonly api: KubeApi;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface KedaPauser {
  /**
   * Pauses (replicas defined) or restores (undefined) the ScaledObject targeting the workload. Returns
   * whether one targets it (then KEDA owns its HPA: the caller leaves the HPA alone) and whether it wrote.
   */
  reconcile(
    workload: { namespace: string; kind: string; name: string },
    rt: ResourceType,
    replicas: number | undefined,
  ): Promise<{ readonly scaledBy: string | undefined; readonly wrote: boolean }>;
}

export function createKedaPauser(options: KedaPauserOptions): KedaPauser {
  const { api, clock } = options;
  const log = options.logger.child({ component: 'keda' });
  let noCrdUntil = 0;

  async function targeting(
    ns: string,
    kind: string,
    name: string,
    rt: ResourceType,
  ): Promise<ScaledObject | undefined> {
    if (clock.now() < noCrdUntil) return undefined;
    let items: ScaledObject[];
    try {
      items = (await api.list<ScaledObject>(SCALED_OBJECTS, { namespace: ns })).items;
    } catch (err) {
      const forbidden = isForbidden(err);
      if (!isNotFound(err) && !forbidden) throw err;
      if (forbidden)
        log.warn('cannot list KEDA ScaledObjects (RBAC: config/rbac/keda_role.yaml); clamping HPAs');
      noCrdUntil = clock.now() + NO_CRD_RETRY_MS;
      return undefined;
    }
    return items.find((so) => {
      const t = so.spec?.scaleTargetRef;
      // KEDA's defaults: apps/v1 Deployment.
      const targetKind = t?.kind ?? 'Deployment';
      const apiVersion = t?.apiVersion ?? 'apps/v1';
      const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
      return t?.name === name && targetKind === kind && group === rt.group;
    });
  }

  return {
    async reconcile(workload, rt, replicas) {
      const so = await targeting(workload.namespace, workload.kind, workload.name, rt);
      const name = so?.metadata?.name;
      if (so === undefined || name === undefined) return { scaledBy: undefined, wrote: false };
      const ann = so.metadata?.annotations ?? {};
      const current = ann[KEDA_PAUSED_REPLICAS];
      const recorded = ann[ORIGINAL_PAUSED_ANNOTATION];
      let patch: Record<string, string | null> | undefined;
      if (replicas !== undefined) {
        if (current !== String(replicas)) {
          patch = {
            [KEDA_PAUSED_REPLICAS]: String(replicas),
            // Keep the first record: a second pause (block after throttle) must not record our own value.
            ...(recorded === undefined ? { [ORIGINAL_PAUSED_ANNOTATION]: current ?? '' } : {}),
          };
        }
      } else if (recorded !== undefined) {
        patch = {
          [KEDA_PAUSED_REPLICAS]: recorded === '' ? null : recorded,
          [ORIGINAL_PAUSED_ANNOTATION]: null,
        };
      }
      if (patch === undefined) return { scaledBy: name, wrote: false };
      await api.patch(
        SCALED_OBJECTS,
        workload.namespace,
        name,
        { metadata: { resourceVersion: so.metadata?.resourceVersion, annotations: patch } },
        { type: 'merge' },
      );
      log.info('audit: keda scaledobject', {
        scaledObject: `${workload.namespace}/${name}`,
        workload: `${workload.kind}/${workload.name}`,
        pausedReplicas: patch[KEDA_PAUSED_REPLICAS],
      });
      return { scaledBy: name, wrote: true };
    },
  };
}
