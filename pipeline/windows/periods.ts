// Owns calendar periods: where the current day, week (Monday first), month, quarter and year start
// and end in a given IANA time zone (UTC by default), via Intl, DST-safe.

import type { PeriodKind } from '../snapshot.ts';

export const PERIOD_KINDS: readonly PeriodKind[] = ['daily', 'weekly', 'monthly', 'quarterly', 'yearly'];

export interface PeriodBounds {
  /** ms epoch of the period's first instant (local midnight of its first day). */
  readonly start: number;
  /** ms epoch of the next period's start. */
  readonly end: number;
}

interface WallDate {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws RangeError for a time zone Intl does not know. */
export function assertTimeZone(timeZone: string): void {
  formatterFor(timeZone);
}

/** Wall-clock fields of instant `t` in `timeZone`, as if they were UTC (ms). */
function wallAsUtc(t: number, timeZone: string): number {
  if (timeZone === 'UTC') return t;
  const parts = formatterFor(timeZone).formatToParts(new Date(t));
  let y = 0,
    mo = 0,
    d = 0,
    h = 0,
    mi = 0,
    s = 0;
  for (const p of parts) {
    switch (p.type) {
      case 'year':
        y = Number(p.value);
        break;
      case 'month':
        mo = Number(p.value);
        break;
      case 'day':
        d = Number(p.value);
        break;
      case 'hour':
        h = Number(p.value);
        break;
      case 'minute':
        mi = Number(p.value);
        break;
      case 'second':
        s = Number(p.value);
        break;
    }
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) + (t % 1000 >= 0 ? t % 1000 : 1000 + (t % 1000));
}

function wallDate(t: number, timeZone: string): WallDate {
  const w = new Date(wallAsUtc(t, timeZone));
  return { year: w.getUTCFullYear(), month: w.getUTCMonth() + 1, day: w.getUTCDate() };
}

/**
 * The first instant whose wall-clock time in `timeZone` is at or after local midnight of the date
 * (midnight can be skipped by a DST change; then the day starts at the first existing instant).
 */
function startOfWallDay(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  if (timeZone === 'UTC') return wall;
  // Offsets are found by probing; two rounds settle any DST transition.
  const off1 = wallAsUtc(wall, timeZone) - wall;
  const guess1 = wall - off1;
  const off2 = wallAsUtc(guess1, timeZone) - guess1;
  const guess2 = wall - off2;
  const candidates = [guess1, guess2].filter((c) => wallAsUtc(c, timeZone) >= wall).sort((a, b) => a - b);
  if (candidates.length > 0) return candidates[0]!;
  // Midnight does not exist: the day begins where the wall clock jumps past it.
  let lo = Math.min(guess1, guess2);
  let hi = lo + 3 * 3600_000;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallAsUtc(mid, timeZone) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

function firstDay(kind: PeriodKind, d: WallDate): WallDate {
  switch (kind) {
    case 'daily':
      return d;
    case 'weekly': {
      const weekday = new Date(Date.UTC(d.year, d.month - 1, d.day)).getUTCDay(); // 0 = Sunday
      const back = (weekday + 6) % 7; // days since Monday
      const m = new Date(Date.UTC(d.year, d.month - 1, d.day - back));
      return { year: m.getUTCFullYear(), month: m.getUTCMonth() + 1, day: m.getUTCDate() };
    }
    case 'monthly':
      return { year: d.year, month: d.month, day: 1 };
    case 'quarterly':
      return { year: d.year, month: Math.floor((d.month - 1) / 3) * 3 + 1, day: 1 };
    case 'yearly':
      return { year: d.year, month: 1, day: 1 };
  }
}

function nextFirstDay(kind: PeriodKind, s: WallDate): WallDate {
  const add = (years: number, months: number, days: number): WallDate => {
    const n = new Date(Date.UTC(s.year + years, s.month - 1 + months, s.day + days));
    return { year: n.getUTCFullYear(), month: n.getUTCMonth() + 1, day: n.getUTCDate() };
  };
  switch (kind) {
    case 'daily':
      return add(0, 0, 1);
    case 'weekly':
      return add(0, 0, 7);
    case 'monthly':
      return add(0, 1, 0);
    case 'quarterly':
      return add(0, 3, 0);
    case 'yearly':
      return add(1, 0, 0);
  }
}

/** The period of `kind` that contains instant `now`, in `timeZone`. */
export function periodBounds(kind: PeriodKind, now: number, timeZone = 'UTC'): PeriodBounds {
  const first = firstDay(kind, wallDate(now, timeZone));
  const next = nextFirstDay(kind, first);
  const start = startOfWallDay(first.year, first.month, first.day, timeZone);
  const end = startOfWallDay(next.year, next.month, next.day, timeZone);
  // Right after a skipped midnight `now` can sit before the computed start; it belongs to the previous period.
  if (now < start) {
    return periodBounds(kind, start - 1, timeZone);
  }
  return { start, end };
}

export function allPeriodBounds(now: number, timeZone = 'UTC'): Record<PeriodKind, PeriodBounds> {
  return {
    daily: periodBounds('daily', now, timeZone),
    weekly: periodBounds('weekly', now, timeZone),
    monthly: periodBounds('monthly', now, timeZone),
    quarterly: periodBounds('quarterly', now, timeZone),
    yearly: periodBounds('yearly', now, timeZone),
  };
}
