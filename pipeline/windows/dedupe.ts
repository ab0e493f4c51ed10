// Owns "have we charged this span already?": 64-bit span keys (hash of trace id + span id, as two
// uint32 halves) per sender, remembered for at most `maxAgeMs` within a memory bound of `maxKeys`.
// Typed arrays only (a ring in arrival order plus an open-addressing index), allocated once.

const EMPTY = 0xffffffff;

export interface ScopedDedupeOptions {
  /** Keys remembered at most over all senders (the memory bound, ~50 bytes a key); default 1 Mi (~52 MiB). */
  maxKeys?: number;
  /** Keys one sender may hold; default a quarter of maxKeys. A flooding sender evicts only its own keys. */
  maxKeysPerSender?: number;
  /** How long a key is remembered (the time window); default 10 minutes. */
  maxAgeMs?: number;
}

/**
 * "Have we charged this span of this sender already?" Keys are (sender, trace+span hash): the same
 * trace and span ids from another workload are another key, so they are charged and cannot cancel
 * anyone else's charge. One ring in arrival order holds every key (the time window, bounded by
 * maxKeys); each sender's keys are also chained oldest-first, so a sender at its quota evicts its
 * own oldest key rather than everybody's. Typed arrays only, allocated once: no per-sender memory
 * beyond a map entry while the sender has live keys.
 */
export interface ScopedDedupe {
  /** True when the key was seen for this sender within the window; otherwise remembers it. */
  seen(scope: string, hi: number, lo: number, now: number): boolean;
  /**
   * The hot path of a request: `scopeId` once per sender, `advance` once per request (expires keys
   * older than the window), then `seenIn` per span. Same answers as `seen`.
   */
  scopeId(scope: string): number;
  advance(now: number): void;
  /** As `seen`, for a sender id from scopeId (of this request) and a time in whole seconds. */
  seenIn(sid: number, hi: number, lo: number, nowSec: number): boolean;
  /** Remembers a key (write-ahead log replay) with its original arrival time. */
  insert(scope: string, hi: number, lo: number, now: number): void;
  /** Live keys over all senders. */
  readonly size: number;
  /** Senders with live keys. */
  readonly senders: number;
}

