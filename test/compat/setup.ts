// Owns the environments of the instrumentation compatibility tests. Python: one virtualenv per pinned
// requirements file, created with `python3 -m venv` + `pip install -r` from PyPI and cached outside
// the repository like the control-plane binaries:
// `${XDG_CACHE_HOME:-~/.cache}/genops-testenv/pyvenv-<hash>`, the hash covering the requirements
// file, the Python minor version and SETUP_REVISION, so an edited lock gets a fresh venv. A venv is
// only used once the marker file written after a successful install (and `pip check`) exists;
// a directory lock keeps a CLI run and a vitest run from building the same venv at once.
// JavaScript: test/compat-js/package.json + package-lock.json installed with `npm ci` into
// `.../genops-testenv/npm-compat-<hash>` (never into the project's node_modules), the same way.
//
// CLI (pre-warms the cache, e.g. in CI before the tests): `node test/compat/setup.ts`.
// GENOPS_PYTHON picks the interpreter (default python3, >= 3.10 and < 3.15).
import { spawn } from 'node:child_process';
import { withLock } from '../controlplane/lock.ts';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../controlplane/build.ts';

export const COMPAT_DIR = fileURLToPath(new URL('./', import.meta.url));

/** The environments the tests use: name -> pinned requirements file in test/compat/. */
export const PYTHON_ENVS = {
  /** Official OTel GenAI (genai-openai), OpenLLMetry, OpenInference, OpenLIT. */
  main: 'requirements.txt',
  /** opentelemetry-instrumentation-openai-v2, which needs opentelemetry-util-genai < 1 and openai < 3. */
  'openai-v2': 'requirements-openai-v2.txt',
  /** pydantic-ai with the anthropic SDK 2.x, which traces its own API calls. */
  'pydantic-ai': 'requirements-pydantic-ai.txt',
  /** LangChain with OpenLLMetry's langchain + openai instrumentations. */
  langchain: 'requirements-langchain.txt',
  /** The OpenAI Agents SDK with OpenInference. */
  'openai-agents': 'requirements-openai-agents.txt',
  /** google-genai 2.x (the instrumentation covers 2.x only) with opentelemetry-instrumentation-google-genai. */
  'google-genai': 'requirements-google-genai.txt',
  /** boto3 Bedrock Runtime with opentelemetry-instrumentation-botocore. */
  bedrock: 'requirements-bedrock.txt',
  /** LiteLLM's own "otel" callback. */
  litellm: 'requirements-litellm.txt',
} as const;
export type PythonEnvName = keyof typeof PYTHON_ENVS;

/** Bump to rebuild every cached venv after a change of how they are made. */
const SETUP_REVISION = '1';
const READY_MARKER = '.genops-ready';
const INSTALL_TIMEOUT_MS = 20 * 60_000;

export type Log = (message: string) => void;

export interface PythonEnv {
  readonly name: string;
  /** The venv's interpreter. */
  readonly python: string;
  readonly dir: string;
  /** True when this call created the venv. */
  readonly created: boolean;
  /** Seconds spent creating it (0 when cached). */
  readonly seconds: number;
}

export interface EnsurePythonEnvOptions {
  log?: Log;
  /** Base interpreter; default GENOPS_PYTHON or python3. */
  python?: string;
  cacheDir?: string;
}

interface RunResult {
  readonly stdout: string;
  readonly tail: string;
}

function run(
  command: string,
  args: string[],
  options: { timeoutMs: number; cwd?: string },
): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? COMPAT_DIR,
      env: {
        ...process.env,
        PIP_DISABLE_PIP_VERSION_CHECK: '1',
        PIP_NO_INPUT: '1',
        PYTHONDONTWRITEBYTECODE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      tail = (tail + c.toString()).slice(-6000);
    });
    child.stderr.on('data', (c: Buffer) => {
      tail = (tail + c.toString()).slice(-6000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        error.code === 'ENOENT'
          ? new Error(
              `'${command}' not found: the compatibility tests need Python >= 3.10 (set GENOPS_PYTHON)`,
            )
          : error,
      );
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, tail });
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** "3.11" of the base interpreter; throws when it is missing or outside what the pins support. */
export async function pythonVersion(python: string): Promise<string> {
  const { stdout } = await run(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
    timeoutMs: 30_000,
  });
  const version = stdout.trim();
  const [major, minor] = version.split('.').map(Number);
  if (major !== 3 || minor === undefined || minor < 10 || minor > 14) {
    throw new Error(
      `${python} is Python ${version}; the compatibility tests need 3.10 to 3.14 (set GENOPS_PYTHON)`,
    );
  }
  return version;
}

/** Cache directory of a venv for these requirements and this interpreter version. */
export function venvDir(root: string, requirements: string, version: string): string {
  const hash = createHash('sha256')
    .update(requirements)
    .update('\0python ')
    .update(version)
    .update('\0rev ')
    .update(SETUP_REVISION)
    .digest('hex')
    .slice(0, 16);
  return join(root, `pyvenv-${hash}`);
}

