// Owns encoding of ExportTraceServiceResponse (opentelemetry-proto collector/trace/v1) in
// protobuf and OTLP/JSON: empty on full success, partial_success { rejected_spans = 1 (int64),
// error_message = 2 } when spans were rejected or there is a warning to pass back.

import { utf8Encoder } from './bytes.ts';

export interface ExportTracePartialSuccess {
  readonly rejectedSpans: number;
  readonly errorMessage: string;
}

/** True when the response must carry partial_success (the spec: only when something was rejected or said). */
function hasPartialSuccess(p: ExportTracePartialSuccess | undefined): p is ExportTracePartialSuccess {
  return p !== undefined && (p.rejectedSpans > 0 || p.errorMessage !== '');
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    out[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** Protobuf ExportTraceServiceResponse; an empty message (zero bytes) on full success. */
export function encodeExportTraceResponseProtobuf(partial?: ExportTracePartialSuccess): Uint8Array {
  if (!hasPartialSuccess(partial)) return new Uint8Array(0);
  const rejected = Math.max(0, Math.trunc(partial.rejectedSpans));
  const message = utf8Encoder.encode(partial.errorMessage);
  let inner = 0;
  if (rejected > 0) inner += 1 + varintLength(rejected);
  if (message.length > 0) inner += 1 + varintLength(message.length) + message.length;
  const out = new Uint8Array(1 + varintLength(inner) + inner);
  let pos = 0;
  out[pos++] = (1 << 3) | 2; // partial_success
  pos = writeVarint(out, pos, inner);
  if (rejected > 0) {
    out[pos++] = (1 << 3) | 0; // rejected_spans
    pos = writeVarint(out, pos, rejected);
  }
  if (message.length > 0) {
    out[pos++] = (2 << 3) | 2; // error_message
    pos = writeVarint(out, pos, message.length);
    out.set(message, pos);
  }
  return out;
}

/** OTLP/JSON ExportTraceServiceResponse (int64 as a decimal string, per the proto3 JSON mapping). */
export function encodeExportTraceResponseJson(partial?: ExportTracePartialSuccess): string {
  if (!hasPartialSuccess(partial)) return '{}';
  const body: { rejectedSpans?: string; errorMessage?: string } = {};
  const rejected = Math.max(0, Math.trunc(partial.rejectedSpans));
  if (rejected > 0) body.rejectedSpans = String(rejected);
  if (partial.errorMessage !== '') body.errorMessage = partial.errorMessage;
  return JSON.stringify({ partialSuccess: body });
}
