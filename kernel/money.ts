// Owns money: integer micro-units of USD (1 USD = 1_000_000 micros), so sums never drift.
// Numbers stay exact up to 2^53 micros (about 9 billion USD), far above any budget here.

export type Micros = number;

export const MICROS_PER_USD = 1_000_000;

/** Converts a decimal USD amount (as written in a CR) to micros, rounding half away from zero. */
export function usdToMicros(usd: number | string): Micros {
  const s = typeof usd === 'number' ? usd.toFixed(9) : usd.trim();
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new RangeError(`not a decimal amount: ${String(usd)}`);
  const sign = m[1] === '-' ? -1 : 1;
  const frac = (m[3] ?? '').padEnd(7, '0');
  let micros = Number(m[2]) * MICROS_PER_USD + Number(frac.slice(0, 6));
  if (Number(frac[6]) >= 5) micros += 1;
  return sign * micros;
}

/** Formats micros as an exact decimal USD string with 6 fractional digits, e.g. "12.345600". */
export function formatMicros(micros: Micros): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.round(micros));
  const whole = Math.floor(abs / MICROS_PER_USD);
  const frac = String(abs % MICROS_PER_USD).padStart(6, '0');
  return `${sign}${whole}.${frac}`;
}

/** USD as a float, only for display and metrics (Prometheus values are floats anyway). */
export function microsToUsd(micros: Micros): number {
  return micros / MICROS_PER_USD;
}
