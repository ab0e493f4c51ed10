// Owns the authz thread from the main thread's side: the gateway listener (authz/server.ts) runs in its
// own worker thread (authz/thread-entry.ts) so that a check never waits behind ingest's work on the main
// event loop (a batch of spans, a publish of the decisions). Opt-in (createGatewayAuthz thread: true):
// on 2 cores shared with ingest the extra thread and a message per check measured worse than the main
// thread, and the gRPC p99 there was the load client's, not queueing (docs/gateway.md#latency).
//
// What crosses: the decisions, AIPolicies and AIBudgets whenever the view hands out new objects (looked
// at every POLL_MS, well within one publish of the decision engine), readiness and the clock's offset;
// caller addresses resolved by the main thread's attributor on the thread's demand and re-resolved every
// REFRESH_MS (a pod that changes address is seen within that); the thread's checks into the
// metrics port and its log records into the logger. A thread that dies is logged and started again.

import { Worker } from 'node:worker_threads';
import type { Clock } from '../kernel/clock.ts';
import type { LogLevel, Logger } from '../kernel/logger.ts';
import type { Attributor } from '../pipeline/attribution/attributor.ts';
import type { Attribution } from '../pipeline/attribution/types.ts';
import type { PriceTableConfig } from '../pipeline/pricing/overrides.ts';
import type { AuthzView } from './decide.ts';
import type { AuthzMetrics } from './metrics.ts';
import type { AuthzServer } from './server.ts';
import {
  deserializeError,
  type AddressKey,
  type AuthzThreadData,
  type FromThread,
  type ToThread,
} from './thread-protocol.ts';

const POLL_MS = 10;
const REFRESH_MS = 1000;
const RESTART_MS = 1000;
/** Addresses kept resolved for the thread; past it the table starts again (the thread asks anew). */
const MAX_ADDRESSES = 65_536;
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

export interface AuthzThreadOptions {
  readonly host: string;
  readonly port: number;
  readonly view: AuthzView;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: AuthzMetrics;
  readonly attributor?: Attributor;
  readonly trustedPeers?: readonly string[];
  readonly pricing?: PriceTableConfig;
  readonly ready?: () => boolean;
  /** The thread's module; default authz/thread-entry.ts. */
  readonly entry?: URL;
}

