// Owns applying one workload's decision to the cluster, level-based and idempotent:
//   warn      -> annotations genops.ai/status + genops.ai/reason
//   throttle  -> record original replicas (annotation), clamp a targeting HPA, scale via /scale down to a
//                fraction (never up: fewer replicas set by the owner stay)
//   block     -> the same, to zero
//   allow / bypassed -> restore the HPA, scale back to the recorded original, remove our annotations
// The record is written before scaling down and removed after restoring, so a crash in between never
// loses the original. Annotation writes carry the resourceVersion read, so two writers racing (an old
// and a new leader) conflict instead of overwriting each other's record. Every change is audited:
// a structured log line, Events on the workload and on each AIBudget/AIPolicy behind it, a metric.

import type { Logger } from '../../kernel/logger.ts';
import type { WorkloadDecision } from '../../decision/types.ts';
import type { WorkloadRef } from '../../pipeline/snapshot.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { isConflict } from '../../cluster/errors.ts';
import { apiVersionOf, RESOURCES, type KubeObject, type ResourceType } from '../../cluster/resources.ts';
import {
  HPA_ORIGINAL_MAX_ANNOTATION,
  HPA_ORIGINAL_MIN_ANNOTATION,
  intAnnotation,
  ORIGINAL_REPLICAS_ANNOTATION,
  REASON_ANNOTATION,
  STATUS_ANNOTATION,
} from './annotations.ts';
import { noopEnforcementMetrics, type EnforcementMetrics } from '../metrics.ts';
import type { EventRecorder, ObjectRef } from './events.ts';
import { throttledReplicas, type ThrottleOptions } from './throttle.ts';
import type { KedaPauser } from './keda.ts';

export type WorkloadStatus = 'warn' | 'throttle' | 'block' | 'bypassed';

export interface ScaleObject extends KubeObject {
  spec?: { replicas?: number };
  status?: { replicas?: number };
}

export interface HpaObject extends KubeObject {
  spec?: {
    scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
    minReplicas?: number;
    maxReplicas?: number;
  };
}

export interface WorkloadActuatorOptions {
  readonly api: KubeApi;
  readonly events: EventRecorder;
  readonly logger: Logger;
  readonly throttle: ThrottleOptions;
  /** Kinds the operator may scale, by workload kind (Deployment, StatefulSet, ...). */
  readonly scalable: ReadonlyMap<string, ResourceType>;
  /** HPAs in a namespace (from an informer). */
  readonly hpas: (namespace: string) => readonly HpaObject[];
  /** Pauses a KEDA ScaledObject instead of clamping the HPA KEDA owns (keda.ts); absent: no KEDA. */
  readonly keda?: KedaPauser;
  readonly metrics?: EnforcementMetrics;
  /** Identity written into audit records. */
  readonly instance: string;
}

/** What a reconcile did, for tests and the audit. */
export interface WorkloadOutcome {
  readonly changed: boolean;
  readonly status: WorkloadStatus | undefined;
  readonly replicas?: { readonly from: number; readonly to: number } | undefined;
}

export interface WorkloadActuator {
  reconcile(ref: WorkloadRef, decision: WorkloadDecision | undefined): Promise<WorkloadOutcome>;
}

/** The stable summary written to genops.ai/reason: sorted unique CODE:Kind/name (namespace when foreign). */
export function reasonSummary(ref: WorkloadRef, decision: WorkloadDecision | undefined): string {
  if (decision === undefined) return '';
  const parts = new Set<string>();
  for (const r of decision.reasons) {
    if (r.action === 'allow') continue;
    const src =
      r.source.namespace === ref.namespace ? r.source.name : `${r.source.namespace}/${r.source.name}`;
    parts.add(`${r.code}:${r.source.kind}/${src}`);
  }
  return [...parts].sort().join(',');
}

export function desiredStatus(decision: WorkloadDecision | undefined): WorkloadStatus | undefined {
  if (decision === undefined) return undefined;
  if (decision.bypass !== undefined) return 'bypassed';
  return decision.action === 'allow' ? undefined : decision.action;
}