/**
 * Returns the venv for one of PYTHON_ENVS, creating it first when missing (about 1-3 minutes of
 * downloads from PyPI). Throws, never skips, when it cannot be created: the tests that use it
 * must fail loudly (in CI above all).
 */
export async function ensurePythonEnv(
  name: PythonEnvName,
  options: EnsurePythonEnvOptions = {},
): Promise<PythonEnv> {
  const log = options.log ?? (() => {});
  const base = options.python ?? process.env.GENOPS_PYTHON ?? 'python3';
  const root = options.cacheDir ?? cacheRoot();
  const requirementsPath = join(COMPAT_DIR, PYTHON_ENVS[name]);
  const requirements = await readFile(requirementsPath, 'utf8');
  const version = await pythonVersion(base);
  const dir = venvDir(root, requirements, version);
  const python = join(dir, 'bin', 'python');
  const ready = () => exists(join(dir, READY_MARKER));
  if (await ready()) return { name, python, dir, created: false, seconds: 0 };

  await mkdir(root, { recursive: true });
  return withLock(`${dir}.lock`, 'Python environment setup', log, async () => {
    if (await ready()) return { name, python, dir, created: false, seconds: 0 };
    const started = Date.now();
    log(`creating Python venv '${name}' (${PYTHON_ENVS[name]}, Python ${version}) in ${dir}`);
    await rm(dir, { recursive: true, force: true });
    try {
      await run(base, ['-m', 'venv', dir], { timeoutMs: 120_000 });
      await run(
        python,
        ['-m', 'pip', 'install', '--no-input', '--require-virtualenv', '-r', requirementsPath],
        {
          timeoutMs: INSTALL_TIMEOUT_MS,
        },
      );
      await run(python, ['-m', 'pip', 'check'], { timeoutMs: 120_000 });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(
        `could not create the Python venv '${name}' from ${requirementsPath}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    await writeFile(join(dir, READY_MARKER), `${new Date().toISOString()} ${seconds}s\n`);
    log(`created venv '${name}' in ${seconds} s`);
    return { name, python, dir, created: true, seconds };
  });
}

export const COMPAT_JS_DIR = fileURLToPath(new URL('../compat-js/', import.meta.url));

export interface NodeEnv {
  /** Directory whose node_modules holds test/compat-js's dependencies. */
  readonly dir: string;
  readonly created: boolean;
  readonly seconds: number;
}

/**
 * Returns the installed JavaScript environment of test/compat-js, running `npm ci` into a cache
 * directory first when missing (keyed by package.json + package-lock.json). Throws, never skips.
 */
export async function ensureNodeEnv(options: { log?: Log; cacheDir?: string } = {}): Promise<NodeEnv> {
  const log = options.log ?? (() => {});
  const root = options.cacheDir ?? cacheRoot();
  const manifest = await readFile(join(COMPAT_JS_DIR, 'package.json'), 'utf8');
  const lock = await readFile(join(COMPAT_JS_DIR, 'package-lock.json'), 'utf8');
  const hash = createHash('sha256')
    .update(manifest)
    .update('\0')
    .update(lock)
    .update('\0rev ')
    .update(SETUP_REVISION)
    .digest('hex')
    .slice(0, 16);
  const dir = join(root, `npm-compat-${hash}`);
  const ready = () => exists(join(dir, READY_MARKER));
  if (await ready()) return { dir, created: false, seconds: 0 };
  await mkdir(root, { recursive: true });
  return withLock(`${dir}.lock`, 'JavaScript environment setup', log, async () => {
    if (await ready()) return { dir, created: false, seconds: 0 };
    const started = Date.now();
    log(`installing test/compat-js into ${dir}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), manifest);
    await writeFile(join(dir, 'package-lock.json'), lock);
    try {
      await run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], {
        timeoutMs: INSTALL_TIMEOUT_MS,
        cwd: dir,
      });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`could not install test/compat-js: ${(error as Error).message}`, { cause: error });
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    await writeFile(join(dir, READY_MARKER), `${new Date().toISOString()} ${seconds}s\n`);
    log(`installed test/compat-js in ${seconds} s`);
    return { dir, created: true, seconds };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const log: Log = (m) => process.stderr.write(`[compat] ${m}\n`);
  // Two at a time: creating an environment is mostly waiting on downloads.
  const names = Object.keys(PYTHON_ENVS) as PythonEnvName[];
  const queue = [...names];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const env = await ensurePythonEnv(name, { log });
      process.stdout.write(
        `${name}\t${env.python}\t${env.created ? `created in ${env.seconds} s` : 'cached'}\n`,
      );
    }
  };
  const js = ensureNodeEnv({ log }).then((env) =>
    process.stdout.write(
      `compat-js\t${env.dir}\t${env.created ? `created in ${env.seconds} s` : 'cached'}\n`,
    ),
  );
  await Promise.all([worker(), worker(), js]);
}
