import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatDecisionBench, measureDecisions } from './decisions.ts';

// The decision entries of `npm run bench` on a small cluster: the figures exist, are plausible, and
// the incremental engine does less per evaluation than the full one on the same changes.
describe('decision bench entries', () => {
  it('measures the incremental and the full evaluation', async () => {
    const base = { workloads: 5_000, resources: 500, namespaces: 50, churn: 0.01, runs: 6 } as const;
    const full = await measureDecisions({ ...base, engine: 'full' });
    const incremental = await measureDecisions({ ...base, engine: 'incremental' });
    for (const e of [full, incremental]) {
      expect(e.workloads).toBe(5_000);
      expect(e.coldMs).toBeGreaterThan(0);
      expect(Number.isFinite(e.medianMs)).toBe(true);
      expect(e.bytesPerWorkload).toBeGreaterThan(0);
      expect(Number.isFinite(e.eventLoopDelayP99Ms)).toBe(true);
    }
    expect(incremental.name).toBe('decisions-incremental-5k');
    // CPU, not wall time: the shared machine is oversubscribed. 1% changed: far less than a full pass.
    expect(incremental.medianCpuMs).toBeLessThan(full.medianCpuMs);
    expect(formatDecisionBench([incremental])).toContain('decisions-incremental-5k: 5000 workloads');
  }, 120_000);

  it('runs as documented: node --expose-gc bench/decisions.ts --quick', () => {
    // docs/operations.md and decision/README.md give this command line.
    const r = spawnSync(process.execPath, ['--expose-gc', 'bench/decisions.ts', '--quick'], {
      encoding: 'utf8',
      timeout: 170_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^decisions-full-10k: 10000 workloads, 1000 budgets \+ 1000 policies/m);
    expect(r.stdout).toMatch(/^decisions-incremental-10k: .* median [0-9.]+ ms/m);
    expect(r.stdout).not.toMatch(/100000 workloads/);
  }, 180_000);
});
