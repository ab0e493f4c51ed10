// `npm run bench -- --compare-collector` as docs/operations.md gives it, run briefly (--seconds 1)
// so the comparison cannot rot: it builds (or finds) the test Collector with its nop exporter, runs
// `genops local` and the Collector under the same load on every protocol, and writes the JSON report.
// Throughput is not asserted (the machine is shared); what must hold is that both servers were
// measured, nothing failed, and genops charged exactly the acknowledged spans' cost.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CompareReport } from '../../bench/compare-collector.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'genops-compare-test-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run bench -- --compare-collector', () => {
  it('measures genops and the Collector on every protocol, and the charged cost is exact', () => {
    const out = join(work, 'compare.json');
    const run = spawnSync(
      'npm',
      ['run', 'bench', '--', '--compare-collector', '--seconds', '1', '--warmup', '0.5', '--json', out],
      { cwd: repo, encoding: 'utf8', timeout: 110_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('otlp -> nop');
    const report = JSON.parse(readFileSync(out, 'utf8')) as CompareReport;
    expect(report.results.map((r) => r.protocol)).toEqual([
      'otlp-http-protobuf',
      'otlp-grpc',
      'otlp-http-json',
    ]);
    expect(report.spansPerRequest).toBe(256);
    for (const entry of report.results) {
      expect(entry.rounds).toHaveLength(1);
      const round = entry.rounds[0]!;
      for (const server of [round.genops, round.collector]) {
        expect(server.spansPerSecond).toBeGreaterThan(0);
        // Whole requests of 256 spans only.
        expect(server.spansPerSecond % 256).toBe(0);
        expect(server.serverCpuMicrosPerSpan).toBeGreaterThan(0);
        expect(server.p99Ms).toBeGreaterThan(0);
        expect(server.p99Ms).toBeGreaterThanOrEqual(server.p50Ms);
        expect(server.errors).toBe(0);
      }
      expect(entry.ratio).toBeCloseTo(round.genops.spansPerSecond / round.collector.spansPerSecond, 1);
      // Charged exactly what was acknowledged: nothing lost, nothing counted twice.
      expect(round.acknowledgedMicros).toBeGreaterThan(0);
      expect(round.chargedMicros).toBe(round.acknowledgedMicros);
      expect(entry.costExact).toBe(true);
    }
    // The line printed per protocol says the same.
    expect(run.stdout).not.toMatch(/\bNO\b/);
  });
});
