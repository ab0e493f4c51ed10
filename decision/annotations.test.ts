import { describe, expect, it } from 'vitest';
import { parseApproval, parseBypass, parseRfc3339 } from './annotations.ts';

describe('genops.ai/bypass', () => {
  it('parses the key=value form and the JSON form', () => {
    expect(parseBypass('reason=incident 42; expires=2025-03-20T14:00:00Z ;by=oncall@example.com')).toEqual({
      ok: true,
      bypass: {
        reason: 'incident 42',
        expires: Date.parse('2025-03-20T14:00:00Z'),
        by: 'oncall@example.com',
      },
    });
    expect(parseBypass('{"reason":"a;b=c","expires":"2025-03-20T15:00:00+01:00","by":"x"}')).toEqual({
      ok: true,
      bypass: { reason: 'a;b=c', expires: Date.parse('2025-03-20T14:00:00Z'), by: 'x' },
    });
  });

  it('rejects malformed values with a reason', () => {
    const problem = (raw: string): string => {
      const r = parseBypass(raw);
      return r.ok ? 'ok' : r.problem;
    };
    expect(problem('reason=x;expires=2025-03-20T14:00:00Z')).toContain('missing by');
    expect(problem('reason=x;expires=2025-03-20 14:00;by=y')).toContain('not an RFC 3339');
    expect(problem('reason=x;expires=2025-03-20T14:00:00;by=y')).toContain('not an RFC 3339');
    expect(problem('reason=x;reason=y;expires=2025-03-20T14:00:00Z;by=z')).toContain('given twice');
    expect(problem('oops')).toContain('expected key=value');
    expect(problem('{"reason":1,"expires":"2025-03-20T14:00:00Z","by":"z"}')).toContain('missing reason');
    expect(problem('[1]')).toContain('expected key=value');
    expect(problem('{')).toContain('not valid JSON');
    expect(problem('')).toContain('missing reason, expires, by');
  });
});

describe('approval annotations', () => {
  it('reads who and when', () => {
    expect(
      parseApproval({ 'genops.ai/approved-by': ' dana ', 'genops.ai/approved-at': '2025-04-01T00:30:00.5Z' }),
    ).toEqual({
      kind: 'valid',
      approval: { by: 'dana', at: Date.parse('2025-04-01T00:30:00.500Z') },
      raw: ' dana ;2025-04-01T00:30:00.5Z',
    });
    expect(parseApproval(undefined)).toEqual({ kind: 'none' });
    expect(parseApproval({ other: 'x' })).toEqual({ kind: 'none' });
  });

  it('reports incomplete or malformed approvals', () => {
    expect(parseApproval({ 'genops.ai/approved-by': 'dana' })).toMatchObject({ kind: 'invalid' });
    expect(parseApproval({ 'genops.ai/approved-at': '2025-04-01T00:30:00Z' })).toMatchObject({
      kind: 'invalid',
    });
    expect(parseApproval({ 'genops.ai/approved-by': 'd', 'genops.ai/approved-at': 'today' })).toMatchObject({
      kind: 'invalid',
    });
  });

  it('parses RFC 3339 with a zone only', () => {
    expect(parseRfc3339('2025-04-01T00:30:00-05:00')).toBe(Date.parse('2025-04-01T05:30:00Z'));
    expect(parseRfc3339('2025-04-01')).toBeUndefined();
    expect(parseRfc3339('2025-02-30T00:00:00Z')).toBeUndefined();
  });
});