export function createWorkloadActuator(options: WorkloadActuatorOptions): WorkloadActuator {
  const { api, throttle } = options;
  const metrics = options.metrics ?? noopEnforcementMetrics;
  const log = options.logger.child({ component: 'actuator' });

  /** One audited write: counted as success or error by action and kind. */
  async function counted<T>(
    namespace: string,
    kind: string,
    action: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    try {
      const out = await fn();
      metrics.action(namespace, kind, action, 'success');
      return out;
    } catch (err) {
      metrics.action(namespace, kind, action, 'error');
      throw err;
    }
  }

  function hpaFor(ref: WorkloadRef, rt: ResourceType): HpaObject | undefined {
    return options.hpas(ref.namespace).find((h) => {
      const t = h.spec?.scaleTargetRef;
      if (t?.kind !== ref.kind || t.name !== ref.name) return false;
      const group = (t.apiVersion ?? '').includes('/') ? (t.apiVersion ?? '').split('/')[0] : '';
      return group === rt.group;
    });
  }

  /** Clamps (cap defined) or restores (cap undefined) the HPA targeting the workload; true if it wrote. */
  async function reconcileHpa(ref: WorkloadRef, rt: ResourceType, cap: number | undefined): Promise<boolean> {
    const hpa = hpaFor(ref, rt);
    const name = hpa?.metadata?.name;
    if (hpa === undefined || name === undefined) return false;
    const ann = hpa.metadata?.annotations;
    const origMax = intAnnotation(ann, HPA_ORIGINAL_MAX_ANNOTATION);
    const origMin = intAnnotation(ann, HPA_ORIGINAL_MIN_ANNOTATION);
    const curMax = hpa.spec?.maxReplicas ?? 1;
    const curMin = hpa.spec?.minReplicas ?? 1;
    let patch: Record<string, unknown> | undefined;
    if (cap !== undefined) {
      // HPA bounds are >= 1; a workload scaled to zero is left alone by the HPA anyway.
      const baseMax = origMax ?? curMax;
      const baseMin = origMin ?? curMin;
      const max = Math.max(1, Math.min(baseMax, cap));
      const min = Math.min(baseMin, max);
      if (origMax === undefined || curMax !== max || curMin !== min) {
        patch = {
          metadata: {
            resourceVersion: hpa.metadata?.resourceVersion,
            annotations: {
              [HPA_ORIGINAL_MAX_ANNOTATION]: String(baseMax),
              [HPA_ORIGINAL_MIN_ANNOTATION]: String(baseMin),
            },
          },
          spec: { maxReplicas: max, minReplicas: min },
        };
      }
    } else if (origMax !== undefined) {
      patch = {
        metadata: {
          annotations: { [HPA_ORIGINAL_MAX_ANNOTATION]: null, [HPA_ORIGINAL_MIN_ANNOTATION]: null },
        },
        spec: { maxReplicas: origMax, minReplicas: origMin ?? curMin },
      };
    }
    if (patch === undefined) return false;
    const body = patch;
    await counted(ref.namespace, 'HorizontalPodAutoscaler', cap === undefined ? 'restore' : 'hpa', () =>
      api.patch(RESOURCES.hpa, ref.namespace, name, body, { type: 'merge' }),
    );
    log.info('audit: hpa bounds', {
      audit: true,
      hpa: `${ref.namespace}/${name}`,
      workload: `${ref.kind}/${ref.name}`,
      from: { min: curMin, max: curMax },
      to: patch['spec'] as Record<string, number>,
    });
    return true;
  }

  /** What the attempts of one reconcile saw and did, kept across retries. */
  interface Progress {
    first: KubeObject | undefined;
    replicas: { from: number; to: number } | undefined;
    wrote: boolean;
  }

  async function reconcile(
    ref: WorkloadRef,
    decision: WorkloadDecision | undefined,
  ): Promise<WorkloadOutcome> {
    const rt = options.scalable.get(ref.kind);
    const status = desiredStatus(decision);
    // Not a kind we may write (DaemonSet, Job, CronJob, Pod): admission still refuses new pods when blocked.
    if (rt === undefined) return { changed: false, status };
    const reason = status === undefined ? '' : reasonSummary(ref, decision);
    const progress: Progress = { first: undefined, replicas: undefined, wrote: false };
    // Controllers update workloads' status all the time, so the conditional write often meets a newer
    // version: every step is idempotent, so read again and go on from there.
    for (let attempt = 0; ; attempt++) {
      try {
        await reconcileOnce(ref, rt, status, reason, progress);
        break;
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
      }
    }
    const obj = progress.first;
    if (obj === undefined) return { changed: false, status };
    const ann = obj.metadata?.annotations ?? {};
    const prevStatus = ann[STATUS_ANNOTATION] as WorkloadStatus | undefined;
    const prevReason = ann[REASON_ANNOTATION] ?? '';
    const transition = prevStatus !== status || (status !== undefined && prevReason !== reason);
    if (transition || progress.replicas !== undefined) {
      await audit(ref, rt, obj, decision, { prevStatus, status, reason, replicas: progress.replicas });
    }
    return { changed: progress.wrote, status, replicas: progress.replicas };
  }

  async function reconcileOnce(
    ref: WorkloadRef,
    rt: ResourceType,
    status: WorkloadStatus | undefined,
    reason: string,
    progress: Progress,
  ): Promise<void> {
    const obj = await api.get<KubeObject>(rt, ref.namespace, ref.name);
    if (obj === undefined || obj.metadata?.deletionTimestamp !== undefined) return;
    progress.first ??= obj;
    const ann = obj.metadata?.annotations ?? {};
    const recorded = intAnnotation(ann, ORIGINAL_REPLICAS_ANNOTATION);
    const action = status === 'throttle' || status === 'block' ? status : undefined;
    const scaled = (from: number, to: number): void => {
      progress.replicas = { from: progress.replicas?.from ?? from, to };
      progress.wrote = true;
    };

    const annotationPatch = (
      extra: Record<string, string | null>,
    ): Record<string, string | null> | undefined => {
      const want: Record<string, string | null> = {
        [STATUS_ANNOTATION]: status ?? null,
        [REASON_ANNOTATION]: status === undefined ? null : reason,
        ...extra,
      };
      const changes: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(want)) if ((ann[k] ?? null) !== v) changes[k] = v;
      return Object.keys(changes).length === 0 ? undefined : changes;
    };

    if (action !== undefined) {
      const scale = await api.get<ScaleObject>(rt, ref.namespace, ref.name, 'scale');
      if (scale === undefined) return;
      const current = scale.spec?.replicas ?? 0;
      const original = recorded ?? current;
      const target = action === 'block' ? 0 : throttledReplicas(original, throttle);
      // 1. The record first (conditional on what we read), so the original survives anything after.
      const changes = annotationPatch({ [ORIGINAL_REPLICAS_ANNOTATION]: String(original) });
      if (changes !== undefined) {
        await counted(ref.namespace, ref.kind, 'annotate', () =>
          api.patch(
            rt,
            ref.namespace,
            ref.name,
            { metadata: { resourceVersion: obj.metadata?.resourceVersion, annotations: changes } },
            { type: 'merge' },
          ),
        );
        progress.wrote = true;
      }
      // 2. Keep an autoscaler from scaling it back up: KEDA's pause when a ScaledObject scales it, else the HPA.
      const keda = await options.keda?.reconcile(ref, rt, target);
      if (keda?.wrote === true) progress.wrote = true;
      if (keda?.scaledBy === undefined && (await reconcileHpa(ref, rt, target))) progress.wrote = true;
      // 3. Scale, down only: a throttle never raises replicas (a workload its owner scaled below the
      // target stays there). The one exception is our own block being relaxed to a throttle.
      const ourBlock = current === 0 && ann[STATUS_ANNOTATION] === 'block';
      if (current > target || (ourBlock && target > current)) {
        await counted(ref.namespace, ref.kind, 'scale', () =>
          api.patch(
            rt,
            ref.namespace,
            ref.name,
            { spec: { replicas: target } },
            { type: 'merge', subresource: 'scale' },
          ),
        );
        scaled(current, target);
      }
    } else {
      // Restore: HPA bounds first (else it would scale back down), then replicas, then drop the record.
      // A ScaledObject is paused only after the original replicas were recorded: nothing to look up otherwise.
      if (recorded !== undefined && (await options.keda?.reconcile(ref, rt, undefined))?.wrote === true) {
        progress.wrote = true;
      }
      if (await reconcileHpa(ref, rt, undefined)) progress.wrote = true;
      if (recorded !== undefined) {
        const scale = await api.get<ScaleObject>(rt, ref.namespace, ref.name, 'scale');
        const current = scale?.spec?.replicas ?? 0;
        if (scale !== undefined && current !== recorded) {
          await counted(ref.namespace, ref.kind, 'restore', () =>
            api.patch(
              rt,
              ref.namespace,
              ref.name,
              { spec: { replicas: recorded } },
              { type: 'merge', subresource: 'scale' },
            ),
          );
          scaled(current, recorded);
        }
      }
      const changes = annotationPatch({ [ORIGINAL_REPLICAS_ANNOTATION]: null });
      if (changes !== undefined) {
        await counted(ref.namespace, ref.kind, 'annotate', () =>
          api.patch(rt, ref.namespace, ref.name, { metadata: { annotations: changes } }, { type: 'merge' }),
        );
        progress.wrote = true;
      }
    }
  }

  async function audit(
    ref: WorkloadRef,
    rt: ResourceType,
    obj: KubeObject,
    decision: WorkloadDecision | undefined,
    what: {
      prevStatus: WorkloadStatus | undefined;
      status: WorkloadStatus | undefined;
      reason: string;
      replicas: { from: number; to: number } | undefined;
    },
  ): Promise<void> {
    const { status, prevStatus, replicas } = what;
    const actionName = status ?? (prevStatus === undefined ? 'clear' : 'restore');
    const eventReason = eventReasonOf(status, prevStatus);
    const verb = replicas === undefined ? 'Annotate' : replicas.to < replicas.from ? 'ScaleDown' : 'Restore';
    const why = (decision?.reasons ?? [])
      .filter((r) => r.action !== 'allow')
      .slice(0, 3)
      .map((r) => r.message);
    const scaleText =
      replicas === undefined ? '' : ` Scaled from ${replicas.from} to ${replicas.to} replicas.`;
    const bypassText =
      decision?.bypass === undefined
        ? ''
        : ` Bypassed by ${decision.bypass.by} until ${new Date(decision.bypass.expires).toISOString()}: ${decision.bypass.reason}.`;
    const note =
      status === undefined
        ? `Enforcement cleared (was ${prevStatus ?? 'none'}).${scaleText}`
        : `${status}: ${why.join('; ') || what.reason}.${scaleText}${bypassText}`;
    log.info('audit: enforcement action', {
      audit: true,
      action: actionName,
      workload: `${ref.namespace}/${ref.kind}/${ref.name}`,
      from: prevStatus ?? 'none',
      to: status ?? 'none',
      reason: what.reason,
      replicas,
      bypass: decision?.bypass,
      instance: options.instance,
    });
    const workloadRef: ObjectRef = {
      apiVersion: apiVersionOf(rt),
      kind: ref.kind,
      namespace: ref.namespace,
      name: ref.name,
      uid: obj.metadata?.uid,
    };
    // Same transition read from the same object version -> same event, however many leaders try.
    const key = `${obj.metadata?.uid ?? ''}|${obj.metadata?.resourceVersion ?? ''}|${prevStatus ?? ''}>${status ?? ''}|${what.reason}|${replicas?.to ?? ''}`;
    const type = status === 'throttle' || status === 'block' || status === 'warn' ? 'Warning' : 'Normal';
    await options.events.record({
      regarding: workloadRef,
      type,
      reason: eventReason,
      action: verb,
      note,
      dedupeKey: key,
    });
    const sources = new Map<string, ObjectRef>();
    for (const r of decision?.reasons ?? []) {
      if (r.action === 'allow') continue;
      sources.set(`${r.source.kind}/${r.source.namespace}/${r.source.name}`, {
        apiVersion: 'genops.ai/v1alpha1',
        kind: r.source.kind,
        namespace: r.source.namespace,
        name: r.source.name,
      });
    }
    for (const [id, src] of sources) {
      await options.events.record({
        regarding: src,
        related: workloadRef,
        type,
        reason: eventReason,
        action: verb,
        note: `${ref.kind} ${ref.namespace}/${ref.name}: ${note}`,
        dedupeKey: `${key}|${id}`,
      });
    }
  }

  return { reconcile };
}

function eventReasonOf(status: WorkloadStatus | undefined, prev: WorkloadStatus | undefined): string {
  switch (status) {
    case 'warn':
      return 'EnforcementWarning';
    case 'throttle':
      return 'Throttled';
    case 'block':
      return 'Blocked';
    case 'bypassed':
      return 'EnforcementBypassed';
    case undefined:
      return prev === 'bypassed' ? 'BypassEnded' : 'EnforcementCleared';
  }
}

/** Default kinds the operator scales. */
export const DEFAULT_SCALABLE: ReadonlyMap<string, ResourceType> = new Map([
  ['Deployment', RESOURCES.deployment],
  ['StatefulSet', RESOURCES.statefulSet],
]);
