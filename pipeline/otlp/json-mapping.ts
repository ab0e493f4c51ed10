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
