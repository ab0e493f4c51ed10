// Owns recording Kubernetes Events (events.k8s.io/v1) for what the operator decided and did. An event
// may carry a dedupe key: its name is then derived from it, so a second leader (or a retry) recording
// the same thing gets AlreadyExists and the event exists once.

import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../kernel/clock.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { isAlreadyExists, isNotFound } from '../../cluster/errors.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { microTime } from '../leader/lease.ts';
import { noopEnforcementMetrics, type EnforcementMetrics } from '../metrics.ts';

export const REPORTING_CONTROLLER = 'genops.ai/operator';

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  /** Empty for cluster-scoped objects (Namespace). */
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
}

export interface EventRecord {
  readonly regarding: ObjectRef;
  readonly related?: ObjectRef | undefined;
  readonly type: 'Normal' | 'Warning';
  /** CamelCase, why it happened (BudgetExceeded, Throttled, ...). */
  readonly reason: string;
  /** CamelCase, what was done (ScaleDown, Annotate, Alert, ...). */
  readonly action: string;
  readonly note: string;
  /** Same key -> same event name -> recorded at most once. */
  readonly dedupeKey?: string | undefined;
}

export interface EventRecorder {
  /** Best effort: failures are logged, never thrown (an event must not stop an action). */
  record(event: EventRecord): Promise<void>;
}

export interface EventRecorderOptions {
  readonly api: KubeApi;
  readonly clock: Clock;
  readonly logger: Logger;
  /** reportingInstance: this replica. */
  readonly instance: string;
  /** Namespace for events about cluster-scoped objects. */
  readonly clusterEventNamespace?: string;
  readonly metrics?: EnforcementMetrics;
}

export function createEventRecorder(options: EventRecorderOptions): EventRecorder {
  const log = options.logger.child({ component: 'events' });
  const metrics = options.metrics ?? noopEnforcementMetrics;
  return {
    async record(ev) {
      const namespace =
        ev.regarding.namespace === '' ? (options.clusterEventNamespace ?? 'default') : ev.regarding.namespace;
      const suffix =
        ev.dedupeKey === undefined
          ? `${options.clock.now().toString(16)}${randomBytes(4).toString('hex')}`
          : createHash('sha256').update(ev.dedupeKey).digest('hex').slice(0, 16);
      const name = `${ev.regarding.name.slice(0, 200)}.genops.${suffix}`;
      try {
        await options.api.create(RESOURCES.event, namespace, {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name, namespace },
          eventTime: microTime(options.clock.now()),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: options.instance.slice(0, 128),
          action: ev.action.slice(0, 128),
          reason: ev.reason.slice(0, 128),
          type: ev.type,
          note: truncate(ev.note, 1024),
          regarding: toReference(ev.regarding),
          ...(ev.related === undefined ? {} : { related: toReference(ev.related) }),
        } as never);
        metrics.action(namespace, ev.regarding.kind, 'event', 'success');
      } catch (err) {
        if (isAlreadyExists(err)) return;
        metrics.action(namespace, ev.regarding.kind, 'event', 'error');
        // The namespace may be gone with its objects.
        if (isNotFound(err)) return;
        log.warn('could not record event', {
          err,
          reason: ev.reason,
          regarding: `${ev.regarding.kind}/${ev.regarding.namespace}/${ev.regarding.name}`,
        });
      }
    },
  };
}

function toReference(ref: ObjectRef): Record<string, string> {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace === '' ? {} : { namespace: ref.namespace }),
    ...(ref.uid === undefined ? {} : { uid: ref.uid }),
  };
}

function truncate(s: string, max: number): string {
  // Byte length matters to the API server; notes are mostly ASCII.
  return Buffer.byteLength(s) <= max ? s : `${s.slice(0, max - 4)}...`;
}

/** An event recorder that keeps events in memory (tests, `genops local`). */
export function createMemoryEventRecorder(): EventRecorder & { readonly events: EventRecord[] } {
  const events: EventRecord[] = [];
  return {
    events,
    record(ev) {
      events.push(ev);
      return Promise.resolve();
    },
  };
}
