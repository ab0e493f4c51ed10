import { describe, expect, it } from 'vitest';
import type { SenderIdentity } from '../partial.ts';
import { attributionFromAttributes, createAttributor, trustedPeerList } from './attributor.ts';
import type { PodDirectory, PodInfo } from './types.ts';
import { UNATTRIBUTED_NAMESPACE, UNATTRIBUTED_REF } from './types.ts';
import { workloadKey } from '../snapshot.ts';

const UNATTRIBUTED_KEY = workloadKey(UNATTRIBUTED_REF);

const pod = (name: string, namespace: string, ip: string, kind = 'Deployment', workload = name): PodInfo => ({
  uid: `uid-${name}`,
  namespace,
  name: `${name}-abc`,
  ip,
  labels: { app: name },
  workload: { namespace, kind, name: workload },
});

function directoryOf(pods: PodInfo[]): PodDirectory {
  return {
    byUid: (uid) => pods.find((p) => p.uid === uid),
    byNamespaceName: (ns, name) => pods.find((p) => p.namespace === ns && p.name === name),
    byIp: (ip) => pods.find((p) => p.ip === ip),
    podsAt: (ip) => pods.filter((p) => p.ip === ip),
  };
}

const chat = pod('chat', 'ai', '10.1.0.1');
const batch = pod('batch', 'research', '10.1.0.2', 'CronJob', 'nightly');
const directory = directoryOf([chat, batch]);

