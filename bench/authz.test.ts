import { describe, expect, it } from 'vitest';
import { runAuthzBench } from './authz.ts';

describe('authz benchmark', () => {
  for (const protocol of ['grpc', 'http'] as const) {
    it(`sends ${protocol} checks at a fixed rate and measures them server-side`, async () => {
      const result = await runAuthzBench({
        protocol,
        durationMs: 1000,
        warmupMs: 300,
        rate: 100,
        ingest: false,
      });
      expect(result.name).toBe(`authz-${protocol}`);
      expect(result.errors).toBe(0);
      expect(result.dropped).toBe(0);
      expect(result.checksPerSecond).toBeGreaterThan(50);
      // One in eight teams of the realistic view is over its budget.
      expect(result.denied).toBeGreaterThan(0);
      expect(result.denied).toBeLessThan(result.checksPerSecond);
      expect(Number.isFinite(result.p99Ms)).toBe(true);
      expect(result.p50Ms).toBeLessThanOrEqual(result.p99Ms);
      expect(result.mainLoopDelayP99Ms).toBeGreaterThan(0);
    });
  }

  it('measures the authz thread and the node:http2 floor the same way', async () => {
    const base = { protocol: 'grpc', durationMs: 1000, warmupMs: 300, rate: 100, ingest: false } as const;
    const thread = await runAuthzBench({ ...base, thread: true });
    expect(thread.name).toBe('authz-grpc-thread');
    expect(thread.errors).toBe(0);
    expect(thread.checksPerSecond).toBeGreaterThan(50);
    expect(thread.denied).toBeGreaterThan(0);
    const echo = await runAuthzBench({ ...base, echo: true });
    expect(echo.name).toBe('authz-grpc-echo');
    expect(echo.errors).toBe(0);
    expect(echo.checksPerSecond).toBeGreaterThan(50);
    // The floor decides nothing.
    expect(echo.denied).toBe(0);
  });
});
