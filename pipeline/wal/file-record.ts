// Owns the usage record of a process without a cluster (`genops local --wal-dir`): the windows'
// export plus the write-ahead log position it holds, written atomically (temp file, fsync, rename)
// to `usage.json` next to the log every few seconds and at shutdown, then the log may prune. At start
// it is restored into the windows before the log is replayed, as the ConfigMap record is in a cluster.

import { open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { SpendState, UsageWindows } from '../windows/windows.ts';
import type { UsageJournal, WalCheckpoint } from './journal.ts';

const FILE = 'usage.json';
const VERSION = 1;

interface FileRecord {
  readonly version: number;
  readonly writtenAt: number;
  readonly spend: SpendState;
  readonly wal: WalCheckpoint;
}

export interface FileUsageRecord extends Component {
  /** Restores the record into the windows; returns the log position it holds. Call before replay. */
  restore(): Promise<WalCheckpoint | undefined>;
  flush(): Promise<void>;
}

export function createFileUsageRecord(options: {
  dir: string;
  windows: Pick<UsageWindows, 'export' | 'restore' | 'current'>;
  journal: Pick<UsageJournal, 'position' | 'durable' | 'checkpointed'>;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
}): FileUsageRecord {
  const { dir, windows, journal, clock } = options;
  const log = options.logger.child({ component: 'file-usage-record' });
  const path = join(dir, FILE);
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let writtenVersion = -1;

  async function write(): Promise<void> {
    const version = windows.current().version;
    const position = journal.position();
    const record: FileRecord = {
      version: VERSION,
      writtenAt: clock.now(),
      spend: windows.export(),
      wal: position,
    };
    await journal.durable();
    const tmp = `${path}.tmp`;
    await writeFile(tmp, JSON.stringify(record), { flush: true });
    await rename(tmp, path);
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    writtenVersion = version;
    await journal.checkpointed(position);
  }

  const flush = (): Promise<void> => {
    writing ??= write().finally(() => {
      writing = undefined;
    });
    return writing;
  };

  return {
    async restore() {
      let raw: string;
      try {
        raw = await readFile(path, 'utf8');
      } catch {
        return undefined;
      }
      const r = JSON.parse(raw) as Partial<FileRecord>;
      if (r.version !== VERSION || r.spend === undefined || r.wal === undefined) {
        log.warn('usage file not understood; replaying the whole log instead', { path });
        return undefined;
      }
      windows.restore(r.spend);
      return r.wal;
    },
    flush,
    start() {
      timer = setInterval(() => {
        if (windows.current().version === writtenVersion) return;
        flush().catch((err: unknown) => log.warn('usage file write failed', { err }));
      }, options.intervalMs ?? 5000);
      timer.unref();
      return Promise.resolve();
    },
    async shutdown() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await writing?.catch(() => undefined);
      await flush();
    },
  };
}
