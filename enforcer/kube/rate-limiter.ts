// Owns the client-side limit on API writes (the JS client has none): a token bucket, QPS and burst
// as in client-go. Waiters are served in arrival order so no writer starves.

import { GenOpsError } from '../../kernel/errors.ts';

export interface RateLimiter {
  /** Resolves when a token is taken; rejects with a 'shutting-down' error if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** Takes a token if one is there now. */
  tryAcquire(): boolean;
  /** Tokens available now (fractional). */
  available(): number;
}

export interface RateLimiterOptions {
  /** Sustained writes per second. */
  readonly qps: number;
  /** Writes allowed at once after a quiet time. */
  readonly burst: number;
  /** Monotonic milliseconds; infrastructure time, not the business clock. */
  readonly now?: () => number;
}

export function createTokenBucket(options: RateLimiterOptions): RateLimiter {
  if (!(options.qps > 0) || !(options.burst >= 1)) {
    throw new RangeError(`rate limiter needs qps > 0 and burst >= 1 (got ${options.qps}/${options.burst})`);
  }
  const now = options.now ?? (() => performance.now());
  const perMs = options.qps / 1000;
  let tokens = options.burst;
  let last = now();
  const waiters: Array<{ resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal }> = [];
  let timer: NodeJS.Timeout | undefined;

  const refill = (): void => {
    const t = now();
    tokens = Math.min(options.burst, tokens + (t - last) * perMs);
    last = t;
  };

  const pump = (): void => {
    timer = undefined;
    refill();
    while (waiters.length > 0 && tokens >= 1) {
      const w = waiters.shift();
      if (w === undefined) break;
      if (w.signal?.aborted) continue;
      tokens -= 1;
      w.resolve();
    }
    if (waiters.length > 0) {
      timer = setTimeout(pump, Math.max(1, Math.ceil((1 - tokens) / perMs)));
    }
  };

  return {
    tryAcquire() {
      refill();
      if (waiters.length === 0 && tokens >= 1) {
        tokens -= 1;
        return true;
      }
      return false;
    },
    available() {
      refill();
      return tokens;
    },
    acquire(signal) {
      refill();
      if (waiters.length === 0 && tokens >= 1) {
        tokens -= 1;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject,
          ...(signal === undefined ? {} : { signal }),
        };
        const onAbort = (): void => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new GenOpsError('shutting-down', 'RATE_LIMIT_ABORTED', 'stopped while waiting to write'));
        };
        if (signal?.aborted) {
          onAbort();
          return;
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(waiter);
        if (timer === undefined) timer = setTimeout(pump, Math.max(1, Math.ceil((1 - tokens) / perMs)));
      });
    },
  };
}
