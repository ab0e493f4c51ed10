// Owns "have we charged this span already?": a bounded set of 64-bit span keys (hash of trace id +
// span id, as two uint32 halves) remembered for at most `maxKeys` entries and `maxAgeMs`. Typed
// arrays only (a ring in arrival order plus an open-addressing index), so a million keys cost
// about 20 MiB and no garbage.

export interface DedupeOptions {
  /** Keys remembered at most; default 1 Mi. Rounded up to a power of two. */
  maxKeys?: number;
  /** Keys older than this are forgotten; default 10 minutes (OTLP clients retry for minutes). */
  maxAgeMs?: number;
}

export interface DedupeSet {
  /** True when (hi, lo) was seen within the window; otherwise remembers it and returns false. */
  seen(hi: number, lo: number, now: number): boolean;
  readonly size: number;
}

const EMPTY = 0xffffffff;

export function createDedupeSet(options: DedupeOptions = {}): DedupeSet {
  let cap = 1;
  while (cap < (options.maxKeys ?? 1 << 20)) cap <<= 1;
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  // Ring of keys in arrival order; `head` is the oldest, `count` how many are live.
  const ringHi = new Uint32Array(cap);
  const ringLo = new Uint32Array(cap);
  // Arrival time in whole seconds: 4 bytes a key is plenty for a window of minutes.
  const ringAt = new Uint32Array(cap);
  // Index: slot -> ring position, load factor <= 0.5, linear probing with backward-shift deletion.
  const tableSize = cap * 2;
  const mask = tableSize - 1;
  const table = new Uint32Array(tableSize).fill(EMPTY);
  let head = 0;
  let count = 0;

  const slotOf = (hi: number, lo: number): number => {
    // Keys are already hashes; mix the halves so either one's entropy spreads.
    return (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> 0) & mask;
  };

  const find = (hi: number, lo: number): number => {
    let s = slotOf(hi, lo);
    for (;;) {
      const p = table[s]!;
      if (p === EMPTY) return -1 - s;
      if (ringLo[p] === lo && ringHi[p] === hi) return s;
      s = (s + 1) & mask;
    }
  };

  const removeSlot = (slot: number): void => {
    // Backward-shift deletion keeps probe chains intact without tombstones.
    let hole = slot;
    let s = (slot + 1) & mask;
    for (;;) {
      const p = table[s]!;
      if (p === EMPTY) break;
      const home = slotOf(ringHi[p]!, ringLo[p]!);
      // Move entry at s into the hole if its home is not cyclically in (hole, s].
      const between = hole <= s ? home > hole && home <= s : home > hole || home <= s;
      if (!between) {
        table[hole] = p;
        hole = s;
      }
      s = (s + 1) & mask;
    }
    table[hole] = EMPTY;
  };

  const evictOldest = (): void => {
    const s = find(ringHi[head]!, ringLo[head]!);
    if (s >= 0 && table[s] === head) removeSlot(s);
    head = (head + 1) & (cap - 1);
    count--;
  };

  return {
    seen(hi, lo, now) {
      const nowSec = Math.floor(now / 1000);
      while (count > 0 && (nowSec - ringAt[head]!) * 1000 > maxAgeMs) evictOldest();
      const s = find(hi, lo);
      if (s >= 0) return true;
      if (count === cap) evictOldest();
      const pos = (head + count) & (cap - 1);
      ringHi[pos] = hi;
      ringLo[pos] = lo;
      ringAt[pos] = nowSec;
      count++;
      // The slot found above may have shifted if an eviction happened; probe again.
      const free = find(hi, lo);
      table[-1 - free] = pos;
      return false;
    },
    get size() {
      return count;
    },
  };
}
