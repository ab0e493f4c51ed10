import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { httpStatusOf, refusalReasonOf, STATUS_TABLE } from './types.ts';

describe('the one status table of both receivers', () => {
  it('answers each error class consistently over HTTP and gRPC', () => {
    expect(STATUS_TABLE).toEqual({
      invalid: { http: 400, grpc: status.INVALID_ARGUMENT, retry: false, reason: 'invalid' },
      'too-large': { http: 413, grpc: status.RESOURCE_EXHAUSTED, retry: false, reason: 'too-large' },
      retryable: { http: 429, grpc: status.UNAVAILABLE, retry: true, reason: 'queue-full' },
      'shutting-down': { http: 503, grpc: status.UNAVAILABLE, retry: true, reason: 'shutting-down' },
      timeout: { http: 408, grpc: status.DEADLINE_EXCEEDED, retry: false, reason: 'timeout' },
      internal: { http: 500, grpc: status.INTERNAL, retry: false, reason: 'internal' },
    });
    // Everything retryable over HTTP is retryable over gRPC, and only through UNAVAILABLE + RetryInfo.
    for (const row of Object.values(STATUS_TABLE)) {
      expect(row.retry).toBe(row.http === 429 || row.http === 503);
      expect(row.retry).toBe(row.grpc === (status.UNAVAILABLE as number));
    }
    expect(httpStatusOf('retryable')).toBe(429);
    expect(refusalReasonOf('timeout')).toBe('timeout');
  });
});
