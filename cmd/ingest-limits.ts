// Owns the ingest limits against hostile input as command-line flags, shared by `genops local` and
// `genops operator` so both run with the same configuration and defaults (docs/operations.md,
// "Limits against hostile input"). Sizes are whole MiB on the command line.

import type { Command } from 'commander';
import type { IngestPipelineOptions } from '../pipeline/ingest.ts';
import { parsePositiveInteger } from './flags.ts';

export interface IngestLimitFlags {
  /** --max-body-mib: largest request body after decompression. */
  readonly maxBodyMib?: number;
  /** --max-queue-mib: body bytes queued, being decoded or being received at once. */
  readonly maxQueueMib?: number;
  /** --worker-heap-mib: old-generation heap cap of each decode worker. */
  readonly workerHeapMib?: number;
  /** --max-connections: open connections per OTLP receiver. */
  readonly maxConnections?: number;
}

/** Defaults, as documented (pipeline/receiver/types.ts and pipeline/pool/pool.ts hold the same). */
export const INGEST_LIMIT_DEFAULTS = {
  maxBodyMib: 64,
  maxQueueMib: 256,
  workerHeapMib: 256,
  maxConnections: 256,
} as const;

export function addIngestLimitOptions(cmd: Command): Command {
  return cmd
    .option(
      '--max-body-mib <MiB>',
      `largest OTLP request body after decompression (default ${INGEST_LIMIT_DEFAULTS.maxBodyMib})`,
      parsePositiveInteger,
    )
    .option(
      '--max-queue-mib <MiB>',
      `request bytes being received, queued or decoded at once (default ${INGEST_LIMIT_DEFAULTS.maxQueueMib})`,
      parsePositiveInteger,
    )
    .option(
      '--worker-heap-mib <MiB>',
      `heap cap of each decode worker (default ${INGEST_LIMIT_DEFAULTS.workerHeapMib})`,
      parsePositiveInteger,
    )
    .option(
      '--max-connections <n>',
      `open connections per OTLP receiver (default ${INGEST_LIMIT_DEFAULTS.maxConnections})`,
      parsePositiveInteger,
    );
}

/** The flags picked from a parsed options object (only those given). */
export function ingestLimitFlags(opts: IngestLimitFlags): IngestLimitFlags {
  return {
    ...(opts.maxBodyMib === undefined ? {} : { maxBodyMib: opts.maxBodyMib }),
    ...(opts.maxQueueMib === undefined ? {} : { maxQueueMib: opts.maxQueueMib }),
    ...(opts.workerHeapMib === undefined ? {} : { workerHeapMib: opts.workerHeapMib }),
    ...(opts.maxConnections === undefined ? {} : { maxConnections: opts.maxConnections }),
  };
}

const MiB = 1024 * 1024;

/** Ingest pipeline options from the flags and the worker count. */
export function ingestLimitOptions(
  flags: IngestLimitFlags = {},
  workers?: number,
): Pick<IngestPipelineOptions, 'maxBodyBytes' | 'limits' | 'pool'> {
  const d = INGEST_LIMIT_DEFAULTS;
  return {
    maxBodyBytes: (flags.maxBodyMib ?? d.maxBodyMib) * MiB,
    limits: { maxConnections: flags.maxConnections ?? d.maxConnections },
    pool: {
      ...(workers === undefined ? {} : { threads: workers }),
      maxQueuedBytes: (flags.maxQueueMib ?? d.maxQueueMib) * MiB,
      resourceLimits: { maxOldGenerationSizeMb: flags.workerHeapMib ?? d.workerHeapMib },
    },
  };
}
