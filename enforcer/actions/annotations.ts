// Owns the annotations the operator writes on workloads and HPAs, and their meaning:
//
//   On a workload (Deployment, StatefulSet, any resource with a /scale subresource):
//     genops.ai/status             warn | throttle | block | bypassed   (absent when nothing is enforced)
//     genops.ai/reason             what causes it: "CODE:Kind/name,..." sorted, e.g.
//                                  "BUDGET_EXCEEDED:AIBudget/team-budget,RATE_LIMITED:AIPolicy/prod"
//     genops.ai/original-replicas  replicas before the operator scaled it down; present exactly while
//                                  the operator holds it scaled down; the restore target
//   On a HorizontalPodAutoscaler that targets a throttled/blocked workload:
//     genops.ai/original-min-replicas, genops.ai/original-max-replicas   its bounds before clamping
//
// Written with JSON merge patches (null removes), so re-running a reconcile changes nothing.

export const STATUS_ANNOTATION = 'genops.ai/status';
export const REASON_ANNOTATION = 'genops.ai/reason';
export const ORIGINAL_REPLICAS_ANNOTATION = 'genops.ai/original-replicas';
export const HPA_ORIGINAL_MIN_ANNOTATION = 'genops.ai/original-min-replicas';
export const HPA_ORIGINAL_MAX_ANNOTATION = 'genops.ai/original-max-replicas';

/** Parses a non-negative integer annotation; undefined when absent or not one. */
export function intAnnotation(
  annotations: Readonly<Record<string, string>> | undefined,
  key: string,
): number | undefined {
  const v = annotations?.[key];
  if (v === undefined || !/^\d{1,9}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}
