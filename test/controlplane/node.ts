// The test node (`testenv up --node`): one real node beside the control plane, made of the
// kubelet, kube-scheduler and kube-proxy (built from the control plane's k8s.io/kubernetes module),
// Debian's containerd 1.6 with runc, and the CNI bridge, host-local, loopback and portmap plugins.
// Everything lives under `<dir>/node`: containerd's root, state and socket, the kubelet's root, the
// CNI configuration and address store. What the node adds to the host outside that directory (the
// bridge interface, iptables rules, pod network namespaces, ip_forward) is removed again by
// cleanupNode(), which also runs after a failed start.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Log } from './build.ts';

const run = promisify(execFile);

export const NODE_NAME = 'genops-node';
/** The pods' addresses (CNI host-local); outside the Service range 10.0.0.0/24 and the host's. */
export const POD_CIDR = '10.244.0.0/24';
/** The CNI network's name: the bridge and portmap plugins tag their iptables rules with it. */
export const CNI_NETWORK = 'genops-testenv';
export const BRIDGE = 'genops0';
/** The sandbox image the node's containerd uses for every pod; loaded from the local pause binary. */
export const SANDBOX_IMAGE = 'localhost/genops-testenv/pause:1';
export const CRI_NAMESPACE = 'k8s.io';

export const NODE_USER = `system:node:${NODE_NAME}`;
export const KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';
export const SCHEDULER_USER = 'system:kube-scheduler';
export const PROXY_USER = 'system:kube-proxy';

export interface NodePaths {
  root: string;
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  cniConfDir: string;
  cniDataDir: string;
  kubeletRoot: string;
  kubeletConfig: string;
  kubeletCerts: string;
  proxyConfig: string;
  schedulerConfig: string;
  resolvConf: string;
}

export function nodePaths(dir: string): NodePaths {
  const root = join(dir, 'node');
  return {
    root,
    containerdConfig: join(root, 'containerd.toml'),
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniDataDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    kubeletCerts: join(root, 'kubelet-pki'),
    proxyConfig: join(root, 'kube-proxy.yaml'),
    schedulerConfig: join(root, 'kube-scheduler.yaml'),
    resolvConf: join(root, 'resolv.conf'),
  };
}

/**
 * The host address pods and the kubelet reach the API server at: the first non-loopback IPv4
 * address. A pod's 127.0.0.1 is its own, so the loopback address the fast control plane uses
 * cannot be the `kubernetes` Service's endpoint.
 */
export function hostAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  throw new Error('the test node needs a non-loopback IPv4 address on the host; found none');
}

/** Checks what the node needs from the host and says what is missing (before anything starts). */
export async function checkHost(): Promise<void> {
  const missing: string[] = [];
  for (const tool of ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'iptables', 'ip']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
    try {
      readFileSync(join(CNI_BIN_DIR, plugin));
    } catch {
      missing.push(`${CNI_BIN_DIR}/${plugin}`);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `the test node needs ${missing.join(', ')} (Debian: apt-get install containerd runc ` +
        'containernetworking-plugins iptables conntrack)',
    );
  }
  if (process.getuid?.() !== 0) throw new Error('the test node runs containers: it must run as root');
}

export const CNI_BIN_DIR = '/usr/lib/cni';

export interface NodeConfigInput {
  paths: NodePaths;
  kubeletKubeconfig: string;
  schedulerKubeconfig: string;
  proxyKubeconfig: string;
  caFile: string;
  nodeIp: string;
  kubeletPort: number;
  kubeletHealthzPort: number;
  proxyHealthzPort: number;
  proxyMetricsPort: number;
}

