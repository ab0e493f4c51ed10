// 100k workloads in one replica's usage record, on the real API server with the operator's identity:
// the record is cut into shards that each fit a ConfigMap, a charge to one shard's workloads rewrites
// that shard only, a kill -9 between two shard writes loses nothing and doubles nothing (the
// write-ahead log), the record reloads exactly after a restart and merges exactly with a second
// replica's. Each replica is its own process (usage-shards-replica.ts) so the kill is a real SIGKILL.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { decodeRecord } from '../../enforcer/state/usage-record.ts';
import { REPLICA_ANNOTATION, type ConfigMapObject } from '../../enforcer/state/usage-store.ts';
import { shardOf } from '../../enforcer/state/usage-shards.ts';
import {
  apiFor,
  kubeconfigPath,
  OPERATOR_NAMESPACE,
  operatorKubeconfigPath,
  prepareCluster,
  ROOT,
  uniqueName,
} from './enforcer-harness.ts';
import { costOf, NAMESPACE_OF, workloadName } from './usage-shards-replica.ts';

const N = 100_000;
const MAX_CONFIGMAP_BYTES = 1024 * 1024;

const keyOf = (i: number): string => `${NAMESPACE_OF(i)}/Deployment/${workloadName(i)}`;

interface Replica {
  readonly child: ChildProcess;
  readonly lines: Interface;
  send(cmd: string): Promise<Record<string, unknown>>;
  readonly ready: Record<string, unknown>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startReplica(id: string, walDir: string): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'test/integration/usage-shards-replica.ts'),
      operatorKubeconfigPath(),
      OPERATOR_NAMESPACE,
      id,
      walDir,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  let waiter: ((l: string | undefined) => void) | undefined;
  lines.on('line', (l) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(l);
    } else queue.push(l);
  });
  void exited.then(() => {
    if (waiter) waiter(undefined);
    waiter = undefined;
  });
  const next = (timeoutMs: number): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const take = (l: string | undefined): void => {
        clearTimeout(t);
        if (l === undefined) reject(new Error(`replica ${id} exited`));
        else resolve(JSON.parse(l) as Record<string, unknown>);
      };
      const t = setTimeout(() => reject(new Error(`replica ${id}: no answer in ${timeoutMs} ms`)), timeoutMs);
      const l = queue.shift();
      if (l !== undefined) take(l);
      else if (child.exitCode !== null || child.signalCode !== null) take(undefined);
      else waiter = take;
    });
  const ready = await next(60_000);
  return {
    child,
    lines,
    ready,
    exited,
    send(cmd) {
      child.stdin.write(`${cmd}\n`);
      return next(120_000);
    },
  };
}

