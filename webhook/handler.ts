// Owns the dispatch of one AdmissionReview: parse and check the envelope, route by path to injection,
// workload policy or AIPolicy/AIBudget validation, time it, count it, audit it, and answer through
// admission/respond.ts. Transport (TLS, health, shutdown) lives in server.ts.

import type { Clock } from '../kernel/clock.ts';
import type { Logger } from '../kernel/logger.ts';
import type { AdmissionRequest, AdmissionReview, Pod } from './admission/types.ts';
import { isRecord } from './admission/types.ts';
import type { HttpAnswer, Outcome } from './admission/respond.ts';
import { httpError, reviewAnswer } from './admission/respond.ts';
import type { InjectionConfig } from './inject/config.ts';
import { buildInjectionPatch, shouldInject } from './inject/pod.ts';
import type { ReviewOutcome, WebhookMetrics, WebhookName } from './metrics.ts';
import { evaluate } from './policy/evaluate.ts';
import { subjectOf } from './policy/subject.ts';
import type { SchemaCheck } from './genops/validate.ts';
import { crdSchemaCheck, validateGenOps } from './genops/validate.ts';
import type { AdmissionView } from './view.ts';
import type { BypassGate } from './bypass/gate.ts';
import { labelEscapes } from './policy/escape.ts';

export const PATHS: Readonly<Record<WebhookName, string>> = {
  'mutate-pods': '/mutate-pods',
  'mutate-bypass': '/mutate-bypass',
  'validate-workloads': '/validate-workloads',
  'validate-genops': '/validate-genops',
};
const BY_PATH = new Map(Object.entries(PATHS).map(([name, path]) => [path, name as WebhookName]));

