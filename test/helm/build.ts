// Builds a real helm (v4) from its Go module (helm.sh/helm/v4, through the Go module proxy) and caches
// it outside the repository next to the control-plane binaries:
// `${XDG_CACHE_HOME:-~/.cache}/genops-testenv/helm-<version>/helm`. The version comes from the wrapper
// module's go.mod (test/helm/gomod), the one place to bump it.
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../controlplane/build.ts';
import { withLock } from '../controlplane/lock.ts';
import { isExecutable, runBuildTool } from '../controlplane/tool.ts';

export const HELM_MODULE_DIR = fileURLToPath(new URL('./gomod/', import.meta.url));
const HELM_MODULE = 'helm.sh/helm/v4';

export type Log = (message: string) => void;

export async function readHelmVersion(moduleDir: string = HELM_MODULE_DIR): Promise<string> {
  const goMod = await readFile(join(moduleDir, 'go.mod'), 'utf8');
  const match = /^\s*helm\.sh\/helm\/v4\s+(v\S+)/m.exec(goMod);
  if (!match?.[1]) throw new Error(`${HELM_MODULE} is not required in ${moduleDir}go.mod`);
  return match[1];
}

export function helmBinaryPath(version: string, root: string = cacheRoot()): string {
  return join(root, `helm-${version}`, 'helm');
}

export interface EnsureHelmOptions {
  log?: Log;
  cacheDir?: string;
  moduleDir?: string;
}

/** Returns the cached helm binary's path, building it first when it is missing (a few minutes). */
export async function ensureHelm(options: EnsureHelmOptions = {}): Promise<string> {
  const log = options.log ?? (() => {});
  const root = options.cacheDir ?? cacheRoot();
  const moduleDir = options.moduleDir ?? HELM_MODULE_DIR;
  const version = await readHelmVersion(moduleDir);
  const target = helmBinaryPath(version, root);
  if (await isExecutable(target)) return target;
  await mkdir(root, { recursive: true });
  await withLock(join(root, '.helm-build.lock'), 'helm build', log, async () => {
    if (await isExecutable(target)) return; // built by another process meanwhile
    const started = Date.now();
    log(`building helm ${version} into ${target}`);
    const staging = await mkdtemp(join(root, '.helm-build-'));
    try {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        CGO_ENABLED: '0',
        GOTOOLCHAIN: 'local',
        GOWORK: 'off',
        GOFLAGS: '-buildvcs=false',
      };
      // Without the version ldflag `helm version` says v4.x only; the chart tests print the real one.
      const ldflags = `-s -w -X ${HELM_MODULE}/internal/version.version=${version}`;
      await runBuildTool(
        'go',
        ['build', '-trimpath', '-ldflags', ldflags, '-o', join(staging, 'helm'), `${HELM_MODULE}/cmd/helm`],
        { cwd: moduleDir, env, builds: 'the test helm' },
      );
      await mkdir(join(target, '..'), { recursive: true });
      await rename(join(staging, 'helm'), target);
      log(`built helm ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
  return target;
}
