import { describe, expect, it } from 'vitest';
import { createManualClock } from '../kernel/clock.ts';
import { createWatchHealth } from './watch-health.ts';

describe('watch health', () => {
  it('calls a watch dead only after it failed without a success for longer than allowed', () => {
    const clock = createManualClock(1_000_000);
    const restarts: string[] = [];
    const health = createWatchHealth({ restart: (r) => restarts.push(r) }, clock, 5000);
    expect(health.dead()).toEqual([]);
    health.metrics.restart('aibudgets');
    clock.advance(3000);
    health.metrics.restart('aibudgets'); // still the first failure's time
    clock.advance(2000);
    expect(health.dead()).toEqual([]); // exactly the allowed time: not yet
    clock.advance(1);
    expect(health.dead()).toEqual([{ resource: 'aibudgets', failingForMs: 5001 }]);
    // The metrics still count every restart.
    expect(restarts).toEqual(['aibudgets', 'aibudgets']);
    // One successful list and it is alive again; another resource's success does not count.
    health.metrics.healthy?.('aipolicies');
    expect(health.dead().map((d) => d.resource)).toEqual(['aibudgets']);
    health.metrics.healthy?.('aibudgets');
    expect(health.dead()).toEqual([]);
  });
});
