// The genops executable as a user runs it (a child process): --version, a busy port exits 3 for the
// OTLP/gRPC port as for the HTTP ports, and `genops status` without any kubeconfig names that cause
// instead of a TLS error about http://localhost:8080.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isPortUnavailable } from '../unavailable.ts';

// Each case starts Node and loads the CLI: seconds apiece on a busy machine.
vi.setConfig({ testTimeout: 90_000 });

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };

function genops(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['cmd/genops.ts', ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('genops --version', () => {
  it('prints the version like `genops version` and exits 0', async () => {
    const long = await genops(['--version']);
    expect(long.code).toBe(0);
    expect(long.stdout).toBe(`genops ${pkg.version} (node ${process.version})\n`);
    expect((await genops(['version'])).stdout).toBe(long.stdout);
    expect((await genops(['-V'])).stdout).toBe(long.stdout);
  });
});

describe('a busy port', () => {
  let busy: Server;
  let port = 0;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  const ports = (grpc: number, http: number) => [
    'local',
    '--policies',
    'examples',
    '--otlp-grpc-port',
    String(grpc),
    '--otlp-http-port',
    String(http),
    '--metrics-port',
    '0',
    '--health-port',
    '0',
    '--workers',
    '1',
  ];

  it('exits 3 (unavailable) when the OTLP/gRPC port is taken', async () => {
    const r = await genops(ports(port, 0));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('EADDRINUSE');
    expect(r.stdout).not.toContain('Ctrl-C to stop');
  });

  it('exits 3 when the OTLP/HTTP port is taken, too', async () => {
    const r = await genops(ports(0, port));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('EADDRINUSE');
  });

  it('tells port errors from other start-up errors', () => {
    const grpc = new Error(
      'No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:4317]',
    );
    expect(isPortUnavailable(grpc)).toBe(true);
    expect(isPortUnavailable(Object.assign(new Error('listen EACCES'), { code: 'EACCES' }))).toBe(true);
    expect(isPortUnavailable(new Error('policy directory not found: EADDRINUSE.yaml'))).toBe(false);
    expect(isPortUnavailable(Object.assign(new Error('boom'), { code: 'ENOENT' }))).toBe(false);
    expect(isPortUnavailable('EADDRINUSE')).toBe(false);
  });
});

describe('genops status without a kubeconfig', () => {
  let home = '';
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'genops-nohome-'));
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  const bare = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.KUBECONFIG;
    delete env.KUBERNETES_SERVICE_HOST;
    delete env.KUBERNETES_SERVICE_PORT;
    return env;
  };

  it('names the missing kubeconfig, not the client fallback to localhost:8080', async () => {
    const r = await genops(['status'], bare());
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('no kubeconfig found: KUBECONFIG is not set');
    expect(r.stderr).toContain(join(home, '.kube', 'config'));
    expect(r.stderr).not.toContain('localhost:8080');
    expect(r.stderr).not.toContain('TLS');
  });

  it('names the file when --kubeconfig points nowhere', async () => {
    const missing = join(home, 'nope.yaml');
    const r = await genops(['status', '--kubeconfig', missing], bare());
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot read kubeconfig ${missing}`);
  });
});
