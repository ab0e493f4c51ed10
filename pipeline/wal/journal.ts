// Owns the contract between the usage windows, the write-ahead log and the usage record:
// - record(): after the windows applied a request, its delta goes into the log; the caller answers
//   the client only when this resolves (the delta, and every earlier one, is durable).
// - replay(): at start, after the usage record was restored: entries the record already holds
//   (same log id, seq <= the record's checkpoint) only give back their dedupe keys; later ones are
//   charged again. Runs before the receivers accept a span.
// - position()/durable()/checkpointed(): the usage store captures the log position together with the
//   windows' export, waits until that position is durable, writes the record, then lets the log prune.

import type { Logger } from '../../kernel/logger.ts';
import type { WorkloadRef } from '../snapshot.ts';
import type { ApplyResult, UsageWindows } from '../windows/windows.ts';
import { decodeDelta, DeltaDecodeError, encodeDelta } from '../windows/delta.ts';
import type { ReplayStats, WriteAheadLog } from './wal.ts';

/** Which log a usage record covers and up to which entry. */
export interface WalCheckpoint {
  readonly walId: string;
  readonly seq: number;
}

/**
 * What a restored usage record holds of the log. A record in several shards holds each shard up to its
 * own position: `seq` is the lowest (every entry up to it is held for every workload) and `holds` says
 * for a later entry whether the shard of that workload holds it already.
 */
export interface RecordCheckpoint extends WalCheckpoint {
  readonly holds?: (walId: string, seq: number, ref: WorkloadRef) => boolean;
}

export interface UsageJournal {
  record(result: ApplyResult): Promise<void>;
  replay(checkpoint: RecordCheckpoint | undefined): Promise<ReplayStats & { charged: number }>;
  /** The log position that matches the windows right now (call in the same tick as export()). */
  position(): WalCheckpoint;
  /** Resolves when everything up to the last position() is on disk. */
  durable(): Promise<void>;
  /** A usage record holding everything up to `position` was written. */
  checkpointed(position: WalCheckpoint): Promise<void>;
  /** False once the log refuses appends (the replica should leave the Service's endpoints). */
  healthy(): boolean;
  close(): Promise<void>;
}

export function createUsageJournal(options: {
  wal: WriteAheadLog;
  windows: Pick<UsageWindows, 'replay'>;
  logger: Logger;
}): UsageJournal {
  const { wal, windows } = options;
  const log = options.logger.child({ component: 'usage-journal' });
  return {
    record(result) {
      if (result.delta !== undefined) return wal.append(encodeDelta(result.delta)).durable;
      // A retry of spans charged by a request still being synced: answer only once that is durable.
      if (result.duplicates > 0) return wal.sync();
      return Promise.resolve();
    },
    async replay(checkpoint) {
      const covered = (seq: number): boolean => checkpoint?.walId === wal.id && seq <= checkpoint.seq;
      let charged = 0;
      let undecodable = 0;
      const stats = await wal.replay((seq, payload) => {
        let delta;
        try {
          delta = decodeDelta(payload);
        } catch (err) {
          if (!(err instanceof DeltaDecodeError)) throw err;
          undecodable++;
          return;
        }
        if (covered(seq)) {
          windows.replay(delta, false);
          return;
        }
        const holds = checkpoint?.holds;
        windows.replay(delta, holds === undefined ? true : (ref) => !holds(wal.id, seq, ref));
        charged++;
      });
      if (undecodable > 0) log.error('write-ahead log entries not understood; skipped', { undecodable });
      log.info('write-ahead log replayed', { ...stats, charged, walId: wal.id, checkpoint });
      return { ...stats, charged };
    },
    position: () => ({ walId: wal.id, seq: wal.lastSeq() }),
    durable: () => wal.sync(),
    checkpointed: (position) =>
      position.walId === wal.id ? wal.checkpoint(position.seq) : Promise.resolve(),
    healthy: () => wal.healthy(),
    close: () => wal.close(),
  };
}
