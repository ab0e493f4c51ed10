import { describe, expect, it } from 'vitest';
import { formatMicros, usdToMicros } from './money.ts';

describe('money', () => {
  it('converts decimal USD to exact micros', () => {
    expect(usdToMicros(5000)).toBe(5_000_000_000);
    expect(usdToMicros('0.000001')).toBe(1);
    expect(usdToMicros(0.1)).toBe(100_000);
    expect(usdToMicros('0.0000015')).toBe(2);
    expect(usdToMicros('-1.5')).toBe(-1_500_000);
  });
  it('sums without float drift', () => {
    let micros = 0;
    for (let i = 0; i < 1000; i++) micros += usdToMicros(0.1);
    expect(formatMicros(micros)).toBe('100.000000');
  });
  it('rejects what is not a decimal', () => {
    expect(() => usdToMicros('1e3')).toThrow(RangeError);
  });
});
