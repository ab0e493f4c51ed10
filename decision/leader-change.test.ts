// A new leader continues from the status its predecessor wrote: it must not announce again what has
// already started (issue 12 item 9: EnforcementStarted was emitted on every leader change).
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../kernel/clock.ts';
import { createDecisionEngine } from './engine.ts';
import { buildBudgetStatus, memoryFromStatuses } from './status.ts';
import { budget, harness, snapshot, usage } from './test-fixtures.ts';

describe('a leader change', () => {
  it('does not start enforcement again from the status the old leader wrote', () => {
    const labels = { team: 'a' };
    const b = budget('money', {
      allocation: { amount: 10 },
      enforcement: { onBudgetExceeded: 'throttle' },
      selector: { matchLabels: labels },
    });
    const h = harness('2025-03-20T12:00:00Z');
    const first = h.run({ budgets: [b], usage: { chat: { labels, spend: { monthly: 11 } } } });
    expect(first.events.map((e) => e.type)).toContain('EnforcementStarted');
    const state = first.decisions.budgets.get('ai/money')!;
    const status = buildBudgetStatus({
      budget: b,
      state,
      memory: first.memory.budgets.get('ai/money')!,
      snapshot: snapshot(h.clock.now(), [
        usage('ai', 'chat', h.clock.now(), { labels, spend: { monthly: 11 } }),
      ]),
      previous: undefined,
      now: h.clock.now(),
    });
    // The new leader: another engine, memory read back from that status, a few seconds later.
    const clock = createManualClock(h.clock.now() + 5000);
    const engine = createDecisionEngine({ clock });
    const restored = { ...b, status };
    const now = clock.now();
    const result = engine.evaluate({
      snapshot: snapshot(now, [usage('ai', 'chat', now, { labels, spend: { monthly: 11 } })]),
      budgets: [restored],
      policies: [],
      memory: memoryFromStatuses([restored], []),
    });
    expect(result.decisions.budgets.get('ai/money')?.action).toBe('throttle');
    expect(result.events.map((e) => e.type)).not.toContain('EnforcementStarted');
  });
});
