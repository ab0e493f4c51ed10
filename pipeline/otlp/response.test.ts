import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { encodeExportTraceResponseJson, encodeExportTraceResponseProtobuf } from './response.ts';

// The OpenTelemetry JS exporter's own response parsers read what we write.
describe('ExportTraceServiceResponse encoders', () => {
  it('write an empty message on full success', () => {
    expect(encodeExportTraceResponseProtobuf()).toEqual(new Uint8Array(0));
    expect(encodeExportTraceResponseProtobuf({ rejectedSpans: 0, errorMessage: '' })).toEqual(
      new Uint8Array(0),
    );
    expect(encodeExportTraceResponseJson()).toBe('{}');
    expect(ProtobufTraceSerializer.deserializeResponse(encodeExportTraceResponseProtobuf())).toEqual({});
  });

  it('write partial_success that the exporter reads back (protobuf)', () => {
    const body = encodeExportTraceResponseProtobuf({
      rejectedSpans: 3,
      errorMessage: 'span 0: trace_id has 2 bytes, expected 16 — é',
    });
    expect(Array.from(body.subarray(0, 4))).toEqual([0x0a, body.length - 2, 0x08, 0x03]);
    const parsed = ProtobufTraceSerializer.deserializeResponse(body);
    expect(parsed.partialSuccess?.errorMessage).toBe('span 0: trace_id has 2 bytes, expected 16 — é');
    expect(Number(parsed.partialSuccess?.rejectedSpans)).toBe(3);
  });

  it('encode large counts and long messages', () => {
    const message = 'x'.repeat(300);
    const parsed = ProtobufTraceSerializer.deserializeResponse(
      encodeExportTraceResponseProtobuf({ rejectedSpans: 2 ** 40, errorMessage: message }),
    );
    expect(Number(parsed.partialSuccess?.rejectedSpans)).toBe(2 ** 40);
    expect(parsed.partialSuccess?.errorMessage).toBe(message);
  });

  it('write partial_success as OTLP/JSON (int64 as a string)', () => {
    const text = encodeExportTraceResponseJson({ rejectedSpans: 2, errorMessage: 'bad ids' });
    expect(JSON.parse(text)).toEqual({ partialSuccess: { rejectedSpans: '2', errorMessage: 'bad ids' } });
    const parsed = JsonTraceSerializer.deserializeResponse(new TextEncoder().encode(text));
    expect(parsed.partialSuccess).toEqual({ rejectedSpans: '2', errorMessage: 'bad ids' });
    expect(
      JSON.parse(encodeExportTraceResponseJson({ rejectedSpans: 0, errorMessage: 'warning only' })),
    ).toEqual({ partialSuccess: { errorMessage: 'warning only' } });
  });
});
