// Builds etcd, kube-apiserver and kube-controller-manager from Go modules (through the Go module
// proxy) and caches the binaries per version outside the repository. The versions come from the
// wrapper module's go.mod, so that file is the one place to bump them.
import { withLock } from './lock.ts';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isExecutable, runBuildTool } from './tool.ts';

export type Component =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'kube-proxy'
  | 'pause';

export const COMPONENTS: readonly Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager'];

/**
 * What a node adds (`testenv up --node`): the scheduler, the kubelet and kube-proxy from the same
 * k8s.io/kubernetes module as the control plane, and the sandbox ("pause") binary of the pod
 * sandbox image, built from this wrapper module's own package (no registry to pull one from).
 */
export const NODE_COMPONENTS: readonly Component[] = ['kube-scheduler', 'kubelet', 'kube-proxy', 'pause'];

/** The wrapper Go module that pins k8s.io/kubernetes and its staging modules. */
export const GO_MODULE_DIR = fileURLToPath(new URL('./gomod/', import.meta.url));

const PACKAGES: Record<Component, string> = {
  etcd: 'go.etcd.io/etcd/server/v3',
  'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
  'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
  'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
  kubelet: 'k8s.io/kubernetes/cmd/kubelet',
  'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
  pause: 'genops.dev/testenv/controlplane/pause',
};

export interface Versions {
  kubernetes: string;
  etcd: string;
}

export type Log = (message: string) => void;

export interface BinaryPaths {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  versions: Versions;
}

/** `${XDG_CACHE_HOME:-$HOME/.cache}/genops-testenv`; GENOPS_TESTENV_CACHE overrides it. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GENOPS_TESTENV_CACHE) return env.GENOPS_TESTENV_CACHE;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'genops-testenv');
}

/** Reads the pinned versions from the wrapper module's go.mod. */
export async function readVersions(moduleDir: string = GO_MODULE_DIR): Promise<Versions> {
  const goMod = await readFile(join(moduleDir, 'go.mod'), 'utf8');
  const find = (module: string): string => {
    const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod);
    if (!match?.[1]) throw new Error(`${module} is not required in ${moduleDir}go.mod`);
    return match[1];
  };
  return { kubernetes: find('k8s.io/kubernetes'), etcd: find('go.etcd.io/etcd/server/v3') };
}

function versionOf(component: Component, versions: Versions): string {
  return component === 'etcd' ? versions.etcd : versions.kubernetes;
}

/** Where a component's binary lives in the cache: `<cache>/<component>-<version>/<component>`. */
export function binaryPath(component: Component, versions: Versions, root: string = cacheRoot()): string {
  return join(root, `${component}-${versionOf(component, versions)}`, component);
}

export interface NodeBinaryPaths {
  kubeScheduler: string;
  kubelet: string;
  kubeProxy: string;
  pause: string;
  versions: Versions;
}

export interface EnsureBinariesOptions {
  log?: Log;
  cacheDir?: string;
  moduleDir?: string;
}

/** The node's binaries (NODE_COMPONENTS), built like the control plane's when missing. */
export async function ensureNodeBinaries(options: EnsureBinariesOptions = {}): Promise<NodeBinaryPaths> {
  const root = options.cacheDir ?? cacheRoot();
  const versions = await ensureComponents(NODE_COMPONENTS, 'node build', options);
  return {
    kubeScheduler: binaryPath('kube-scheduler', versions, root),
    kubelet: binaryPath('kubelet', versions, root),
    kubeProxy: binaryPath('kube-proxy', versions, root),
    pause: binaryPath('pause', versions, root),
    versions,
  };
}

/**
 * Returns the binaries' paths, building the missing ones first. The first build compiles
 * kube-apiserver and kube-controller-manager from source and takes many minutes; later calls
 * only check the cache.
 */
export async function ensureBinaries(options: EnsureBinariesOptions = {}): Promise<BinaryPaths> {
  const root = options.cacheDir ?? cacheRoot();
  const versions = await ensureComponents(COMPONENTS, 'control-plane build', options);
  return {
    etcd: binaryPath('etcd', versions, root),
    kubeApiserver: binaryPath('kube-apiserver', versions, root),
    kubeControllerManager: binaryPath('kube-controller-manager', versions, root),
    versions,
  };
}

async function ensureComponents(
  components: readonly Component[],
  what: string,
  options: EnsureBinariesOptions,
): Promise<Versions> {
  const log = options.log ?? (() => {});
  const root = options.cacheDir ?? cacheRoot();
  const moduleDir = options.moduleDir ?? GO_MODULE_DIR;
  const versions = await readVersions(moduleDir);
  const missing = async () => {
    const absent: Component[] = [];
    for (const component of components) {
      if (!(await isExecutable(binaryPath(component, versions, root)))) absent.push(component);
    }
    return absent;
  };
  if ((await missing()).length === 0) return versions;

  await mkdir(root, { recursive: true });
  await withLock(join(root, '.build.lock'), what, log, async () => {
    const toBuild = await missing(); // another process may have built them meanwhile
    if (toBuild.length === 0) return;
    const started = Date.now();
    log(
      `building ${toBuild.join(', ')} (kubernetes ${versions.kubernetes}, etcd ${versions.etcd}) into ${root}; ` +
        'the first build takes several minutes',
    );
    const staging = await mkdtemp(join(root, '.build-'));
    try {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        CGO_ENABLED: '0',
        GOTOOLCHAIN: 'local',
        GOWORK: 'off',
        GOFLAGS: '-buildvcs=false',
      };
      const [major, minor] = versions.kubernetes.replace(/^v/, '').split('.');
      const versionPkg = 'k8s.io/component-base/version';
      const ldflags = [
        '-s',
        '-w',
        `-X ${versionPkg}.gitVersion=${versions.kubernetes}`,
        `-X ${versionPkg}.gitMajor=${major}`,
        `-X ${versionPkg}.gitMinor=${minor}`,
        `-X ${versionPkg}.gitTreeState=clean`,
      ].join(' ');
      // One `go build` for every missing binary, so shared packages compile once and in parallel.
      await runBuildTool(
        'go',
        ['build', '-trimpath', '-ldflags', ldflags, '-o', staging + '/', ...toBuild.map((c) => PACKAGES[c])],
        { cwd: moduleDir, env, builds: 'the test control plane' },
      );
      for (const component of toBuild) {
        // `go build -o dir/` names a binary after its package; etcd's main package is the module root (`server`).
        const built = join(staging, component === 'etcd' ? 'server' : component);
        const target = binaryPath(component, versions, root);
        await mkdir(join(target, '..'), { recursive: true });
        await rename(built, target);
      }
      log(`built ${toBuild.join(', ')} in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
  return versions;
}
