// The journal between the usage windows, the write-ahead log and the usage record, from the side of
// a process that dies: what was acknowledged comes back exactly once, a retry after the restart is
// not charged again, entries the record holds are not charged twice, and the same span ids from
// another sender are still charged.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { PartialAggregate, SenderIdentity } from '../partial.ts';
import { LINK_NO_USAGE, LINK_WIDTH, SPAN_RECORD_WIDTH } from '../partial.ts';
import { createUsageWindows, type UsageWindows } from '../windows/windows.ts';
import { createFileUsageRecord } from './file-record.ts';
import { createUsageJournal, type UsageJournal } from './journal.ts';
import { openWal } from './wal.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'genops-journal-'));
  dirs.push(d);
  return d;
};

const clock = createManualClock(Date.UTC(2026, 4, 13, 12));
const chat: SenderIdentity = {
  namespace: 'team-a',
  workloadKind: 'Deployment',
  workloadName: 'chat',
  labels: {},
};
const other: SenderIdentity = {
  namespace: 'team-b',
  workloadKind: 'Deployment',
  workloadName: 'bot',
  labels: {},
};

function partialOf(identity: SenderIdentity, keys: number[], cost: number): PartialAggregate {
  const spans = new Float64Array(keys.length * SPAN_RECORD_WIDTH);
  keys.forEach((k, i) => spans.set([k, k * 31, 0, cost, 10, 5, 0, 0], i * SPAN_RECORD_WIDTH));
  return {
    identities: [identity],
    groups: [
      {
        identity: 0,
        provider: 'openai',
        model: 'gpt-4o',
        classification: '',
        requests: keys.length,
        inputTokens: 10 * keys.length,
        outputTokens: 5 * keys.length,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        costMicros: cost * keys.length,
        unpriced: false,
        maxRequestCostMicros: cost,
      },
    ],
    safety: [],
    spans,
    spansTotal: keys.length,
    spansCharged: keys.length,
    spansRejected: 0,
    rejectMessage: '',
  };
}

async function processAt(dir: string): Promise<{ windows: UsageWindows; journal: UsageJournal }> {
  const windows = createUsageWindows({ clock, publishIntervalMs: 1 });
  const journal = createUsageJournal({
    wal: await openWal({ dir, clock, logger: silentLogger }),
    windows,
    logger: silentLogger,
  });
  return { windows, journal };
}

const monthly = (w: UsageWindows, key = 'team-a/Deployment/chat') =>
  w.publish().workloads.get(key)?.spend.monthly.costMicros ?? 0;

