// Usage that survives restarts and is summed across replicas, on the real API server with the
// operator's identity: each replica persists its record (ConfigMap genops-usage-<replica>), every
// replica's merged view counts each record once, a restarted replica continues its period, records of
// ended periods stop counting and are garbage-collected.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPeriodCalendar } from '../../decision/period.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { decodeRecord } from '../../enforcer/state/usage-record.ts';
import {
  createUsageStore,
  usageRecordName,
  type ConfigMapObject,
  type UsageStore,
} from '../../enforcer/state/usage-store.ts';
import { createManualClock, type ManualClock } from '../../kernel/clock.ts';
import { createUsageWindows, type UsageWindows } from '../../pipeline/windows/windows.ts';
import {
  apiFor,
  charge,
  eventually,
  kubeconfigPath,
  OPERATOR_NAMESPACE,
  operatorKubeconfigPath,
  prepareCluster,
  testLogger,
  uniqueName,
} from './enforcer-harness.ts';

const workload = { namespace: 'team-a', kind: 'Deployment', name: 'chat', labels: { team: 'a' } };
const KEY = 'team-a/Deployment/chat';

describe('usage records across replicas and restarts', () => {
  let admin: KubeApi;
  let operator: KubeApi;
  let clock: ManualClock;
  const started: Array<{ store: UsageStore; windows: UsageWindows }> = [];
  const prefix = uniqueName('rep');

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    operator = apiFor(operatorKubeconfigPath());
    await prepareCluster(admin);
    clock = createManualClock(Date.parse('2031-05-14T10:00:00Z'));
  });
  afterAll(async () => {
    for (const s of started.splice(0)) {
      await s.store.shutdown();
      await s.windows.shutdown();
    }
    for (const id of ['a', 'b'])
      await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, usageRecordName(`${prefix}-${id}`));
  });

  async function replica(id: string): Promise<{ store: UsageStore; windows: UsageWindows }> {
    const windows = createUsageWindows({ clock, publishIntervalMs: 1 });
    await windows.start();
    const store = createUsageStore({
      api: operator,
      namespace: OPERATOR_NAMESPACE,
      replicaId: `${prefix}-${id}`,
      windows,
      clock,
      calendar: createPeriodCalendar('UTC'),
      logger: testLogger(),
      writeIntervalMs: 100,
    });
    const restored = await store.restore();
    await store.start();
    expect(await store.waitForSync(10_000)).toBe(true);
    const r = { store, windows, restored };
    started.push(r);
    return r;
  }

  const monthly = (s: UsageStore) => s.merged.current().workloads.get(KEY)?.spend.monthly;

  it('sums replicas once, continues after a restart, drops ended periods and collects expired records', async () => {
    const a = await replica('a');
    const b = await replica('b');
    charge(a.windows, workload, 3_000_000, 3);
    charge(b.windows, workload, 2_000_001, 2);
    a.windows.publish();
    b.windows.publish();
    await a.store.flush();
    await b.store.flush();

    // Each replica: its own live windows + the other's record; never its own record twice.
    for (const r of [a, b]) {
      const m = await eventually('both records merged', () => {
        const s = monthly(r.store);
        return s?.costMicros === 5_000_001 ? s : undefined;
      });
      expect(m.requests).toBe(5);
    }
    const cm = await admin.get<ConfigMapObject>(
      RESOURCES.configMap,
      OPERATOR_NAMESPACE,
      usageRecordName(`${prefix}-a`),
    );
    expect(cm?.metadata?.labels?.['genops.ai/usage-record']).toBe('true');
    expect(cm?.binaryData?.['usage.json.gz']).toBeDefined();

    // Restart of replica a (graceful: its record is flushed), same replica id: the period continues.
    charge(a.windows, workload, 500_000, 1);
    a.windows.publish();
    started.splice(started.indexOf(a), 1);
    await a.store.shutdown();
    await a.windows.shutdown();
    const a2 = await replica('a');
    expect(a2.windows.current().workloads.get(KEY)?.spend.monthly.costMicros).toBe(3_500_000);
    charge(a2.windows, workload, 1_000_000, 1);
    a2.windows.publish();
    expect(monthly(a2.store)?.costMicros).toBe(6_500_001);
    await a2.store.flush();
    await eventually('b sees the restarted replica', () =>
      monthly(b.store)?.costMicros === 6_500_001 ? true : undefined,
    );

    // Next month: the monthly spend of every record is over; the year is not.
    clock.set(Date.parse('2031-06-01T00:00:01Z'));
    expect(monthly(a2.store)?.costMicros ?? 0).toBe(0);
    expect(a2.store.merged.current().workloads.get(KEY)?.spend.yearly.costMicros).toBe(6_500_001);
    await a2.store.collectGarbage();
    expect(
      await admin.get(RESOURCES.configMap, OPERATOR_NAMESPACE, usageRecordName(`${prefix}-b`)),
    ).toBeDefined();

    // Next year: b stopped long ago; its record has no current period left and goes.
    started.splice(started.indexOf(b), 1);
    await b.store.shutdown();
    await b.windows.shutdown();
    clock.set(Date.parse('2032-01-01T00:00:01Z'));
    // (Other tests' records may be collected too; b's goes once a2's cache has its last version.)
    await eventually('a2 collects the record of b', async () => {
      await a2.store.collectGarbage();
      const left = await admin.get(RESOURCES.configMap, OPERATOR_NAMESPACE, usageRecordName(`${prefix}-b`));
      return left === undefined ? true : undefined;
    });
    // Its own record is never collected by itself.
    expect(
      await admin.get(RESOURCES.configMap, OPERATOR_NAMESPACE, usageRecordName(`${prefix}-a`)),
    ).toBeDefined();
  });

  it('writes nothing before its own record was read back (a restart never overwrites it first)', async () => {
    const id = `${prefix}-c`;
    const name = usageRecordName(id);
    await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, name);
    const windows = createUsageWindows({ clock, publishIntervalMs: 1 });
    await windows.start();
    const store = createUsageStore({
      api: operator,
      namespace: OPERATOR_NAMESPACE,
      replicaId: id,
      windows,
      clock,
      calendar: createPeriodCalendar('UTC'),
      logger: testLogger(),
      writeIntervalMs: 50,
    });
    try {
      await store.start();
      charge(windows, workload, 1, 1);
      windows.publish();
      await new Promise((r) => setTimeout(r, 400));
      expect(await admin.get(RESOURCES.configMap, OPERATOR_NAMESPACE, name)).toBeUndefined();
      expect(await store.restore()).toBe(false);
      await eventually('record written after restore', async () =>
        (await admin.get(RESOURCES.configMap, OPERATOR_NAMESPACE, name)) === undefined ? undefined : true,
      );
    } finally {
      await store.shutdown();
      await windows.shutdown();
      await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, name);
    }
  });

  it('writes its record again when someone deletes it while the replica runs (no 404 forever)', async () => {
    const id = `${prefix}-d`;
    const name = usageRecordName(id);
    const r = await replica('d');
    try {
      charge(r.windows, workload, 700_000, 1);
      r.windows.publish();
      await r.store.flush();
      expect(await admin.get(RESOURCES.configMap, OPERATOR_NAMESPACE, name)).toBeDefined();
      await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, name);
      // The next writes must not keep failing on the vanished resourceVersion.
      charge(r.windows, workload, 300_000, 1);
      r.windows.publish();
      const back = await eventually('record written again', async () => {
        const cm = await admin.get<ConfigMapObject>(RESOURCES.configMap, OPERATOR_NAMESPACE, name);
        const data = cm?.binaryData?.['usage.json.gz'];
        if (data === undefined) return undefined;
        const rec = decodeRecord(Buffer.from(data, 'base64'));
        return rec?.spend.workloads.find((w) => w.ref.name === workload.name)?.spend.monthly?.costMicros;
      });
      // Everything the replica holds, not only what came after the deletion.
      expect(back).toBe(1_000_000);
    } finally {
      started.splice(started.indexOf(r), 1);
      await r.store.shutdown();
      await r.windows.shutdown();
      await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, name);
    }
  });
  it('merges the other replicas only when a reader asks for the merged snapshot, not on every publish', async () => {
    const id = `${prefix}-e`;
    const windows = createUsageWindows({ clock, publishIntervalMs: 1 });
    await windows.start();
    let merges = 0;
    const store = createUsageStore({
      api: operator,
      namespace: OPERATOR_NAMESPACE,
      replicaId: id,
      windows,
      clock,
      calendar: createPeriodCalendar('UTC'),
      logger: testLogger(),
      writeIntervalMs: 3_600_000,
      metrics: { usageRecordWrite: () => undefined, usageRecordsMerged: () => void merges++ },
    });
    try {
      await store.restore();
      await store.start();
      expect(await store.waitForSync(10_000)).toBe(true);
      let told = 0;
      const stop = store.merged.changed?.(() => void told++);
      expect(stop).toBeDefined();
      for (let i = 0; i < 20; i++) {
        charge(windows, workload, 1, 1);
        windows.publish();
      }
      // Every publish is told, none merged: the reader had not asked yet.
      expect(told).toBeGreaterThanOrEqual(20);
      expect(merges).toBe(0);
      expect(store.merged.current().workloads.get(KEY)?.spend.monthly.costMicros).toBeGreaterThanOrEqual(20);
      expect(merges).toBe(1);
      stop?.();
    } finally {
      await store.shutdown();
      await windows.shutdown();
      await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, usageRecordName(id));
    }
  });
});
