import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import type { PartialAggregate, SenderIdentity, UsageGroup } from '../partial.ts';
import { SPAN_RECORD_WIDTH } from '../partial.ts';
import { periodBounds } from './periods.ts';
import { createUsageWindows } from './windows.ts';
import { costOverrideFromPolicies } from './cost-override.ts';
import { createPriceBook } from '../pricing/price-book.ts';
import { costMicros } from '../pricing/price.ts';
import type { AIPolicy } from '../../crds/index.ts';
import type { IngestMetrics } from '../ingest-metrics.ts';
import { noopIngestMetrics } from '../ingest-metrics.ts';

interface SpanSpec {
  key: number;
  cost: number;
  input?: number;
  output?: number;
  cache?: number;
  reasoning?: number;
}

/** Builds a worker result the way the workers do: one group, span records that sum to it. */
function partialOf(
  identity: SenderIdentity,
  spans: SpanSpec[],
  extra: Partial<UsageGroup> = {},
  safety: PartialAggregate['safety'] = [],
): PartialAggregate {
  const records = new Float64Array(spans.length * SPAN_RECORD_WIDTH);
  spans.forEach((s, i) => {
    records.set(
      [
        s.key >>> 0,
        (s.key * 7919) >>> 0,
        0,
        s.cost,
        s.input ?? 0,
        s.output ?? 0,
        s.cache ?? 0,
        s.reasoning ?? 0,
      ],
      i * SPAN_RECORD_WIDTH,
    );
  });
  const sum = (f: (s: SpanSpec) => number) => spans.reduce((a, s) => a + f(s), 0);
  const group: UsageGroup = {
    identity: 0,
    provider: 'openai',
    model: 'gpt-4o',
    classification: '',
    requests: spans.length,
    inputTokens: sum((s) => s.input ?? 0),
    outputTokens: sum((s) => s.output ?? 0),
    cacheReadTokens: sum((s) => s.cache ?? 0),
    cacheWriteTokens: 0,
    reasoningTokens: sum((s) => s.reasoning ?? 0),
    costMicros: sum((s) => s.cost),
    unpriced: false,
    maxRequestCostMicros: Math.max(0, ...spans.map((s) => s.cost)),
    ...extra,
  };
  return {
    identities: [identity],
    groups: [group],
    safety,
    spans: records,
    spansTotal: spans.length,
    spansCharged: spans.length,
    spansRejected: 0,
    rejectMessage: '',
  };
}

const chat: SenderIdentity = {
  namespace: 'ai',
  workloadKind: 'Deployment',
  workloadName: 'chat',
  labels: { team: 'ml' },
};
const KEY = 'ai/Deployment/chat';

