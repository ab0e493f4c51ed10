// Owns the piscina worker module: the default export decodes one request (DecodeTask) into a
// PartialAggregate, with the price book built once per worker from workerData (IngestWorkerData).
// The result's span-record buffer is transferred back, not copied.

import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { isGenOpsError } from '../../kernel/errors.ts';
import type { DecodeTask, PartialAggregate } from '../partial.ts';
import { createPriceBook } from '../pricing/price-book.ts';
import { createDecodeDeps, decodeToPartial } from './decode-to-partial.ts';
import type { DecodeDeps } from './decode-to-partial.ts';
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
 * Errors lose their class crossing threads (structured clone keeps only name and message), so
 * decoding errors keep their client-safe message and anything else is marked as internal.
 */
export default function decode(task: DecodeTask): Promise<PartialAggregate> {
  let result: PartialAggregate;
  try {
    result = decodeToPartial(task, workerDeps());
  } catch (err) {
    if (isGenOpsError(err)) return Promise.reject(new Error(err.message));
    return Promise.reject(
      new Error(`internal decode error: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
  const buffers = [result.spans.buffer];
  if (result.links !== undefined) buffers.push(result.links.buffer);
  const movable = { [transferableSymbol]: buffers, [valueSymbol]: result };
  return Promise.resolve(move(movable) as unknown as PartialAggregate);
}
