// Owns the worker pool that turns whole export requests into partial aggregates: a piscina pool
// of pure workers, each task one request body, transferred (not copied) to the worker. The
// queue is bounded by task count and by bytes, so a flood is answered with "retry later"
// (code 'queue-full') instead of buffering without bound. Every refusal is made here, once, from
// the error catalogue (kernel/errors.ts): the worker answers a result union with a code, and a
// rejected task means the thread failed (classified by the pool's state, never by message text).

import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { codedError, type GenOpsError } from '../../kernel/errors.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { IngestMetrics } from '../ingest-metrics.ts';
import { noopIngestMetrics } from '../ingest-metrics.ts';
import type { DecodeTask, PartialAggregate } from '../partial.ts';
import type { DecodeResult } from '../worker/result.ts';

export interface DecodePoolOptions {
  /** Worker module (its export answers a DecodeResult); default pipeline/worker/entry.ts. */
  workerFile?: string | URL;
  /** Export of the worker module that handles a task; default "default". */
  workerExport?: string;
  /** Worker threads; default the number of cores. */
  threads?: number;
  /** Tasks allowed to wait beyond those running; default max(64, 32 per thread). Bytes are bounded too. */
  maxQueue?: number;
  /** Body bytes allowed queued or running at once; default 256 MiB. */
  maxQueuedBytes?: number;
  /** Per-worker memory caps; default 256 MiB old generation. */
  resourceLimits?: ResourceLimits;
  /** Passed to every worker (price table options and the like). */
  workerData?: unknown;
  /** Seconds a refused client is told to wait; default 1. */
  retryAfterSeconds?: number;
  logger?: Logger;
  metrics?: Pick<IngestMetrics, 'queueDepth' | 'queuedBytes'>;
}

export interface DecodePoolStats {
  readonly threads: number;
  /** Tasks queued or running. */
  readonly inFlight: number;
  readonly inFlightBytes: number;
}

/**
 * Bytes a receiver holds for one request body while it arrives. They count against the same bound
 * as queued bodies (maxQueuedBytes), so many slow large bodies cannot grow memory past it: the
 * receiver refuses the request (retry later) as soon as `take` says no.
 */
export interface ByteReservation {
  /** Adds `bytes` to the reservation; false (nothing added) when the bound would be exceeded. */
  take(bytes: number): boolean;
  /** Gives every reserved byte back; idempotent. */
  release(): void;
  readonly bytes: number;
}

export interface DecodePool extends Component {
  /**
   * Decodes one request in a worker. The body's ArrayBuffer is transferred: the caller must not
   * use it afterwards, and it must not be shared with other views (see ownedBytes).
   * Rejects with GenOpsError 'retryable' when full, 'shutting-down' when stopping,
   * 'invalid' when the worker could not decode the body.
   */
  decode(task: DecodeTask, reservation?: ByteReservation): Promise<PartialAggregate>;
  /**
   * A reservation for a body about to be received (empty until `take`). Hand it to `decode`
   * (which releases it and accounts the body instead) or release it when the request ends.
   */
  reserve(): ByteReservation;
  /** True when a task of `bytes` would be refused right now (lets receivers refuse before reading). */
  wouldRefuse(bytes?: number): boolean;
  /** The refusal a task of `bytes` would meet right now (queue-full or pool-stopped), if any. */
  refusal(bytes?: number): GenOpsError | undefined;
  stats(): DecodePoolStats;
  /** Bytes of request bodies still being received (held by reservations). */
  receivingBytes(): number;
}

const DEFAULT_WORKER = new URL('../worker/entry.ts', import.meta.url);

/**
 * A view that owns its whole ArrayBuffer, so transferring it cannot detach anybody else's data
 * (Node's small Buffers share an 8 KiB pool; grpc-js hands out slices). Copies only when needed.
 */
export function ownedBytes(bytes: Uint8Array): Uint8Array {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  ) {
    return bytes;
  }
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