describe('attribution', () => {
  it('names the workload from resource attributes in local mode', () => {
    const id = (extra: Partial<SenderIdentity>): SenderIdentity => ({ labels: { team: 'a' }, ...extra });
    expect(
      attributionFromAttributes(
        id({ namespace: 'ai', workloadKind: 'StatefulSet', workloadName: 'db', serviceName: 'x' }),
      ).key,
    ).toBe('ai/StatefulSet/db');
    expect(attributionFromAttributes(id({ serviceName: 'checkout' }))).toMatchObject({
      key: 'default/Service/checkout',
      labels: { team: 'a' },
      via: 'attributes',
    });
    expect(attributionFromAttributes(id({ namespace: 'x', podName: 'p-1' })).key).toBe('x/Pod/p-1');
    expect(attributionFromAttributes(id({})).key).toBe('default/Service/unknown_service');
    expect(createAttributor().resolve(id({ serviceName: 's' }), '10.1.0.1').key).toBe('default/Service/s');
  });

  it('resolves uid, then namespace + name, then pod IP, then the peer', () => {
    const a = createAttributor({ directory, trustedPeers: ['192.168.0.0/16'] });
    const collector = '192.168.1.1';
    expect(
      a.resolve({ podUid: 'uid-batch', podName: 'chat-abc', namespace: 'ai', labels: {} }, collector),
    ).toMatchObject({
      key: 'research/CronJob/nightly',
      via: 'pod-uid',
    });
    expect(
      a.resolve({ podName: 'chat-abc', namespace: 'ai', podIp: '10.1.0.2', labels: {} }, collector).via,
    ).toBe('pod-name');
    expect(a.resolve({ podIp: '10.1.0.2', labels: {} }, collector).key).toBe('research/CronJob/nightly');
    expect(a.resolve({ labels: {} }, '10.1.0.1')).toMatchObject({
      key: 'ai/Deployment/chat',
      via: 'peer',
      spoofed: false,
    });
    // Nobody known: the attributes speak.
    expect(a.resolve({ serviceName: 'edge', labels: {} }, collector).key).toBe('default/Service/edge');
    // Same pod, same answer object (the windows rely on cheap repeated lookups).
    expect(a.resolve({ labels: {} }, '10.1.0.1')).toBe(a.resolve({ labels: {} }, '10.1.0.1'));
  });

  it('charges a directly sending pod for spans whose attributes name another pod or namespace', () => {
    const a = createAttributor({ directory, trustedPeers: ['192.168.1.1'] });
    const claims: SenderIdentity = { podUid: 'uid-batch', namespace: 'research', labels: {} };
    expect(a.resolve(claims, '10.1.0.1')).toMatchObject({
      key: 'ai/Deployment/chat',
      via: 'peer',
      spoofed: true,
    });
    expect(a.resolve({ namespace: 'elsewhere', labels: {} }, '10.1.0.1').spoofed).toBe(true);
    expect(a.resolve({ namespace: 'ai', podName: 'chat-abc', labels: {} }, '10.1.0.1').spoofed).toBe(false);
    // Through the trusted collector the same attributes are believed.
    expect(a.resolve(claims, '192.168.1.1')).toMatchObject({
      key: 'research/CronJob/nightly',
      spoofed: false,
    });
    // So are pods of a trusted namespace (where the Collectors run).
    const byNamespace = createAttributor({ directory, trustedNamespaces: ['ai'] });
    expect(byNamespace.resolve(claims, '10.1.0.1')).toMatchObject({
      key: 'research/CronJob/nightly',
      spoofed: false,
    });
    expect(byNamespace.resolve({ namespace: 'ai', labels: {} }, '10.1.0.2').spoofed).toBe(true);
  });

  it('parses trusted peers and refuses nonsense', () => {
    const list = trustedPeerList(['10.0.0.0/8', 'fd00::/8', '172.16.0.9']);
    expect(list.check('10.2.3.4', 'ipv4')).toBe(true);
    expect(list.check('fd00::1', 'ipv6')).toBe(true);
    expect(list.check('172.16.0.10', 'ipv4')).toBe(false);
    expect(() => trustedPeerList(['collector.local'])).toThrow(RangeError);
    expect(() => trustedPeerList(['10.0.0.0/33'])).toThrow(RangeError);
  });

  it('charges an address that is no pod and no forwarder to no named workload, whatever it claims', () => {
    const a = createAttributor({ directory, trustedPeers: ['192.168.1.1'] });
    const claims: SenderIdentity = {
      namespace: 'ai',
      workloadKind: 'Deployment',
      workloadName: 'chat',
      labels: { team: 'a', app: 'chat' },
    };
    const r = a.resolve(claims, '10.9.9.9');
    expect(r).toMatchObject({ key: UNATTRIBUTED_KEY, via: 'peer', spoofed: true, unattributed: true });
    // Not the claimed workload, not its labels (no selector can match it), not its namespace.
    expect(r.key).not.toBe('ai/Deployment/chat');
    expect(r.labels).toEqual({});
    expect(r.ref.namespace).toBe(UNATTRIBUTED_NAMESPACE);
    // Claiming an existing pod by uid does not help either.
    expect(a.resolve({ podUid: 'uid-chat', labels: {} }, '10.9.9.9').key).toBe(UNATTRIBUTED_KEY);
    // The configured forwarder may still speak for that Deployment.
    expect(a.resolve({ podUid: 'uid-chat', labels: {} }, '192.168.1.1').key).toBe('ai/Deployment/chat');
  });

  it('lets the attributes choose only among the pods behind a shared address (host network)', () => {
    const node = '10.2.0.1';
    const agentA = pod('agent-a', 'ai', node);
    const agentB = pod('agent-b', 'research', node);
    const a = createAttributor({ directory: directoryOf([chat, agentA, agentB]) });
    // Honest spans: each pod names itself and pays for itself, not counted as spoofed.
    expect(a.resolve({ podUid: 'uid-agent-a', labels: {} }, node)).toMatchObject({
      key: 'ai/Deployment/agent-a',
      spoofed: false,
    });
    expect(a.resolve({ namespace: 'research', podName: 'agent-b-abc', labels: {} }, node)).toMatchObject({
      key: 'research/Deployment/agent-b',
      spoofed: false,
    });
    // Naming a pod elsewhere, or nobody: neither of the two is billed for the other.
    const elsewhere = a.resolve({ podUid: 'uid-chat', labels: {} }, node);
    expect(elsewhere.key).toBe(UNATTRIBUTED_KEY);
    expect(elsewhere.key).not.toBe('ai/Deployment/chat');
    expect(a.resolve({ labels: {} }, node).key).toBe(UNATTRIBUTED_KEY);
    // Several pods of one workload behind the address: that workload, whoever is named.
    const same = createAttributor({
      directory: directoryOf([
        pod('w1', 'ai', node, 'DaemonSet', 'agent'),
        pod('w2', 'ai', node, 'DaemonSet', 'agent'),
      ]),
    });
    expect(same.resolve({ labels: {} }, node).key).toBe('ai/DaemonSet/agent');
  });
});
