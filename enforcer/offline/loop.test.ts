import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { createRecordingLogger } from '../../kernel/logger.ts';
import type { SnapshotSource, UsageSnapshot } from '../../pipeline/snapshot.ts';
import { budget, snapshot, usage } from '../../decision/test-fixtures.ts';
import { createOfflineDecisions } from './loop.ts';

function source(initial: UsageSnapshot): SnapshotSource & { publish(s: UsageSnapshot): void } {
  let current = initial;
  const listeners = new Set<(s: UsageSnapshot) => void>();
  return {
    current: () => current,
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    publish: (s) => {
      current = s;
      for (const l of listeners) l(s);
    },
  };
}

describe('offline decisions (genops local)', () => {
  it('decides from the snapshot, keeps the status the operator would write and audits events', async () => {
    const now = Date.UTC(2026, 10, 25, 12);
    const clock = createManualClock(now);
    const logger = createRecordingLogger();
    const sandbox = budget(
      'sandbox',
      {
        allocation: { amount: 10, period: 'daily' },
        alerts: { thresholds: [{ percentage: 50, severity: 'info' }] },
        enforcement: { onBudgetExceeded: 'block' },
        selector: { matchLabels: { team: 'research' } },
      },
      { namespace: 'default' },
    );
    const usageSource = source(snapshot(now, []));
    const loop = createOfflineDecisions({
      clock,
      logger,
      usage: usageSource,
      resources: () => ({ policies: [], budgets: [sandbox] }),
      minIntervalMs: 0,
    });
    await loop.start();
    expect(loop.decisions().budgets.get('default/sandbox')?.action).toBe('allow');

    usageSource.publish(
      snapshot(
        now,
        [usage('default', 'agent', now, { labels: { team: 'research' }, spend: { daily: '12.5' } })],
        2,
      ),
    );
    const result = loop.evaluateNow();
    const state = result.decisions.budgets.get('default/sandbox');
    expect(state?.action).toBe('block');
    expect(state?.spendMicros).toBe(12_500_000);
    expect(result.decisions.workloads.get('default/Deployment/agent')?.action).toBe('block');

    const [withStatus] = loop.budgets();
    expect(withStatus?.status?.spend).toBe('12.500000');
    expect(withStatus?.status?.state).toBe('Blocked');
    expect(withStatus?.status?.alertHistory?.map((a) => a.percentage)).toEqual([50]);

    const audited = logger.records.filter((r) => r['audit'] === true).map((r) => r['event']);
    expect(audited).toContain('AlertFired');
    await loop.shutdown();
    await loop.shutdown();
  });
});
