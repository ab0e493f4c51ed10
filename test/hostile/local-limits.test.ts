// `genops local` (and `genops operator`) limit flags: the same module maps them for both, and a
// local runtime started with them enforces them on loopback.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_LIMIT_DEFAULTS, ingestLimitOptions } from '../../cmd/ingest-limits.ts';
import type { LocalRuntime } from '../../cmd/commands/local.ts';
import { command as localCommand, startLocal } from '../../cmd/commands/local.ts';
import { command as operatorCommand } from '../../cmd/commands/operator.ts';
import type { CommandContext } from '../../cmd/context.ts';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { CANARY_COST_MICROS, canaryProtobuf, post, rawHttp, sleep, spendOf } from './harness.ts';

const MiB = 1024 * 1024;

describe('ingest limit flags', () => {
  it('map to the pipeline with the documented defaults', () => {
    expect(ingestLimitOptions()).toEqual({
      maxBodyBytes: 64 * MiB,
      limits: { maxConnections: 256 },
      pool: { maxQueuedBytes: 256 * MiB, resourceLimits: { maxOldGenerationSizeMb: 256 } },
    });
    expect(INGEST_LIMIT_DEFAULTS).toEqual({
      maxBodyMib: 64,
      maxQueueMib: 256,
      workerHeapMib: 256,
      maxConnections: 256,
    });
    expect(
      ingestLimitOptions({ maxBodyMib: 2, maxQueueMib: 8, workerHeapMib: 64, maxConnections: 3 }, 2),
    ).toEqual({
      maxBodyBytes: 2 * MiB,
      limits: { maxConnections: 3 },
      pool: { threads: 2, maxQueuedBytes: 8 * MiB, resourceLimits: { maxOldGenerationSizeMb: 64 } },
    });
  });

  it('are offered by genops local and genops operator alike', () => {
    const ctx = {} as CommandContext;
    for (const [sub, cmd] of [
      ['local', localCommand(ctx, () => undefined)],
      ['operator', operatorCommand(ctx, () => undefined)],
    ] as const) {
      const help = cmd.helpInformation();
      for (const flag of [
        '--max-body-mib <MiB>',
        '--max-queue-mib <MiB>',
        '--worker-heap-mib <MiB>',
        '--max-connections <n>',
      ])
        expect(help, `${sub} ${flag}`).toContain(flag);
    }
  });
});

describe('genops local with limits', () => {
  let dir: string;
  let local: LocalRuntime;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genops-local-limits-'));
    local = await startLocal(
      {
        policies: dir,
        host: '127.0.0.1',
        otlpGrpcPort: 0,
        otlpHttpPort: 0,
        metricsPort: 0,
        healthPort: 0,
        timeZone: 'UTC',
        workers: 1,
        limits: { maxBodyMib: 1, maxQueueMib: 4, workerHeapMib: 64, maxConnections: 4 },
      },
      { logger: silentLogger, clock: systemClock },
    );
  });
  afterAll(async () => {
    await local.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a body over --max-body-mib, drops connections over --max-connections, and still charges a valid request', async () => {
    const port = local.ports().http;
    expect((await post(port, Buffer.alloc(1 * MiB + 1))).status).toBe(413);
    const idle = await Promise.all(Array.from({ length: 8 }, () => rawHttp(port)));
    await sleep(100);
    const replies = await Promise.race([
      Promise.all(idle.slice(4).map((c) => c.reply)),
      sleep(2_000).then(() => 'hung'),
    ]);
    // The 4 sockets beyond the limit are closed by the server at once (an idle accepted one would
    // stay open for the keep-alive/header timeout).
    expect(replies).toEqual(['', '', '', '']);
    for (const c of idle) c.socket.destroy();
    await sleep(100);
    const before = spendOf(local.pipeline);
    expect((await post(port, canaryProtobuf())).status).toBe(200);
    expect(spendOf(local.pipeline) - before).toBe(CANARY_COST_MICROS);
  });
});
