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
  /**
   * Every resolvable pod that sends from this address: one normally, several for host-network pods
   * on one node. Optional: a directory without it answers byIp only.
   */
  podsAt?(address: string): readonly PodInfo[];
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
  /**
   * The sender could not be identified (an address that is no pod and no trusted forwarder, or several
   * pods behind one address none of which the attributes name): charged to UNATTRIBUTED, which no
   * selector matches, whatever the attributes claim.
   */
  readonly unattributed?: true;
}

/**
 * Where spend of unidentified senders goes: a namespace no Kubernetes namespace can be named (not a
 * DNS label), so no AIBudget or AIPolicy selects it, yet it is visible in metrics and status.
 */
export const UNATTRIBUTED_NAMESPACE = '(unattributed)';
export const UNATTRIBUTED_REF: WorkloadRef = Object.freeze({
  namespace: UNATTRIBUTED_NAMESPACE,
  kind: 'Unattributed',
  name: 'unattributed',
});
