// Builds `otelcol-genops`, a real OpenTelemetry Collector with only the components otel-config/
// uses, and caches it outside the repository like the control-plane binaries:
// `${XDG_CACHE_HOME:-~/.cache}/genops-testenv/otelcol-genops-<version>-<hash>/otelcol-genops`.
//
// builder-config.yaml is the manifest of the OpenTelemetry Collector Builder (ocb). `generate`
// runs the builder (go.opentelemetry.io/collector/cmd/builder, through the Go module proxy) with
// --skip-compilation to refresh the Go wrapper module in gomod/ (main.go, components.go, go.mod,
// go.sum, committed); `ensureCollector` compiles that module with `go build`. The hash of the
// module's files is part of the cache key, so a regenerated module gets a fresh binary.
import { withLock } from '../controlplane/lock.ts';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { cacheRoot } from '../controlplane/build.ts';
import { isExecutable, runBuildTool } from '../controlplane/tool.ts';

export const COLLECTOR_DIR = fileURLToPath(new URL('./', import.meta.url));
export const MODULE_DIR = join(COLLECTOR_DIR, 'gomod');
export const BUILDER_CONFIG = join(COLLECTOR_DIR, 'builder-config.yaml');
export const BINARY_NAME = 'otelcol-genops';
/** Keep in step with the components' versions in builder-config.yaml. */
export const BUILDER_VERSION = 'v0.160.0';
const MODULE_FILES = ['go.mod', 'go.sum', 'main.go', 'components.go'];

export type Log = (message: string) => void;

export interface BuilderManifest {
  dist: { name: string; version: string; module: string; output_path: string };
  receivers?: { gomod: string }[];
  processors?: { gomod: string }[];
  exporters?: { gomod: string }[];
  extensions?: { gomod: string }[];
  connectors?: { gomod: string }[];
  providers?: { gomod: string }[];
}

export async function readManifest(path: string = BUILDER_CONFIG): Promise<BuilderManifest> {
  return parse(await readFile(path, 'utf8')) as BuilderManifest;
}

/** Every `module version` pair the manifest names. */
export function manifestModules(m: BuilderManifest): { module: string; version: string }[] {
  const all = [m.receivers, m.processors, m.exporters, m.extensions, m.connectors, m.providers].flatMap(
    (list) => list ?? [],
  );
  return all.map(({ gomod }) => {
    const [module, version] = gomod.trim().split(/\s+/);
    if (!module || !version) throw new Error(`bad gomod entry in builder config: ${gomod}`);
    return { module, version };
  });
}

/** Cache key: the distribution version plus a hash of the generated module's files. */
export async function binaryPath(
  root: string = cacheRoot(),
  moduleDir: string = MODULE_DIR,
): Promise<string> {
  const manifest = await readManifest();
  const hash = createHash('sha256');
  for (const f of MODULE_FILES)
    hash
      .update(f)
      .update('\0')
      .update(await readFile(join(moduleDir, f)));
  const key = `${BINARY_NAME}-${manifest.dist.version}-${hash.digest('hex').slice(0, 12)}`;
  return join(root, key, BINARY_NAME);
}

function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CGO_ENABLED: '0',
    GOTOOLCHAIN: 'local',
    GOWORK: 'off',
    GOFLAGS: '-buildvcs=false',
  };
}

export interface EnsureCollectorOptions {
  log?: Log;
  cacheDir?: string;
}

/**
 * Returns the path of the cached Collector, compiling it first when missing (a few minutes on two
 * cores: the contrib components pull in client-go).
 */
export async function ensureCollector(options: EnsureCollectorOptions = {}): Promise<string> {
  const log = options.log ?? (() => {});
  const root = options.cacheDir ?? cacheRoot();
  const target = await binaryPath(root);
  if (await isExecutable(target)) return target;
  await mkdir(root, { recursive: true });
  await withLock(join(root, '.otelcol-build.lock'), 'Collector build', log, async () => {
    if (await isExecutable(target)) return;
    const started = Date.now();
    log(`building ${BINARY_NAME} into ${target}; the first build takes several minutes`);
    const staging = await mkdtemp(join(root, '.otelcol-build-'));
    try {
      await runBuildTool(
        'go',
        ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(staging, BINARY_NAME), '.'],
        { cwd: MODULE_DIR, env: goEnv(), builds: 'the test Collector' },
      );
      await mkdir(join(target, '..'), { recursive: true });
      await rename(join(staging, BINARY_NAME), target);
      log(`built ${BINARY_NAME} in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
  return target;
}

/** Regenerates gomod/ from builder-config.yaml with the Collector Builder (needs the Go module proxy). */
export async function generateModule(log: Log = () => {}): Promise<void> {
  log(`running the OpenTelemetry Collector Builder ${BUILDER_VERSION} on ${BUILDER_CONFIG}`);
  await runBuildTool(
    'go',
    [
      'run',
      `go.opentelemetry.io/collector/cmd/builder@${BUILDER_VERSION}`,
      '--skip-compilation',
      '--config',
      BUILDER_CONFIG,
    ],
    { cwd: COLLECTOR_DIR, env: goEnv(), builds: 'the test Collector' },
  );
}
