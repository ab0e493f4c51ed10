// Owns the change one OTLP request made to the usage windows, as the write-ahead log stores it: the
// workloads it was charged to (already attributed, so replay does not depend on the pod cache of the
// moment), the charged groups after dedupe and price overrides, safety scores, and the dedupe keys it
// added. Replaying a delta into the windows makes the same change; encoding is compact and versioned.

import type { WorkloadRef } from '../snapshot.ts';

export interface DeltaWorkload {
  readonly ref: WorkloadRef;
  readonly labels: Readonly<Record<string, string>>;
  readonly spoofed: boolean;
}

export interface DeltaCharge {
  /** Index into ChargeDelta.workloads. */
  readonly w: number;
  readonly provider: string;
  readonly model: string;
  readonly classification: string;
  readonly requests: number;
  readonly costMicros: number;
  readonly maxCostMicros: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
  readonly unpriced: boolean;
  /** Of `requests`, those that reported no token usage (cost 0 unless overridden). */
  readonly withoutUsage: number;
}

export interface DeltaSafety {
  readonly w: number;
  readonly min: number;
  readonly sum: number;
  readonly count: number;
}

export interface ChargeDelta {
  /** Receipt time (ms epoch): decides the periods it counts in. */
  readonly at: number;
  readonly workloads: readonly DeltaWorkload[];
  readonly charges: readonly DeltaCharge[];
  readonly safety: readonly DeltaSafety[];
  /** Dedupe keys added, triples [workload index, key high, key low]. */
  readonly keys: Uint32Array;
}

const DELTA_VERSION = 1;

/** [u8 version][u32 json length][json][keys as little-endian u32 triples]. */
export function encodeDelta(delta: ChargeDelta): Buffer {
  const json = Buffer.from(
    JSON.stringify({
      at: delta.at,
      w: delta.workloads.map((w) => [w.ref.namespace, w.ref.kind, w.ref.name, w.labels, w.spoofed ? 1 : 0]),
      c: delta.charges.map((c) => [
        c.w,
        c.provider,
        c.model,
        c.classification,
        c.requests,
        c.costMicros,
        c.maxCostMicros,
        c.inputTokens,
        c.outputTokens,
        c.cacheReadTokens,
        c.cacheWriteTokens,
        c.reasoningTokens,
        c.unpriced ? 1 : 0,
        c.withoutUsage,
      ]),
      s: delta.safety.map((s) => [s.w, s.min, s.sum, s.count]),
    }),
  );
  const out = Buffer.allocUnsafe(5 + json.length + delta.keys.length * 4);
  out.writeUInt8(DELTA_VERSION, 0);
  out.writeUInt32LE(json.length, 1);
  json.copy(out, 5);
  let o = 5 + json.length;
  for (const k of delta.keys) {
    out.writeUInt32LE(k, o);
    o += 4;
  }
  return out;
}

export class DeltaDecodeError extends Error {
  override readonly name = 'DeltaDecodeError';
}

type Row = readonly unknown[];

/** Decodes what encodeDelta wrote; throws DeltaDecodeError on anything else. */
export function decodeDelta(data: Uint8Array): ChargeDelta {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 5 || buf.readUInt8(0) !== DELTA_VERSION)
    throw new DeltaDecodeError('unknown delta version');
  const len = buf.readUInt32LE(1);
  if (5 + len > buf.length || (buf.length - 5 - len) % 12 !== 0)
    throw new DeltaDecodeError('bad delta length');
  let raw: { at: number; w: Row[]; c: Row[]; s: Row[] };
  try {
    raw = JSON.parse(buf.subarray(5, 5 + len).toString('utf8')) as typeof raw;
  } catch (err) {
    throw new DeltaDecodeError('bad delta JSON', { cause: err });
  }
  if (typeof raw.at !== 'number' || !Array.isArray(raw.w) || !Array.isArray(raw.c) || !Array.isArray(raw.s))
    throw new DeltaDecodeError('bad delta shape');
  const keys = new Uint32Array((buf.length - 5 - len) / 4);
  for (let i = 0, o = 5 + len; i < keys.length; i++, o += 4) keys[i] = buf.readUInt32LE(o);
  const num = (v: unknown): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new DeltaDecodeError('bad number in delta');
    return v;
  };
  const str = (v: unknown): string => {
    if (typeof v !== 'string') throw new DeltaDecodeError('bad string in delta');
    return v;
  };
  const workloads = raw.w.map((w) => ({
    ref: { namespace: str(w[0]), kind: str(w[1]), name: str(w[2]) },
    labels: (w[3] ?? {}) as Record<string, string>,
    spoofed: w[4] === 1,
  }));
  const idx = (v: unknown): number => {
    const i = num(v);
    if (!Number.isInteger(i) || i < 0 || i >= workloads.length)
      throw new DeltaDecodeError('bad workload index');
    return i;
  };
  for (let i = 0; i < keys.length; i += 3) idx(keys[i]);
  return {
    at: raw.at,
    workloads,
    charges: raw.c.map((c) => ({
      w: idx(c[0]),
      provider: str(c[1]),
      model: str(c[2]),
      classification: str(c[3]),
      requests: num(c[4]),
      costMicros: num(c[5]),
      maxCostMicros: num(c[6]),
      inputTokens: num(c[7]),
      outputTokens: num(c[8]),
      cacheReadTokens: num(c[9]),
      cacheWriteTokens: num(c[10]),
      reasoningTokens: num(c[11]),
      unpriced: c[12] === 1,
      // Absent in entries written before the field existed.
      withoutUsage: c[13] === undefined ? 0 : num(c[13]),
    })),
    safety: raw.s.map((s) => ({ w: idx(s[0]), min: num(s[1]), sum: num(s[2]), count: num(s[3]) })),
    keys,
  };
}