describe('usage windows', () => {
  it('charges every period, the model breakdown and the per-request maximum', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    const w = createUsageWindows({ clock });
    const r = w.apply(
      partialOf(chat, [
        { key: 1, cost: 1500, input: 100, output: 10 },
        { key: 2, cost: 2500, input: 200, output: 20, cache: 50, reasoning: 5 },
      ]),
      { peer: undefined },
    );
    expect(r).toMatchObject({ charged: 2, duplicates: 0 });
    const u = w.publish().workloads.get(KEY)!;
    expect(u.ref).toEqual({ namespace: 'ai', kind: 'Deployment', name: 'chat' });
    expect(u.labels).toEqual({ team: 'ml' });
    for (const k of ['daily', 'weekly', 'monthly', 'quarterly', 'yearly'] as const) {
      expect(u.spend[k].costMicros).toBe(4000);
      expect(u.spend[k].requests).toBe(2);
    }
    expect(u.spend.daily.start).toBe(Date.UTC(2026, 4, 13));
    expect(u.spend.daily.end).toBe(Date.UTC(2026, 4, 14));
    expect(u.maxRequestCostMicrosToday).toBe(2500);
    expect(u.requestsLastMinute).toBe(2);
    expect(u.requestsLastHour).toBe(2);
    expect(u.models).toEqual([
      {
        provider: 'openai',
        model: 'gpt-4o',
        costMicros: 4000,
        requests: 2,
        inputTokens: 300,
        outputTokens: 30,
        cacheReadTokens: 50,
        cacheWriteTokens: 0,
        reasoningTokens: 5,
        unpriced: false,
        lastUsed: clock.now(),
      },
    ]);
    expect(u.classifications).toEqual(['']);
    expect(u.lastSeen).toBe(clock.now());
  });

  it('drops retried spans and subtracts duplicates from their group', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    let deduped = 0;
    const metrics: IngestMetrics = { ...noopIngestMetrics, spansDeduplicated: (n) => (deduped += n) };
    const w = createUsageWindows({ clock, metrics });
    const batch = partialOf(chat, [
      { key: 1, cost: 1000, input: 10 },
      { key: 2, cost: 2000, input: 20 },
    ]);
    w.apply(batch, { peer: undefined });
    expect(w.apply(batch, { peer: undefined })).toMatchObject({ charged: 0, duplicates: 2 });
    // A retried batch that overlaps: span 2 again plus a new span 3.
    expect(
      w.apply(
        partialOf(chat, [
          { key: 2, cost: 2000, input: 20 },
          { key: 3, cost: 4000, input: 40 },
        ]),
        { peer: undefined },
      ),
    ).toMatchObject({ charged: 1, duplicates: 1 });
    const u = w.publish().workloads.get(KEY)!;
    expect(u.spend.monthly.costMicros).toBe(7000);
    expect(u.spend.monthly.requests).toBe(3);
    expect(u.models[0]!.inputTokens).toBe(70);
    expect(u.requestsLastMinute).toBe(3);
    expect(deduped).toBe(3);
  });

  it('forgets span keys beyond its bounds (count and age)', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    const w = createUsageWindows({ clock, dedupe: { maxKeys: 2, maxAgeMs: 60_000 } });
    w.apply(partialOf(chat, [{ key: 1, cost: 1 }]), { peer: undefined });
    clock.advance(61_000);
    expect(w.apply(partialOf(chat, [{ key: 1, cost: 1 }]), { peer: undefined }).duplicates).toBe(0);
    w.apply(
      partialOf(chat, [
        { key: 2, cost: 1 },
        { key: 3, cost: 1 },
      ]),
      { peer: undefined },
    );
    // key 1 was the oldest of three in a set of two.
    expect(w.apply(partialOf(chat, [{ key: 1, cost: 1 }]), { peer: undefined }).duplicates).toBe(0);
    expect(w.apply(partialOf(chat, [{ key: 3, cost: 1 }]), { peer: undefined }).duplicates).toBe(1);
  });

  it('rolls day, month and quarter at UTC midnight but keeps the week and the year', () => {
    // Tuesday 31 March 2026, one second before midnight UTC.
    const clock = createManualClock(Date.UTC(2026, 2, 31, 23, 59, 59));
    const w = createUsageWindows({ clock });
    w.apply(partialOf(chat, [{ key: 1, cost: 100 }], {}, [{ identity: 0, min: 0.4, sum: 0.4, count: 1 }]), {
      peer: undefined,
    });
    let u = w.publish().workloads.get(KEY)!;
    expect(u.spend.daily.costMicros).toBe(100);
    expect(u.safety).toEqual({ min: 0.4, mean: 0.4, count: 1 });
    const v1 = w.current().version;
    clock.advance(2_000);
    w.tick();
    const snap = w.current();
    expect(snap.version).toBeGreaterThan(v1);
    u = snap.workloads.get(KEY)!;
    expect(u.spend.daily).toMatchObject({ costMicros: 0, requests: 0, start: Date.UTC(2026, 3, 1) });
    expect(u.spend.monthly.costMicros).toBe(0);
    expect(u.spend.quarterly).toMatchObject({
      costMicros: 0,
      start: Date.UTC(2026, 3, 1),
      end: Date.UTC(2026, 6, 1),
    });
    expect(u.spend.weekly).toMatchObject({
      costMicros: 100,
      start: Date.UTC(2026, 2, 30),
      end: Date.UTC(2026, 3, 6),
    });
    expect(u.spend.yearly).toMatchObject({
      costMicros: 100,
      start: Date.UTC(2026, 0, 1),
      end: Date.UTC(2027, 0, 1),
    });
    expect(u.maxRequestCostMicrosToday).toBe(0);
    expect(u.safety).toBeUndefined();
    expect(u.models).toEqual([]);
    expect(u.classifications).toEqual([]);
  });

  it('computes boundaries in the configured time zone', () => {
    // 04:30 UTC on 1 January 2027 is still 31 December 2026 in New York (UTC-5).
    const clock = createManualClock(Date.UTC(2027, 0, 1, 4, 30));
    const w = createUsageWindows({ clock, timeZone: 'America/New_York' });
    w.apply(partialOf(chat, [{ key: 1, cost: 700 }]), { peer: undefined });
    let u = w.publish().workloads.get(KEY)!;
    expect(u.spend.yearly.start).toBe(Date.UTC(2026, 0, 1, 5));
    expect(u.spend.yearly.end).toBe(Date.UTC(2027, 0, 1, 5));
    expect(u.spend.daily.start).toBe(Date.UTC(2026, 11, 31, 5));
    clock.set(Date.UTC(2027, 0, 1, 5, 0, 1));
    w.tick();
    u = w.current().workloads.get(KEY)!;
    expect(u.spend.yearly.costMicros).toBe(0);
    expect(u.spend.yearly.start).toBe(Date.UTC(2027, 0, 1, 5));
  });

  it('knows DST days and Monday weeks', () => {
    // Berlin springs forward on Sunday 29 March 2026: a 23-hour day.
    const day = periodBounds('daily', Date.UTC(2026, 2, 29, 12), 'Europe/Berlin');
    expect(day.start).toBe(Date.UTC(2026, 2, 28, 23));
    expect(day.end - day.start).toBe(23 * 3600_000);
    const fall = periodBounds('daily', Date.UTC(2026, 9, 25, 12), 'Europe/Berlin');
    expect(fall.end - fall.start).toBe(25 * 3600_000);
    // Sunday 29 March belongs to the week starting Monday 23 March.
    const week = periodBounds('weekly', Date.UTC(2026, 2, 29, 12), 'Europe/Berlin');
    expect(week.start).toBe(Date.UTC(2026, 2, 22, 23));
    expect(week.end).toBe(Date.UTC(2026, 2, 29, 22));
    // Kolkata has a half-hour offset; Tokyo's quarter begins 15:00 UTC the day before.
    expect(periodBounds('daily', Date.UTC(2026, 5, 1, 0), 'Asia/Kolkata').start).toBe(
      Date.UTC(2026, 4, 31, 18, 30),
    );
    expect(periodBounds('quarterly', Date.UTC(2026, 6, 15), 'Asia/Tokyo')).toEqual({
      start: Date.UTC(2026, 5, 30, 15),
      end: Date.UTC(2026, 8, 30, 15),
    });
    expect(() => createUsageWindows({ timeZone: 'Mars/Olympus' })).toThrow(RangeError);
  });

  it('slides the minute and hour request windows', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    const w = createUsageWindows({ clock });
    w.apply(
      partialOf(
        chat,
        Array.from({ length: 10 }, (_, i) => ({ key: i + 1, cost: 1 })),
      ),
      { peer: undefined },
    );
    clock.advance(30_000);
    w.apply(partialOf(chat, [{ key: 100, cost: 1 }]), { peer: undefined });
    let u = w.publish().workloads.get(KEY)!;
    expect([u.requestsLastMinute, u.requestsLastHour]).toEqual([11, 11]);
    clock.advance(40_000); // 70 s after the first ten
    w.tick();
    u = w.current().workloads.get(KEY)!;
    expect([u.requestsLastMinute, u.requestsLastHour]).toEqual([1, 11]);
    clock.advance(3_600_000);
    w.tick();
    u = w.current().workloads.get(KEY)!;
    expect([u.requestsLastMinute, u.requestsLastHour]).toEqual([0, 0]);
    expect(u.spend.daily.requests).toBe(11);
  });

  it('prices a workload with its policy override instead of the table', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    const w = createUsageWindows({
      clock,
      costOverride: (a) =>
        a.labels['team'] === 'ml' ? (t) => t.inputTokens * 10 + t.outputTokens * 30 : undefined,
    });
    w.apply(
      partialOf(
        chat,
        [
          { key: 1, cost: 99, input: 100, output: 10 },
          { key: 2, cost: 99, input: 1, output: 1 },
        ],
        { unpriced: true },
      ),
      { peer: undefined },
    );
    w.apply(partialOf({ ...chat, labels: {}, workloadName: 'other' }, [{ key: 3, cost: 99, input: 100 }]), {
      peer: undefined,
    });
    const s = w.publish();
    const u = s.workloads.get(KEY)!;
    expect(u.spend.daily.costMicros).toBe(1300 + 40);
    expect(u.maxRequestCostMicrosToday).toBe(1300);
    expect(u.models[0]!.unpriced).toBe(false);
    expect(s.workloads.get('ai/Deployment/other')!.spend.daily.costMicros).toBe(99);
  });

  it('prices by an AIPolicy costPerToken that sets only input: input at the policy price, output at the table', () => {
    const clock = createManualClock(Date.UTC(2026, 10, 2, 20));
    const book = createPriceBook({ clock });
    const policy = {
      apiVersion: 'genops.ai/v1alpha1',
      kind: 'AIPolicy',
      metadata: { name: 'p', namespace: 'ai' },
      spec: {
        selector: { matchLabels: { team: 'ml' } },
        modelGovernance: { costPerToken: { input: 0.00001 } },
      },
    } as unknown as AIPolicy;
    const override = costOverrideFromPolicies([policy], book);
    expect(override).toBeDefined();
    const w = createUsageWindows({ clock, ...(override === undefined ? {} : { costOverride: override }) });
    w.apply(partialOf(chat, [{ key: 1, cost: 1, input: 1000, output: 200 }]), { peer: undefined });
    const table = book.lookup('openai', 'gpt-4o', clock.now())!;
    const outputAtTable = costMicros(
      { inputTokens: 0, outputTokens: 200, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
      table,
    );
    const u = w.publish().workloads.get(KEY)!;
    // $0.01 for the 1000 input tokens plus the table's price of the 200 output tokens.
    expect(u.spend.daily.costMicros).toBe(10_000 + outputAtTable);
    expect(outputAtTable).toBeGreaterThan(0);
    // Not the worker's table cost (1), and not the input side alone.
    expect(u.spend.daily.costMicros).not.toBe(1);
    expect(u.spend.daily.costMicros).not.toBe(10_000);
    // Another namespace is not selected: the table cost stays.
    w.apply(partialOf({ ...chat, namespace: 'other' }, [{ key: 2, cost: 7, input: 1000 }]), {
      peer: undefined,
    });
    expect(w.publish().workloads.get('other/Deployment/chat')!.spend.daily.costMicros).toBe(7);
  });

  it('exports spend and restores it idempotently into the same periods only', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    const first = createUsageWindows({ clock });
    first.apply(partialOf(chat, [{ key: 1, cost: 5000 }]), { peer: undefined });
    const state = JSON.parse(JSON.stringify(first.export()));
    expect(state.workloads).toHaveLength(1);

    clock.advance(60_000);
    const second = createUsageWindows({ clock });
    second.restore(state);
    second.restore(state);
    second.apply(partialOf(chat, [{ key: 2, cost: 1000 }]), { peer: undefined });
    let u = second.publish().workloads.get(KEY)!;
    expect(u.spend.daily.costMicros).toBe(6000);
    expect(u.spend.yearly.requests).toBe(2);
    expect(u.labels).toEqual({ team: 'ml' });
    expect(second.export().workloads[0]!.spend.monthly).toEqual({ costMicros: 6000, requests: 2 });

    // The next day only the longer periods continue.
    clock.set(Date.UTC(2026, 4, 14, 1));
    const third = createUsageWindows({ clock });
    third.restore(second.export());
    u = third.publish().workloads.get(KEY)!;
    expect(u.spend.daily.costMicros).toBe(0);
    expect(u.spend.weekly.costMicros).toBe(6000);
  });

  it('keeps safety, span classification and the pod label classification per day', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    const w = createUsageWindows({ clock });
    const labelled: SenderIdentity = { ...chat, labels: { 'genops.ai/data-classification': 'internal' } };
    w.apply(partialOf(labelled, [{ key: 1, cost: 1 }], {}, [{ identity: 0, min: 0.7, sum: 1.6, count: 2 }]), {
      peer: undefined,
    });
    w.apply(
      partialOf(labelled, [{ key: 2, cost: 1 }], { classification: 'confidential' }, [
        { identity: 0, min: 0.95, sum: 0.95, count: 1 },
      ]),
      { peer: undefined },
    );
    const u = w.publish().workloads.get(KEY)!;
    expect(u.classifications).toEqual(['internal', 'confidential']);
    expect(u.safety!.min).toBe(0.7);
    expect(u.safety!.count).toBe(3);
    expect(u.safety!.mean).toBeCloseTo(2.55 / 3, 10);
  });

  it('publishes coalesced, immutable snapshots and reports receipt-to-visible latency', async () => {
    const latencies: number[] = [];
    const w = createUsageWindows({
      publishIntervalMs: 30,
      metrics: { ...noopIngestMetrics, visibleLatency: (s) => latencies.push(s) },
    });
    await w.start();
    const seen: number[] = [];
    const off = w.subscribe((s) => seen.push(s.version));
    const before = w.current();
    for (let i = 0; i < 5; i++) {
      w.apply(partialOf(chat, [{ key: 1000 + i, cost: 10 }]), {
        peer: undefined,
        receivedMono: performance.now(),
      });
    }
    // The first batch publishes at once, the other four together one interval later.
    await new Promise((r) => setTimeout(r, 80));
    off();
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.length).toBeLessThanOrEqual(2);
    expect(w.current().workloads.get(KEY)!.spend.daily.costMicros).toBe(50);
    expect(before.workloads.get(KEY)).toBeUndefined();
    expect(latencies).toHaveLength(5);
    expect(Math.max(...latencies)).toBeLessThan(0.08);
    await w.shutdown();
  });

  it('charges new workloads beyond the cap to an overflow workload', () => {
    const w = createUsageWindows({ maxWorkloads: 2 });
    for (let i = 0; i < 4; i++) {
      w.apply(partialOf({ ...chat, workloadName: `w${i}` }, [{ key: i + 1, cost: 10 }]), { peer: undefined });
    }
    const s = w.publish();
    expect([...s.workloads.keys()].sort()).toEqual([
      'ai/Deployment/w0',
      'ai/Deployment/w1',
      'ai/Overflow/other',
    ]);
    expect(s.workloads.get('ai/Overflow/other')!.spend.daily.costMicros).toBe(20);
  });
  it('replays a logged request charging only the workloads the predicate names (a sharded record), keys for all', () => {
    const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
    const live = createUsageWindows({ clock });
    const two: PartialAggregate = {
      ...partialOf(chat, [{ key: 1, cost: 500, input: 10 }]),
      identities: [chat, { ...chat, workloadName: 'other' }],
    };
    const second = partialOf({ ...chat, workloadName: 'other' }, [{ key: 2, cost: 70, input: 1 }]);
    const merged: PartialAggregate = {
      ...two,
      groups: [two.groups[0]!, { ...second.groups[0]!, identity: 1 }],
      spans: Float64Array.from([...two.spans, ...second.spans.map((v, i) => (i === 2 ? 1 : v))]),
      spansCharged: 2,
      spansTotal: 2,
    };
    const delta = live.apply(merged, { peer: undefined }).delta!;
    expect(live.publish().workloads.get(KEY)!.spend.daily.costMicros).toBe(500);

    const restarted = createUsageWindows({ clock });
    restarted.replay(delta, (ref) => ref.name === 'other');
    const s = restarted.publish();
    // chat's shard held the request already: not charged again; other's did not: charged.
    expect(s.workloads.get(KEY)?.spend.daily.costMicros ?? 0).toBe(0);
    expect(s.workloads.get('ai/Deployment/other')!.spend.daily.costMicros).toBe(70);
    // The dedupe keys come back for both: a retry of either span is not charged.
    const retry = restarted.apply(merged, { peer: undefined });
    expect(retry.charged).toBe(0);
    expect(retry.duplicates).toBe(2);
  });
});
