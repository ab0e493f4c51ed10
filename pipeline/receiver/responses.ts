// Owns what the receivers write back besides ExportTraceServiceResponse (pipeline/otlp encodes
// that): google.rpc.Status bodies for HTTP errors, and google.rpc.Status with
// RetryInfo for gRPC's grpc-status-details-bin. Encoded by hand from the public field numbers:
//   google.rpc.Status          { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
//   google.protobuf.Any        { string type_url = 1; bytes value = 2; }
//   google.rpc.RetryInfo       { google.protobuf.Duration retry_delay = 1; }
//   google.protobuf.Duration   { int64 seconds = 1; int32 nanos = 2; }

import { encodeExportTraceResponseJson, encodeExportTraceResponseProtobuf } from '../otlp/response.ts';

export type WireEncoding = 'protobuf' | 'json';

const utf8 = new TextEncoder();
const EMPTY_JSON = utf8.encode('{}');

/** A tiny protobuf writer for the few small messages above (non-negative varints only). */
class Writer {
  private readonly parts: number[] = [];
  varint(field: number, value: number): this {
    if (value === 0) return this;
    this.tag(field, 0);
    this.rawVarint(value);
    return this;
  }
  bytes(field: number, value: Uint8Array): this {
    if (value.length === 0) return this;
    this.tag(field, 2);
    this.rawVarint(value.length);
    for (const b of value) this.parts.push(b);
    return this;
  }
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }
  /** An embedded message, written even when empty (presence matters for partial_success). */
  message(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(value.length);
    for (const b of value) this.parts.push(b);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
  private tag(field: number, wireType: number): void {
    this.rawVarint(field * 8 + wireType);
  }
  private rawVarint(n: number): void {
    while (n >= 0x80) {
      this.parts.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    this.parts.push(n);
  }
}

/** The success response (partial_success when some spans were rejected), from pipeline/otlp. */
export function encodeExportResponse(
  encoding: WireEncoding,
  rejectedSpans: number,
  errorMessage: string,
): Uint8Array {
  const partial = { rejectedSpans, errorMessage };
  if (encoding === 'json') {
    return rejectedSpans === 0 && errorMessage === ''
      ? EMPTY_JSON
      : utf8.encode(encodeExportTraceResponseJson(partial));
  }
  return encodeExportTraceResponseProtobuf(partial);
}

/** google.rpc.Status as an HTTP error body, in the request's encoding. */
export function encodeStatus(encoding: WireEncoding, code: number, message: string): Uint8Array {
  if (encoding === 'json') return utf8.encode(JSON.stringify({ code, message }));
  return new Writer().varint(1, code).string(2, message).finish();
}

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** google.rpc.Status carrying a RetryInfo detail, for the grpc-status-details-bin trailer. */
export function encodeRetryStatus(grpcCode: number, message: string, retryAfterSeconds: number): Uint8Array {
  const seconds = Math.floor(retryAfterSeconds);
  const nanos = Math.round((retryAfterSeconds - seconds) * 1e9);
  const duration = new Writer().varint(1, seconds).varint(2, nanos).finish();
  const retryInfo = new Writer().message(1, duration).finish();
  const any = new Writer().string(1, RETRY_INFO_TYPE).bytes(2, retryInfo).finish();
  return new Writer().varint(1, grpcCode).string(2, message).message(3, any).finish();
}
