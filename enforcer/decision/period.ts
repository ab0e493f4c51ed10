// Owns calendar periods for decisions: where a daily/weekly/monthly/quarterly/yearly period starts
// and when it resets, in an IANA time zone (UTC by default). Pure; formatters and the last answer
// per (zone, kind) are cached because 1k budgets usually share a handful of periods.

import type { PeriodKind } from '../../pipeline/snapshot.ts';

export interface PeriodBounds {
  /** Start of the period containing the instant (ms epoch, inclusive). */
  readonly start: number;
  /** Start of the next period, when this one resets (ms epoch, exclusive). */
  readonly end: number;
}

export const PERIOD_KINDS: readonly PeriodKind[] = ['daily', 'weekly', 'monthly', 'quarterly', 'yearly'];

export function isPeriodKind(value: unknown): value is PeriodKind {
  return typeof value === 'string' && (PERIOD_KINDS as readonly string[]).includes(value);
}

interface LocalDate {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
  readonly day: number;
}

export interface PeriodCalendar {
  readonly timeZone: string;
  /** The period of `kind` containing `at`. */
  bounds(kind: PeriodKind, at: number): PeriodBounds;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone: callers validate the zone once, at construction.
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

/** Wall-clock fields of an instant in a zone. */
function wallClock(
  timeZone: string,
  at: number,
): LocalDate & { hour: number; minute: number; second: number } {
  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(at)) {
    if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
  }
  return fields;
}

/** Offset of the zone from UTC at an instant, in ms (local minus UTC). */
function offsetAt(timeZone: string, at: number): number {
  const w = wallClock(timeZone, at);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (at - (((at % 1000) + 1000) % 1000));
}

/** The instant of local midnight starting a given local date (the first instant after it when a DST gap skips it). */
function localMidnight(timeZone: string, date: LocalDate): number {
  const guess = Date.UTC(date.year, date.month - 1, date.day);
  if (timeZone === 'UTC') return guess;
  const first = guess - offsetAt(timeZone, guess);
  const second = guess - offsetAt(timeZone, first);
  return second === first ? first : Math.max(first, second);
}

/** Adds whole days/months to a local date, normalizing overflow (e.g. month 13 -> next year). */
function shift(date: LocalDate, days: number, months: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1 + months, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

function startDate(kind: PeriodKind, local: LocalDate): LocalDate {
  switch (kind) {
    case 'daily':
      return local;
    case 'weekly': {
      // ISO weeks start on Monday.
      const weekday = new Date(Date.UTC(local.year, local.month - 1, local.day)).getUTCDay();
      return shift(local, -((weekday + 6) % 7), 0);
    }
    case 'monthly':
      return { year: local.year, month: local.month, day: 1 };
    case 'quarterly':
      return { year: local.year, month: local.month - ((local.month - 1) % 3), day: 1 };
    case 'yearly':
      return { year: local.year, month: 1, day: 1 };
  }
}

function nextStartDate(kind: PeriodKind, start: LocalDate): LocalDate {
  switch (kind) {
    case 'daily':
      return shift(start, 1, 0);
    case 'weekly':
      return shift(start, 7, 0);
    case 'monthly':
      return shift(start, 0, 1);
    case 'quarterly':
      return shift(start, 0, 3);
    case 'yearly':
      return shift(start, 0, 12);
  }
}

/** Period bounds without caching. */
export function periodBounds(kind: PeriodKind, at: number, timeZone = 'UTC'): PeriodBounds {
  const local = wallClock(timeZone, at);
  const startLocal = startDate(kind, local);
  return {
    start: localMidnight(timeZone, startLocal),
    end: localMidnight(timeZone, nextStartDate(kind, startLocal)),
  };
}

/** A calendar for one zone; remembers the last period per kind so repeated questions cost nothing. */
export function createPeriodCalendar(timeZone = 'UTC'): PeriodCalendar {
  formatterFor(timeZone);
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