/** Writes containerd's, the CNI's, the kubelet's, kube-proxy's and the scheduler's configuration. */
export async function writeNodeConfig(input: NodeConfigInput): Promise<void> {
  const p = input.paths;
  for (const dir of [
    p.containerdRoot,
    p.containerdState,
    p.cniConfDir,
    p.cniDataDir,
    p.kubeletRoot,
    p.kubeletCerts,
  ]) {
    await mkdir(dir, { recursive: true });
  }
  // containerd with its own root, state and socket, so it never meets a containerd of the host.
  await writeFile(
    p.containerdConfig,
    [
      'version = 2',
      `root = ${JSON.stringify(p.containerdRoot)}`,
      `state = ${JSON.stringify(p.containerdState)}`,
      '[grpc]',
      `  address = ${JSON.stringify(p.containerdSocket)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(p.containerdSocket + '.ttrpc')}`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = ${JSON.stringify(SANDBOX_IMAGE)}`,
      // `kubectl exec`/`logs` streams: loopback, a free port chosen by containerd.
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      '  enable_selinux = false',
      '  disable_apparmor = true',
      '  restrict_oom_score_adj = true',
      '[plugins."io.containerd.grpc.v1.cri".containerd]',
      '  snapshotter = "overlayfs"',
      '  default_runtime_name = "runc"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '  runtime_type = "io.containerd.runc.v2"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      // No systemd here: cgroupfs, as the kubelet's cgroupDriver.
      '  SystemdCgroup = false',
      '[plugins."io.containerd.grpc.v1.cri".cni]',
      `  bin_dir = ${JSON.stringify(CNI_BIN_DIR)}`,
      `  conf_dir = ${JSON.stringify(p.cniConfDir)}`,
      '  max_conf_num = 1',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(p.cniConfDir, '10-genops.conflist'),
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: CNI_NETWORK,
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: true,
            // A pod reaching itself through a Service comes back through the bridge.
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: POD_CIDR }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: p.cniDataDir,
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ) + '\n',
  );
  // No cluster DNS on this node (see docs/testing.md): pods get an empty resolver configuration
  // rather than the host's, so a name that only cluster DNS could answer fails fast.
  await writeFile(p.resolvConf, 'options timeout:1 attempts:1\n');
  const yaml = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
  await writeFile(
    p.kubeletConfig,
    yaml({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // This machine has cgroup v1 (hybrid); kubelet 1.35+ refuses it unless told otherwise.
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
      address: input.nodeIp,
      port: input.kubeletPort,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: input.kubeletHealthzPort,
      // The API server (kubectl logs/exec) authenticates with its client certificate of the test CA.
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: false },
        x509: { clientCAFile: input.caFile },
      },
      authorization: { mode: 'AlwaysAllow' },
      tlsCertFile: '',
      clusterDomain: 'cluster.local',
      clusterDNS: [],
      resolvConf: p.resolvConf,
      failSwapOn: false,
      // A shared build machine: never evict or garbage-collect images because its disk is busy.
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      // Not the host's cgroup limits: the machine's own cgroups are not re-mounted or changed.
      enforceNodeAllocatable: [],
      cgroupsPerQOS: true,
      localStorageCapacityIsolation: false,
      syncFrequency: '5s',
      fileCheckFrequency: '5s',
      nodeStatusUpdateFrequency: '5s',
      shutdownGracePeriod: '0s',
      maxPods: 50,
    }),
  );
  await writeFile(
    p.proxyConfig,
    yaml({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      clientConnection: { kubeconfig: input.proxyKubeconfig },
      hostnameOverride: NODE_NAME,
      clusterCIDR: POD_CIDR,
      bindAddress: input.nodeIp,
      healthzBindAddress: `127.0.0.1:${input.proxyHealthzPort}`,
      metricsBindAddress: `127.0.0.1:${input.proxyMetricsPort}`,
      // Leave the host's conntrack table size and route_localnet alone.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      nodePortAddresses: ['primary'],
      iptables: { localhostNodePorts: false, masqueradeAll: false },
    }),
  );
  await writeFile(
    p.schedulerConfig,
    yaml({
      apiVersion: 'kubescheduler.config.k8s.io/v1',
      kind: 'KubeSchedulerConfiguration',
      clientConnection: { kubeconfig: input.schedulerKubeconfig },
      leaderElection: { leaderElect: false },
    }),
  );
}

async function sh(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: 30_000 });
    return stdout;
  } catch {
    return '';
  }
}

/** `ctr` against the node's containerd, in the CRI namespace. */
export async function ctr(paths: NodePaths, args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await run('ctr', ['--address', paths.containerdSocket, '-n', CRI_NAMESPACE, ...args], {
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** ip_forward's value before the node set it, so cleanup can put it back. */
export async function enableForwarding(): Promise<string> {
  const before = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  if (before !== '1') await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  // Pod-to-Service-to-pod on one bridge: the reply must pass the Service's NAT in iptables.
  const bridgeNf = '/proc/sys/net/bridge/bridge-nf-call-iptables';
  try {
    if ((await readFile(bridgeNf, 'utf8')).trim() !== '1') await writeFile(bridgeNf, '1');
  } catch {
    // br_netfilter absent: kube-proxy masquerades then (see docs/testing.md).
  }
  return before;
}

export async function killContainers(paths: NodePaths, log: Log): Promise<void> {
  try {
    const tasks = (await ctr(paths, ['tasks', 'ls', '-q'], 20_000)).split('\n').filter(Boolean);
    for (const id of tasks) await ctr(paths, ['tasks', 'kill', '-s', 'SIGKILL', id], 10_000).catch(() => '');
    for (const id of tasks) await ctr(paths, ['tasks', 'delete', '-f', id], 10_000).catch(() => '');
    const containers = (await ctr(paths, ['containers', 'ls', '-q'], 20_000)).split('\n').filter(Boolean);
    for (const id of containers) await ctr(paths, ['containers', 'delete', id], 10_000).catch(() => '');
    if (tasks.length > 0) log(`killed ${tasks.length} container(s) left in the node's containerd`);
  } catch (error) {
    log(`could not list the node's containers: ${(error as Error).message}`);
  }
}

/**
 * Removes what the node left outside its directory once its processes are gone: runc shims of its
 * containerd, kube-proxy's rules (`kube-proxy --cleanup`), the CNI's iptables rules (tagged with
 * CNI_NETWORK), the bridge, the mounts under the node's directory, ip_forward. Best effort: every
 * step runs even when an earlier one failed.
 */
export async function cleanupNode(
  paths: NodePaths,
  options: {
    kubeProxy?: string | undefined;
    ipForwardBefore?: string | undefined;
    netnsBefore?: readonly string[] | undefined;
  },
): Promise<void> {
  // Shims of this containerd outlive it when it is killed: they carry its socket in their arguments.
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.startsWith('/usr/bin/containerd-shim') && cmdline.includes(paths.containerdSocket)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  if (options.kubeProxy) await sh(options.kubeProxy, ['--cleanup']);
  // CNI bridge (ipMasq) and portmap rules carry a comment with the network name.
  for (const table of ['nat', 'filter']) {
    const rules = (await sh('iptables', ['-t', table, '-S'])).split('\n');
    const chains = new Set<string>();
    for (const rule of rules) {
      if (!rule.startsWith('-A ') || !rule.includes(CNI_NETWORK)) continue;
      const target = /-j (CNI-[\w-]+)/.exec(rule)?.[1];
      if (target) chains.add(target);
      await sh('iptables', ['-t', table, ...splitRule(rule.replace(/^-A /, '-D '))]);
    }
    for (const chain of chains) {
      await sh('iptables', ['-t', table, '-F', chain]);
      await sh('iptables', ['-t', table, '-X', chain]);
    }
  }
  await removeKubeletChains();
  // Pod network namespaces (containerd names them cni-<uuid>) the kubelet had not removed yet: those
  // that appeared after the node started and hold no process any more.
  if (options.netnsBefore) {
    for (const name of await networkNamespaces()) {
      if (!name.startsWith('cni-') || options.netnsBefore.includes(name)) continue;
      if ((await sh('ip', ['netns', 'pids', name])).trim() === '') await sh('ip', ['netns', 'delete', name]);
    }
  }
  await sh('ip', ['link', 'delete', BRIDGE]);
  // Mounts under the node's directory (secret volumes, overlay snapshots, the sandboxes' shm).
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .map((field) => field.replace(/\\040/g, ' '))
    .filter((mountPoint) => mountPoint.startsWith(paths.root + '/'))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) await sh('umount', ['-l', mountPoint]);
  if (options.ipForwardBefore && options.ipForwardBefore !== '1') {
    await writeFile('/proc/sys/net/ipv4/ip_forward', options.ipForwardBefore).catch(() => {});
  }
}

