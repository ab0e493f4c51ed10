// Owns a bounded set of 64-bit span keys (the two 32-bit halves of pipeline/partial.ts records)
// with an expiry each: open addressing over typed arrays, a fixed number of probes, the oldest
// entry among them overwritten when all are taken. Slots are never emptied once used (only
// expired), so a probe sequence ends at the first never-used slot. Nothing is allocated per key;
// memory is 16 bytes x capacity, whatever the load (hostile senders can only age entries out sooner).

const PROBES = 8;

export class KeyRing {
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  /** Expiry (clock ms); 0 = empty slot. */
  private readonly until: Float64Array;
  private readonly mask: number;

  /** `capacity` is rounded up to a power of two (minimum 16). */
  constructor(capacity: number) {
    let size = 16;
    while (size < capacity) size *= 2;
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.until = new Float64Array(size);
    this.mask = size - 1;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  /** Adds (or refreshes) a key until `untilMs`. */
  add(hi: number, lo: number, untilMs: number, now: number): void {
    const start = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    let victim = start;
    let oldest = Infinity;
    for (let p = 0; p < PROBES; p++) {
      const i = (start + p) & this.mask;
      const u = this.until[i]!;
      if (u === 0) {
        // Never used: the key is not further on.
        if (oldest > -1) victim = i;
        break;
      }
      if (u > now && this.hi[i] === hi && this.lo[i] === lo) {
        if (untilMs > u) this.until[i] = untilMs;
        return;
      }
      if (u <= now) {
        // Empty or expired: take it, but keep looking for the key itself further on.
        if (oldest > -1) {
          victim = i;
          oldest = -1;
        }
      } else if (u < oldest) {
        victim = i;
        oldest = u;
      }
    }
    this.hi[victim] = hi;
    this.lo[victim] = lo;
    this.until[victim] = untilMs;
  }

  has(hi: number, lo: number, now: number): boolean {
    const start = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (let p = 0; p < PROBES; p++) {
      const i = (start + p) & this.mask;
      const u = this.until[i]!;
      if (u === 0) return false;
      if (u > now && this.hi[i] === hi && this.lo[i] === lo) return true;
    }
    return false;
  }
}
