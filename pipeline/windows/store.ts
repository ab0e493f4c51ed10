// Owns the memory layout of the usage windows: per-workload numbers live in rows of a few large
// typed arrays (slabs) instead of small objects and typed arrays per workload, model and provider
// names are interned, classification lists are shared. This is what keeps tracked workloads under
// ~1 KB each (the bench measures it).

/** A growable table of fixed-width rows in one typed array; rows are reused after release. */
export class Slab<T extends Float64Array | Uint32Array> {
  readonly width: number;
  data: T;
  private readonly make: (n: number) => T;
  private next = 0;
  private readonly free: number[] = [];

  constructor(width: number, make: (n: number) => T, initialRows = 64) {
    this.width = width;
    this.make = make;
    this.data = make(width * initialRows);
  }

  /** A zeroed row; returns its index. */
  alloc(): number {
    const row = this.free.pop() ?? this.next++;
    const end = (row + 1) * this.width;
    if (end > this.data.length) {
      // Grow by a quarter: the spare capacity is memory every tracked workload pays for.
      const bigger = this.make(Math.max(end, Math.ceil((this.data.length * 1.25) / this.width) * this.width));
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data.fill(0, row * this.width, end);
    return row;
  }

  release(row: number): void {
    this.free.push(row);
  }

  /** Rows in use. */
  get size(): number {
    return this.next - this.free.length;
  }
}

/** Interns strings and small string lists so thousands of workloads share one copy. */
export class Interner {
  private readonly strings = new Map<string, string>();
  private readonly lists = new Map<string, readonly string[]>();

  string(s: string): string {
    const have = this.strings.get(s);
    if (have !== undefined) return have;
    this.strings.set(s, s);
    return s;
  }

  /** The shared frozen list `base` + `add` (`base` is itself an interned list). */
  withItem(base: readonly string[] | undefined, add: string): readonly string[] {
    const key = base === undefined || base.length === 0 ? add : base.join('\u0000') + '\u0000' + add;
    let list = this.lists.get(key);
    if (!list) {
      list = Object.freeze([...(base ?? []), this.string(add)]);
      this.lists.set(key, list);
    }
    return list;
  }
}

/** Where model names beyond a bound are folded (per workload, or when the catalogue is full). */
export const OTHER_PROVIDER = 'other';
export const OTHER_MODEL = 'other';

/**
 * Provider/model pairs numbered once: workloads store small ids, not strings. Model names are
 * whatever a client sends, so the catalogue is reference-counted (a pair no workload holds any
 * more is forgotten and its id reused) and bounded: when full, new pairs get the id of the
 * ("other", "other") row, which always exists (id 0).
 */
export class ModelCatalog {
  static readonly OTHER = 0;
  private readonly ids = new Map<string, number>();
  readonly providers: string[] = [OTHER_PROVIDER];
  readonly models: string[] = [OTHER_MODEL];
  private readonly refs: number[] = [0];
  private readonly free: number[] = [];
  private live = 1;

  private readonly maxEntries: number;

  constructor(maxEntries = 16_384) {
    this.maxEntries = maxEntries;
    this.ids.set(OTHER_PROVIDER + '\u0000' + OTHER_MODEL, ModelCatalog.OTHER);
  }

  /** The id of a known pair, or -1; takes no reference. */
  lookup(provider: string, model: string): number {
    return this.ids.get(provider + '\u0000' + model) ?? -1;
  }

  /** The id of a pair with one more reference (OTHER when the catalogue is full). */
  acquire(provider: string, model: string): number {
    const key = provider + '\u0000' + model;
    let id = this.ids.get(key);
    if (id === undefined) {
      if (this.live >= this.maxEntries) id = ModelCatalog.OTHER;
      else {
        id = this.free.pop() ?? this.providers.length;
        this.providers[id] = provider;
        this.models[id] = model;
        this.refs[id] = 0;
        this.ids.set(key, id);
        this.live++;
      }
    }
    this.refs[id]!++;
    return id;
  }

  /** Drops one reference; a pair no one holds is forgotten (OTHER never is). */
  release(id: number): void {
    if (id === ModelCatalog.OTHER) return;
    const left = --this.refs[id]!;
    if (left > 0) return;
    this.ids.delete(this.providers[id]! + '\u0000' + this.models[id]!);
    this.providers[id] = '';
    this.models[id] = '';
    this.free.push(id);
    this.live--;
  }

  /** Pairs currently known (OTHER included). */
  size(): number {
    return this.live;
  }

  /** Backwards-compatible: the id of a pair, acquiring a reference. */
  id(provider: string, model: string): number {
    return this.acquire(provider, model);
  }
}
