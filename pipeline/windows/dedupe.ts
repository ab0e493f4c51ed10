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
  /** Arrival time (whole seconds) of the newest key; -1 when empty. */
  readonly newestAtSec: number;
  /** Capacity (a power of two). */
  readonly capacity: number;
  /** Live keys oldest first, with their arrival time in whole seconds (for growing a set). */
  forEach(visit: (hi: number, lo: number, atSec: number) => void): void;
  /** Remembers a key with its arrival time without asking (growth, replay); no-op if present. */
  insert(hi: number, lo: number, now: number): void;
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
    get newestAtSec() {
      return count === 0 ? -1 : ringAt[(head + count - 1) & (cap - 1)]!;
    },
    capacity: cap,
    forEach(visit) {
      for (let i = 0; i < count; i++) {
        const p = (head + i) & (cap - 1);
        visit(ringHi[p]!, ringLo[p]!, ringAt[p]!);
      }
    },
    insert(hi, lo, now) {
      this.seen(hi, lo, now);
    },
  };
}

export interface ScopedDedupeOptions {
  /** Keys remembered at most over all senders (the memory bound); default 2 Mi (~40 MiB). */
  maxKeys?: number;
  /** Keys one sender may hold; default 256 Ki. A flooding sender evicts only its own keys. */
  maxKeysPerSender?: number;
  /** How long a key is remembered (the time window); default 10 minutes. */
  maxAgeMs?: number;
}

/**
 * "Have we charged this span of this sender already?" One set per sender identity (the workload
 * the span is charged to), so the same trace and span ids from another namespace are another key
 * (charged, and unable to cancel anyone else's charge), and one sender's flood pushes out only its
 * own window. Sets start small and double while the global bound allows; a set whose keys all aged
 * out is dropped.
 */
export interface ScopedDedupe {
  /** True when the key was seen for this sender within the window; otherwise remembers it. */
  seen(scope: string, hi: number, lo: number, now: number): boolean;
  /** Remembers a key (WAL replay) without counting it as a duplicate. */
  insert(scope: string, hi: number, lo: number, now: number): void;
  /** Keys held over all senders. */
  readonly size: number;
  readonly senders: number;
  /** Drops the sets of senders whose keys all aged out; called now and then by the owner. */
  sweep(now: number): void;
}

const FIRST_CAPACITY = 256;

export function createScopedDedupe(options: ScopedDedupeOptions = {}): ScopedDedupe {
  const maxKeys = options.maxKeys ?? 1 << 21;
  const perSender = Math.max(1, Math.min(maxKeys, options.maxKeysPerSender ?? 1 << 18));
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  const sets = new Map<string, DedupeSet>();
  /** Capacity reserved over all sets (what the memory bound is about). */
  let reserved = 0;

  const setFor = (scope: string): DedupeSet => {
    let set = sets.get(scope);
    if (set === undefined) {
      // Within the bound a new sender starts at FIRST_CAPACITY; beyond it, with what is left (at least 1).
      let first = 1;
      while (first * 2 <= Math.min(FIRST_CAPACITY, perSender, maxKeys - reserved)) first *= 2;
      set = createDedupeSet({ maxKeys: first, maxAgeMs });
      sets.set(scope, set);
      reserved += set.capacity;
      return set;
    }
    if (set.size === set.capacity && set.capacity < perSender && reserved + set.capacity <= maxKeys) {
      // Grow by doubling; keys keep their arrival times, so the window stays a time window.
      const bigger = createDedupeSet({ maxKeys: set.capacity * 2, maxAgeMs });
      set.forEach((hi, lo, atSec) => {
        bigger.insert(hi, lo, atSec * 1000);
      });
      reserved += bigger.capacity - set.capacity;
      sets.set(scope, bigger);
      set = bigger;
    }
    return set;
  };

  return {
    seen(scope, hi, lo, now) {
      return setFor(scope).seen(hi, lo, now);
    },
    insert(scope, hi, lo, now) {
      setFor(scope).insert(hi, lo, now);
    },
    get size() {
      let n = 0;
      for (const s of sets.values()) n += s.size;
      return n;
    },
    get senders() {
      return sets.size;
    },
    sweep(now) {
      for (const [scope, set] of sets) {
        const newest = set.newestAtSec;
        if (newest < 0 || (Math.floor(now / 1000) - newest) * 1000 > maxAgeMs) {
          sets.delete(scope);
          reserved -= set.capacity;
        }
      }
    },
  };
}
