// The documented benchmark command (docs/operations.md) runs as typed and reports real work.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('windows benchmark', () => {
  it('node pipeline/windows/windows.bench.ts --seconds 3 reports spans charged and their cost', () => {
    // "node" is Node 24 here: vitest runs under it (process.execPath), as npm/npx put it on PATH.
    const run = spawnSync(process.execPath, ['pipeline/windows/windows.bench.ts', '--seconds', '3'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout.trim()) as Record<string, number>;
    expect(out['spans']).toBeGreaterThan(10_000);
    // Every span of the run is charged (unique ids): none counted as a duplicate.
    expect(out['spans']! % 128).toBe(0);
    expect(out['nsPerSpan']).toBeGreaterThan(0);
    expect(out['cpuNsPerSpan']).toBeGreaterThan(0);
    expect(out['seconds']).toBeGreaterThanOrEqual(3);
  }, 70_000);
});
