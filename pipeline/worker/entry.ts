// Owns the piscina worker module: the default export decodes one request (DecodeTask) into a
// DecodeResult (the PartialAggregate, or a coded error), with the price book built once per worker
// from workerData (IngestWorkerData). The result's span-record buffer is transferred back, not copied.

import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { isGenOpsError } from '../../kernel/errors.ts';
import type { DecodeTask, PartialAggregate } from '../partial.ts';
import { createPriceBook } from '../pricing/price-book.ts';
import { createDecodeDeps, decodeToPartial } from './decode-to-partial.ts';
import type { DecodeDeps } from './decode-to-partial.ts';
import type { DecodeResult } from './result.ts';
import type { IngestWorkerData } from './worker-data.ts';

let deps: DecodeDeps | undefined;

function workerDeps(): DecodeDeps {
  if (deps === undefined) {
    const data = (workerData ?? {}) as IngestWorkerData;
    deps = createDecodeDeps({
      priceBook: createPriceBook(data.pricing === undefined ? {} : { config: data.pricing }),
    });
  }
  return deps;
}

/**
 * Never rejects: a decoding verdict and a decoder bug are both answered as a coded error, so the
 * pool reads the code instead of a message (a rejection then only ever means the thread failed).
 */
export default function decode(task: DecodeTask): Promise<DecodeResult> {
  let result: PartialAggregate;
  try {
    result = decodeToPartial(task, workerDeps());
  } catch (err) {
    const error = isGenOpsError(err)
      ? { code: 'undecodable' as const, message: err.message }
      : { code: 'decoder-bug' as const, message: err instanceof Error ? err.message : String(err) };
    return Promise.resolve({ ok: false, error });
  }
  const buffers = [result.spans.buffer];
  if (result.links !== undefined) buffers.push(result.links.buffer);
  const answer: DecodeResult = { ok: true, value: result };
  const movable = { [transferableSymbol]: buffers, [valueSymbol]: answer };
  return Promise.resolve(move(movable) as unknown as DecodeResult);
}
