// Owns an immutable string-keyed map whose next version costs what changed, not its size: the
// entries live in hash buckets, and a new version copies only the buckets it writes to (copy on
// write) and shares the others with the previous version. The DecisionSet's workload map (100k
// entries) is one: consumers keep the previous set to diff against, so it must stay intact, and
// copying a 100k-entry Map costs more than an incremental evaluation may take.

const TARGET_BUCKET = 4;

function hash(key: string): number {
  // FNV-1a over UTF-16 code units; only distribution matters, not stability across versions.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function bucketsFor(size: number): number {
  let n = 16;
  while (n * TARGET_BUCKET < size) n *= 2;
  return n;
}

/** Read-only outside this module: mutate only through a builder (`edit`). */
export class PersistentMap<V> implements ReadonlyMap<string, V> {
  readonly #buckets: readonly Map<string, V>[];
  readonly #size: number;

  private constructor(buckets: readonly Map<string, V>[], size: number) {
    this.#buckets = buckets;
    this.#size = size;
  }

  static empty<V>(): PersistentMap<V> {
    return new PersistentMap<V>(
      Array.from({ length: 16 }, () => new Map<string, V>()),
      0,
    );
  }

  static from<V>(entries: Iterable<readonly [string, V]>): PersistentMap<V> {
    const b = PersistentMap.empty<V>().edit();
    for (const [k, v] of entries) b.set(k, v);
    return b.done();
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    const buckets = this.#buckets;
    return (buckets[hash(key) & (buckets.length - 1)] as Map<string, V>).get(key);
  }

  has(key: string): boolean {
    const buckets = this.#buckets;
    return (buckets[hash(key) & (buckets.length - 1)] as Map<string, V>).has(key);
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const b of this.#buckets) for (const [k, v] of b) fn.call(thisArg, v, k, this);
  }

  *entries(): MapIterator<[string, V]> {
    for (const b of this.#buckets) yield* b.entries();
  }

  *keys(): MapIterator<string> {
    for (const b of this.#buckets) yield* b.keys();
  }

  *values(): MapIterator<V> {
    for (const b of this.#buckets) yield* b.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'PersistentMap';
  }

  /** A builder of the next version; this version stays as it is. */
  edit(): PersistentMapBuilder<V> {
    const buckets = this.#buckets;
    let size = this.#size;
    let next: Map<string, V>[] | undefined;
    let owned: Set<number> | undefined;
    const writable = (key: string): Map<string, V> => {
      next ??= [...buckets];
      owned ??= new Set();
      const i = hash(key) & (next.length - 1);
      if (!owned.has(i)) {
        next[i] = new Map(next[i]);
        owned.add(i);
      }
      return next[i] as Map<string, V>;
    };
    let finished = false;
    const check = (): void => {
      if (finished) throw new Error('PersistentMap builder used after done()');
    };
    return {
      get: (key) => {
        const b = next ?? buckets;
        return (b[hash(key) & (b.length - 1)] as Map<string, V>).get(key);
      },
      set: (key, value) => {
        check();
        const m = writable(key);
        if (!m.has(key)) size++;
        m.set(key, value);
      },
      delete: (key) => {
        check();
        const b = next ?? buckets;
        if (!(b[hash(key) & (b.length - 1)] as Map<string, V>).has(key)) return;
        writable(key).delete(key);
        size--;
      },
      done: () => {
        check();
        finished = true;
        if (next === undefined) return this;
        const want = bucketsFor(size);
        // Rehash only when the size moved by a factor of 4 from the bucket count's sweet spot:
        // O(n), amortised over as many changes.
        if (want >= next.length * 4 || want * 4 <= next.length) {
          const rehashed = Array.from({ length: want }, () => new Map<string, V>());
          for (const m of next)
            for (const [k, v] of m) (rehashed[hash(k) & (want - 1)] as Map<string, V>).set(k, v);
          return new PersistentMap(rehashed, size);
        }
        return new PersistentMap(next, size);
      },
    };
  }
}

export interface PersistentMapBuilder<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  /** The new version (the same object when nothing was written). */
  done(): PersistentMap<V>;
}
