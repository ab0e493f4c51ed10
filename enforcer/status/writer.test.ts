import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../kernel/logger.ts';
import type { KubeApi, PatchOptions } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { canonicalStatus, createStatusWriter } from './writer.ts';

interface Call {
  name: string;
  body: unknown;
  options: PatchOptions;
}

/** Records PATCH calls; nothing else is used by the writer. */
function fakeApi(): KubeApi & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    patch: (_rt: unknown, _ns: unknown, name: string, body: unknown, options: PatchOptions) => {
      calls.push({ name, body, options });
      return Promise.resolve({} as never);
    },
  } as unknown as KubeApi & { calls: Call[] };
}

const target = { resource: RESOURCES.aiBudget, namespace: 'ns', name: 'b' };
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('status writer', () => {
  it('writes at once, then at most once per interval with the latest status, as a merge patch on /status', async () => {
    const api = fakeApi();
    const w = createStatusWriter({
      api,
      logger: silentLogger,
      minIntervalMs: 80,
      canWrite: () => true,
      observed: () => undefined,
    });
    w.set(target, { spend: '1.000000' });
    await tick(10);
    for (let i = 2; i <= 10; i++) w.set(target, { spend: `${i}.000000` });
    await tick(20);
    expect(api.calls).toHaveLength(1);
    await tick(100);
    expect(api.calls).toHaveLength(2);
    expect(api.calls[1]!.body).toEqual({ status: { spend: '10.000000' } });
    expect(api.calls[1]!.options).toMatchObject({ type: 'merge', subresource: 'status' });
    await w.shutdown();
  });

  it('does not write what the server already has, ignoring lastUpdated', async () => {
    const api = fakeApi();
    const w = createStatusWriter({
      api,
      logger: silentLogger,
      minIntervalMs: 10,
      canWrite: () => true,
      observed: () => ({
        spend: '1.000000',
        lastUpdated: '2025-01-01T00:00:00Z',
        conditions: [{ type: 'Ready' }],
      }),
    });
    w.set(target, {
      conditions: [{ type: 'Ready' }],
      lastUpdated: '2025-02-02T00:00:00Z',
      spend: '1.000000',
    });
    await w.flush();
    expect(api.calls).toHaveLength(0);
    expect(w.pending()).toBe(0);
  });

  it('writes only while leading, and removes fields that are gone with null', async () => {
    const api = fakeApi();
    let leading = false;
    const w = createStatusWriter({
      api,
      logger: silentLogger,
      minIntervalMs: 10,
      canWrite: () => leading,
      observed: () => ({ spend: '1.000000', state: 'Exceeded' }),
    });
    w.set(target, { spend: '2.000000' });
    await w.flush();
    expect(api.calls).toHaveLength(0);
    leading = true;
    await w.flush();
    expect(api.calls).toHaveLength(1);
    expect(api.calls[0]!.body).toEqual({ status: { spend: '2.000000', state: null } });
  });

  it('compares statuses independent of key order', () => {
    expect(canonicalStatus({ a: 1, b: { d: 2, c: 3 } })).toBe(canonicalStatus({ b: { c: 3, d: 2 }, a: 1 }));
  });
});
