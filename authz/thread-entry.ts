// Owns the authz thread's side (started by authz/thread.ts): the same listener and check as on the
// main thread (createAuthzServer), over a copy of the decisions the main thread sends on every publish,
// so that ingest's work on the main thread never delays an answer. Caller addresses are resolved by
// the main thread's attributor (the pod directory lives there) and kept in a table here that the main
// thread refreshes; an address not in the table yet is asked for once and the check waits for it.

import { parentPort, workerData } from 'node:worker_threads';
import type { AIBudget, AIPolicy } from '../crds/index.ts';
import type { DecisionSet } from '../decision/types.ts';
import type { Clock } from '../kernel/clock.ts';
import type { LogFields, Logger, LogLevel } from '../kernel/logger.ts';
import type { Attribution } from '../pipeline/attribution/types.ts';
import type { SenderIdentity } from '../pipeline/partial.ts';
import type { Attributor } from '../pipeline/attribution/attributor.ts';
import { EMPTY_DECISIONS } from '../webhook/view.ts';
import type { AuthzView } from './decide.ts';
import { createIdentityResolver } from './identity.ts';
import { createOutputCostEstimator } from './index.ts';
import type { AuthzMetrics } from './metrics.ts';
import { createAuthzServer, PendingLookup } from './server.ts';
import {
  serializeError,
  type AddressKey,
  type AuthzThreadData,
  type FromThread,
  type ToThread,
} from './thread-protocol.ts';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

if (!parentPort) throw new Error('authz/thread-entry.ts runs in a worker thread');
const port = parentPort;
const data = workerData as AuthzThreadData;
const post = (m: FromThread): void => port.postMessage(m);

// ---- the view, as last sent ---------------------------------------------------------------------------

let decisions: DecisionSet = EMPTY_DECISIONS;
let policies: readonly AIPolicy[] = [];
let budgets: readonly AIBudget[] = [];
let isReady = false;
let clockOffsetMs = 0;
const view: AuthzView = { decisions: () => decisions, policies: () => policies, budgets: () => budgets };
const clock: Clock = { now: () => Date.now() + clockOffsetMs };

// ---- caller addresses -----------------------------------------------------------------------------------

const addresses = new Map<AddressKey, Attribution>();
const waiting = new Map<AddressKey, { promise: Promise<void>; resolve: () => void }>();
const asks: AddressKey[] = [];

const ask = (key: AddressKey): Promise<void> => {
  const known = waiting.get(key);
  if (known) return known.promise;
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  waiting.set(key, { promise, resolve });
  // One message for the addresses met within one turn of the loop.
  if (asks.length === 0) queueMicrotask(() => post({ type: 'lookup', keys: asks.splice(0) }));
  asks.push(key);
  return promise;
};

/** The main thread's attributor, through the table: same answers, asked once per address. */
const attributor: Attributor = {
  resolve(identity: SenderIdentity, peer: string | undefined): Attribution {
    const key: AddressKey = `${peer === undefined ? 's' : 'p'}|${identity.podIp ?? ''}`;
    const a = addresses.get(key);
    if (a) return a;
    throw new PendingLookup(ask(key));
  },
};

// ---- metrics and logs, to the main thread --------------------------------------------------------------

/**
 * Each check is reported to the main thread's metrics as it is answered, before the answer's bytes
 * leave: a scrape that follows an answer counts it. (Batching would save the main thread a few
 * microseconds per check, at the price of counts that trail the answers.)
 */
const metrics: AuthzMetrics = {
  checked: (protocol, outcome, reason, seconds) =>
    post({ type: 'check', protocol, outcome, reason, seconds }),
};

const min = RANK[data.logLevel];
const errorsSerialized = (fields: LogFields): LogFields => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? serializeError(v) : v;
  return out;
};
const makeLogger = (bound: LogFields): Logger => {
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] < min) return;
    post({ type: 'log', level, msg, fields: errorsSerialized({ ...bound, ...fields }) });
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => makeLogger({ ...bound, ...fields }),
    isLevelEnabled: (level) => RANK[level] >= min,
  };
};

// ---- the server ------------------------------------------------------------------------------------------

const server = createAuthzServer({
  host: data.host,
  port: data.port,
  view,
  identity: createIdentityResolver({
    ...(data.cluster ? { attributor } : {}),
    trustedPeers: data.trustedPeers,
  }),
  clock,
  logger: makeLogger({ thread: 'authz' }),
  metrics,
  estimate: createOutputCostEstimator(() => policies, data.pricing, clock),
  ready: () => isReady,
});

port.on('message', (m: ToThread) => {
  switch (m.type) {
    case 'view':
      if (m.decisions) decisions = m.decisions;
      if (m.policies) policies = m.policies;
      if (m.budgets) budgets = m.budgets;
      isReady = m.ready;
      clockOffsetMs = m.clockOffsetMs;
      // Listening only once the first view is here: no check is answered from an empty one.
      if (!started) start();
      return;
    case 'addresses':
      for (const [key, a] of m.entries) {
        addresses.set(key, a);
        const w = waiting.get(key);
        if (w) {
          waiting.delete(key);
          w.resolve();
        }
      }
      return;
    case 'shutdown':
      void server.shutdown().then(() => {
        post({ type: 'closed' });
        port.close();
      });
      return;
  }
});

let started = false;
function start(): void {
  started = true;
  server.start().then(
    () => post({ type: 'listening', port: server.port() }),
    (err: unknown) => {
      post({ type: 'failed', error: serializeError(err) });
      port.close();
    },
  );
}
