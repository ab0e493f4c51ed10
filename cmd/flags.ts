// Owns the parsing of command-line flag values shared by the subcommands: one rule and one message
// per kind of value, so `genops local` and `genops operator` refuse the same inputs the same way.

import { InvalidArgumentError } from 'commander';
import type { UnknownModelPrice } from '../pipeline/pricing/overrides.ts';
import { parseUnknownModelPrice } from '../pipeline/pricing/overrides.ts';
import { assertTimeZone } from '../pipeline/windows/periods.ts';

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port number');
  return n;
}

/** A number greater than zero (seconds, rates, factors). */
export function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('not a positive number');
  return n;
}

/** A whole number >= 0 (replica floors, token counts). */
export function parseWholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a whole number >= 0');
  return n;
}

/** A whole number >= 1 (worker threads). */
export function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}

export function parseTimeZone(value: string): string {
  try {
    assertTimeZone(value);
  } catch {
    throw new InvalidArgumentError('not an IANA time zone');
  }
  return value;
}

/** `--unknown-model-price`: highest | 0 | <input>,<output> USD per 1M tokens (pipeline/pricing). */
export function parseUnknownModelPriceFlag(value: string): UnknownModelPrice {
  try {
    return parseUnknownModelPrice(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
