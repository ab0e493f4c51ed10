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
});