export function createDecodePool(options: DecodePoolOptions = {}): DecodePool {
  const threads = Math.max(1, options.threads ?? availableParallelism());
  // SDK exporters send many small requests; the byte bound is what protects memory.
  const maxQueue = Math.max(0, options.maxQueue ?? Math.max(64, threads * 32));
  const maxInFlight = threads + maxQueue;
  const maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024 * 1024;
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? noopIngestMetrics;
  const workerFile = options.workerFile ?? DEFAULT_WORKER;
  const filename = workerFile instanceof URL ? fileURLToPath(workerFile) : workerFile;

  let piscina: Piscina<DecodeTask, DecodeResult> | undefined;
  let state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  let inFlight = 0;
  let inFlightBytes = 0;
  let receivingBytes = 0;
  let drained: (() => void) | undefined;

  const refuseReason = (bytes: number): GenOpsError | undefined => {
    if (state !== 'running' || !piscina) {
      return codedError('pool-stopped', 'the decode pool is not running', { retryAfterSeconds });
    }
    // One oversized request is still let through when nothing else is in flight or arriving.
    const held = inFlightBytes + receivingBytes;
    if (inFlight >= maxInFlight || (held > 0 && held + bytes > maxQueuedBytes)) {
      return codedError('queue-full', 'the ingest queue is full, retry later', { retryAfterSeconds });
    }
    return undefined;
  };

  const settle = (bytes: number): void => {
    inFlight--;
    inFlightBytes -= bytes;
    metrics.queueDepth(Math.max(0, inFlight - threads));
    metrics.queuedBytes(inFlightBytes + receivingBytes);
    if (inFlight === 0 && drained) drained();
  };

  return {
    async start() {
      if (state !== 'new') return;
      piscina = new Piscina<DecodeTask, DecodeResult>({
        filename,
        name: options.workerExport ?? 'default',
        minThreads: threads,
        maxThreads: threads,
        // Tasks never wait inside piscina beyond what we admitted; our own counters bound it.
        maxQueue: maxQueue + threads,
        idleTimeout: 60_000,
        resourceLimits: options.resourceLimits ?? { maxOldGenerationSizeMb: 256 },
        workerData: options.workerData,
      });
      state = 'running';
      // Fail fast: a worker that cannot load its module should stop startup, not the first request.
      try {
        await piscina.run({ body: new Uint8Array(0), encoding: 'protobuf' });
      } catch (err) {
        state = 'stopped';
        await piscina.destroy();
        piscina = undefined;
        throw codedError('worker-start', `decode worker failed to start: ${String(err)}`, { cause: err });
      }
      logger.info('decode pool started', { threads, maxQueue, maxQueuedBytes });
    },

    reserve() {
      let bytes = 0;
      let released = false;
      return {
        get bytes() {
          return bytes;
        },
        take(n) {
          if (released || state !== 'running') return false;
          const held = inFlightBytes + receivingBytes;
          // Alone (nothing else held), one body may exceed the bound: the body-size cap still applies.
          if (held > bytes && held + n > maxQueuedBytes) return false;
          bytes += n;
          receivingBytes += n;
          metrics.queuedBytes(inFlightBytes + receivingBytes);
          return true;
        },
        release() {
          if (released) return;
          released = true;
          receivingBytes -= bytes;
          bytes = 0;
          metrics.queuedBytes(inFlightBytes + receivingBytes);
        },
      };
    },

    decode(task, reservation) {
      // The received bytes become the queued body: the reservation is given back first, so the
      // body is checked (and counted) once, after decompression.
      reservation?.release();
      const bytes = task.body.byteLength;
      const refusal = refuseReason(bytes);
      if (refusal) return Promise.reject(refusal);
      inFlight++;
      inFlightBytes += bytes;
      metrics.queueDepth(Math.max(0, inFlight - threads));
      metrics.queuedBytes(inFlightBytes + receivingBytes);
      const body = ownedBytes(task.body);
      const run = piscina!.run(
        { body, encoding: task.encoding },
        body.byteLength > 0 ? { transferList: [body.buffer as ArrayBuffer] } : {},
      );
      return run.then(
        (result) => {
          settle(bytes);
          if (result.ok) return result.value;
          throw result.error.code === 'undecodable'
            ? codedError('undecodable', `request could not be decoded: ${result.error.message}`)
            : codedError('decoder-bug', `decode worker failed: ${result.error.message}`);
        },
        (err: unknown) => {
          settle(bytes);
          throw threadFailed(err, state, retryAfterSeconds);
        },
      );
    },

    wouldRefuse(bytes = 0) {
      return refuseReason(bytes) !== undefined;
    },

    refusal: (bytes = 0) => refuseReason(bytes),

    receivingBytes: () => receivingBytes,

    stats() {
      return { threads, inFlight, inFlightBytes };
    },

    async shutdown(deadlineMs) {
      if (state === 'stopped' || state === 'stopping') return;
      if (state === 'new') {
        state = 'stopped';
        return;
      }
      state = 'stopping';
      const p = piscina!;
      if (inFlight > 0) {
        const waitMs = Math.max(0, (deadlineMs ?? Date.now() + 10_000) - Date.now());
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      await p.destroy();
      piscina = undefined;
      state = 'stopped';
      logger.info('decode pool stopped');
    },
  };
}

/**
 * The worker never rejects (it answers a DecodeResult), and the pool admits no more tasks than
 * piscina's queue holds: a rejected task is the thread failing, because the pool is stopping
 * (terminated with the task) or because the worker died (memory cap, crash).
 */
function threadFailed(err: unknown, state: string, retryAfterSeconds: number): GenOpsError {
  const message = err instanceof Error ? err.message : String(err);
  if (state !== 'running')
    return codedError('pool-stopped', 'the decode pool is stopping', { cause: err, retryAfterSeconds });
  return codedError('worker-died', `decode worker failed: ${message}`, { cause: err });
}
