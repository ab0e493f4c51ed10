// Owns "which workload pays for these spans": resource attributes resolved through a pod
// directory (uid, then namespace + name, then pod IP, then the connection's peer), falling back
// to the attributes themselves (local mode), with the anti-spoofing rule for direct senders: only
// configured forwarders (addresses/CIDRs, pods of trusted namespaces) speak for others; a pod is charged
// itself (among several pods behind one address, the one its attributes name); an address that is no
// pod is charged to no named workload (UNATTRIBUTED).

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { SenderIdentity } from '../partial.ts';
import type { WorkloadRef } from '../snapshot.ts';
import { workloadKey } from '../snapshot.ts';
import type { Attribution, AttributionSource, PodDirectory, PodInfo } from './types.ts';
import { UNATTRIBUTED_REF } from './types.ts';

export interface AttributorOptions {
  /** Pods known in the cluster; absent in local mode (attributes only). */
  directory?: PodDirectory;
  /**
   * Addresses or CIDRs of trusted forwarders (OpenTelemetry Collectors, gateways): their resource
   * attributes are believed. Any other peer that is a known pod is charged itself.
   */
  trustedPeers?: readonly string[];
  /**
   * Namespaces whose pods are trusted forwarders (e.g. where the Collectors run): pod IPs change,
   * namespaces are controlled by their admins. Not labels: anyone creating a pod sets its labels.
   */
  trustedNamespaces?: readonly string[];
}

export interface Attributor {
  /** `peer` is the connection's IP (undefined for in-process callers, which are trusted). */
  resolve(identity: SenderIdentity, peer: string | undefined): Attribution;
}

export const DEFAULT_NAMESPACE = 'default';
const UNKNOWN_SERVICE = 'unknown_service';

/** Parses "10.0.0.0/8", "fd00::/8", "10.1.2.3" into a BlockList; throws RangeError on nonsense. */
export function trustedPeerList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [addr, bits] = entry.split('/');
    const type = isIPv4(addr ?? '') ? 'ipv4' : isIPv6(addr ?? '') ? 'ipv6' : undefined;
    if (!type || addr === undefined) throw new RangeError(`not an IP address or CIDR: ${entry}`);
    if (bits === undefined) list.addAddress(addr, type);
    else {
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) {
        throw new RangeError(`bad prefix length in ${entry}`);
      }
      list.addSubnet(addr, prefix, type);
    }
  }
  return list;
}

/** The workload named by resource attributes alone (local mode, or a sender the cluster does not know). */
export function attributionFromAttributes(identity: SenderIdentity): Attribution {
  const namespace = identity.namespace ?? DEFAULT_NAMESPACE;
  let ref: WorkloadRef;
  if (identity.workloadKind && identity.workloadName) {
    ref = { namespace, kind: identity.workloadKind, name: identity.workloadName };
  } else if (identity.serviceName) {
    ref = { namespace, kind: 'Service', name: identity.serviceName };
  } else if (identity.podName) {
    ref = { namespace, kind: 'Pod', name: identity.podName };
  } else {
    ref = { namespace, kind: 'Service', name: UNKNOWN_SERVICE };
  }
  return { ref, key: workloadKey(ref), labels: identity.labels, via: 'attributes', spoofed: false };
}

