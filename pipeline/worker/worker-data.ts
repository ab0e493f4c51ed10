// Owns the shape of piscina workerData for the ingest workers: plain data (structured-cloned into
// every worker when the pool starts), so the main thread can build it without loading the worker.

import type { PriceTableConfig } from '../pricing/overrides.ts';

export interface IngestWorkerData {
  /** Operator price overrides and fallback (parsePriceTableConfig/loadPriceTableConfig). */
  readonly pricing?: PriceTableConfig;
}
