// Owns the typed answer of the decode worker to the pool (as opentelemetry-js's export-response):
// a result union instead of a thrown error, because an error crossing the thread boundary keeps
// only its message, which the pool would then have to re-classify by its text.

import type { ErrorCode } from '../../kernel/errors.ts';
import type { PartialAggregate } from '../partial.ts';

/** The catalogue codes a worker may answer with (kernel/errors.ts ERROR_CODES). */
export type DecodeErrorCode = Extract<ErrorCode, 'undecodable' | 'decoder-bug'>;

export type DecodeResult =
  | { readonly ok: true; readonly value: PartialAggregate }
  | { readonly ok: false; readonly error: { readonly code: DecodeErrorCode; readonly message: string } };
