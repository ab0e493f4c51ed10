// /healthz reflects a dead watch: the operator runs against a control plane of its own (so stopping
// that API server disturbs no other test), is healthy and ready, then the API server goes away and,
// once the watches have failed for longer than the sync timeout, /healthz answers 503 naming them, so
// the kubelet's liveness probe restarts the replica.

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type OperatorRuntime } from '../../cmd/operator-main.ts';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { ensureBinaries } from '../controlplane/build.ts';
import { ControlPlane } from '../controlplane/start.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const log = (message: string) => process.stderr.write(`[liveness-test] ${message}\n`);
const SYNC_TIMEOUT_MS = 3000;

describe('operator liveness', () => {
  let work = '';
  let controlPlane: ControlPlane | undefined;
  let op: OperatorRuntime | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'genops-liveness-'));
    controlPlane = new ControlPlane({ dir: join(work, 'cp'), log, binaries: await ensureBinaries({ log }) });
    const { kubeconfig } = await controlPlane.start();
    for (const args of [
      ['apply', '-f', 'config/crd/bases/'],
      ['create', 'namespace', 'genops-system'],
    ]) {
      const r = spawnSync('kubectl', args, {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, KUBECONFIG: kubeconfig },
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
    }
    op = await startOperator(
      {
        kubeconfig,
        inCluster: false,
        namespace: 'genops-system',
        replicaId: 'liveness',
        host: '127.0.0.1',
        otlpGrpcPort: 0,
        otlpHttpPort: 0,
        metricsPort: 0,
        healthPort: 0,
        leaderElect: false,
        workers: 1,
        syncTimeoutMs: SYNC_TIMEOUT_MS,
      },
      { logger: silentLogger, clock: systemClock },
    );
  }, 600_000);

  afterAll(async () => {
    await op?.shutdown(Date.now() + 5000);
    await controlPlane?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const healthz = async () => {
    const res = await fetch(`http://127.0.0.1:${op!.ports().health}/healthz`, {
      signal: AbortSignal.timeout(2000),
    });
    return { status: res.status, text: await res.text() };
  };

  it('is healthy while the API server answers and says 503 once its watches are dead', async () => {
    expect(await healthz()).toEqual({ status: 200, text: 'ok\n' });
    // Healthy for longer than the sync timeout while the watches work: no false alarm.
    await new Promise((resolve) => setTimeout(resolve, SYNC_TIMEOUT_MS + 1000));
    expect((await healthz()).status).toBe(200);

    await controlPlane!.stop();
    // Bounded wait: the informers notice (watch ends, relist refused), then the sync timeout passes.
    let last = { status: 0, text: '' };
    for (let i = 0; i < 60 && last.status !== 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      last = await healthz();
    }
    expect(last.status).toBe(503);
    expect(last.text).toMatch(/^watch failing: .*\bfor \d+ s/);
  }, 120_000);
});
