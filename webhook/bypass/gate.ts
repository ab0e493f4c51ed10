// Owns who may suspend enforcement. A `genops.ai/bypass` annotation set or changed on a workload or a
// Namespace passes through this mutating webhook: the requesting user (AdmissionReview userInfo, as the
// API server authenticated them) must hold the verb `bypass` on aibudgets.genops.ai in that namespace,
// asked of the API server with a SubjectAccessReview. Allowed: the webhook adds the approval marker
// (approval.ts) with that user and the expiry capped to the configured maximum. Refused: the request is
// refused with the reason. A bypass without a valid marker (set while the webhook was down, by a
// controller, copied, edited) is ignored by the enforcer and by admission.
//
// The same permission lets a user move a workload out of an enforcing budget or policy (canBypass).

import type { Clock } from '../../kernel/clock.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { KubeApi } from '../../cluster/api.ts';
import type { ResourceType } from '../../cluster/resources.ts';
import { BYPASS_ANNOTATION, parseBypass } from '../../decision/annotations.ts';
import type { AdmissionRequest, UserInfo } from '../admission/types.ts';
import { isRecord } from '../admission/types.ts';
import type { Outcome } from '../admission/respond.ts';
import { pointer, type PatchOperation } from '../admission/jsonpatch.ts';
import {
  BYPASS_APPROVAL_ANNOTATION,
  DEFAULT_BYPASS_MAX_MS,
  namespaceHolder,
  signApproval,
  workloadHolder,
  type BypassHolder,
} from './approval.ts';

export const BYPASS_VERB = 'bypass';
export const BYPASS_RESOURCE = { group: 'genops.ai', resource: 'aibudgets' } as const;

/** Asks the API server whether a user may bypass in a namespace. */
export interface AccessReviewer {
  canBypass(
    user: UserInfo & { readonly extra?: Readonly<Record<string, readonly string[]>> },
    namespace: string,
  ): Promise<boolean>;
}

const SUBJECT_ACCESS_REVIEW: ResourceType = {
  group: 'authorization.k8s.io',
  version: 'v1',
  plural: 'subjectaccessreviews',
  kind: 'SubjectAccessReview',
  namespaced: false,
};

interface SubjectAccessReviewObject {
  apiVersion: string;
  kind: string;
  metadata?: Record<string, unknown>;
  spec?: Record<string, unknown>;
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

export function createKubeAccessReviewer(api: Pick<KubeApi, 'create'>): AccessReviewer {
  return {
    async canBypass(user, namespace) {
      if (user.username === undefined) return false;
      const review = await api.create<SubjectAccessReviewObject>(SUBJECT_ACCESS_REVIEW, undefined, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        metadata: {},
        spec: {
          user: user.username,
          ...(user.uid === undefined ? {} : { uid: user.uid }),
          groups: [...(user.groups ?? [])],
          ...(user.extra === undefined ? {} : { extra: user.extra }),
          resourceAttributes: { ...BYPASS_RESOURCE, verb: BYPASS_VERB, namespace },
        },
      });
      return review.status?.allowed === true && review.status.denied !== true;
    },
  };
}

export interface BypassGateOptions {
  readonly reviewer: AccessReviewer;
  /** The approval key; undefined until loaded (then bypasses are not approved, so not honoured). */
  readonly key: () => Buffer | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Longest bypass from the moment of approval; default 24 h. */
  readonly maxDurationMs?: number;
}

export interface BypassGate {
  /** The mutating review of a workload or Namespace; only acts when the bypass annotation is involved. */
  review(req: AdmissionRequest): Promise<Outcome>;
  /** Whether the request's user holds the bypass permission in `namespace` (false when it cannot tell). */
  canBypass(req: AdmissionRequest, namespace: string): Promise<boolean>;
}

function annotationsOf(obj: unknown): Readonly<Record<string, string>> {
  if (!isRecord(obj) || !isRecord(obj['metadata'])) return {};
  const a = obj['metadata']['annotations'];
  return isRecord(a) ? (a as Record<string, string>) : {};
}

function nameOf(req: AdmissionRequest): string | undefined {
  if (req.name !== undefined && req.name !== '') return req.name;
  const obj = req.object;
  if (isRecord(obj) && isRecord(obj['metadata']) && typeof obj['metadata']['name'] === 'string')
    return obj['metadata']['name'];
  return undefined;
}

