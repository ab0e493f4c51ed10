// Owns the catalogue of coded errors. An error is classified once, where it is made;
// each edge (HTTP, gRPC, CLI, reconcile) maps the class to its own status in one place.

export type ErrorClass =
  /** Bad input: retrying the same thing cannot help (HTTP 400, gRPC INVALID_ARGUMENT). */
  | 'invalid'
  /** Input larger than allowed (HTTP 413, gRPC RESOURCE_EXHAUSTED without retry). */
  | 'too-large'
  /** Backpressure or a passing fault: the caller should retry later (HTTP 429/503, gRPC UNAVAILABLE). */
  | 'retryable'
  /** The component is stopping (HTTP 503). */
  | 'shutting-down'
  /** The peer was too slow sending its request (HTTP 408, gRPC DEADLINE_EXCEEDED). */
  | 'timeout'
  /** A bug or an unexpected state; never echoed to clients in detail. */
  | 'internal';

export class GenOpsError extends Error {
  readonly errorClass: ErrorClass;
  readonly code: string;
  /** Seconds the caller should wait, for retryable errors. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    errorClass: ErrorClass,
    code: string,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GenOpsError';
    this.errorClass = errorClass;
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/**
 * The catalogue of the ingest path's error codes, each with its one class: the decode worker, the
 * pool and the receivers name a code, and the class (hence the gRPC and HTTP answer, see
 * pipeline/receiver/types.ts STATUS_TABLE) follows from it here, never from a message text.
 */
export const ERROR_CODES = {
  /** The decode queue (tasks or bytes) is full: retry later. */
  'queue-full': 'retryable',
  /** The decode pool is stopping or not started. */
  'pool-stopped': 'shutting-down',
  /** The request body is not OTLP the decoder understands. */
  undecodable: 'invalid',
  /** The decoder threw something that is not a verdict on the input: a bug. */
  'decoder-bug': 'internal',
  /** The worker thread died (memory cap, crash) with the task. */
  'worker-died': 'internal',
  /** The worker module could not start. */
  'worker-start': 'internal',
} as const satisfies Readonly<Record<string, ErrorClass>>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A GenOpsError whose class is the catalogue's for `code`. */
export function codedError(
  code: ErrorCode,
  message: string,
  options?: { cause?: unknown; retryAfterSeconds?: number },
): GenOpsError {
  return new GenOpsError(ERROR_CODES[code], code, message, options);
}

export function isGenOpsError(err: unknown): err is GenOpsError {
  return err instanceof GenOpsError;
}

/** The class of any thrown value: unknown errors are internal. */
export function classify(err: unknown): ErrorClass {
  return isGenOpsError(err) ? err.errorClass : 'internal';
}

/** A message safe to show a client: internal details stay in the logs. */
export function publicMessage(err: unknown): string {
  if (isGenOpsError(err) && err.errorClass !== 'internal') return err.message;
  return 'internal error';
}

export type Result<T, E = GenOpsError> = { ok: true; value: T } | { ok: false; error: E };
