// Starts and stops a real control plane on loopback for tests: etcd, kube-apiserver and
// kube-controller-manager, with generated certificates, an admin identity and a non-admin
// identity for the operator. Everything it creates lives in one directory, and the pids it
// started are written there so another process (`cli.ts down`) can stop exactly those.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBinaries, ensureNodeBinaries } from './build.ts';
import type { BinaryPaths, Log, NodeBinaryPaths, Versions } from './build.ts';
import { generatePki } from './certs.ts';
import type { CertifiedKey, ClientIdentity } from './certs.ts';
import {
  KUBELET_CLIENT_USER,
  NODE_NAME,
  NODE_USER,
  PROXY_USER,
  SCHEDULER_USER,
  checkHost,
  cleanupNode,
  ctr,
  killContainers,
  networkNamespaces,
  enableForwarding,
  hostAddress,
  importSandboxImage,
  nodePaths,
  writeNodeConfig,
} from './node.ts';

/** The operator's test identity: a client-certificate user, bound to the operator's RBAC by tests. */
export const OPERATOR_USER = 'genops-operator';
export const OPERATOR_GROUP = 'genops:operators';
export const ADMIN_USER = 'genops-admin';

const CONTROLLER_MANAGER_USER = 'system:kube-controller-manager';
const FRONT_PROXY_USER = 'front-proxy-client';
const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const STATE_FILE = 'controlplane.json';
const STOP_GRACE_MS = 10_000;

type ComponentName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'containerd'
  | 'kube-scheduler'
  | 'kube-proxy'
  | 'kubelet';

const runFile = promisify(execFile);
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

export interface ControlPlaneOptions {
  /** Directory for data, certificates, logs, kubeconfigs and the pid state. Created if missing. */
  dir: string;
  log?: Log;
  /** Let the processes outlive this Node process (the CLI's `up`). Default false. */
  detached?: boolean;
  /** How long start() may wait for every component to be ready, once the binaries exist. Default 60 s. */
  startTimeoutMs?: number;
  /** Use these binaries instead of the cached (and, if needed, freshly built) ones. */
  binaries?: BinaryPaths;
  extraApiServerArgs?: readonly string[];
  /**
   * Also start one real node (containerd, kubelet, kube-scheduler, kube-proxy; see node.ts), and
   * return once it is Ready. Needs root and Debian's containerd, runc and CNI plugins.
   */
  node?: boolean;
  /** The node's binaries; built or found in the cache when absent. */
  nodeBinaries?: NodeBinaryPaths;
}

/** What a test needs to reach the running control plane. */
export interface ControlPlaneInfo {
  dir: string;
  /** Admin kubeconfig (group system:masters). */
  kubeconfig: string;
  /** Non-admin kubeconfig for the operator identity (OPERATOR_USER, OPERATOR_GROUP); no permissions until bound. */
  operatorKubeconfig: string;
  apiServerUrl: string;
  caCertFile: string;
  etcdUrl: string;
  operatorUser: string;
  operatorGroup: string;
  versions: Versions;
  /** Set when a node runs: its name, address and containerd socket (for `ctr -n k8s.io`). */
  node?: { name: string; address: string; containerdSocket: string };
}

interface ProcessRecord {
  component: ComponentName;
  pid: number;
  binary: string;
  log: string;
}

interface State {
  info: ControlPlaneInfo;
  processes: ProcessRecord[];
  /** True when start() created `dir`, so stop() may remove it whole. */
  createdDir: boolean;
  /** Entries of `dir` that start() created, removed by stop() when `dir` was there before. */
  createdEntries: string[];
  /** What stop() needs to undo the node's changes outside `dir`. */
  node?: { ipForwardBefore: string; kubeProxy: string; netnsBefore: string[] };
}

interface HttpAnswer {
  status: number;
  body: string;
}

interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
}

