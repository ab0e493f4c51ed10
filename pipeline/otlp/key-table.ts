// Owns the matching of attribute keys against the small set of keys the product reads. The
// protobuf decoder matches raw UTF-8 key bytes (hash, then byte compare) without materialising a
// string for the many keys it ignores; the JSON decoder matches strings through a Map.

import type { ComparableBytes } from './bytes.ts';
import { comparableBytes, equalsAt, sampleHash, utf8Encoder } from './bytes.ts';

/** Keys of interest, each with a dense id (its index in `names`). */
export interface KeyTable {
  readonly names: readonly string[];
  /** Id of buf[start, end) as a key, or -1; `view` covers the same memory as `buf`. */
  matchBytes(buf: Uint8Array, view: DataView, start: number, end: number): number;
  /** Id of a key string, or -1. */
  matchString(key: string): number;
}

export function createKeyTable(names: readonly string[]): KeyTable {
  if (new Set(names).size !== names.length) throw new Error('duplicate key in key table');
  const size = 1 << Math.ceil(Math.log2(Math.max(8, names.length * 4)));
  const mask = size - 1;
  const shift = 32 - Math.log2(size);
  // Open addressing: slot -> key id + 1 (0 = empty).
  const slots = new Int32Array(size);
  const hashes = new Uint32Array(names.length);
  const encoded: ComparableBytes[] = [];
  const byString = new Map<string, number>();
  names.forEach((name, id) => {
    const bytes = utf8Encoder.encode(name);
    encoded.push(comparableBytes(bytes));
    const h = sampleHash(bytes, 0, bytes.length);
    hashes[id] = h;
    let slot = h >>> shift;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = id + 1;
    byString.set(name, id);
  });
  return {
    names,
    matchBytes(buf, view, start, end) {
      const len = end - start;
      const h = sampleHash(buf, start, end);
      let slot = h >>> shift;
      for (;;) {
        const entry = slots[slot]!;
        if (entry === 0) return -1;
        const id = entry - 1;
        if (hashes[id] === h) {
          const bytes = encoded[id]!;
          if (bytes.bytes.length === len && equalsAt(buf, view, start, bytes)) return id;
        }
        slot = (slot + 1) & mask;
      }
    },
    matchString(key) {
      return byString.get(key) ?? -1;
    },
  };
}
