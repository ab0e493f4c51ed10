// Owns retry pacing: exponential backoff with full jitter, and an abortable sleep.

export interface BackoffOptions {
  /** First delay in ms. */
  readonly initialMs: number;
  /** Upper bound of any delay in ms. */
  readonly maxMs: number;
  /** Growth per attempt (2 doubles). */
  readonly factor?: number;
  /** Fraction of the delay drawn at random, 0..1 (spreads replicas that failed together). */
  readonly jitter?: number;
  readonly random?: () => number;
}

/** The delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  const base = Math.min(options.maxMs, options.initialMs * Math.pow(factor, Math.min(attempt, 50)));
  return Math.max(0, Math.round(base * (1 - jitter + jitter * random())));
}

/** A retry counter: `next()` gives the next delay, `reset()` after a success. */
export interface Backoff {
  next(): number;
  reset(): void;
  readonly attempts: number;
}

export function createBackoff(options: BackoffOptions): Backoff {
  let attempts = 0;
  return {
    next: () => backoffDelay(attempts++, options),
    reset: () => {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

/** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
