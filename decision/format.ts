// Owns the small conversions every reason needs, memoized: 1k budgets share a handful of period
// boundaries and limits, and formatting them again for each one showed up in the profile.

import { formatMicros, usdToMicros } from '../kernel/money.ts';
import type { Micros } from '../kernel/money.ts';

const MAX_ENTRIES = 4096;
const isoCache = new Map<number, string>();
const microsCache = new Map<number, Micros>();

/** RFC 3339 UTC with milliseconds, e.g. 2025-04-01T00:00:00.000Z. */
export function iso(ms: number): string {
  let s = isoCache.get(ms);
  if (s === undefined) {
    s = new Date(ms).toISOString();
    if (isoCache.size >= MAX_ENTRIES) isoCache.clear();
    isoCache.set(ms, s);
  }
  return s;
}

/** A spec amount in currency units as micros; undefined for a missing or non-finite value. */
export function specMicros(value: number | undefined): Micros | undefined {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  let m = microsCache.get(value);
  if (m === undefined) {
    m = usdToMicros(value);
    if (microsCache.size >= MAX_ENTRIES) microsCache.clear();
    microsCache.set(value, m);
  }
  return m;
}

export function usd(micros: Micros): string {
  return `${formatMicros(micros)} USD`;
}
