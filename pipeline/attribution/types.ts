// Owns the contract of workload attribution: what a pod directory answers (in-cluster informer
// cache, or nothing at all in local mode) and what the attributor returns for a sender.

import type { WorkloadRef } from '../snapshot.ts';

/** A pod as attribution needs it: identity, address, labels and its owning workload. */
export interface PodInfo {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string | undefined;
  /** Pod labels (= the workload's pod template labels). */
  readonly labels: Readonly<Record<string, string>>;
  /** Owner after the walk (ReplicaSet -> Deployment, Job -> CronJob); the pod itself when unowned. */
  readonly workload: WorkloadRef;
}

export interface PodDirectory {
  byUid(uid: string): PodInfo | undefined;
  byNamespaceName(namespace: string, name: string): PodInfo | undefined;
  byIp(ip: string): PodInfo | undefined;
}

export type AttributionSource = 'pod-uid' | 'pod-name' | 'pod-ip' | 'peer' | 'attributes';

export interface Attribution {
  readonly ref: WorkloadRef;
  /** workloadKey(ref) */
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly via: AttributionSource;
  /** The resource attributes named another pod or namespace than the sending pod; charged to the sender. */
  readonly spoofed: boolean;
}