export function createAttributor(options: AttributorOptions = {}): Attributor {
  const directory = options.directory;
  const trusted = trustedPeerList(options.trustedPeers ?? []);
  const hasTrusted = (options.trustedPeers ?? []).some((e) => e.trim() !== '');
  const trustedNamespaces = new Set(options.trustedNamespaces ?? []);
  // Attributions of pods are reused while the pod record is the same object.
  const cache = new WeakMap<PodInfo, Attribution[]>();

  const isTrusted = (peer: string): boolean => {
    if (!hasTrusted) return false;
    return trusted.check(peer, peer.includes(':') ? 'ipv6' : 'ipv4');
  };

  const fromPod = (pod: PodInfo, via: AttributionSource, spoofed: boolean): Attribution => {
    let byVia = cache.get(pod);
    if (!byVia) {
      byVia = [];
      cache.set(pod, byVia);
    }
    const slot = VIA_INDEX[via] * 2 + (spoofed ? 1 : 0);
    let a = byVia[slot];
    if (!a) {
      a = { ref: pod.workload, key: workloadKey(pod.workload), labels: pod.labels, via, spoofed };
      byVia[slot] = a;
    }
    return a;
  };

  const claimedPod = (dir: PodDirectory, id: SenderIdentity): [PodInfo, AttributionSource] | undefined => {
    if (id.podUid) {
      const p = dir.byUid(id.podUid);
      if (p) return [p, 'pod-uid'];
    }
    if (id.podName && id.namespace) {
      const p = dir.byNamespaceName(id.namespace, id.podName);
      if (p) return [p, 'pod-name'];
    }
    if (id.podIp) {
      const p = dir.byIp(id.podIp);
      if (p) return [p, 'pod-ip'];
    }
    return undefined;
  };

  /** Do the attributes name anything other than the pod that actually sent them? */
  const claimsOther = (id: SenderIdentity, sender: PodInfo): boolean =>
    (id.podUid !== undefined && id.podUid !== sender.uid) ||
    (id.namespace !== undefined && id.namespace !== sender.namespace) ||
    (id.podName !== undefined && id.podName !== sender.name) ||
    (id.podIp !== undefined && sender.ip !== undefined && id.podIp !== sender.ip);

  /** The pods behind an address (several for host-network pods on one node). */
  const podsAt = (dir: PodDirectory, address: string): readonly PodInfo[] => {
    if (dir.podsAt) return dir.podsAt(address);
    const p = dir.byIp(address);
    return p ? [p] : [];
  };

  /** Among the pods behind one address, the one the attributes name (uid, else namespace + name). */
  const chosen = (senders: readonly PodInfo[], id: SenderIdentity): PodInfo | undefined => {
    if (id.podUid !== undefined) return senders.find((p) => p.uid === id.podUid);
    if (id.podName !== undefined)
      return senders.find((p) => p.name === id.podName && (id.namespace ?? p.namespace) === p.namespace);
    return undefined;
  };

  const believed = (dir: PodDirectory, identity: SenderIdentity): Attribution => {
    const claimed = claimedPod(dir, identity);
    if (claimed) return fromPod(claimed[0], claimed[1], false);
    return attributionFromAttributes(identity);
  };

  return {
    resolve(identity, peer) {
      if (!directory) return attributionFromAttributes(identity);
      // In-process callers and configured forwarders speak for others.
      if (peer === undefined || isTrusted(peer)) return believed(directory, identity);
      const senders = podsAt(directory, peer);
      if (senders.length === 0) return UNATTRIBUTED;
      if (senders.every((p) => trustedNamespaces.has(p.namespace))) return believed(directory, identity);
      if (senders.length === 1) {
        const sender = senders[0] as PodInfo;
        // A pod talking to us directly pays for its own spans, whatever its attributes say.
        return fromPod(sender, 'peer', claimsOther(identity, sender));
      }
      // Several pods behind one address (host network): the attributes may choose among them only.
      const pick = chosen(senders, identity);
      if (pick) return fromPod(pick, 'peer', false);
      const first = senders[0] as PodInfo;
      if (senders.every((p) => workloadKey(p.workload) === workloadKey(first.workload))) {
        return fromPod(first, 'peer', claimsOther(identity, first));
      }
      return UNATTRIBUTED;
    },
  };
}

/**
 * Spend of an unidentified sender. Counted as spoofed (genops_spans_spoofed_total{namespace="(unattributed)"}):
 * its attributes, whatever they claim, are not believed.
 */
const UNATTRIBUTED: Attribution = Object.freeze({
  ref: UNATTRIBUTED_REF,
  key: workloadKey(UNATTRIBUTED_REF),
  labels: Object.freeze({}),
  via: 'peer' as const,
  spoofed: true,
  unattributed: true as const,
});

const VIA_INDEX: Record<AttributionSource, number> = {
  'pod-uid': 0,
  'pod-name': 1,
  'pod-ip': 2,
  peer: 3,
  attributes: 4,
};
