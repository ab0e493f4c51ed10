// Owns the layout of the windows' numbers: the sliding-window buckets, and which slot of a
// workload's row (numbers slab) and of a (workload, model) row holds what. Typed-array rows keep
// 100k workloads in a few MiB with no per-workload objects beyond WorkloadState.

import type { PeriodKind, WorkloadRef } from '../snapshot.ts';

export const MINUTE_SLOTS = 12;
export const MINUTE_SLOT_MS = 5_000;
export const HOUR_SLOTS = 30;
export const HOUR_SLOT_MS = 120_000;
export const RING_WIDTH = MINUTE_SLOTS + HOUR_SLOTS;
export const KIND_INDEX: Record<PeriodKind, number> = {
  daily: 0,
  weekly: 1,
  monthly: 2,
  quarterly: 3,
  yearly: 4,
};
export const DAILY = 0;
export const MONTHLY = 2;

// Row layout of the per-workload numbers slab.
export const N_SPEND = 0; // [cost, requests] x 5 period kinds (KIND_INDEX), this process only
export const N_MAX_TODAY = 10;
export const N_SAFETY_MIN = 11;
export const N_SAFETY_SUM = 12;
export const N_SAFETY_COUNT = 13;
export const N_LAST_SEEN = 14;
export const N_MINUTE_EPOCH = 15;
export const N_HOUR_EPOCH = 16;
export const N_PUB_MINUTE = 17;
export const N_PUB_HOUR = 18;
export const N_WIDTH = 19;

// Row layout of the per-(workload, model) slab: totals of the current month.
export const M_COST = 0,
  M_REQ = 1,
  M_IN = 2,
  M_OUT = 3,
  M_CR = 4,
  M_CW = 5,
  M_RS = 6,
  M_UNPRICED = 7,
  /** When the model was last charged (ms epoch): how long a policy's model violation holds. */
  M_LAST = 8,
  /** Requests that reported no token usage (charged at cost 0, flagged in status). */
  M_NO_USAGE = 9,
  M_WIDTH = 10;

/** One tracked workload: identity and references; its numbers live in slab rows. */
export class WorkloadState {
  readonly ref: WorkloadRef;
  readonly key: string;
  labels: Readonly<Record<string, string>>;
  /** Row in the numbers slab and the request-ring slab. */
  readonly row: number;
  /** Restored baseline [cost, requests] x 5; rare, so not in the slab. */
  base: Float64Array | undefined = undefined;
  /** Pairs [modelId, modelRow]. */
  models: number[] | undefined = undefined;
  /** Interned list of classification levels seen today. */
  classifications: readonly string[] | undefined = undefined;
  dirty = false;

  constructor(ref: WorkloadRef, key: string, labels: Readonly<Record<string, string>>, row: number) {
    this.ref = ref;
    this.key = key;
    this.labels = labels;
    this.row = row;
  }
}
