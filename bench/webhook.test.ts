import { describe, expect, it } from 'vitest';
import { runWebhookBench } from './webhook.ts';

describe('webhook benchmark', () => {
  it('sends Pod-create reviews over HTTPS and measures them server-side', async () => {
    const result = await runWebhookBench({ durationMs: 1000, warmupMs: 300, rate: 60, ingest: false });
    expect(result.name).toBe('webhook');
    expect(result.errors).toBe(0);
    expect(result.reviewsPerSecond).toBeGreaterThan(30);
    expect(result.p99Ms).toBeGreaterThan(0);
    expect(Number.isFinite(result.p99Ms)).toBe(true);
    expect(result.p50Ms).toBeLessThanOrEqual(result.p99Ms);
  });
});
