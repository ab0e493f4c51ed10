// Owns "who is calling" for a check, with the trust rules of span attribution (pipeline/attribution):
//
// - Operator (a pod directory exists): a caller that talks to us directly and is not a trusted
//   forwarder (`--trusted-peers`) is the pod at its address, whatever its headers say (they are
//   ignored and the check is marked spoofed). A trusted forwarder (the gateway) is believed: first the
//   X-Genops-Namespace / X-Genops-Workload / X-Genops-Label-<key> headers it sets, else the caller's
//   address it states (Envoy's attributes.source.address, or X-Real-IP / the last X-Forwarded-For entry
//   of HTTP forward-auth), resolved to a pod through the same attributor as spans.
// - `genops local` (no pods): the headers are the identity; without them the caller is
//   default/Service/unknown_service, as spans without resource attributes are.
//
// X-Genops-Workload is `Kind/name` or `name`; a bare name takes the kind of a workload of that name the
// decisions already know in the namespace, else the default kind (Service in local mode, where spans
// are charged to service.name; Deployment in a cluster). Label keys cannot hold "/" in a header name:
// X-Genops-Label-genops.ai~data-classification stands for genops.ai/data-classification.

import type { BlockList } from 'node:net';
import type { Attributor } from '../pipeline/attribution/attributor.ts';
import { attributionFromAttributes, trustedPeerList } from '../pipeline/attribution/attributor.ts';
import type { WorkloadRef } from '../pipeline/snapshot.ts';
import { workloadKey } from '../pipeline/snapshot.ts';

export type IdentitySource = 'headers' | 'stated-address' | 'peer' | 'unknown';

export interface CallerIdentity {
  readonly ref: WorkloadRef;
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly via: IdentitySource;
  /** The caller's headers named a workload we did not believe (untrusted peer). */
  readonly spoofed: boolean;
}

export interface IdentityInput {
  /** The connection's peer address (the gateway, or a pod calling directly). */
  readonly peer: string | undefined;
  /** The caller's address as the gateway states it (Envoy source address, X-Real-IP, X-Forwarded-For). */
  readonly statedAddress: string | undefined;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
}

export interface IdentityResolver {
  resolve(
    input: IdentityInput,
    knownKind?: (namespace: string, name: string) => string | undefined,
  ): CallerIdentity;
}

export interface IdentityOptions {
  /** The span attributor of the operator (pod directory, trusted peers); absent in `genops local`. */
  readonly attributor?: Attributor;
  /** Addresses/CIDRs whose statements (headers, caller address) are believed; as `--trusted-peers`. */
  readonly trustedPeers?: readonly string[];
}

const LABEL_PREFIX = 'x-genops-label-';
const UNKNOWN_SERVICE = 'unknown_service';

/** The address of the original caller, as an HTTP forward-auth gateway passes it. */
export function statedAddressFromHeaders(
  headers: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const real = headers['x-real-ip']?.trim();
  if (real) return stripPort(real);
  const xff = headers['x-forwarded-for'];
  if (xff === undefined) return undefined;
  // The last entry is the one the gateway nearest to us appended; earlier ones are the client's word.
  const parts = xff.split(',');
  const last = parts[parts.length - 1]?.trim();
  return last ? stripPort(last) : undefined;
}

function stripPort(address: string): string {
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(address);
  if (v4) return v4[1]!;
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (v6) return v6[1]!;
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function headerLabels(headers: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const name in headers) {
    if (!name.startsWith(LABEL_PREFIX)) continue;
    const value = headers[name];
    const key = name.slice(LABEL_PREFIX.length).replaceAll('~', '/');
    if (key !== '' && value !== undefined) labels[key] = value.trim();
  }
  return labels;
}

export function createIdentityResolver(options: IdentityOptions = {}): IdentityResolver {
  const attributor = options.attributor;
  const entries = (options.trustedPeers ?? []).filter((e) => e.trim() !== '');
  const trusted: BlockList | undefined = entries.length > 0 ? trustedPeerList(entries) : undefined;
  const defaultKind = attributor === undefined ? 'Service' : 'Deployment';

  const isTrusted = (peer: string | undefined): boolean => {
    if (peer === undefined) return true; // in-process callers
    if (trusted === undefined) return false;
    const addr = stripPort(peer);
    return trusted.check(addr, addr.includes(':') ? 'ipv6' : 'ipv4');
  };

  const fromHeaders = (
    h: Readonly<Record<string, string | undefined>>,
    knownKind: ((namespace: string, name: string) => string | undefined) | undefined,
  ): CallerIdentity | undefined => {
    const namespace = h['x-genops-namespace']?.trim();
    const workload = h['x-genops-workload']?.trim();
    if (!namespace || !workload) return undefined;
    const slash = workload.indexOf('/');
    let kind: string;
    let name: string;
    if (slash > 0) {
      kind = workload.slice(0, slash);
      name = workload.slice(slash + 1);
    } else {
      name = workload;
      kind = knownKind?.(namespace, name) ?? defaultKind;
    }
    if (name === '') return undefined;
    const ref: WorkloadRef = { namespace, kind, name };
    return { ref, key: workloadKey(ref), labels: headerLabels(h), via: 'headers', spoofed: false };
  };

  const claims = (h: Readonly<Record<string, string | undefined>>): boolean =>
    h['x-genops-namespace'] !== undefined || h['x-genops-workload'] !== undefined;

  return {
    resolve(input, knownKind) {
      const h = input.headers;
      if (attributor === undefined) {
        // Local mode: nothing to check the headers against.
        const named = fromHeaders(h, knownKind);
        if (named) return named;
        const a = attributionFromAttributes({ labels: headerLabels(h) });
        return { ref: a.ref, key: a.key, labels: a.labels, via: 'unknown', spoofed: false };
      }
      if (isTrusted(input.peer)) {
        const named = fromHeaders(h, knownKind);
        if (named) return named;
        if (input.statedAddress !== undefined) {
          const a = attributor.resolve({ podIp: stripPort(input.statedAddress), labels: {} }, undefined);
          return {
            ref: a.ref,
            key: a.key,
            labels: a.labels,
            via: a.via === 'attributes' ? 'unknown' : 'stated-address',
            spoofed: false,
          };
        }
        const a = attributionFromAttributes({ labels: {} });
        return { ref: a.ref, key: a.key, labels: a.labels, via: 'unknown', spoofed: false };
      }
      // A direct caller pays for itself: the pod at the connection's address.
      const peer = stripPort(input.peer ?? '');
      const a = attributor.resolve({ podIp: peer, labels: {} }, peer);
      const found = a.via !== 'attributes';
      const ref = found ? a.ref : { namespace: 'default', kind: 'Service', name: UNKNOWN_SERVICE };
      return {
        ref,
        key: found ? a.key : workloadKey(ref),
        labels: found ? a.labels : {},
        via: found ? 'peer' : 'unknown',
        spoofed: claims(h),
      };
    },
  };
}