describe('usage journal', () => {
  it('a crash after the answer loses nothing; the retry after the restart is not charged again', async () => {
    const dir = tempDir();
    const a = await processAt(dir);
    await a.journal.replay(undefined);
    const req = partialOf(chat, [1, 2], 1000);
    await a.journal.record(a.windows.apply(req, { peer: undefined }));
    // (acknowledged here) — then kill -9: no shutdown, no record written.
    const b = await processAt(dir);
    const stats = await b.journal.replay(undefined);
    expect(stats.charged).toBe(1);
    expect(monthly(b.windows)).toBe(2000);
    // The exporter did not see the answer and retries: deduplicated from the replayed keys.
    const retry = b.windows.apply(req, { peer: undefined });
    expect(retry).toMatchObject({ charged: 0, duplicates: 2 });
    await b.journal.record(retry);
    expect(monthly(b.windows)).toBe(2000);
  });

  it('requests without token usage come back from the log flagged as such', async () => {
    const dir = tempDir();
    const a = await processAt(dir);
    await a.journal.replay(undefined);
    const req = partialOf(chat, [7, 8], 0);
    // The worker marks span 8 as one that reported no usage (LINK_NO_USAGE).
    const links = new Float64Array(2 * LINK_WIDTH);
    links[1 * LINK_WIDTH + 2] = LINK_NO_USAGE;
    await a.journal.record(a.windows.apply({ ...req, links }, { peer: undefined }));
    const b = await processAt(dir);
    await b.journal.replay(undefined);
    const model = b.windows.publish().workloads.get('team-a/Deployment/chat')?.models[0];
    expect(model).toMatchObject({ requests: 2, requestsWithoutUsage: 1 });
  });

  it('entries the usage record holds give back their keys only; later ones are charged', async () => {
    const dir = tempDir();
    const a = await processAt(dir);
    await a.journal.replay(undefined);
    await a.journal.record(a.windows.apply(partialOf(chat, [1], 1000), { peer: undefined }));
    // The usage record is written here: export and position in the same tick.
    const position = a.journal.position();
    const record = a.windows.export();
    await a.journal.durable();
    await a.journal.checkpointed(position);
    await a.journal.record(a.windows.apply(partialOf(chat, [2], 500), { peer: undefined }));
    expect(monthly(a.windows)).toBe(1500);

    const b = await processAt(dir);
    b.windows.restore(record);
    await b.journal.replay(position);
    // 1000 from the record, 500 from the log: not 2500.
    expect(monthly(b.windows)).toBe(1500);
    expect(b.windows.apply(partialOf(chat, [1], 1000), { peer: undefined }).duplicates).toBe(1);
    expect(b.windows.apply(partialOf(chat, [2], 500), { peer: undefined }).duplicates).toBe(1);
  });

  it('a record of another log (the pod and its emptyDir were replaced) does not hide entries', async () => {
    const dir = tempDir();
    const a = await processAt(dir);
    await a.journal.replay(undefined);
    await a.journal.record(a.windows.apply(partialOf(chat, [1], 1000), { peer: undefined }));
    const b = await processAt(dir);
    await b.journal.replay({ walId: 'another-log', seq: 99 });
    expect(monthly(b.windows)).toBe(1000);
  });

  it('the same trace and span ids from another sender are charged, and do not cancel the first', async () => {
    const dir = tempDir();
    const a = await processAt(dir);
    await a.journal.replay(undefined);
    await a.journal.record(a.windows.apply(partialOf(chat, [7, 8], 1000), { peer: undefined }));
    const copy = a.windows.apply(partialOf(other, [7, 8], 1000), { peer: undefined });
    expect(copy).toMatchObject({ charged: 2, duplicates: 0 });
    await a.journal.record(copy);
    expect(monthly(a.windows)).toBe(2000);
    expect(monthly(a.windows, 'team-b/Deployment/bot')).toBe(2000);
    // After a restart the keys are still per sender.
    const b = await processAt(dir);
    await b.journal.replay(undefined);
    expect(b.windows.apply(partialOf(other, [7], 1000), { peer: undefined }).duplicates).toBe(1);
    expect(b.windows.apply(partialOf(chat, [9], 1000), { peer: undefined }).duplicates).toBe(0);
  });

  it('an answer waits for the disk: record() resolves only after its entry is durable', async () => {
    const dir = tempDir();
    const a = await processAt(dir);
    await a.journal.replay(undefined);
    const pending = a.journal.record(a.windows.apply(partialOf(chat, [1], 1000), { peer: undefined }));
    let done = false;
    void pending.then(() => (done = true));
    expect(done).toBe(false);
    await pending;
    expect(done).toBe(true);
    // A request that only repeats spans waits for the log too (its original may be in the same batch).
    const dup = a.windows.apply(partialOf(chat, [1], 1000), { peer: undefined });
    expect(dup.delta).toBeUndefined();
    await a.journal.record(dup);
  });

  it('genops local: the usage file and the log together continue the period, once', async () => {
    const dir = tempDir();
    const a = await processAt(dir);
    const fileA = createFileUsageRecord({
      dir,
      windows: a.windows,
      journal: a.journal,
      clock,
      logger: silentLogger,
    });
    await a.journal.replay(await fileA.restore());
    await a.journal.record(a.windows.apply(partialOf(chat, [1], 1000), { peer: undefined }));
    await fileA.flush();
    await a.journal.record(a.windows.apply(partialOf(chat, [2], 300), { peer: undefined }));
    const b = await processAt(dir);
    const fileB = createFileUsageRecord({
      dir,
      windows: b.windows,
      journal: b.journal,
      clock,
      logger: silentLogger,
    });
    await b.journal.replay(await fileB.restore());
    expect(monthly(b.windows)).toBe(1300);
  });
});
