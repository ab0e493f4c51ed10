import { describe, expect, it } from 'vitest';
import { throttledReplicas, validateThrottle } from './throttle.ts';

describe('throttled replicas', () => {
  it('halves with a floor of one by default, never above the original', () => {
    expect(throttledReplicas(4)).toBe(2);
    expect(throttledReplicas(5)).toBe(2);
    expect(throttledReplicas(3)).toBe(1);
    expect(throttledReplicas(1)).toBe(1);
    expect(throttledReplicas(0)).toBe(0);
    expect(throttledReplicas(10, { fraction: 0.25, floor: 3 })).toBe(3);
    expect(throttledReplicas(2, { fraction: 0.25, floor: 3 })).toBe(2);
  });
  it('refuses fractions outside (0, 1)', () => {
    expect(() => validateThrottle({ fraction: 1, floor: 1 })).toThrow(RangeError);
    expect(() => validateThrottle({ fraction: 0.5, floor: -1 })).toThrow(RangeError);
    expect(() => validateThrottle({ fraction: 0.5, floor: 1 })).not.toThrow();
  });
});
