// Owns the approval marker of an emergency bypass: the admission webhook writes it next to a
// `genops.ai/bypass` annotation after a SubjectAccessReview said the requesting user may bypass, and the
// enforcer (and the webhook itself) honour a bypass only with a marker that verifies. The marker binds
// the user the API server authenticated, the capped expiry, the object it sits on and the exact bypass
// text with an HMAC under a key only the operator holds (a Secret in its namespace), so it cannot be
// written by hand, copied to another object, or kept across an edit of the bypass text.
//
//   genops.ai/bypass-approval: "v1;user=<base64url>;expires=<RFC3339>;sig=<hex HMAC-SHA256>"

import { createHmac, timingSafeEqual } from 'node:crypto';

export { BYPASS_APPROVAL_ANNOTATION } from '../../decision/annotations.ts';
/** Default cap of a bypass, from the moment it was approved. */
export const DEFAULT_BYPASS_MAX_MS = 24 * 3_600_000;

/** Who holds the annotation: `workload:<namespace>/<Kind>/<name>` or `namespace:<name>`. */
export type BypassHolder = string;

export function workloadHolder(namespace: string, kind: string, name: string): BypassHolder {
  return `workload:${namespace}/${kind}/${name}`;
}

export function namespaceHolder(name: string): BypassHolder {
  return `namespace:${name}`;
}

export interface Approval {
  readonly user: string;
  readonly expires: number;
}

export type ApprovalCheck =
  ({ readonly ok: true } & Approval) | { readonly ok: false; readonly problem: string };

function mac(key: Buffer, holder: BypassHolder, raw: string, user: string, expires: string): string {
  return createHmac('sha256', key)
    .update(['genops-bypass-v1', holder, raw, user, expires].join('\n'))
    .digest('hex');
}

export function signApproval(key: Buffer, holder: BypassHolder, raw: string, approval: Approval): string {
  const expires = new Date(approval.expires).toISOString();
  const user = Buffer.from(approval.user, 'utf8').toString('base64url');
  return `v1;user=${user};expires=${expires};sig=${mac(key, holder, raw, approval.user, expires)}`;
}

const FORMAT = /^v1;user=([A-Za-z0-9_-]*);expires=([0-9T:.Z-]+);sig=([0-9a-f]{64})$/;

/** Verifies a marker for this holder and bypass text; does not look at the clock. */
export function verifyApproval(
  key: Buffer,
  holder: BypassHolder,
  raw: string,
  marker: string | undefined,
): ApprovalCheck {
  if (marker === undefined)
    return {
      ok: false,
      problem:
        'no approval by the admission webhook (set while it was down, by a controller, or without the bypass permission)',
    };
  const m = FORMAT.exec(marker.trim());
  if (!m) return { ok: false, problem: 'the bypass approval marker is malformed' };
  const user = Buffer.from(m[1] ?? '', 'base64url').toString('utf8');
  const expiresText = m[2] ?? '';
  const expected = Buffer.from(mac(key, holder, raw, user, expiresText), 'hex');
  const given = Buffer.from(m[3] ?? '', 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return {
      ok: false,
      problem: 'the bypass approval does not match this object and bypass text (copied, edited or forged)',
    };
  const expires = Date.parse(expiresText);
  if (!Number.isFinite(expires)) return { ok: false, problem: 'the bypass approval has no valid expiry' };
  return { ok: true, user, expires };
}