export function createScopedDedupe(options: ScopedDedupeOptions = {}): ScopedDedupe {
  let cap = 1;
  while (cap < (options.maxKeys ?? 1 << 20)) cap <<= 1;
  const perSender = Math.max(
    1,
    Math.min(cap, options.maxKeysPerSender ?? Math.max(cap >>> 2, Math.min(cap, 1024))),
  );
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  // The ring has room for twice the live keys: keys evicted out of order (a sender at its quota)
  // leave dead slots, compacted away when the ring fills, so they never push out live keys.
  const ringCap = cap * 2;
  const rmask = ringCap - 1;
  const ringHi = new Uint32Array(ringCap);
  const ringLo = new Uint32Array(ringCap);
  const ringAt = new Uint32Array(ringCap);
  const ringScope = new Uint32Array(ringCap);
  /** Next (younger) ring position of the same sender, -1 at its youngest. */
  const ringNext = new Int32Array(ringCap);
  /** 0 when the slot's key was evicted out of order (its sender's quota) and only waits for the head. */
  const ringLive = new Uint8Array(ringCap);
  const tableSize = cap * 2;
  const mask = tableSize - 1;
  const table = new Uint32Array(tableSize).fill(EMPTY);
  let head = 0;
  /** Ring slots in use, dead ones included. */
  let used = 0;
  let live = 0;

  // Senders: id <-> name, and per id its oldest/youngest position and live count.
  const ids = new Map<string, number>();
  const names: string[] = [];
  const sHead: number[] = [];
  const sTail: number[] = [];
  const sCount: number[] = [];
  const freeIds: number[] = [];

  const slotOf = (hi: number, lo: number, sid: number): number =>
    (Math.imul(lo ^ Math.imul(hi ^ Math.imul(sid, 0x27d4eb2f), 0x9e3779b1), 0x85ebca6b) >>> 0) & mask;

  const find = (hi: number, lo: number, sid: number): number => {
    let s = slotOf(hi, lo, sid);
    for (;;) {
      const p = table[s]!;
      if (p === EMPTY) return -1 - s;
      if (ringLo[p] === lo && ringHi[p] === hi && ringScope[p] === sid) return s;
      s = (s + 1) & mask;
    }
  };

  const removeSlot = (slot: number): void => {
    let hole = slot;
    let s = (slot + 1) & mask;
    for (;;) {
      const p = table[s]!;
      if (p === EMPTY) break;
      const home = slotOf(ringHi[p]!, ringLo[p]!, ringScope[p]!);
      const between = hole <= s ? home > hole && home <= s : home > hole || home <= s;
      if (!between) {
        table[hole] = p;
        hole = s;
      }
      s = (s + 1) & mask;
    }
    table[hole] = EMPTY;
  };

  const idOf = (scope: string): number => {
    let id = ids.get(scope);
    if (id === undefined) {
      id = freeIds.pop() ?? names.length;
      ids.set(scope, id);
      names[id] = scope;
      sHead[id] = -1;
      sTail[id] = -1;
      sCount[id] = 0;
    }
    return id;
  };

  /** Removes a sender's oldest live key (it is at sHead); `release` frees a sender left without keys. */
  const dropOldestOf = (sid: number, release: boolean): void => {
    const pos = sHead[sid]!;
    const slot = find(ringHi[pos]!, ringLo[pos]!, sid);
    if (slot >= 0 && table[slot] === pos) removeSlot(slot);
    ringLive[pos] = 0;
    live--;
    sHead[sid] = ringNext[pos]!;
    if (--sCount[sid]! === 0) {
      sTail[sid] = -1;
      if (release) {
        ids.delete(names[sid]!);
        freeIds.push(sid);
      }
    }
  };

  const popHead = (): void => {
    // The oldest live key of the whole ring is the oldest of its sender too.
    if (ringLive[head] === 1) dropOldestOf(ringScope[head]!, true);
    head = (head + 1) & rmask;
    used--;
  };

  /** Squeezes dead slots out of the ring (order kept), rebuilding the index and the chains. */
  const compact = (): void => {
    let w = 0;
    for (let i = 0; i < used; i++) {
      const r = (head + i) & rmask;
      if (ringLive[r] === 0) continue;
      const d = (head + w) & rmask;
      if (d !== r) {
        ringHi[d] = ringHi[r]!;
        ringLo[d] = ringLo[r]!;
        ringAt[d] = ringAt[r]!;
        ringScope[d] = ringScope[r]!;
        ringLive[d] = 1;
        ringLive[r] = 0;
      }
      w++;
    }
    used = w;
    table.fill(EMPTY);
    for (const sid of ids.values()) {
      sHead[sid] = -1;
      sTail[sid] = -1;
    }
    for (let i = 0; i < used; i++) {
      const pos = (head + i) & rmask;
      const sid = ringScope[pos]!;
      ringNext[pos] = -1;
      const tail = sTail[sid]!;
      if (tail >= 0) ringNext[tail] = pos;
      else sHead[sid] = pos;
      sTail[sid] = pos;
      table[-1 - find(ringHi[pos]!, ringLo[pos]!, sid)] = pos;
    }
  };

  const expire = (nowSec: number): void => {
    while (used > 0 && (ringLive[head] === 0 || (nowSec - ringAt[head]!) * 1000 > maxAgeMs)) popHead();
  };

  const remember = (sid: number, hi: number, lo: number, atSec: number): void => {
    if (sCount[sid]! >= perSender) dropOldestOf(sid, false);
    // Making room may drop this sender's last key: it keeps its id, a key follows at once.
    while (live >= cap) {
      if (ringLive[head] === 1 && ringScope[head] === sid) {
        dropOldestOf(sid, false);
        head = (head + 1) & rmask;
        used--;
      } else popHead();
    }
    if (used === ringCap) compact();
    const pos = (head + used) & rmask;
    ringHi[pos] = hi;
    ringLo[pos] = lo;
    ringAt[pos] = atSec;
    ringScope[pos] = sid;
    ringNext[pos] = -1;
    ringLive[pos] = 1;
    used++;
    live++;
    const tail = sTail[sid]!;
    if (tail >= 0) ringNext[tail] = pos;
    else sHead[sid] = pos;
    sTail[sid] = pos;
    sCount[sid]! += 1;
    table[-1 - find(hi, lo, sid)] = pos;
  };

  /**
   * A sender id handed out by scopeId may have been released within the request (its last key
   * evicted): take it back under its name before it holds keys again. No other sender took it: ids
   * are handed out only by scopeId, before the request's spans.
   */
  const reclaim = (sid: number): void => {
    const name = names[sid]!;
    if (ids.get(name) === sid) return;
    ids.set(name, sid);
    const at = freeIds.lastIndexOf(sid);
    if (at >= 0) freeIds.splice(at, 1);
  };

  return {
    scopeId: idOf,
    advance(now) {
      expire(Math.floor(now / 1000));
    },
    seenIn(sid, hi, lo, nowSec) {
      if (find(hi, lo, sid) >= 0) return true;
      if (sCount[sid] === 0) reclaim(sid);
      remember(sid, hi, lo, nowSec);
      return false;
    },
    seen(scope, hi, lo, now) {
      const nowSec = Math.floor(now / 1000);
      expire(nowSec);
      const sid = idOf(scope);
      if (find(hi, lo, sid) >= 0) return true;
      remember(sid, hi, lo, nowSec);
      return false;
    },
    insert(scope, hi, lo, now) {
      const atSec = Math.floor(now / 1000);
      const sid = idOf(scope);
      if (find(hi, lo, sid) < 0) remember(sid, hi, lo, atSec);
    },
    get size() {
      return live;
    },
    get senders() {
      return ids.size;
    },
  };
}