function get(url: string, tls: TlsMaterial = {}, timeoutMs = 3000): Promise<HttpAnswer> {
  return new Promise((resolvePromise, reject) => {
    const isHttps = url.startsWith('https:');
    const request = isHttps ? httpsRequest : httpRequest;
    const req = request(url, { ...(isHttps ? tls : {}), timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

function kubeconfigYaml(options: {
  server: string;
  caPem: string;
  user: string;
  client: CertifiedKey;
}): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: genops-test',
    '  cluster:',
    `    server: ${options.server}`,
    `    certificate-authority-data: ${b64(options.caPem)}`,
    'users:',
    `- name: ${options.user}`,
    '  user:',
    `    client-certificate-data: ${b64(options.client.certPem)}`,
    `    client-key-data: ${b64(options.client.keyPem)}`,
    'contexts:',
    `- name: ${options.user}@genops-test`,
    '  context:',
    '    cluster: genops-test',
    `    user: ${options.user}`,
    `current-context: ${options.user}@genops-test`,
    '',
  ].join('\n');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True while `pid` is still the process we started (guards against a recycled pid). */
function isOurProcess(record: ProcessRecord): boolean {
  if (!processAlive(record.pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    return cmdline.split('\0')[0] === record.binary;
  } catch {
    // No /proc (not Linux): trust the pid.
    return true;
  }
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

/**
 * One control plane in one directory. start() returns once kube-apiserver's /readyz answers ok and
 * kube-controller-manager is healthy; stop() stops what start() started (also from another process,
 * through the state file in `dir`) and removes the data.
 */
export class ControlPlane {
  readonly dir: string;
  private readonly log: Log;
  private readonly detached: boolean;
  private readonly startTimeoutMs: number;
  private readonly binaries: BinaryPaths | undefined;
  private readonly extraApiServerArgs: readonly string[];
  private readonly withNode: boolean;
  private readonly nodeBinaries: NodeBinaryPaths | undefined;
  private state: State | undefined;
  private readonly exited = new Map<number, string>();
  private exitHook: (() => void) | undefined;
  private readonly signalHooks = new Map<NodeJS.Signals, () => void>();

  constructor(options: ControlPlaneOptions) {
    this.dir = resolve(options.dir);
    this.log = options.log ?? (() => {});
    this.detached = options.detached ?? false;
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.binaries = options.binaries;
    this.extraApiServerArgs = options.extraApiServerArgs ?? [];
    this.withNode = options.node ?? false;
    this.nodeBinaries = options.nodeBinaries;
  }

  /** The state file of a control plane started in `dir`, if any. */
  static async readInfo(dir: string): Promise<ControlPlaneInfo | undefined> {
    const state = await readState(resolve(dir));
    return state?.info;
  }

  async start(): Promise<ControlPlaneInfo> {
    if (this.state) throw new Error(`control plane in ${this.dir} already started`);
    const previous = await readState(this.dir);
    if (previous?.processes.some(isOurProcess)) {
      throw new Error(
        `a control plane is already running from ${this.dir}; stop it first (cli.ts down ${this.dir})`,
      );
    }
    const binaries = this.binaries ?? (await ensureBinaries({ log: this.log }));
    let nodeBinaries: NodeBinaryPaths | undefined;
    if (this.withNode) {
      await checkHost();
      nodeBinaries = this.nodeBinaries ?? (await ensureNodeBinaries({ log: this.log }));
    }
    const createdDir = !(await exists(this.dir));
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(binaries, createdDir, nodeBinaries);
      } catch (error) {
        // The free ports are chosen before the components bind them; another process may win the race.
        if (attempt >= 2 || !(error as Error).message.includes('address already in use')) throw error;
        this.log('a port was taken meanwhile; starting again on other ports');
        this.state = undefined;
      }
    }
  }

  private async startOnce(
    binaries: BinaryPaths,
    createdDir: boolean,
    nodeBinaries: NodeBinaryPaths | undefined,
  ): Promise<ControlPlaneInfo> {
    const startedAt = Date.now();
    // A node adds containerd, three components and the node's first Ready status.
    const deadline = startedAt + this.startTimeoutMs + (nodeBinaries ? 120_000 : 0);
    const nodeIp = nodeBinaries ? hostAddress() : undefined;
    await mkdir(this.dir, { recursive: true });
    const paths = {
      pki: join(this.dir, 'pki'),
      etcdData: join(this.dir, 'etcd'),
      logs: join(this.dir, 'logs'),
      apiServerCerts: join(this.dir, 'kube-apiserver'),
      kcmCerts: join(this.dir, 'kube-controller-manager'),
      kubeconfig: join(this.dir, 'kubeconfig'),
      operatorKubeconfig: join(this.dir, 'operator.kubeconfig'),
      kcmKubeconfig: join(this.dir, 'kube-controller-manager.kubeconfig'),
      state: join(this.dir, STATE_FILE),
      ...(nodeBinaries
        ? {
            node: join(this.dir, 'node'),
            nodeKubeconfigs: join(this.dir, 'node-kubeconfigs'),
          }
        : {}),
    };
    const createdEntries = Object.values(paths);
    await rm(paths.etcdData, { recursive: true, force: true });
    for (const dir of [paths.pki, paths.logs, paths.apiServerCerts, paths.kcmCerts]) {
      await mkdir(dir, { recursive: true });
    }

    const [etcdPort, etcdPeerPort, apiPort, kcmPort, ...nodePorts] = await distinctFreePorts(
      nodeBinaries ? 9 : 4,
    );
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const apiServerUrl = `https://127.0.0.1:${apiPort}`;

    const nodeClients: Record<string, ClientIdentity> = nodeBinaries
      ? {
          kubelet: { user: NODE_USER, groups: ['system:nodes'] },
          // The API server's identity towards the kubelet (logs, exec); the kubelet trusts the CA.
          kubeletClient: { user: KUBELET_CLIENT_USER, groups: [] },
          scheduler: { user: SCHEDULER_USER, groups: [] },
          proxy: { user: PROXY_USER, groups: [] },
        }
      : {};
    const pki = await generatePki({
      serverIps: ['127.0.0.1', '10.0.0.1', ...(nodeIp ? [nodeIp] : [])],
      serverDnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      clients: {
        admin: { user: ADMIN_USER, groups: ['system:masters'] },
        operator: { user: OPERATOR_USER, groups: [OPERATOR_GROUP] },
        controllerManager: { user: CONTROLLER_MANAGER_USER, groups: [] },
        frontProxy: { user: FRONT_PROXY_USER, groups: [] },
        ...nodeClients,
      },
    });
    const client = (key: string): CertifiedKey => {
      const found = pki.clients[key];
      if (!found) throw new Error(`no client certificate ${key}`);
      return found;
    };
    const file = (name: string) => join(paths.pki, name);
    const files: Record<string, string> = {
      'ca.crt': pki.ca.certPem,
      'ca.key': pki.ca.keyPem,
      'apiserver.crt': pki.apiServerServing.certPem,
      'apiserver.key': pki.apiServerServing.keyPem,
      'sa.pub': pki.serviceAccount.publicKeyPem,
      'sa.key': pki.serviceAccount.privateKeyPem,
      'front-proxy-client.crt': client('frontProxy').certPem,
      'front-proxy-client.key': client('frontProxy').keyPem,
      ...(nodeBinaries
        ? {
            'kubelet-client.crt': client('kubeletClient').certPem,
            'kubelet-client.key': client('kubeletClient').keyPem,
          }
        : {}),
    };
    for (const [name, content] of Object.entries(files))
      await writeFile(file(name), content, { mode: 0o600 });
    await writeFile(
      paths.kubeconfig,
      kubeconfigYaml({
        server: apiServerUrl,
        caPem: pki.ca.certPem,
        user: ADMIN_USER,
        client: client('admin'),
      }),
      { mode: 0o600 },
    );
    await writeFile(
      paths.operatorKubeconfig,
      kubeconfigYaml({
        server: apiServerUrl,
        caPem: pki.ca.certPem,
        user: OPERATOR_USER,
        client: client('operator'),
      }),
      { mode: 0o600 },
    );
    await writeFile(
      paths.kcmKubeconfig,
      kubeconfigYaml({
        server: apiServerUrl,
        caPem: pki.ca.certPem,
        user: CONTROLLER_MANAGER_USER,
        client: client('controllerManager'),
      }),
      { mode: 0o600 },
    );

    const info: ControlPlaneInfo = {
      dir: this.dir,
      kubeconfig: paths.kubeconfig,
      operatorKubeconfig: paths.operatorKubeconfig,
      apiServerUrl,
      caCertFile: file('ca.crt'),
      etcdUrl,
      operatorUser: OPERATOR_USER,
      operatorGroup: OPERATOR_GROUP,
      versions: binaries.versions,
      ...(nodeBinaries && nodeIp
        ? {
            node: {
              name: NODE_NAME,
              address: nodeIp,
              containerdSocket: nodePaths(this.dir).containerdSocket,
            },
          }
        : {}),
    };
    this.state = { info, processes: [], createdDir, createdEntries };
    await this.saveState();

    try {
      const etcd = await this.launch('etcd', binaries.etcd, [
        '--name=genops-test',
        `--data-dir=${paths.etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=genops-test=http://127.0.0.1:${etcdPeerPort}`,
        // Test data: durability is not worth the fsync latency.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ]);
      await this.waitFor(etcd, deadline, async () => {
        const answer = await get(`${etcdUrl}/health`);
        return answer.status === 200 && answer.body.includes('"true"');
      });

      const admin = client('admin');
      const adminTls: TlsMaterial = { ca: pki.ca.certPem, cert: admin.certPem, key: admin.keyPem };
      // With a node, pods reach the API server through the `kubernetes` Service, whose endpoint is
      // the advertised address: it must be one a pod can reach (the host's), not loopback.
      const nodeApiArgs = nodeIp
        ? [
            `--advertise-address=${nodeIp}`,
            '--bind-address=0.0.0.0',
            '--authorization-mode=Node,RBAC',
            `--kubelet-client-certificate=${file('kubelet-client.crt')}`,
            `--kubelet-client-key=${file('kubelet-client.key')}`,
            '--kubelet-preferred-address-types=InternalIP',
          ]
        : ['--advertise-address=127.0.0.1', '--bind-address=127.0.0.1', '--authorization-mode=RBAC'];
      const apiServer = await this.launch('kube-apiserver', binaries.kubeApiserver, [
        `--etcd-servers=${etcdUrl}`,
        ...nodeApiArgs,
        `--secure-port=${apiPort}`,
        `--cert-dir=${paths.apiServerCerts}`,
        `--tls-cert-file=${file('apiserver.crt')}`,
        `--tls-private-key-file=${file('apiserver.key')}`,
        `--client-ca-file=${file('ca.crt')}`,
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${file('sa.pub')}`,
        `--service-account-signing-key-file=${file('sa.key')}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        '--allow-privileged=true',
        // Front-proxy (aggregation layer) identity; without it every delegating component, the
        // controller manager included, logs a missing requestheader CA in a loop.
        `--requestheader-client-ca-file=${file('ca.crt')}`,
        `--requestheader-allowed-names=${FRONT_PROXY_USER}`,
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${file('front-proxy-client.crt')}`,
        `--proxy-client-key-file=${file('front-proxy-client.key')}`,
        // Not needed for tests; each costs startup time or background work.
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        ...this.extraApiServerArgs,
      ]);
      await this.waitFor(apiServer, deadline, async () => {
        const answer = await get(`${apiServerUrl}/readyz`, adminTls);
        return answer.status === 200 && answer.body.trim() === 'ok';
      });
      this.log(
        `kube-apiserver ready at ${apiServerUrl} after ${Math.round((Date.now() - startedAt) / 100) / 10} s`,
      );

      const kcm = await this.launch('kube-controller-manager', binaries.kubeControllerManager, [
        `--kubeconfig=${paths.kcmKubeconfig}`,
        `--authentication-kubeconfig=${paths.kcmKubeconfig}`,
        `--authorization-kubeconfig=${paths.kcmKubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${paths.kcmCerts}`,
        '--leader-elect=false',
        // Each controller acts as its own service account, as in a real cluster.
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${file('sa.key')}`,
        `--root-ca-file=${file('ca.crt')}`,
        `--cluster-signing-cert-file=${file('ca.crt')}`,
        `--cluster-signing-key-file=${file('ca.key')}`,
        '--profiling=false',
      ]);
      await this.waitFor(kcm, deadline, async () => {
        const answer = await get(`https://127.0.0.1:${kcmPort}/healthz`, { rejectUnauthorized: false });
        return answer.status === 200;
      });
      // The default ServiceAccount appearing shows the controllers are running; Pods need it.
      await this.waitFor(kcm, deadline, async () => {
        const answer = await get(
          `${apiServerUrl}/api/v1/namespaces/default/serviceaccounts/default`,
          adminTls,
        );
        return answer.status === 200;
      });
      this.log(`control plane ready in ${Math.round((Date.now() - startedAt) / 100) / 10} s (${this.dir})`);
      if (nodeBinaries && nodeIp && paths.nodeKubeconfigs) {
        await this.startNode({
          nodeBinaries,
          nodeIp,
          ports: nodePorts,
          kubeconfigDir: paths.nodeKubeconfigs,
          kubeconfigFor: (key, user) =>
            kubeconfigYaml({ server: apiServerUrl, caPem: pki.ca.certPem, user, client: client(key) }),
          caFile: file('ca.crt'),
          adminTls,
          apiServerUrl,
          deadline,
        });
        this.log(`node ${NODE_NAME} Ready in ${Math.round((Date.now() - startedAt) / 100) / 10} s`);
      }
      return info;
    } catch (error) {
      const logs = this.state.processes
        .map((p) => `--- ${p.component} (${p.log}) ---\n${tail(p.log)}`)
        .join('\n');
      await this.stopProcesses();
      throw new Error(`control plane failed to start: ${(error as Error).message}\n${logs}`, {
        cause: error,
      });
    }
  }

  /** Stops every process start() started (from this or another Node process) and removes the data. */
  async stop(): Promise<void> {
    const state = this.state ?? (await readState(this.dir));
    if (!state) return;
    this.state = state;
    await this.stopProcesses();
    if (state.createdDir) {
      await rm(this.dir, { recursive: true, force: true });
    } else {
      for (const entry of state.createdEntries) await rm(entry, { recursive: true, force: true });
    }
    this.state = undefined;
  }

  private async stopProcesses(): Promise<void> {
    const state = this.state;
    if (!state) return;
    if (state.node) await this.drainNode(state);
    // Upstream first: the node, the controller manager, then the API server, then etcd.
    for (const record of [...state.processes].reverse()) {
      await this.stopProcess(record);
    }
    if (state.node) {
      await cleanupNode(nodePaths(this.dir), {
        kubeProxy: state.node.kubeProxy,
        ipForwardBefore: state.node.ipForwardBefore,
        netnsBefore: state.node.netnsBefore,
      });
    }
    this.removeExitHooks();
  }

  /**
   * Before the node's processes stop: no controller recreates pods (controller manager and scheduler
   * stop first), every pod is deleted, and the kubelet tears the sandboxes down itself (CNI DEL
   * releases the address, the network namespace and the iptables rules). Whatever it has not torn
   * down within 30 s is killed through containerd.
   */
  private async drainNode(state: State): Promise<void> {
    for (const name of ['kube-controller-manager', 'kube-scheduler'] as const) {
      const record = state.processes.find((p) => p.component === name);
      if (record) await this.stopProcess(record);
    }
    const kubelet = state.processes.find((p) => p.component === 'kubelet');
    const containerd = state.processes.find((p) => p.component === 'containerd');
    const paths = nodePaths(this.dir);
    if (kubelet && isOurProcess(kubelet)) {
      await runFile(
        'kubectl',
        ['--kubeconfig', state.info.kubeconfig, 'delete', 'pods', '--all', '--all-namespaces'].concat([
          '--grace-period=0',
          '--force',
          '--wait=false',
        ]),
        { timeout: 30_000 },
      ).catch((error: Error) => this.log(`deleting the node's pods: ${error.message}`));
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const sandboxes = await ctr(paths, ['tasks', 'ls', '-q'], 10_000).catch(() => '');
        if (sandboxes.trim() === '') break;
        await sleep(500);
      }
    }
    if (kubelet) await this.stopProcess(kubelet);
    if (containerd && isOurProcess(containerd)) await killContainers(paths, this.log);
  }

  private async stopProcess(record: ProcessRecord): Promise<void> {
    {
      if (!isOurProcess(record)) return;
      try {
        process.kill(record.pid, 'SIGTERM');
      } catch {
        return;
      }
      const until = Date.now() + STOP_GRACE_MS;
      while (processAlive(record.pid) && isOurProcess(record) && Date.now() < until) await sleep(50);
      if (isOurProcess(record)) {
        this.log(`${record.component} (pid ${record.pid}) ignored SIGTERM; killing it`);
        try {
          process.kill(record.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  private async startNode(input: {
    nodeBinaries: NodeBinaryPaths;
    nodeIp: string;
    ports: number[];
    kubeconfigDir: string;
    kubeconfigFor: (key: string, user: string) => string;
    caFile: string;
    adminTls: TlsMaterial;
    apiServerUrl: string;
    deadline: number;
  }): Promise<void> {
    const state = this.state!;
    const paths = nodePaths(this.dir);
    const [kubeletPort, kubeletHealthzPort, proxyHealthzPort, proxyMetricsPort, schedulerPort] = input.ports;
    await mkdir(input.kubeconfigDir, { recursive: true });
    const kubeconfigs = {
      kubelet: join(input.kubeconfigDir, 'kubelet.kubeconfig'),
      scheduler: join(input.kubeconfigDir, 'kube-scheduler.kubeconfig'),
      proxy: join(input.kubeconfigDir, 'kube-proxy.kubeconfig'),
    };
    await writeFile(kubeconfigs.kubelet, input.kubeconfigFor('kubelet', NODE_USER), { mode: 0o600 });
    await writeFile(kubeconfigs.scheduler, input.kubeconfigFor('scheduler', SCHEDULER_USER), { mode: 0o600 });
    await writeFile(kubeconfigs.proxy, input.kubeconfigFor('proxy', PROXY_USER), { mode: 0o600 });
    await writeNodeConfig({
      paths,
      kubeletKubeconfig: kubeconfigs.kubelet,
      schedulerKubeconfig: kubeconfigs.scheduler,
      proxyKubeconfig: kubeconfigs.proxy,
      caFile: input.caFile,
      nodeIp: input.nodeIp,
      kubeletPort: kubeletPort!,
      kubeletHealthzPort: kubeletHealthzPort!,
      proxyHealthzPort: proxyHealthzPort!,
      proxyMetricsPort: proxyMetricsPort!,
    });
    state.node = {
      ipForwardBefore: await enableForwarding(),
      kubeProxy: input.nodeBinaries.kubeProxy,
      netnsBefore: await networkNamespaces(),
    };
    await this.saveState();

    const containerd = await this.launch('containerd', '/usr/bin/containerd', [
      '--config',
      paths.containerdConfig,
      '--log-level',
      'warn',
    ]);
    await this.waitFor(containerd, input.deadline, async () => {
      await ctr(paths, ['version'], 5000);
      return true;
    });
    await importSandboxImage(paths, input.nodeBinaries.pause);

    const scheduler = await this.launch('kube-scheduler', input.nodeBinaries.kubeScheduler, [
      `--config=${paths.schedulerConfig}`,
      `--authentication-kubeconfig=${kubeconfigs.scheduler}`,
      `--authorization-kubeconfig=${kubeconfigs.scheduler}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      '--profiling=false',
    ]);
    await this.waitFor(scheduler, input.deadline, async () => {
      const answer = await get(`https://127.0.0.1:${schedulerPort}/healthz`, { rejectUnauthorized: false });
      return answer.status === 200;
    });
    const kubelet = await this.launch('kubelet', input.nodeBinaries.kubelet, [
      `--config=${paths.kubeletConfig}`,
      `--kubeconfig=${kubeconfigs.kubelet}`,
      `--root-dir=${paths.kubeletRoot}`,
      `--cert-dir=${paths.kubeletCerts}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${input.nodeIp}`,
      '--v=1',
    ]);
    await this.waitFor(kubelet, input.deadline, async () => {
      const answer = await get(`${input.apiServerUrl}/api/v1/nodes/${NODE_NAME}`, input.adminTls);
      if (answer.status !== 200) return false;
      const node = JSON.parse(answer.body) as {
        status?: { conditions?: Array<{ type: string; status: string }> };
      };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    });
    // kube-proxy waits for its Node object: after the kubelet registered it.
    const proxy = await this.launch('kube-proxy', input.nodeBinaries.kubeProxy, [
      `--config=${paths.proxyConfig}`,
    ]);
    await this.waitFor(proxy, input.deadline, async () => {
      const answer = await get(`http://127.0.0.1:${proxyHealthzPort}/healthz`);
      return answer.status === 200;
    });
  }

  private async launch(component: ComponentName, binary: string, args: string[]): Promise<ProcessRecord> {
    const state = this.state!;
    const log = join(this.dir, 'logs', `${component}.log`);
    const fd = openSync(log, 'a');
    const noProxy = ['127.0.0.1', 'localhost', process.env.NO_PROXY ?? process.env.no_proxy ?? '']
      .filter(Boolean)
      .join(',');
    let child;
    try {
      child = spawn(binary, args, {
        detached: this.detached,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, NO_PROXY: noProxy, no_proxy: noProxy },
      });
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      throw new Error(`could not start ${component} (${binary})`);
    }
    child.on('exit', (code, signal) => this.exited.set(pid, signal ?? `exit code ${code}`));
    child.on('error', (error) => this.exited.set(pid, error.message));
    if (this.detached) child.unref();
    const record: ProcessRecord = { component, pid, binary, log };
    state.processes.push(record);
    await this.saveState();
    if (!this.detached && !this.exitHook) this.installExitHooks();
    this.log(`started ${component} (pid ${pid}), log ${log}`);
    return record;
  }

  /**
   * If this Node process ends without stop() (an exception, Ctrl-C, a CI timeout's SIGTERM), kill the
   * control plane with it rather than leave it running. Only for attached (non-detached) processes.
   */
  private installExitHooks(): void {
    const killAll = () => {
      // A node leaves containers, a bridge and iptables rules behind a plain kill: stop it the way
      // `down` does (drain, then clean up), synchronously, since an exit hook cannot wait.
      if (this.state?.node) {
        spawnSync(process.execPath, [CLI, 'down', this.dir], { stdio: 'inherit', timeout: 90_000 });
      }
      for (const p of this.state?.processes ?? []) {
        try {
          if (isOurProcess(p)) process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    this.exitHook = killAll;
    process.on('exit', killAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const onSignal = () => {
        killAll();
        this.removeExitHooks();
        // Nobody else handles it: keep the default behaviour (terminate by this signal).
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      };
      this.signalHooks.set(signal, onSignal);
      process.on(signal, onSignal);
    }
  }

  private removeExitHooks(): void {
    if (this.exitHook) process.off('exit', this.exitHook);
    this.exitHook = undefined;
    for (const [signal, hook] of this.signalHooks) process.off(signal, hook);
    this.signalHooks.clear();
  }

  private async waitFor(
    record: ProcessRecord,
    deadline: number,
    ready: () => Promise<boolean>,
  ): Promise<void> {
    let lastError = '';
    for (;;) {
      const exit = this.exited.get(record.pid);
      if (exit !== undefined) {
        throw new Error(`${record.component} exited (${exit}) before it was ready`);
      }
      try {
        if (await ready()) return;
      } catch (error) {
        lastError = (error as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${record.component} not ready before the deadline${lastError ? ` (${lastError})` : ''}`,
        );
      }
      await sleep(100);
    }
  }

  private async saveState(): Promise<void> {
    if (this.state) await writeFile(join(this.dir, STATE_FILE), JSON.stringify(this.state, null, 2) + '\n');
  }
}

async function readState(dir: string): Promise<State | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as State;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