export interface AdmissionHandlerOptions {
  readonly view: AdmissionView;
  readonly injection: InjectionConfig;
  /** Schema check of AIPolicy/AIBudget; default the CRD's own (crds/validate.ts). */
  readonly schema?: SchemaCheck;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** Users whose requests are never refused (the operator's own identity, which restores what it scaled). */
  readonly exemptUsernames?: readonly string[];
  /** What the validating webhooks answer when they cannot judge (internal error, view not synced). Default false. */
  readonly failOpen?: boolean;
  /**
   * Who may bypass: approves genops.ai/bypass annotations (mutate-bypass) and lets holders of the
   * permission move a workload out of an enforcing budget or policy. Without it (local mode) bypass
   * annotations are not approved and such relabelling is refused.
   */
  readonly bypassGate?: BypassGate;
}

export interface AdmissionHandler {
  /** Whether `path` is an admission path. */
  handles(path: string): boolean;
  /**
   * Answers one review; never throws (nor rejects). `startedAt` is the performance.now() at which the
   * request arrived. Asynchronous only when the API server must be asked (a SubjectAccessReview).
   */
  review(path: string, body: Buffer, startedAt: number): HttpAnswer | Promise<HttpAnswer>;
}

function parseReview(body: Buffer): AdmissionRequest | string {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  if (!isRecord(doc) || doc['kind'] !== 'AdmissionReview' || doc['apiVersion'] !== 'admission.k8s.io/v1') {
    return 'expected an admission.k8s.io/v1 AdmissionReview';
  }
  const req = doc['request'];
  if (
    !isRecord(req) ||
    typeof req['uid'] !== 'string' ||
    !isRecord(req['resource']) ||
    typeof req['operation'] !== 'string'
  ) {
    return 'AdmissionReview without a valid request';
  }
  return req as unknown as AdmissionRequest;
}

export function createAdmissionHandler(options: AdmissionHandlerOptions): AdmissionHandler {
  const { view, injection, clock, metrics } = options;
  const logger = options.logger.child({ component: 'webhook' });
  const exempt = new Set(options.exemptUsernames ?? []);
  const failOpen = options.failOpen ?? false;

  const mutate = (req: AdmissionRequest): Outcome => {
    if (req.operation !== 'CREATE' || req.resource.resource !== 'pods' || req.subResource)
      return { type: 'allow' };
    const pod = req.object as Pod | undefined;
    if (!isRecord(pod)) return { type: 'allow' };
    if (!shouldInject(pod, view.namespaceLabels(req.namespace ?? ''))) return { type: 'allow' };
    return { type: 'patch', patch: buildInjectionPatch(pod, injection) };
  };

  const validateWorkload = (req: AdmissionRequest, name: WebhookName): Outcome | Promise<Outcome> => {
    const subject = subjectOf(req);
    if (!subject) return { type: 'allow' };
    if (req.userInfo?.username !== undefined && exempt.has(req.userInfo.username)) return { type: 'allow' };
    if (view.synced?.() === false) return { type: 'error', failOpen };
    const oldSubject =
      req.operation === 'UPDATE' && req.oldObject !== undefined
        ? subjectOf({ ...req, object: req.oldObject, operation: 'CREATE' })
        : undefined;
    const verdict = evaluate({ subject, oldSubject, operation: req.operation, view, now: clock.now() });
    for (const code of verdict.codes) metrics.ruled(name, code, verdict.allowed ? 'warned' : 'denied');
    const who = {
      namespace: subject.namespace,
      kind: subject.kind,
      name: subject.name,
      user: req.userInfo?.username,
    };
    if (verdict.bypass) {
      metrics.bypassUsed(subject.namespace, subject.kind);
      logger.warn('admission bypass used', {
        audit: true,
        ...who,
        operation: req.operation,
        bypassReason: verdict.bypass.reason,
        bypassBy: verdict.bypass.by,
        bypassExpires: new Date(verdict.bypass.expires).toISOString(),
        bypassFrom: verdict.bypass.from,
        wouldRefuse: verdict.warnings[0],
      });
    }
    if (!verdict.allowed) {
      logger.info('admission refused', {
        audit: true,
        ...who,
        operation: req.operation,
        reasons: verdict.denials,
      });
      return { type: 'deny', messages: verdict.denials, warnings: verdict.warnings };
    }
    const allowed: Outcome = {
      type: 'allow',
      warnings: verdict.warnings,
      bypassed: verdict.bypass !== undefined,
    };
    // Relabelling out of a budget or policy that is throttling or blocking the workload: an escape,
    // unless the user holds the bypass permission.
    const escapes =
      req.operation === 'UPDATE' && oldSubject !== undefined && !subject.isScale
        ? labelEscapes(oldSubject, subject, view)
        : [];
    if (escapes.length === 0) return allowed;
    return (async (): Promise<Outcome> => {
      const permitted = options.bypassGate
        ? await options.bypassGate.canBypass(req, subject.namespace)
        : false;
      logger.warn(
        permitted ? 'admission relabel out of enforcement by a bypass holder' : 'admission relabel refused',
        {
          audit: true,
          ...who,
          groups: req.userInfo?.groups,
          leaving: escapes.map((e) => `${e.kind}/${e.namespace}/${e.name}`),
        },
      );
      metrics.ruled(name, 'RELABEL_ESCAPE', permitted ? 'warned' : 'denied');
      const text = escapes.map((e) => `${e.kind} "${e.name}" (${e.action})`).join(', ');
      if (permitted)
        return {
          ...allowed,
          warnings: [
            ...verdict.warnings,
            `leaves ${text}, allowed by the bypass permission of ${who.user ?? ''}`,
          ],
        };
      return {
        type: 'deny',
        messages: [
          `this label change takes ${subject.kind} ${subject.name} out of ${text} that is enforcing on it; only a user with the bypass permission may do that while it enforces`,
        ],
      };
    })();
  };

  const validateResource = (req: AdmissionRequest, name: WebhookName): Outcome => {
    if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return { type: 'allow' };
    if (req.subResource) return { type: 'allow' };
    const verdict = validateGenOps({
      object: req.object,
      namespace: req.namespace ?? '',
      view,
      schema: options.schema ?? crdSchemaCheck,
    });
    if (verdict.problems.length > 0) {
      metrics.ruled(name, 'INVALID_RESOURCE', 'denied');
      return { type: 'deny', code: 422, messages: verdict.problems, warnings: verdict.warnings };
    }
    return { type: 'allow', warnings: verdict.warnings };
  };

  return {
    handles: (path) => BY_PATH.has(path),
    review(path, body, startedAt) {
      const name = BY_PATH.get(path);
      if (name === undefined) return httpError(404, 'not found');
      const req = parseReview(body);
      if (typeof req === 'string') {
        metrics.reviewed(name, 'error', (performance.now() - startedAt) / 1000);
        return httpError(400, req);
      }
      const failed = (err: unknown): Outcome => {
        logger.error('admission review failed', {
          webhook: name,
          uid: req.uid,
          resource: req.resource.resource,
          namespace: req.namespace,
          err,
        });
        // Mutations always fail open: a pod without telemetry beats a pod that cannot start, and an
        // unapproved bypass is simply not honoured.
        return { type: 'error', failOpen: name === 'mutate-pods' || name === 'mutate-bypass' || failOpen };
      };
      let pending: Outcome | Promise<Outcome>;
      try {
        pending =
          name === 'mutate-pods'
            ? mutate(req)
            : name === 'mutate-bypass'
              ? (options.bypassGate?.review(req) ?? { type: 'allow' })
              : name === 'validate-workloads'
                ? validateWorkload(req, name)
                : validateResource(req, name);
      } catch (err) {
        pending = failed(err);
      }
      if (pending instanceof Promise)
        return pending.then(
          (outcome) => answer(name, req, outcome, startedAt),
          (err: unknown) => answer(name, req, failed(err), startedAt),
        );
      return answer(name, req, pending, startedAt);
    },
  };

  function answer(name: WebhookName, req: AdmissionRequest, first: Outcome, startedAt: number): HttpAnswer {
    let outcome = first;
    let answer: HttpAnswer;
    try {
      answer = reviewAnswer(req.uid, outcome);
    } catch (err) {
      logger.error('admission response failed', { webhook: name, uid: req.uid, err });
      outcome = { type: 'error', failOpen: name === 'mutate-pods' || name === 'mutate-bypass' || failOpen };
      answer = reviewAnswer(req.uid, outcome);
    }
    metrics.reviewed(name, outcomeName(outcome), (performance.now() - startedAt) / 1000);
    return answer;
  }
}

function outcomeName(outcome: Outcome): ReviewOutcome {
  switch (outcome.type) {
    case 'patch':
      return outcome.patch.length > 0 ? 'patched' : 'allowed';
    case 'allow':
      if (outcome.bypassed === true) return 'bypassed';
      return outcome.warnings && outcome.warnings.length > 0 ? 'warned' : 'allowed';
    case 'deny':
      return 'denied';
    case 'error':
      return 'error';
  }
}

export type { AdmissionReview };
