// Owns the classification of Kubernetes API failures: done once, here, from the HTTP status and the
// Status object the API server returns, so callers ask `isNotFound(err)` instead of parsing codes.

import { GenOpsError, type ErrorClass } from '../kernel/errors.ts';

/** A failed API call, classified: 'retryable' for 429/5xx/network faults and optimistic-lock conflicts. */
export class KubeApiError extends GenOpsError {
  /** HTTP status; 0 when no response came back (network fault). */
  readonly status: number;
  /** The Status object's reason (NotFound, AlreadyExists, Conflict, Forbidden, ...), or '' when none. */
  readonly reason: string;
  readonly method: string;
  readonly path: string;

  constructor(options: {
    status: number;
    reason: string;
    message: string;
    method: string;
    path: string;
    retryAfterSeconds?: number;
    cause?: unknown;
  }) {
    super(
      classifyStatus(options.status, options.reason),
      options.status === 0 ? 'KUBE_UNREACHABLE' : `KUBE_${options.status}`,
      `${options.method} ${options.path}: ${options.status === 0 ? 'no response' : String(options.status)} ${options.reason} ${options.message}`.trim(),
      {
        ...(options.cause === undefined ? {} : { cause: options.cause }),
        ...(options.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: options.retryAfterSeconds }),
      },
    );
    this.name = 'KubeApiError';
    this.status = options.status;
    this.reason = options.reason;
    this.method = options.method;
    this.path = options.path;
  }
}

function classifyStatus(status: number, reason: string): ErrorClass {
  if (status === 0 || status === 429 || status >= 500) return 'retryable';
  // A stale resourceVersion: re-read and try again. AlreadyExists is final for that name.
  if (status === 409) return reason === 'AlreadyExists' ? 'invalid' : 'retryable';
  if (status === 413) return 'too-large';
  return 'invalid';
}

/** True for faults worth retrying with the same request at the transport level (not conflicts). */
export function isTransient(err: unknown): boolean {
  return err instanceof KubeApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409 && err.reason !== 'AlreadyExists';
}

export function isForbidden(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 403;
}

/** The resourceVersion given to a watch is too old: relist. */
export function isGone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 410;
}
