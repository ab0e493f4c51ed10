// Owns the messages between the main thread and the authz thread (authz/thread.ts starts it,
// authz/thread-entry.ts runs in it). Plain data only: everything crosses by structured clone.

import type { AIBudget, AIPolicy } from '../crds/index.ts';
import type { DecisionSet } from '../decision/types.ts';
import type { LogFields, LogLevel } from '../kernel/logger.ts';
import type { Attribution } from '../pipeline/attribution/types.ts';
import type { PriceTableConfig } from '../pipeline/pricing/overrides.ts';
import type { AuthzProtocol, CheckOutcome } from './metrics.ts';

/** workerData of the authz thread. */
export interface AuthzThreadData {
  readonly host: string;
  readonly port: number;
  /** The main thread resolves caller addresses (operator mode); false in `genops local`. */
  readonly cluster: boolean;
  readonly trustedPeers: readonly string[];
  readonly pricing?: PriceTableConfig;
  /** Records below it are not sent to the main thread at all. */
  readonly logLevel: LogLevel;
}

/**
 * A caller address the authz thread needs resolved by the main thread's attributor: `stated` is an
 * address a trusted gateway states (attributor.resolve(ip, undefined)), else the direct peer
 * (attributor.resolve(ip, ip)). The key is `s|ip` or `p|ip`.
 */
export type AddressKey = string;

export type ToThread =
  | {
      readonly type: 'view';
      /** Only what changed since the last message is present. */
      readonly decisions?: DecisionSet;
      readonly policies?: readonly AIPolicy[];
      readonly budgets?: readonly AIBudget[];
      readonly ready: boolean;
      /** The main clock minus Date.now(): the thread's clock follows the injected one. */
      readonly clockOffsetMs: number;
    }
  | {
      readonly type: 'addresses';
      readonly entries: readonly (readonly [AddressKey, Attribution])[];
    }
  | { readonly type: 'shutdown' };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

export type FromThread =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'failed'; readonly error: SerializedError }
  | { readonly type: 'lookup'; readonly keys: readonly AddressKey[] }
  | {
      readonly type: 'check';
      readonly protocol: AuthzProtocol;
      readonly outcome: CheckOutcome;
      readonly reason: string;
      readonly seconds: number;
    }
  | { readonly type: 'log'; readonly level: LogLevel; readonly msg: string; readonly fields: LogFields }
  | { readonly type: 'closed' };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      message: err.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(err.stack === undefined ? {} : { stack: err.stack }),
    };
  }
  return { name: 'Error', message: String(err) };
}

/** An Error with the original's message, name and code (EADDRINUSE stays EADDRINUSE). */
export function deserializeError(e: SerializedError): Error {
  const err = new Error(e.message) as Error & { code?: string };
  err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}
