// Owns every answer the webhook gives: AdmissionReview responses (allowed, refused, patched, internal
// error) and plain HTTP errors for requests that are not AdmissionReviews. Nothing else builds a response,
// so no code path can echo a raw internal error or forget the request uid.

import type { PatchOperation } from './jsonpatch.ts';
import type { AdmissionReview } from './types.ts';

/** The API server truncates longer warnings; we cut them first, at a word if we can. */
const MAX_WARNING = 256;
/** Warnings past 4 KiB in total are dropped by the API server. */
const MAX_WARNINGS_TOTAL = 4000;
const MAX_MESSAGE = 4000;

export type Outcome =
  | { readonly type: 'allow'; readonly warnings?: readonly string[]; readonly bypassed?: boolean }
  | {
      readonly type: 'patch';
      readonly patch: readonly PatchOperation[];
      readonly warnings?: readonly string[];
    }
  | {
      readonly type: 'deny';
      readonly messages: readonly string[];
      /** 403 Forbidden for policy refusals, 422 Invalid for malformed AIPolicy/AIBudget. */
      readonly code?: 403 | 422;
      readonly warnings?: readonly string[];
    }
  /** Something went wrong inside: fail open (admit) or closed (refuse), never with the error's text. */
  | { readonly type: 'error'; readonly failOpen: boolean };

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function clean(text: string): string {
  // Header-safe and single-line: warnings travel as HTTP Warning headers.
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = text.slice(0, max - 1);
  const space = head.lastIndexOf(' ');
  return (space > max * 0.6 ? head.slice(0, space) : head) + '…';
}

function warningsOf(list: readonly string[] | undefined): string[] | undefined {
  if (!list || list.length === 0) return undefined;
  const out: string[] = [];
  let total = 0;
  for (const w of list) {
    const one = cut(clean(w), MAX_WARNING);
    if (!one) continue;
    if (total + one.length > MAX_WARNINGS_TOTAL) break;
    total += one.length;
    out.push(one);
  }
  return out.length ? out : undefined;
}

/** The AdmissionReview answering request `uid` with `outcome`. */
export function reviewResponse(uid: string, outcome: Outcome): AdmissionReview {
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' } as const;
  switch (outcome.type) {
    case 'allow': {
      const warnings = warningsOf(outcome.warnings);
      return { ...base, response: { uid, allowed: true, ...(warnings ? { warnings } : {}) } };
    }
    case 'patch': {
      const warnings = warningsOf(outcome.warnings);
      if (outcome.patch.length === 0) {
        return { ...base, response: { uid, allowed: true, ...(warnings ? { warnings } : {}) } };
      }
      return {
        ...base,
        response: {
          uid,
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify(outcome.patch)).toString('base64'),
          ...(warnings ? { warnings } : {}),
        },
      };
    }
    case 'deny': {
      const code = outcome.code ?? 403;
      const warnings = warningsOf(outcome.warnings);
      const message = cut(clean(outcome.messages.join('; ')), MAX_MESSAGE) || 'refused by GenOps policy';
      return {
        ...base,
        response: {
          uid,
          allowed: false,
          status: { code, reason: code === 422 ? 'Invalid' : 'Forbidden', message },
          ...(warnings ? { warnings } : {}),
        },
      };
    }
    case 'error':
      return outcome.failOpen
        ? {
            ...base,
            response: {
              uid,
              allowed: true,
              warnings: [
                'GenOps admission could not evaluate this request (internal error); admitted without checks',
              ],
            },
          }
        : {
            ...base,
            response: {
              uid,
              allowed: false,
              status: {
                code: 500,
                reason: 'InternalError',
                message: 'GenOps admission could not evaluate this request (internal error); retry shortly',
              },
            },
          };
  }
}

export function reviewAnswer(uid: string, outcome: Outcome): HttpAnswer {
  return { status: 200, contentType: 'application/json', body: JSON.stringify(reviewResponse(uid, outcome)) };
}

/** Plain HTTP answers for what is not an AdmissionReview exchange. */
export function httpError(status: 400 | 404 | 405 | 413 | 415 | 503, message: string): HttpAnswer {
  return { status, contentType: 'text/plain; charset=utf-8', body: message + '\n' };
}