/** The holder and the namespace whose permission counts, for a workload or Namespace request. */
function holderOf(req: AdmissionRequest): { holder: BypassHolder; namespace: string } | undefined {
  const name = nameOf(req);
  if (name === undefined) return undefined;
  if (req.resource.group === '' && req.resource.resource === 'namespaces')
    return { holder: namespaceHolder(name), namespace: name };
  if (req.namespace === undefined || req.namespace === '') return undefined;
  return { holder: workloadHolder(req.namespace, req.kind.kind, name), namespace: req.namespace };
}

export function createBypassGate(options: BypassGateOptions): BypassGate {
  const maxMs = options.maxDurationMs ?? DEFAULT_BYPASS_MAX_MS;
  const log = options.logger.child({ component: 'bypass-gate' });
  const markerPath = pointer('metadata', 'annotations', BYPASS_APPROVAL_ANNOTATION);

  const canBypass = async (req: AdmissionRequest, namespace: string): Promise<boolean> => {
    try {
      return await options.reviewer.canBypass(
        req.userInfo as UserInfo & { extra?: Record<string, string[]> },
        namespace,
      );
    } catch (err) {
      log.error('SubjectAccessReview failed; treating the user as without the bypass permission', { err });
      return false;
    }
  };

  return {
    canBypass,
    async review(req) {
      if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return { type: 'allow' };
      if (req.subResource) return { type: 'allow' };
      const now = isRecord(req.object) ? annotationsOf(req.object) : {};
      const before = req.operation === 'UPDATE' ? annotationsOf(req.oldObject) : {};
      const raw = now[BYPASS_ANNOTATION];
      const marker = now[BYPASS_APPROVAL_ANNOTATION];
      if (raw === undefined) {
        // A marker without a bypass means nothing; drop it so it cannot wait for a matching text.
        return marker === undefined
          ? { type: 'allow' }
          : { type: 'patch', patch: [{ op: 'remove', path: markerPath }] };
      }
      // Unchanged bypass and marker (any other edit of the object): nothing to decide again.
      if (
        raw === before[BYPASS_ANNOTATION] &&
        marker === before[BYPASS_APPROVAL_ANNOTATION] &&
        marker !== undefined
      )
        return { type: 'allow' };
      const target = holderOf(req);
      if (target === undefined) return { type: 'allow' };
      const user = req.userInfo?.username ?? '';
      const parsed = parseBypass(raw);
      if (!parsed.ok)
        return { type: 'deny', messages: [`${BYPASS_ANNOTATION} is malformed: ${parsed.problem}`] };
      const at = options.clock.now();
      if (parsed.bypass.expires <= at)
        return { type: 'deny', messages: [`${BYPASS_ANNOTATION} has already expired`] };
      if (!(await canBypass(req, target.namespace))) {
        log.warn('audit: bypass refused', {
          audit: true,
          user,
          groups: req.userInfo?.groups,
          holder: target.holder,
          declaredBy: parsed.bypass.by,
          reason: parsed.bypass.reason,
        });
        return {
          type: 'deny',
          messages: [
            `setting ${BYPASS_ANNOTATION} needs the permission "${BYPASS_VERB}" on ${BYPASS_RESOURCE.resource}.${BYPASS_RESOURCE.group} in namespace ${target.namespace}, which user "${user}" does not have (ClusterRole genops-bypass)`,
          ],
        };
      }
      const key = options.key();
      if (key === undefined) {
        return {
          type: 'allow',
          warnings: [
            `${BYPASS_ANNOTATION} was not approved: the operator is not ready; set it again in a moment`,
          ],
        };
      }
      const expires = Math.min(parsed.bypass.expires, at + maxMs);
      const signed = signApproval(key, target.holder, raw, { user, expires });
      log.warn('audit: bypass approved', {
        audit: true,
        user,
        groups: req.userInfo?.groups,
        holder: target.holder,
        declaredBy: parsed.bypass.by,
        reason: parsed.bypass.reason,
        expires: new Date(expires).toISOString(),
        capped: expires < parsed.bypass.expires,
      });
      const patch: PatchOperation[] = [{ op: 'add', path: markerPath, value: signed }];
      const warnings =
        expires < parsed.bypass.expires
          ? [
              `${BYPASS_ANNOTATION} approved for ${user} until ${new Date(expires).toISOString()} (the maximum duration)`,
            ]
          : [`${BYPASS_ANNOTATION} approved for ${user} until ${new Date(expires).toISOString()}`];
      return { type: 'patch', patch, warnings };
    },
  };
}
