// A replica that cannot reach the API server gives up at --sync-timeout with a clear error and exit
// code 3, instead of hanging NotReady while /healthz says ok. The "API server" is a loopback port that
// accepts connections and never answers (the worst case: no refusal to react to) and, second, a port
// nobody listens on.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 90_000 });

const root = fileURLToPath(new URL('../../', import.meta.url));

function kubeconfig(server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `  - name: dead`,
    `    cluster: { server: '${server}', insecure-skip-tls-verify: true }`,
    'users:',
    '  - name: nobody',
    '    user: { token: not-a-token }',
    'contexts:',
    '  - name: dead',
    '    context: { cluster: dead, user: nobody }',
    'current-context: dead',
    '',
  ].join('\n');
}

function operator(config: string, syncTimeout: number) {
  return new Promise<{ code: number | null; stderr: string; stdout: string; seconds: number }>(
    (resolve, reject) => {
      const started = Date.now();
      const child = spawn(
        process.execPath,
        [
          'cmd/genops.ts',
          'operator',
          '--kubeconfig',
          config,
          '--namespace',
          'genops-system',
          '--sync-timeout',
          String(syncTimeout),
          '--no-webhook',
          '--otlp-grpc-port',
          '0',
          '--otlp-http-port',
          '0',
          '--metrics-port',
          '0',
          '--health-port',
          '0',
          '--workers',
          '1',
        ],
        { cwd: root, env: { ...process.env, GENOPS_LOG_LEVEL: 'error' } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      // Far beyond what is acceptable: the test fails on the elapsed time below, not by hanging.
      const timer = setTimeout(() => child.kill('SIGKILL'), 80_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 });
      });
    },
  );
}

describe('genops operator without a reachable API server', () => {
  let dir = '';
  let silent: Server;
  const sockets = new Set<Socket>();
  let silentPort = 0;
  let closedPort = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genops-unreachable-'));
    silent = createServer((socket) => {
      sockets.add(socket); // accepted, never answered
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    silentPort = (silent.address() as { port: number }).port;
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('gives up at --sync-timeout when the API server never answers: exit 3, a clear message', async () => {
    const config = join(dir, 'silent.kubeconfig');
    await writeFile(config, kubeconfig(`https://127.0.0.1:${silentPort}`));
    const r = await operator(config, 3);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('did not sync within 3 s');
    expect(r.stderr).toContain(`https://127.0.0.1:${silentPort}`);
    expect(r.stdout).not.toContain('OTLP gRPC :');
    // Node start-up and shutdown on a busy machine take seconds; a sync timeout taken three times (or
    // the client's own timeouts) would take far longer.
    expect(r.seconds).toBeGreaterThanOrEqual(3);
    expect(r.seconds).toBeLessThan(3 + 20);
  });

  it('gives up the same way when nothing listens on the address', async () => {
    const config = join(dir, 'closed.kubeconfig');
    await writeFile(config, kubeconfig(`https://127.0.0.1:${closedPort}`));
    const r = await operator(config, 2);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('did not sync within 2 s');
    expect(r.seconds).toBeLessThan(2 + 20);
  });
});
