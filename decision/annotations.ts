// Owns the annotations people write to steer decisions, and their exact formats:
//
//   Emergency bypass, on a workload (Deployment, StatefulSet, ...) or on a Namespace:
//     genops.ai/bypass: "reason=<text>;expires=<RFC3339>;by=<who>"
//   or the same three fields as JSON:
//     genops.ai/bypass: '{"reason":"<text>","expires":"<RFC3339>","by":"<who>"}'
//   All three fields are required; `expires` needs a zone (Z or ±hh:mm). An expired or malformed
//   bypass is ignored (enforcement applies) and reported once per annotation value.
//
//   Approval of a budget held by `enforcement.approvalRequired`, on the AIBudget:
//     genops.ai/approved-by: "<who>"
//     genops.ai/approved-at: "<RFC3339>"
//   It counts only when approved-at is at or after the moment the enforcement began and not in
//   the future (5 minutes of clock skew tolerated).

export const BYPASS_ANNOTATION = 'genops.ai/bypass';
/** Written by the admission webhook after checking the user's bypass permission (webhook/bypass). */
export const BYPASS_APPROVAL_ANNOTATION = 'genops.ai/bypass-approval';
export const APPROVED_BY_ANNOTATION = 'genops.ai/approved-by';
export const APPROVED_AT_ANNOTATION = 'genops.ai/approved-at';

/** How far in the future an approval time may lie (clocks of people and servers differ). */
export const APPROVAL_CLOCK_SKEW_MS = 5 * 60_000;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp with an explicit zone; undefined when it is not one (or not a real date). */
export function parseRfc3339(value: string): number | undefined {
  const s = value.trim();
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second, offH, offM] = m
    .slice(1)
    .map((x) => (x === undefined ? 0 : Number(x)));
  // Date.parse rolls 2025-02-30 over to March; a person who wrote it made a mistake.
  const probe = new Date(Date.UTC(year ?? 0, (month ?? 0) - 1, day ?? 0));
  if (probe.getUTCMonth() + 1 !== month || probe.getUTCDate() !== day) return undefined;
  if ((hour ?? 0) > 23 || (minute ?? 0) > 59 || (second ?? 0) > 59 || (offH ?? 0) > 23 || (offM ?? 0) > 59) {
    return undefined;
  }
  const ms = Date.parse(s.toUpperCase());
  return Number.isFinite(ms) ? ms : undefined;
}

export interface Bypass {
  readonly reason: string;
  readonly expires: number;
  readonly by: string;
}

export type BypassParse =
  { readonly ok: true; readonly bypass: Bypass } | { readonly ok: false; readonly problem: string };

/** Parses a `genops.ai/bypass` value (either format); does not look at the clock. */
export function parseBypass(raw: string): BypassParse {
  const text = raw.trim();
  let fields: Record<string, unknown>;
  if (text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return { ok: false, problem: 'JSON bypass must be an object' };
      }
      fields = parsed as Record<string, unknown>;
    } catch {
      return { ok: false, problem: 'bypass is not valid JSON' };
    }
  } else {
    fields = {};
    for (const part of text.split(';')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      if (eq <= 0) return { ok: false, problem: `expected key=value, got "${part.trim()}"` };
      const key = part.slice(0, eq).trim().toLowerCase();
      if (key in fields) return { ok: false, problem: `field "${key}" given twice` };
      fields[key] = part.slice(eq + 1).trim();
    }
  }
  const missing = ['reason', 'expires', 'by'].filter(
    (k) => typeof fields[k] !== 'string' || fields[k].trim() === '',
  );
  if (missing.length > 0)
    return {
      ok: false,
      problem: `missing ${missing.join(', ')} (format: reason=...;expires=RFC3339;by=...)`,
    };
  const expires = parseRfc3339(fields['expires'] as string);
  if (expires === undefined)
    return { ok: false, problem: `expires "${String(fields['expires'])}" is not an RFC 3339 time with zone` };
  return {
    ok: true,
    bypass: { reason: (fields['reason'] as string).trim(), expires, by: (fields['by'] as string).trim() },
  };
}

export interface Approval {
  readonly by: string;
  readonly at: number;
}

export type ApprovalParse =
  | { readonly kind: 'none' }
  | { readonly kind: 'valid'; readonly approval: Approval; readonly raw: string }
  | { readonly kind: 'invalid'; readonly problem: string; readonly raw: string };

/** Reads the approval annotations of an AIBudget; `raw` identifies the value for reporting once. */
export function parseApproval(annotations: Readonly<Record<string, string>> | undefined): ApprovalParse {
  const by = annotations?.[APPROVED_BY_ANNOTATION];
  const at = annotations?.[APPROVED_AT_ANNOTATION];
  if (by === undefined && at === undefined) return { kind: 'none' };
  const raw = `${by ?? ''};${at ?? ''}`;
  if (by === undefined || by.trim() === '')
    return { kind: 'invalid', problem: `${APPROVED_BY_ANNOTATION} is missing`, raw };
  if (at === undefined) return { kind: 'invalid', problem: `${APPROVED_AT_ANNOTATION} is missing`, raw };
  const ms = parseRfc3339(at);
  if (ms === undefined)
    return {
      kind: 'invalid',
      problem: `${APPROVED_AT_ANNOTATION} "${at}" is not an RFC 3339 time with zone`,
      raw,
    };
  return { kind: 'valid', approval: { by: by.trim(), at: ms }, raw };
}
