// Owns the dedupe key of a span: a 64-bit hash of trace id (16 bytes) + span id (8 bytes), as two
// independent 32-bit MurmurHash3 lanes (different seeds) over the six little-endian words, written
// as two exact float64 values, as the span records of pipeline/partial.ts carry it. Word-wise
// Math.imul mixing costs a fraction of a byte-wise FNV-1a 64 emulated in 32-bit halves.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const SEED_HIGH = 0x9747b28c;
const SEED_LOW = 0x5bd1e995;

function mixWord(h: number, word: number): number {
  let k = Math.imul(word, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hashes the 24 id bytes at ids[0, 24) (viewed little-endian through `view`) into out[offset]
 * (high half) and out[offset + 1] (low half), both unsigned 32-bit integers.
 */
export function idHashInto(view: DataView, out: Float64Array, offset: number): void {
  let hi = SEED_HIGH;
  let lo = SEED_LOW;
  for (let i = 0; i < 24; i += 4) {
    const w = view.getInt32(i, true);
    hi = mixWord(hi, w);
    // The low lane sees the words rotated so the lanes never degenerate to the same function.
    lo = mixWord(lo, (w << 7) | (w >>> 25));
  }
  out[offset] = finish(hi, 24);
  out[offset + 1] = finish(lo, 24);
}

/**
 * The key idHashInto gives the span whose id is the parent span id at ids[24, 32) of the same
 * trace: the same lanes over trace id words 0-3 and parent id words 6-7 (charge-once stage).
 */
export function parentHashInto(view: DataView, out: Float64Array, offset: number): void {
  let hi = SEED_HIGH;
  let lo = SEED_LOW;
  for (let i = 0; i < 24; i += 4) {
    const w = view.getInt32(i < 16 ? i : i + 8, true);
    hi = mixWord(hi, w);
    lo = mixWord(lo, (w << 7) | (w >>> 25));
  }
  out[offset] = finish(hi, 24);
  out[offset + 1] = finish(lo, 24);
}
