// Owns the OTLP/JSON mapping rules both JSON decoders share (the byte scanner of trace-json.ts and
// the JSON.parse reference of trace-json-parse.ts): enum names, the integer form, hex ids.

export const SPAN_KIND_NAMES: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

export const STATUS_CODE_NAMES: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

/** A 64-bit integer sent as a decimal string. */
export const INTEGER = /^[-+]?\d+$/;

/**
 * Range of the OTLP/JSON integers: int64 for AnyValue.intValue (signed), fixed64 for the times,
 * which we read leniently as [-2^63, 2^64 - 1] (a negative time is kept, as before, and means no
 * time). A value outside is not an OTLP integer: the request is malformed (as the Collector's
 * unmarshaller treats it), instead of being charged as 1e400 tokens.
 */
export type IntegerRange = 'int64' | 'fixed64';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const TWO_POW_63 = 2 ** 63;
const TWO_POW_64 = 2 ** 64;

/** Whether a decimal integer text (INTEGER) is in range; exact (BigInt) only for long texts. */
export function integerTextInRange(text: string, range: IntegerRange): boolean {
  // Up to 18 digits (with sign) always fits; the common case builds no BigInt.
  if (text.length <= 18) return true;
  const n = BigInt(text);
  return n >= INT64_MIN && n <= (range === 'int64' ? INT64_MAX : UINT64_MAX);
}

/**
 * Whether a JSON number is in range. A JSON number is read as a double, so int64 max (2^63 - 1)
 * arrives as 2^63: the bound is inclusive of the rounded value.
 */
export function integerNumberInRange(n: number, range: IntegerRange): boolean {
  return n >= -TWO_POW_63 && n <= (range === 'int64' ? TWO_POW_63 : TWO_POW_64);
}

const HEX_VALUES = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[65 + i] = 10 + i;
    table[97 + i] = 10 + i;
  }
  return table;
})();

/**
 * Hex id into out[offset, offset + size). Returns the id's length in bytes as sent: `size` when
 * valid, 0 when absent or empty, -1 when it is not hex (so the span is rejected, not the request).
 */
export function hexId(v: unknown, out: Uint8Array, offset: number, size: number): number {
  if (v === undefined || v === '') return 0;
  if (typeof v !== 'string' || v.length % 2 !== 0) return -1;
  if (v.length !== size * 2) return v.length / 2;
  for (let i = 0; i < size; i++) {
    const hi = v.charCodeAt(2 * i);
    const lo = v.charCodeAt(2 * i + 1);
    const h = hi < 128 ? HEX_VALUES[hi]! : -1;
    const l = lo < 128 ? HEX_VALUES[lo]! : -1;
    if (h < 0 || l < 0) return -1;
    out[offset + i] = (h << 4) | l;
  }
  return size;
}