export function createAuthzThread(options: AuthzThreadOptions): AuthzServer {
  const { view, clock, metrics, attributor } = options;
  const logger = options.logger.child({ component: 'authz' });
  const ready = options.ready ?? (() => true);
  const entry = options.entry ?? new URL('./thread-entry.ts', import.meta.url);
  const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  const data: AuthzThreadData = {
    host: options.host,
    port: options.port,
    cluster: attributor !== undefined,
    trustedPeers: options.trustedPeers ?? [],
    ...(options.pricing === undefined ? {} : { pricing: options.pricing }),
    logLevel: levels.find((l) => options.logger.isLevelEnabled(l)) ?? 'error',
  };

  let worker: Worker | undefined;
  let boundPort = 0;
  let stopping = false;
  let poll: NodeJS.Timeout | undefined;
  let refresh: NodeJS.Timeout | undefined;
  let restart: NodeJS.Timeout | undefined;
  // What the current thread was last sent.
  let sent: { decisions: unknown; policies: unknown; budgets: unknown; ready: boolean } | undefined;
  let lastOffset = 0;
  let lastOffsetAt = 0;
  const resolved = new Map<AddressKey, Attribution>();

  const send = (m: ToThread): void => worker?.postMessage(m);

  const resolve = (key: AddressKey): Attribution => {
    const stated = key.startsWith('s|');
    const ip = key.slice(2);
    // As identity.ts asks: a stated address with no peer (believed), a direct peer as itself.
    return attributor!.resolve({ podIp: ip, labels: NO_LABELS }, stated ? undefined : ip);
  };

  /** Sends what changed in the view (everything when forced: a new thread). */
  const sendView = (force: boolean): void => {
    const d = view.decisions();
    const p = view.policies();
    const b = view.budgets();
    const r = ready();
    const offset = clock.now() - Date.now();
    // A set clock (a test's manual clock) follows at once; a drift of a millisecond or two once a second.
    const drift = Math.abs(offset - lastOffset);
    const moved = drift > 50 || (drift > 1 && Date.now() - lastOffsetAt >= 1000);
    if (!force && sent && sent.decisions === d && sent.policies === p && sent.budgets === b) {
      if (sent.ready === r && !moved) return;
    }
    lastOffset = offset;
    lastOffsetAt = Date.now();
    send({
      type: 'view',
      ...(sent?.decisions === d ? {} : { decisions: d }),
      ...(sent?.policies === p ? {} : { policies: p }),
      ...(sent?.budgets === b ? {} : { budgets: b }),
      ready: r,
      clockOffsetMs: offset,
    });
    sent = { decisions: d, policies: p, budgets: b, ready: r };
  };

  const refreshAddresses = (): void => {
    const changed: [AddressKey, Attribution][] = [];
    for (const [key, old] of resolved) {
      const a = resolve(key);
      if (a.key !== old.key || a.via !== old.via || a.spoofed !== old.spoofed || a.labels !== old.labels) {
        resolved.set(key, a);
        changed.push([key, a]);
      }
    }
    if (changed.length > 0) send({ type: 'addresses', entries: changed });
  };

  let started: { resolve: () => void; reject: (err: Error) => void } | undefined;
  let closed: (() => void) | undefined;

  const onMessage = (m: FromThread): void => {
    switch (m.type) {
      case 'listening':
        boundPort = m.port;
        logger.info('gateway authorization listening', { port: boundPort, thread: 'authz' });
        started?.resolve();
        started = undefined;
        return;
      case 'failed':
        started?.reject(deserializeError(m.error));
        started = undefined;
        return;
      case 'lookup': {
        if (!attributor) return;
        if (resolved.size + m.keys.length > MAX_ADDRESSES) resolved.clear();
        const entries: [AddressKey, Attribution][] = [];
        for (const key of m.keys) {
          const a = resolve(key);
          resolved.set(key, a);
          entries.push([key, a]);
        }
        send({ type: 'addresses', entries });
        return;
      }
      case 'check':
        metrics.checked(m.protocol, m.outcome, m.reason, m.seconds);
        return;
      case 'log':
        logger[m.level](m.msg, m.fields);
        return;
      case 'closed':
        closed?.();
        return;
    }
  };

  const spawn = (): void => {
    sent = undefined;
    // The addresses are the thread's table: a new thread starts with an empty one and asks again.
    resolved.clear();
    const w = new Worker(entry, { workerData: data, name: 'genops-authz' });
    worker = w;
    w.on('message', onMessage);
    w.on('error', (err: unknown) => {
      logger.error('authz thread failed', { err });
      started?.reject(err instanceof Error ? err : new Error(String(err)));
      started = undefined;
    });
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      closed?.();
      if (stopping) return;
      logger.error('authz thread exited; starting it again', { code, restartInMs: RESTART_MS });
      restart = setTimeout(() => {
        restart = undefined;
        if (!stopping) spawn();
      }, RESTART_MS);
      restart.unref();
    });
    sendView(true);
  };

  return {
    start: () =>
      new Promise<void>((resolvePromise, reject) => {
        started = {
          resolve: () => {
            poll = setInterval(() => sendView(false), POLL_MS);
            poll.unref();
            if (attributor) {
              refresh = setInterval(refreshAddresses, REFRESH_MS);
              refresh.unref();
            }
            resolvePromise();
          },
          reject: (err) => {
            stopping = true;
            void worker?.terminate();
            reject(err);
          },
        };
        spawn();
      }),
    port: () => boundPort,
    shutdown: async (deadlineMs = 2000) => {
      stopping = true;
      clearInterval(poll);
      clearInterval(refresh);
      clearTimeout(restart);
      const w = worker;
      if (!w) return;
      // The thread stops its listener, answers what is in flight and reports its last checks.
      const done = new Promise<void>((r) => (closed = r));
      send({ type: 'shutdown' });
      const timer = setTimeout(() => void w.terminate(), deadlineMs);
      await done;
      clearTimeout(timer);
      await w.terminate();
    },
  };
}
