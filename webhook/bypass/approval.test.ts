import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { applyPatch } from '../admission/jsonpatch.ts';
import type { AdmissionRequest } from '../admission/types.ts';
import { signApproval, verifyApproval, workloadHolder } from './approval.ts';
import { createBypassGate } from './gate.ts';

const key = randomBytes(32);
const holder = workloadHolder('ai', 'Deployment', 'chat');
const raw = 'reason=incident;expires=2030-01-01T00:00:00Z;by=cto';
const NOW = Date.parse('2026-12-02T12:00:00Z');

describe('bypass approval marker', () => {
  it('verifies for the object and text it was made for, and nothing else', () => {
    const marker = signApproval(key, holder, raw, { user: 'alice', expires: NOW + 3_600_000 });
    expect(verifyApproval(key, holder, raw, marker)).toEqual({
      ok: true,
      user: 'alice',
      expires: NOW + 3_600_000,
    });
    // Copied to another object, the text edited, another key, a forged user, no marker: refused.
    expect(verifyApproval(key, workloadHolder('ai', 'Deployment', 'other'), raw, marker).ok).toBe(false);
    expect(verifyApproval(key, holder, raw.replace('2030', '2031'), marker).ok).toBe(false);
    expect(verifyApproval(randomBytes(32), holder, raw, marker).ok).toBe(false);
    const forged = marker.replace(/user=[^;]*/, `user=${Buffer.from('mallory').toString('base64url')}`);
    expect(verifyApproval(key, holder, raw, forged).ok).toBe(false);
    const longer = marker.replace(/expires=[^;]*/, 'expires=2030-01-01T00:00:00.000Z');
    expect(verifyApproval(key, holder, raw, longer).ok).toBe(false);
    expect(verifyApproval(key, holder, raw, undefined).ok).toBe(false);
  });
});

describe('bypass gate', () => {
  const request = (user: string, annotations: Record<string, string>): AdmissionRequest => ({
    uid: 'u1',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'chat',
    namespace: 'ai',
    operation: 'UPDATE',
    userInfo: { username: user, groups: ['system:authenticated'] },
    object: { metadata: { name: 'chat', namespace: 'ai', annotations } },
    oldObject: { metadata: { name: 'chat', namespace: 'ai', annotations: {} } },
  });
  const asked: string[] = [];
  const gate = createBypassGate({
    reviewer: {
      canBypass: (user, namespace) => {
        asked.push(`${user.username ?? ''}@${namespace}`);
        return Promise.resolve(user.username === 'alice');
      },
    },
    key: () => key,
    clock: createManualClock(NOW),
    logger: silentLogger,
  });

  it('refuses a user without the permission, approves one with it, capped to 24 h', async () => {
    const refused = await gate.review(request('jane', { 'genops.ai/bypass': raw }));
    expect(refused.type).toBe('deny');
    const approved = await gate.review(request('alice', { 'genops.ai/bypass': raw }));
    expect(approved.type).toBe('patch');
    expect(asked).toEqual(['jane@ai', 'alice@ai']);
    const obj = applyPatch(
      request('alice', { 'genops.ai/bypass': raw }).object,
      approved.type === 'patch' ? approved.patch : [],
    ) as {
      metadata: { annotations: Record<string, string> };
    };
    const check = verifyApproval(key, holder, raw, obj.metadata.annotations['genops.ai/bypass-approval']);
    expect(check).toEqual({ ok: true, user: 'alice', expires: NOW + 24 * 3_600_000 });
  });

  it('drops a marker that comes without a bypass', async () => {
    const out = await gate.review(
      request('jane', { 'genops.ai/bypass-approval': 'v1;user=x;expires=x;sig=00' }),
    );
    expect(out).toEqual({
      type: 'patch',
      patch: [{ op: 'remove', path: '/metadata/annotations/genops.ai~1bypass-approval' }],
    });
  });
});
