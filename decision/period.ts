// Owns calendar periods as the decision stage asks for them: the boundaries themselves come from the
// pipeline's definition (pipeline/windows/periods.ts), so a budget's period and the spend windows the
// snapshot reports can never disagree; this module adds the per-(zone, kind) cache, because 1k
// budgets usually share a handful of periods.

import { assertTimeZone, PERIOD_KINDS, periodBounds } from '../pipeline/windows/periods.ts';
import type { PeriodBounds } from '../pipeline/windows/periods.ts';
import type { PeriodKind } from '../pipeline/snapshot.ts';

export type { PeriodBounds };
export { periodBounds, PERIOD_KINDS };

export function isPeriodKind(value: unknown): value is PeriodKind {
  return typeof value === 'string' && (PERIOD_KINDS as readonly string[]).includes(value);
}

export interface PeriodCalendar {
  readonly timeZone: string;
  /** The period of `kind` containing `at`. */
  bounds(kind: PeriodKind, at: number): PeriodBounds;
}

/** A calendar for one zone (RangeError for an unknown zone); remembers the last period per kind. */
export function createPeriodCalendar(timeZone = 'UTC'): PeriodCalendar {
  assertTimeZone(timeZone);
  const last = new Map<PeriodKind, PeriodBounds>();
  return {
    timeZone,
    bounds(kind, at) {
      const cached = last.get(kind);
      if (cached && at >= cached.start && at < cached.end) return cached;
      const b = periodBounds(kind, at, timeZone);
      last.set(kind, b);
      return b;
    },
  };
}
