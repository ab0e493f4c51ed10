import { describe, expect, it } from 'vitest';
import { createPeriodCalendar, isPeriodKind } from './period.ts';

const at = (s: string): number => Date.parse(s);
const show = (b: { start: number; end: number }): [string, string] => [
  new Date(b.start).toISOString(),
  new Date(b.end).toISOString(),
];

describe('period calendar', () => {
  it('computes periods in UTC and in zones, across DST changes', () => {
    const utc = createPeriodCalendar();
    expect(show(utc.bounds('monthly', at('2025-02-15T10:00:00Z')))).toEqual([
      '2025-02-01T00:00:00.000Z',
      '2025-03-01T00:00:00.000Z',
    ]);
    expect(show(utc.bounds('weekly', at('2025-03-09T12:00:00Z')))).toEqual([
      '2025-03-03T00:00:00.000Z',
      '2025-03-10T00:00:00.000Z',
    ]);
    const berlin = createPeriodCalendar('Europe/Berlin');
    // The day the clocks go back has 25 hours.
    expect(show(berlin.bounds('daily', at('2025-10-26T12:00:00Z')))).toEqual([
      '2025-10-25T22:00:00.000Z',
      '2025-10-26T23:00:00.000Z',
    ]);
    const kolkata = createPeriodCalendar('Asia/Kolkata');
    expect(show(kolkata.bounds('quarterly', at('2025-11-09T12:00:00Z')))).toEqual([
      '2025-09-30T18:30:00.000Z',
      '2025-12-31T18:30:00.000Z',
    ]);
  });

  it('answers from its cache inside a period and recomputes after it', () => {
    const cal = createPeriodCalendar();
    const a = cal.bounds('daily', at('2025-03-09T01:00:00Z'));
    expect(cal.bounds('daily', at('2025-03-09T23:59:59Z'))).toBe(a);
    expect(cal.bounds('daily', at('2025-03-10T00:00:00Z')).start).toBe(a.end);
  });

  it('validates zones and kinds', () => {
    expect(() => createPeriodCalendar('Nowhere/Nothing')).toThrow(RangeError);
    expect(isPeriodKind('quarterly')).toBe(true);
    expect(isPeriodKind('hourly')).toBe(false);
  });
});
