// Owns writing status of AIBudget/AIPolicy: the caller sets the desired status whenever it likes; the
// writer coalesces (at most one write per resource per interval, the latest desired value wins),
// writes only when the status differs from what the API server has (ignoring `lastUpdated`), and only
// while this replica leads. Writes are JSON merge patches on the /status subresource (custom
// resources refuse strategic merge); top-level fields that disappeared are sent as null.

import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { backoffDelay } from '../../cluster/backoff.ts';
import { isNotFound } from '../../cluster/errors.ts';
import type { ResourceType } from '../../cluster/resources.ts';
import { noopEnforcementMetrics, type EnforcementMetrics } from '../metrics.ts';

export interface StatusTarget {
  readonly resource: ResourceType;
  readonly namespace: string;
  readonly name: string;
}

export interface StatusWriter extends Component {
  /** Records the desired status; written within the coalescing interval if it differs. */
  set(target: StatusTarget, status: Readonly<Record<string, unknown>>): void;
  /** Forgets a resource (deleted). */
  forget(target: StatusTarget): void;
  /** Writes everything pending now, ignoring the interval (shutdown, leadership handover, tests). */
  flush(): Promise<void>;
  /** Pending resources (desired differs from written). */
  pending(): number;
  /** Forgets what this writer wrote before (leadership changed: compare with the server's copy again). */
  reset(): void;
}

export interface StatusWriterOptions {
  readonly api: KubeApi;
  readonly logger: Logger;
  /** Minimum time between two writes of one resource (default 5 s). */
  readonly minIntervalMs?: number;
  /** Only the leader writes; checked right before each write. */
  readonly canWrite: () => boolean;
  /** The status the API server has now (from the informer); undefined when unknown. */
  readonly observed: (target: StatusTarget) => Readonly<Record<string, unknown>> | undefined;
  readonly metrics?: EnforcementMetrics;
}

interface Entry {
  target: StatusTarget;
  desired: Readonly<Record<string, unknown>>;
  /** Canonical form of what we last wrote successfully (without lastUpdated). */
  written: string | undefined;
  writtenFields: readonly string[];
  lastWriteAt: number;
  timer: NodeJS.Timeout | undefined;
  failures: number;
  inflight: Promise<void> | undefined;
}

const VOLATILE = new Set(['lastUpdated']);

/** Stable JSON with sorted keys and without volatile fields: equal statuses give equal strings. */
export function canonicalStatus(status: Readonly<Record<string, unknown>> | undefined): string {
  if (status === undefined) return '';
  return JSON.stringify(status, (key, value: unknown) => {
    if (VOLATILE.has(key)) return undefined;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k];
      return sorted;
    }
    return value;
  });
}

export function createStatusWriter(options: StatusWriterOptions): StatusWriter {
  const interval = options.minIntervalMs ?? 5000;
  const metrics = options.metrics ?? noopEnforcementMetrics;
  const log = options.logger.child({ component: 'status-writer' });
  const entries = new Map<string, Entry>();
  let stopped = false;

  const keyOf = (t: StatusTarget): string => `${t.resource.plural}/${t.namespace}/${t.name}`;

  const differs = (e: Entry): boolean => {
    const want = canonicalStatus(e.desired);
    if (e.written !== undefined) return e.written !== want;
    return canonicalStatus(options.observed(e.target)) !== want;
  };

  function schedule(e: Entry, delayMs: number): void {
    if (stopped || e.timer !== undefined) return;
    e.timer = setTimeout(
      () => {
        e.timer = undefined;
        void write(e);
      },
      Math.max(0, delayMs),
    );
    e.timer.unref();
  }

  async function write(e: Entry): Promise<void> {
    if (e.inflight !== undefined) {
      await e.inflight;
      if (differs(e)) schedule(e, 0);
      return;
    }
    if (!differs(e) || !options.canWrite()) return;
    const desired = e.desired;
    const want = canonicalStatus(desired);
    const observed = options.observed(e.target);
    const removed = new Set(
      [...Object.keys(observed ?? {}), ...e.writtenFields].filter((k) => !(k in desired)),
    );
    const body: Record<string, unknown> = { ...desired };
    for (const k of removed) body[k] = null;
    const run = (async () => {
      try {
        await options.api.patch(
          e.target.resource,
          e.target.namespace,
          e.target.name,
          { status: body },
          {
            type: 'merge',
            subresource: 'status',
            // Status may wait; scaling and events may not.
            priority: 'low',
          },
        );
        e.written = want;
        e.writtenFields = Object.keys(desired);
        e.lastWriteAt = performance.now();
        e.failures = 0;
        metrics.action(e.target.namespace, e.target.resource.kind, 'status', 'success');
        log.debug('status written', {
          kind: e.target.resource.kind,
          namespace: e.target.namespace,
          name: e.target.name,
        });
      } catch (err) {
        if (isNotFound(err)) {
          entries.delete(keyOf(e.target));
          return;
        }
        metrics.action(e.target.namespace, e.target.resource.kind, 'status', 'error');
        const delay = backoffDelay(e.failures++, { initialMs: 500, maxMs: 30_000 });
        log.warn('status write failed; retrying', {
          kind: e.target.resource.kind,
          namespace: e.target.namespace,
          name: e.target.name,
          err,
          retryInMs: delay,
        });
        e.lastWriteAt = performance.now();
        schedule(e, delay);
      }
    })();
    e.inflight = run;
    await run;
    e.inflight = undefined;
    // A newer desired status arrived while writing: honour the interval for it.
    if (entries.has(keyOf(e.target)) && differs(e)) schedule(e, interval);
  }

  return {
    set(target, status) {
      if (stopped) return;
      const key = keyOf(target);
      let e = entries.get(key);
      if (e === undefined) {
        e = {
          target,
          desired: status,
          written: undefined,
          writtenFields: [],
          lastWriteAt: -Infinity,
          timer: undefined,
          failures: 0,
          inflight: undefined,
        };
        entries.set(key, e);
      } else {
        e.desired = status;
      }
      if (!differs(e)) return;
      schedule(e, e.lastWriteAt + interval - performance.now());
    },
    forget(target) {
      const e = entries.get(keyOf(target));
      if (e?.timer !== undefined) clearTimeout(e.timer);
      entries.delete(keyOf(target));
    },
    flush,
    reset() {
      for (const e of entries.values()) {
        e.written = undefined;
        e.writtenFields = [];
      }
    },
    pending: () => [...entries.values()].filter((e) => differs(e)).length,
    start: () => Promise.resolve(),
    async shutdown() {
      if (stopped) return;
      await flush();
      stopped = true;
      for (const e of entries.values()) if (e.timer !== undefined) clearTimeout(e.timer);
    },
  };

  async function flush(): Promise<void> {
    const all = [...entries.values()];
    for (const e of all) {
      if (e.timer !== undefined) {
        clearTimeout(e.timer);
        e.timer = undefined;
      }
    }
    await Promise.all(all.map((e) => write(e)));
  }
}
