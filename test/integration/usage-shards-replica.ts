// A replica's usage state as its own process, for usage-shards.test.ts: the real windows, write-ahead
// log, journal and usage store against the API server, driven by lines on stdin, so the test can
// kill -9 it (between two shard writes, too) and start it again on the same log directory.
//
// Commands (one per line; each answers one JSON line on stdout):
//   charge <from> <to> <round>   charges workloads from..to-1 one span each (cost costOf(i, round)),
//                                 answered once every span's log entry is durable (acknowledged)
//   charge-shard <s> <n> <round> <to>  the same for the workloads below `to` in shard s of n
//   flush                        writes the usage record (the shards that changed)
//   crash-after <k>              flush, and SIGKILL this process after k shard writes
//   dump <file> [merged]         writes each workload's monthly cost (own windows, or merged view)
//   stop                         graceful shutdown (record flushed)

import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi, type KubeApi } from '../../cluster/api.ts';
import { createPeriodCalendar } from '../../decision/period.ts';
import { createUsageStore } from '../../enforcer/state/usage-store.ts';
import { shardOf } from '../../enforcer/state/usage-shards.ts';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { PartialAggregate, SenderIdentity, UsageGroup } from '../../pipeline/partial.ts';
import { SPAN_RECORD_WIDTH } from '../../pipeline/partial.ts';
import { createUsageJournal } from '../../pipeline/wal/journal.ts';
import { openWal } from '../../pipeline/wal/wal.ts';
import { createUsageWindows } from '../../pipeline/windows/windows.ts';

const [kubeconfig, namespace, replicaId, walDir] = process.argv.slice(2) as [string, string, string, string];

/** The cost of workload i's span in a round: distinct per workload and round, integer micro-USD. */
export function costOf(i: number, round: number): number {
  return 1000 + (i % 977) * 13 + round * 100_003;
}

export function workloadName(i: number): string {
  return `w-${i}`;
}

export const NAMESPACE_OF = (i: number): string => `shard-ns-${i % 50}`;

const BATCH = 1000;

async function main(): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const real = createKubeApi({ kubeConfig: kc, logger: silentLogger, writeQps: 50, writeBurst: 100 });
  let killAfter: number | undefined;
  // The store's writes, counted: `crash-after k` dies right after the k-th shard write.
  const api: KubeApi = {
    ...real,
    async create(rt, ns, body) {
      const out = await real.create(rt, ns, body);
      wrote();
      return out;
    },
    async replace(rt, ns, name, body) {
      const out = await real.replace(rt, ns, name, body);
      wrote();
      return out;
    },
  };
  function wrote(): void {
    if (killAfter === undefined) return;
    killAfter--;
    if (killAfter <= 0) process.kill(process.pid, 'SIGKILL');
  }
  const windows = createUsageWindows({ clock: systemClock, maxWorkloads: 500_000, publishIntervalMs: 1 });
  const wal = await openWal({ dir: walDir, clock: systemClock, logger: silentLogger });
  const journal = createUsageJournal({ wal, windows, logger: silentLogger });
  const store = createUsageStore({
    api,
    namespace,
    replicaId,
    windows,
    clock: systemClock,
    calendar: createPeriodCalendar('UTC'),
    logger: silentLogger,
    // Written only when told: the test decides where a crash falls.
    writeIntervalMs: 3_600_000,
    journal,
  });
  await store.start();
  await store.waitForSync(30_000);
  const restored = await store.restore();
  const replayed = await journal.replay(store.restoredWal());
  await windows.start();
  const say = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  say({ ready: true, restored, replayed: replayed.charged, shards: store.shardCount() });

  let spanKey = 1 + Math.floor(Math.random() * 1e9);
  const chargeList = async (list: readonly number[], round: number): Promise<void> => {
    const pending: Promise<void>[] = [];
    for (let start = 0; start < list.length; start += BATCH) {
      const end = Math.min(list.length, start + BATCH);
      const identities: SenderIdentity[] = [];
      const groups: UsageGroup[] = [];
      const spans = new Float64Array((end - start) * SPAN_RECORD_WIDTH);
      for (let j = start; j < end; j++) {
        const i = list[j]!;
        const cost = costOf(i, round);
        const g = j - start;
        identities.push({
          namespace: NAMESPACE_OF(i),
          workloadKind: 'Deployment',
          workloadName: workloadName(i),
          labels: { team: `t${i % 10}` },
        });
        groups.push({
          identity: g,
          provider: 'openai',
          model: 'gpt-4o',
          classification: '',
          requests: 1,
          inputTokens: 10,
          outputTokens: 5,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
          costMicros: cost,
          unpriced: false,
          maxRequestCostMicros: cost,
        });
        const key = spanKey++;
        spans.set([key >>> 0, (key * 2654435761) >>> 0, g, cost, 10, 5, 0, 0], g * SPAN_RECORD_WIDTH);
      }
      const partial: PartialAggregate = {
        identities,
        groups,
        safety: [],
        spans,
        spansTotal: end - start,
        spansCharged: end - start,
        spansRejected: 0,
        rejectMessage: '',
      };
      pending.push(journal.record(windows.apply(partial, { peer: undefined })));
    }
    await Promise.all(pending);
  };

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [cmd, a, b, c] = line.trim().split(/\s+/);
    if (cmd === 'charge') {
      const list: number[] = [];
      for (let i = Number(a); i < Number(b); i++) list.push(i);
      await chargeList(list, Number(c));
      say({ acked: list.length });
    } else if (cmd === 'charge-shard') {
      const list: number[] = [];
      const to = Number(line.trim().split(/\s+/)[4]);
      for (let i = 0; i < to; i++) {
        const ref = { namespace: NAMESPACE_OF(i), kind: 'Deployment', name: workloadName(i) };
        if (shardOf(ref, Number(b)) === Number(a)) list.push(i);
      }
      await chargeList(list, Number(c));
      say({ acked: list.length });
    } else if (cmd === 'flush') {
      windows.publish();
      await store.flush();
      say({ flushed: true, shards: store.shardCount() });
    } else if (cmd === 'crash-after') {
      killAfter = Number(a);
      windows.publish();
      await store.flush();
      say({ flushed: true, survived: true });
    } else if (cmd === 'dump') {
      windows.publish();
      const snap = b === 'merged' ? store.merged.current() : windows.current();
      const out: Record<string, number> = {};
      for (const [k, w] of snap.workloads) out[k] = w.spend.monthly.costMicros;
      writeFileSync(a!, JSON.stringify(out));
      say({ dumped: snap.workloads.size, others: store.others().length });
    } else if (cmd === 'stop') {
      await store.shutdown();
      await windows.shutdown();
      await journal.close();
      say({ stopped: true });
      // The API client's keep-alive sockets and stdin would keep the process alive.
      process.exit(0);
    }
  }
}

if (process.argv[1]?.endsWith('usage-shards-replica.ts')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
    process.exit(1);
  });
}
