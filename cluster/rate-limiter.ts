// Owns the client-side limit on API writes (the JS client has none): a token bucket, QPS and burst
// as in client-go. Waiters are served in arrival order so no writer starves.

import { GenOpsError } from '../kernel/errors.ts';

/** 'low' waiters (status writes) go after every 'normal' one (actions, events), so actions never starve. */
export type Priority = 'normal' | 'low';

export interface RateLimiter {
  /** Resolves when a token is taken; rejects with a 'shutting-down' error if `signal` aborts first. */
  acquire(signal?: AbortSignal, priority?: Priority): Promise<void>;
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
  type Waiter = { resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal };
  const normal: Waiter[] = [];
  const low: Waiter[] = [];
  const waiting = (): number => normal.length + low.length;
  let timer: NodeJS.Timeout | undefined;

  const refill = (): void => {
    const t = now();
    tokens = Math.min(options.burst, tokens + (t - last) * perMs);
    last = t;
  };

  const pump = (): void => {
    timer = undefined;
    refill();
    while (waiting() > 0 && tokens >= 1) {
      const w = normal.length > 0 ? normal.shift() : low.shift();
      if (w === undefined) break;
      if (w.signal?.aborted) continue;
      tokens -= 1;
      w.resolve();
    }
    if (waiting() > 0) {
      timer = setTimeout(pump, Math.max(1, Math.ceil((1 - tokens) / perMs)));
    }
  };

  return {
    tryAcquire() {
      refill();
      if (waiting() === 0 && tokens >= 1) {
        tokens -= 1;
        return true;
      }
      return false;
    },
    available() {
      refill();
      return tokens;
    },
    acquire(signal, priority = 'normal') {
      refill();
      const lane = priority === 'low' ? low : normal;
      if (waiting() === 0 && tokens >= 1) {
        tokens -= 1;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject,
          ...(signal === undefined ? {} : { signal }),
        };
        const onAbort = (): void => {
          const i = lane.indexOf(waiter);
          if (i >= 0) lane.splice(i, 1);
          reject(new GenOpsError('shutting-down', 'RATE_LIMIT_ABORTED', 'stopped while waiting to write'));
        };
        if (signal?.aborted) {
          onAbort();
          return;
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        lane.push(waiter);
        if (timer === undefined) timer = setTimeout(pump, Math.max(1, Math.ceil((1 - tokens) / perMs)));
      });
    },
  };
}
