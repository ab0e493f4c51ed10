import { describe, expect, it } from 'vitest';
import { reviewResponse } from './respond.ts';

describe('admission responses', () => {
  it('refuses with a Forbidden status, cleaned of control characters', () => {
    const r = reviewResponse('u1', { type: 'deny', messages: ['first\nline', 'second'] });
    expect(r).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'u1',
        allowed: false,
        status: { code: 403, reason: 'Forbidden', message: 'first line; second' },
      },
    });
    expect(
      reviewResponse('u2', { type: 'deny', code: 422, messages: ['bad'] }).response?.status?.reason,
    ).toBe('Invalid');
  });

  it('encodes a patch as base64 JSON Patch, and answers no patch for an empty one', () => {
    const ops = [{ op: 'add' as const, path: '/metadata/annotations/a~1b', value: 'x' }];
    const r = reviewResponse('u', { type: 'patch', patch: ops });
    expect(r.response?.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(r.response!.patch!, 'base64').toString())).toEqual(ops);
    expect(reviewResponse('u', { type: 'patch', patch: [] }).response).toEqual({ uid: 'u', allowed: true });
  });

  it('keeps warnings short enough for the API server', () => {
    const long = 'word '.repeat(200);
    const r = reviewResponse('u', {
      type: 'allow',
      warnings: [long, ...Array.from({ length: 40 }, () => long)],
    });
    const warnings = r.response!.warnings!;
    expect(warnings[0]!.length).toBeLessThanOrEqual(256);
    expect(warnings[0]!.endsWith('…')).toBe(true);
    expect(warnings.join('').length).toBeLessThanOrEqual(4000);
  });

  it('answers internal errors without details, open or closed', () => {
    const closed = reviewResponse('u', { type: 'error', failOpen: false }).response!;
    expect(closed.allowed).toBe(false);
    expect(closed.status).toEqual({
      code: 500,
      reason: 'InternalError',
      message: 'GenOps admission could not evaluate this request (internal error); retry shortly',
    });
    const open = reviewResponse('u', { type: 'error', failOpen: true }).response!;
    expect(open.allowed).toBe(true);
    expect(open.warnings?.[0]).toContain('admitted without checks');
  });
});