describe('usage record of 100k workloads in shards', () => {
  let admin: KubeApi;
  const prefix = uniqueName('shards');
  const dirs: string[] = [];
  const running: Replica[] = [];

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
  });
  afterAll(async () => {
    for (const r of running) r.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    const list = await admin.list<ConfigMapObject>(RESOURCES.configMap, { namespace: OPERATOR_NAMESPACE });
    for (const cm of list.items) {
      if (cm.metadata?.annotations?.[REPLICA_ANNOTATION]?.startsWith(prefix))
        await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, cm.metadata.name ?? '');
    }
  });

  const walDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'genops-shards-wal-'));
    dirs.push(d);
    return d;
  };
  const start = async (id: string, dir: string): Promise<Replica> => {
    const r = await startReplica(id, dir);
    running.push(r);
    return r;
  };
  const shardsOf = async (id: string): Promise<ConfigMapObject[]> => {
    const list = await admin.list<ConfigMapObject>(RESOURCES.configMap, {
      namespace: OPERATOR_NAMESPACE,
      labelSelector: 'genops.ai/usage-record=true',
    });
    return list.items.filter((cm) => cm.metadata?.annotations?.[REPLICA_ANNOTATION] === id);
  };
  const dump = async (r: Replica, merged = false): Promise<Record<string, number>> => {
    const file = join(walDir(), 'dump.json');
    await r.send(`dump ${file}${merged ? ' merged' : ''}`);
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
  };
  /** Every key of `expected` with exactly its figure, and no other workload. */
  const expectExactly = (got: Record<string, number>, expected: Map<string, number>): void => {
    let wrong = 0;
    let firstWrong: string | undefined;
    for (const [k, v] of expected) {
      if (got[k] !== v) {
        wrong++;
        firstWrong ??= `${k}: got ${got[k]}, want ${v}`;
      }
    }
    expect(firstWrong).toBeUndefined();
    expect(wrong).toBe(0);
    // The merged view also holds the records other test files' replicas left in the shared control
    // plane: only this test's namespaces are counted for "no other workload".
    expect(Object.keys(got).filter((k) => /^shard-ns-\d+\//.test(k)).length).toBe(expected.size);
  };

  it('persists in shards, rewrites only a changed shard, survives kill -9 mid-write, reloads and merges exactly', async () => {
    const idA = `${prefix}-a`;
    const idB = `${prefix}-b`;
    const dirA = walDir();
    const expectA = new Map<string, number>();
    const add = (m: Map<string, number>, i: number, round: number): void =>
      void m.set(keyOf(i), (m.get(keyOf(i)) ?? 0) + costOf(i, round));

    // 1. 100k workloads charged and acknowledged, then persisted: several shards, each fits.
    let a = await start(idA, dirA);
    expect(a.ready['restored']).toBe(false);
    expect((await a.send(`charge 0 ${N} 1`))['acked']).toBe(N);
    for (let i = 0; i < N; i++) add(expectA, i, 1);
    const flushed = await a.send('flush');
    const count = flushed['shards'] as number;
    expect(count).toBeGreaterThanOrEqual(8);
    const first = await shardsOf(idA);
    expect(first).toHaveLength(count);
    let total = 0;
    let workloads = 0;
    for (const cm of first) {
      const bytes = Buffer.byteLength(JSON.stringify(cm));
      expect(bytes).toBeLessThan(MAX_CONFIGMAP_BYTES);
      total += cm.binaryData?.['usage.json.gz']?.length ?? 0;
      const rec = decodeRecord(Buffer.from(cm.binaryData!['usage.json.gz']!, 'base64'))!;
      expect(rec.shard?.count).toBe(count);
      workloads += rec.spend.workloads.length;
      for (const w of rec.spend.workloads) expect(shardOf(w.ref, count)).toBe(rec.shard?.index);
    }
    expect(workloads).toBe(N);
    // The volume one full write puts on the API server (docs/operations.md sizing).
    console.info(`[usage-shards] ${N} workloads: ${count} shards, ${total} bytes base64 in total`);

    // 2. Spend on the workloads of one shard: that shard is written, no other.
    const before = new Map(first.map((cm) => [cm.metadata!.name!, cm.metadata!.resourceVersion!]));
    const one = (await a.send(`charge-shard 3 ${count} 2 ${N}`))['acked'] as number;
    expect(one).toBeGreaterThan(0);
    for (let i = 0; i < N; i++) {
      const ref = { namespace: NAMESPACE_OF(i), kind: 'Deployment', name: workloadName(i) };
      if (shardOf(ref, count) === 3) add(expectA, i, 2);
    }
    await a.send('flush');
    const after = await shardsOf(idA);
    const changed = after.filter((cm) => before.get(cm.metadata!.name!) !== cm.metadata!.resourceVersion);
    expect(
      changed.map(
        (cm) => decodeRecord(Buffer.from(cm.binaryData!['usage.json.gz']!, 'base64'))?.shard?.index,
      ),
    ).toEqual([3]);

    // 3. Every workload charged again (acknowledged: in the log), then kill -9 after 5 of the shard writes.
    expect((await a.send(`charge 0 ${N} 3`))['acked']).toBe(N);
    for (let i = 0; i < N; i++) add(expectA, i, 3);
    a.child.stdin!.write('crash-after 5\n');
    const died = await a.exited;
    expect(died.signal).toBe('SIGKILL');
    running.splice(running.indexOf(a), 1);
    // Some shards hold round 3, the others do not: the log makes up the difference per shard.
    const mixed = await shardsOf(idA);
    const positions = new Set(
      mixed.map((cm) => decodeRecord(Buffer.from(cm.binaryData!['usage.json.gz']!, 'base64'))?.wal?.seq),
    );
    // (Round 1's, round 2's for the shard written then, round 3's for the five.)
    expect(positions.size).toBeGreaterThanOrEqual(2);

    // 4. Restart on the same log: exactly what was acknowledged, nothing twice.
    a = await start(idA, dirA);
    expect(a.ready['restored']).toBe(true);
    expect(a.ready['shards']).toBe(count);
    expectExactly(await dump(a), expectA);

    // 5. A second replica charges the same workloads: each one's view is the exact sum of both.
    const b = await start(idB, walDir());
    const expectB = new Map<string, number>();
    expect((await b.send(`charge 0 ${N} 4`))['acked']).toBe(N);
    for (let i = 0; i < N; i++) add(expectB, i, 4);
    await b.send('flush');
    await a.send('flush');
    const sum = new Map<string, number>();
    for (const [k, v] of expectA) sum.set(k, v + (expectB.get(k) ?? 0));
    for (const r of [a, b]) {
      let got: Record<string, number> = {};
      for (let tries = 0; tries < 50; tries++) {
        got = await dump(r, true);
        if (got[keyOf(N - 1)] === sum.get(keyOf(N - 1)) && got[keyOf(0)] === sum.get(keyOf(0))) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      expectExactly(got, sum);
    }

    // 6. Graceful restart: the record alone holds everything (the log charges nothing again).
    await a.send('stop');
    await a.exited;
    running.splice(running.indexOf(a), 1);
    a = await start(idA, dirA);
    expect(a.ready['replayed']).toBe(0);
    expectExactly(await dump(a), expectA);
    // No stale shard of another count is left behind.
    expect(await shardsOf(idA)).toHaveLength(count);
    await a.send('stop');
    await b.send('stop');
  }, 600_000);
});
