// Owns the per-object work queue of the enforcer: a key is queued at most once, never processed by two
// workers at once (a key added while it runs is processed again afterwards), retryable failures come
// back after a per-key exponential backoff, terminal ones are dropped and logged.

import { classify } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';

export type ReconcileOutcome = void | { readonly requeueAfterMs: number };

export interface WorkQueueMetrics {
  /** One reconcile finished: outcome and seconds. */
  reconciled(queue: string, outcome: 'success' | 'retry' | 'error', seconds: number): void;
  depth(queue: string, depth: number): void;
}

const noopWorkQueueMetrics: WorkQueueMetrics = { reconciled: () => undefined, depth: () => undefined };

export interface WorkQueue {
  add(key: string): void;
  /** Adds after `delayMs`; an earlier pending add for the key wins. */
  addAfter(key: string, delayMs: number): void;
  /** Keys waiting (not counting delayed ones or running ones). */
  depth(): number;
  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void>;
  /** Stops taking work; resolves when running reconciles finished or the deadline passed. */
  shutdown(deadlineMs?: number): Promise<void>;
}

export interface WorkQueueOptions {
  readonly name: string;
  readonly handler: (key: string, signal: AbortSignal) => Promise<ReconcileOutcome>;
  readonly logger: Logger;
  readonly concurrency?: number;
  readonly backoff?: BackoffOptions;
  readonly metrics?: WorkQueueMetrics;
}

export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const concurrency = options.concurrency ?? 2;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 60_000, jitter: 0.1 };
  const metrics = options.metrics ?? noopWorkQueueMetrics;
  const log = options.logger.child({ component: 'workqueue', queue: options.name });
  const queue: string[] = [];
  const queued = new Set<string>();
  const running = new Set<string>();
  const dirty = new Set<string>();
  const failures = new Map<string, number>();
  const delayed = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  const abort = new AbortController();
  const inflight = new Set<Promise<void>>();
  let idleWaiters: Array<() => void> = [];
  let stopped = false;

  const checkIdle = (): void => {
    if (queue.length === 0 && running.size === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  const add = (key: string): void => {
    if (stopped) return;
    if (running.has(key)) {
      dirty.add(key);
      return;
    }
    if (queued.has(key)) return;
    queued.add(key);
    queue.push(key);
    metrics.depth(options.name, queue.length);
    pump();
  };

  const pump = (): void => {
    while (!stopped && running.size < concurrency && queue.length > 0) {
      const key = queue.shift();
      if (key === undefined) break;
      queued.delete(key);
      running.add(key);
      const p = process(key).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    metrics.depth(options.name, queue.length);
  };

  async function process(key: string): Promise<void> {
    const started = performance.now();
    let retryIn: number | undefined;
    try {
      const outcome = await options.handler(key, abort.signal);
      failures.delete(key);
      metrics.reconciled(options.name, 'success', (performance.now() - started) / 1000);
      if (outcome !== undefined) retryIn = outcome.requeueAfterMs;
    } catch (err) {
      const n = failures.get(key) ?? 0;
      if (classify(err) === 'retryable') {
        failures.set(key, n + 1);
        retryIn = backoffDelay(n, backoff);
        metrics.reconciled(options.name, 'retry', (performance.now() - started) / 1000);
        log.warn('reconcile failed; will retry', { key, err, attempt: n + 1, retryInMs: retryIn });
      } else {
        failures.delete(key);
        metrics.reconciled(options.name, 'error', (performance.now() - started) / 1000);
        log.error('reconcile failed; not retried', { key, err });
      }
    } finally {
      running.delete(key);
    }
    if (dirty.delete(key)) add(key);
    else if (retryIn !== undefined) addAfter(key, retryIn);
    pump();
    checkIdle();
  }

  const addAfter = (key: string, delayMs: number): void => {
    if (stopped) return;
    if (delayMs <= 0) {
      add(key);
      return;
    }
    const at = performance.now() + delayMs;
    const existing = delayed.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      delayed.delete(key);
      add(key);
    }, delayMs);
    timer.unref();
    delayed.set(key, { timer, at });
  };

  return {
    add,
    addAfter,
    depth: () => queue.length,
    idle() {
      if (queue.length === 0 && running.size === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async shutdown(deadlineMs) {
      if (stopped) return;
      stopped = true;
      for (const d of delayed.values()) clearTimeout(d.timer);
      delayed.clear();
      queue.length = 0;
      queued.clear();
      const all = Promise.allSettled([...inflight]);
      if (deadlineMs === undefined) {
        await all;
      } else {
        const left = Math.max(0, deadlineMs - Date.now());
        let t: NodeJS.Timeout | undefined;
        await Promise.race([all, new Promise<void>((r) => (t = setTimeout(r, left)))]);
        clearTimeout(t);
      }
      abort.abort();
      checkIdle();
    },
  };
}
