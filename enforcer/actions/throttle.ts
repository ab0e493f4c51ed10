// Owns how far throttling scales a workload down: a fraction of its original replicas, never below a
// floor, never above the original. Default: half, floor 1 (4 -> 2, 3 -> 1, 1 -> 1; 0 stays 0).

export interface ThrottleOptions {
  /** Fraction of the original replicas kept, 0 < fraction < 1 (default 0.5). */
  readonly fraction: number;
  /** Fewest replicas a throttled workload keeps (default 1). */
  readonly floor: number;
}

export const defaultThrottle: ThrottleOptions = { fraction: 0.5, floor: 1 };

export function throttledReplicas(original: number, options: ThrottleOptions = defaultThrottle): number {
  if (original <= 0) return 0;
  return Math.min(original, Math.max(options.floor, Math.floor(original * options.fraction)));
}

export function validateThrottle(options: ThrottleOptions): void {
  if (!(options.fraction > 0 && options.fraction < 1))
    throw new RangeError(`throttle fraction must be in (0, 1), got ${options.fraction}`);
  if (!(Number.isInteger(options.floor) && options.floor >= 0))
    throw new RangeError(`throttle floor must be an integer >= 0, got ${options.floor}`);
}