/** Splits an `iptables -S` rule into arguments, keeping quoted comments whole. */
function splitRule(rule: string): string[] {
  const args: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let match = pattern.exec(rule); match; match = pattern.exec(rule)) {
    args.push(match[1] !== undefined ? match[1].replace(/\\"/g, '"') : match[2]!);
  }
  return args;
}

/**
 * Loads the sandbox image into the node's containerd: a one-layer image holding the pause binary,
 * written as a docker-archive (what `ctr images import` names by its RepoTags).
 */
export async function importSandboxImage(paths: NodePaths, pauseBinary: string): Promise<void> {
  const work = await mkdtemp(join(paths.root, '.pause-'));
  try {
    await mkdir(join(work, 'rootfs'));
    await copyFile(pauseBinary, join(work, 'rootfs', 'pause'));
    await run('chmod', ['0755', join(work, 'rootfs', 'pause')]);
    const tarFlags = ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name'];
    await run('tar', [...tarFlags, '-C', join(work, 'rootfs'), '-cf', join(work, 'layer.tar'), 'pause']);
    const diffId = createHash('sha256')
      .update(await readFile(join(work, 'layer.tar')))
      .digest('hex');
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    };
    await writeFile(join(work, 'config.json'), JSON.stringify(config));
    await writeFile(
      join(work, 'manifest.json'),
      JSON.stringify([{ Config: 'config.json', RepoTags: [SANDBOX_IMAGE], Layers: ['layer.tar'] }]),
    );
    const archive = join(work, 'pause.tar');
    await run('tar', [...tarFlags, '-C', work, '-cf', archive, 'manifest.json', 'config.json', 'layer.tar']);
    await ctr(paths, ['images', 'import', archive]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The kubelet's own chains (its canary, the localnet firewall, kube-proxy's hint), in v4 and v6. */
const KUBELET_CHAINS = ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT'];

export async function removeKubeletChains(): Promise<void> {
  for (const command of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = (await sh(command, ['-t', table, '-S'])).split('\n');
      for (const rule of rules) {
        const target = /-j (\S+)/.exec(rule)?.[1];
        if (rule.startsWith('-A ') && target && KUBELET_CHAINS.includes(target)) {
          await sh(command, ['-t', table, ...splitRule(rule.replace(/^-A /, '-D '))]);
        }
      }
      for (const chain of KUBELET_CHAINS) {
        if (!rules.includes(`-N ${chain}`)) continue;
        await sh(command, ['-t', table, '-F', chain]);
        await sh(command, ['-t', table, '-X', chain]);
      }
    }
  }
}

/** The named network namespaces (/run/netns), where containerd's CRI puts the pods'. */
export async function networkNamespaces(): Promise<string[]> {
  return await readdir('/run/netns').catch(() => [] as string[]);
}
