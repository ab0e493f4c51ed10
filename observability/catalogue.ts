// Owns the one catalogue of the operator's Prometheus metrics: name, type, help, labels, buckets and
// where each value comes from. The registry (metrics.ts), the docs (gen-docs.ts -> docs/metrics.md),
// the dashboards (grafana/) and the alert tests all read this list, so a metric exists only here.
// No prom-client import: the catalogue is plain data.

export type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * Where a value comes from:
 * - `event`: incremented/observed by a stage through a metrics port (per replica, since start);
 * - `snapshot`: computed at scrape time from the latest UsageSnapshot;
 * - `decisions`: computed at scrape time from the latest DecisionSet (and the snapshot for rates).
 */
export type MetricSource = 'event' | 'snapshot' | 'decisions';

/** Every label the operator uses. Values are bounded: see LABELS for what each may hold. */
export type LabelName =
  | 'namespace'
  | 'workload'
  | 'workload_kind'
  | 'team'
  | 'project'
  | 'provider'
  | 'model'
  | 'token_type'
  | 'budget_name'
  | 'policy'
  | 'reason'
  | 'action'
  | 'period'
  | 'transport'
  | 'outcome'
  | 'webhook'
  | 'operation'
  | 'kind'
  | 'queue'
  | 'resource'
  | 'verb'
  | 'code'
  | 'metric'
  | 'stage'
  | 'effect'
  | 'version'
  | 'instrumentation'
  | 'protocol';

export interface MetricDef {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly LabelName[];
  readonly source: MetricSource;
  /** Histogram buckets (seconds unless the name says otherwise). */
  readonly buckets?: readonly number[];
  /** Named in the seed README; the name and meaning are a public promise. */
  readonly seed?: true;
  /** Grouping for the generated reference. */
  readonly group: MetricGroup;
}

export type MetricGroup =
  | 'Usage and cost'
  | 'Budgets'
  | 'Budget-aware autoscaling'
  | 'Policies and enforcement'
  | 'Ingest (OTLP)'
  | 'Admission webhook'
  | 'Gateway authorization'
  | 'Controller'
  | 'Self';

/** What each label holds and why its value set stays bounded. */
export const LABELS: Readonly<Record<LabelName, string>> = {
  namespace: 'Kubernetes namespace of the workload, budget or policy.',
  workload: 'Name of the owning workload (Deployment, StatefulSet, ... or service name in local mode).',
  workload_kind:
    'Kind of the owning workload: Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod or Service.',
  team: 'Value of the workload label `team` (or `genops.ai/team`); "" when absent.',
  project: 'Value of the workload label `project` (or `genops.ai/project`); "" when absent.',
  provider: 'GenAI provider (`gen_ai.provider.name`), e.g. openai, anthropic.',
  model: 'Response model (or request model when no response model was reported).',
  token_type: 'input, output, cache_read, cache_write or reasoning.',
  budget_name: 'Name of the AIBudget (with `namespace`, identifies it).',
  policy: 'Name of the AIPolicy or AIBudget that produced the reason.',
  reason: 'Reason code (BUDGET_EXCEEDED, RATE_LIMITED, POLICY_DENY_MODEL, ...) or refusal reason.',
  action:
    'allow, warn, throttle or block; for enforcement actions: what was done (scale, annotate, event, status, restore).',
  period: 'daily, weekly, monthly, quarterly or yearly.',
  transport: 'otlp-grpc, otlp-http-protobuf or otlp-http-json.',
  outcome:
    'Result of an operation: success, error, retry; for admissions allowed, patched, warned, denied, bypassed, error; ' +
    'for usage record writes written, failed; for gateway checks allowed, denied, bypassed, error, unavailable.',
  webhook: 'Admission webhook: mutate-pods, mutate-bypass, validate-workloads or validate-genops.',
  operation: 'Admission operation: CREATE, UPDATE, DELETE, CONNECT.',
  stage: 'Certificate step that failed: reload or rotate.',
  effect: 'What a webhook rule did to the request: denied or warned.',
  protocol: 'Gateway authorization protocol: grpc (Envoy ext_authz) or http (forward-auth /v1/check).',
  kind: 'Kubernetes kind of the object acted upon.',
  queue: 'Controller work queue name.',
  resource: 'Kubernetes resource (plural) an informer watches.',
  verb: 'HTTP verb of a Kubernetes API call (GET, LIST, WATCH, PATCH, ...).',
  code: 'HTTP status of a Kubernetes API call; 0 when no response arrived.',
  metric: 'Name of the metric whose new series was dropped.',
  version: 'Operator version.',
  instrumentation:
    'Instrumentation profile that read the span (pipeline/genai/profiles.ts ids: vercel-ai, botocore, pydantic-ai, ..., default).',
};

const LATENCY_FAST = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const LATENCY_SLOW = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const WORKLOAD: readonly LabelName[] = ['namespace', 'workload'];
const WORKLOAD_MODEL: readonly LabelName[] = ['namespace', 'workload', 'provider', 'model'];
const BUDGET: readonly LabelName[] = ['budget_name', 'namespace'];
const SCALE_TARGET: readonly LabelName[] = ['namespace', 'workload', 'workload_kind'];

export const CATALOGUE: readonly MetricDef[] = [
  // ---- Usage and cost --------------------------------------------------------------------------
  {
    name: 'genops_cost_total_usd',
    type: 'counter',
    help:
      'USD this process charged to GenAI requests it received since it started (operator price table, ' +
      'after dedupe). Starts at 0 on every restart, so rate()/increase() count each span once; sum over ' +
      'replicas for the cluster. The month so far, restored across restarts: genops_cost_month_to_date_usd.',
    labels: WORKLOAD_MODEL,
    source: 'event',
    seed: true,
    group: 'Usage and cost',
  },
  {
    name: 'genops_cost_month_to_date_usd',
    type: 'gauge',
    help:
      'USD charged to GenAI requests received by this replica in the current month, including what it ' +
      'restored after a restart (usage record and write-ahead log); resets at the start of the month. ' +
      'Sum over replicas for the cluster; do not rate() it.',
    labels: WORKLOAD,
    source: 'snapshot',
    group: 'Usage and cost',
  },
  {
    name: 'genops_tokens_total',
    type: 'counter',
    help: 'Tokens of GenAI requests this process charged since it started, by token type.',
    labels: [...WORKLOAD_MODEL, 'token_type'],
    source: 'event',
    group: 'Usage and cost',
  },
  {
    name: 'genops_requests_total',
    type: 'counter',
    help: 'GenAI inference requests (charged spans) this process charged since it started.',
    labels: WORKLOAD_MODEL,
    source: 'event',
    group: 'Usage and cost',
  },
  {
    name: 'genops_requests_per_second',
    type: 'gauge',
    help: 'GenAI requests per second of the workload over the last minute (sliding window).',
    labels: WORKLOAD,
    source: 'snapshot',
    seed: true,
    group: 'Usage and cost',
  },
  {
    name: 'genops_content_safety_score',
    type: 'gauge',
    help: 'Mean content-safety score (0..1) reported for the workload today; absent when none was reported.',
    labels: WORKLOAD,
    source: 'snapshot',
    seed: true,
    group: 'Usage and cost',
  },
  {
    name: 'genops_content_safety_score_min',
    type: 'gauge',
    help: 'Lowest content-safety score (0..1) reported for the workload today.',
    labels: WORKLOAD,
    source: 'snapshot',
    group: 'Usage and cost',
  },
  {
    name: 'genops_workload_period_spend_usd',
    type: 'gauge',
    help: 'Spend of the workload in the current period (including spend restored from the cluster).',
    labels: [...WORKLOAD, 'period'],
    source: 'snapshot',
    group: 'Usage and cost',
  },
  {
    name: 'genops_workload_info',
    type: 'gauge',
    help:
      'Always 1: maps a workload to its kind, team and project for joins, e.g. ' +
      '`sum by (team) (rate(genops_cost_total_usd[1h]) * on (namespace, workload) group_left (team) genops_workload_info)`.',
    labels: ['namespace', 'workload', 'workload_kind', 'team', 'project'],
    source: 'snapshot',
    group: 'Usage and cost',
  },
  {
    name: 'genops_workloads_tracked',
    type: 'gauge',
    help: 'Workloads the usage windows hold.',
    labels: [],
    source: 'event',
    group: 'Usage and cost',
  },

  // ---- Budgets ------------------------------------------------------------------------------------
  {
    name: 'genops_budget_utilization_percent',
    type: 'gauge',
    help: 'Spend of the AIBudget in its current period as a percentage of its allocation.',
    labels: BUDGET,
    source: 'decisions',
    seed: true,
    group: 'Budgets',
  },
  {
    name: 'genops_budget_spend_usd',
    type: 'gauge',
    help: 'Spend of the AIBudget in its current period, USD.',
    labels: BUDGET,
    source: 'decisions',
    group: 'Budgets',
  },
  {
    name: 'genops_budget_limit_usd',
    type: 'gauge',
    help: 'Allocation of the AIBudget for its current period, USD.',
    labels: BUDGET,
    source: 'decisions',
    group: 'Budgets',
  },
  {
    name: 'genops_budget_remaining_usd',
    type: 'gauge',
    help: 'Allocation left in the current period, USD (negative when overspent).',
    labels: BUDGET,
    source: 'decisions',
    group: 'Budgets',
  },
  {
    name: 'genops_budget_projected_spend_usd',
    type: 'gauge',
    help: 'Spend projected at the end of the current period at the current burn rate, USD.',
    labels: BUDGET,
    source: 'decisions',
    group: 'Budgets',
  },
  {
    name: 'genops_budget_projected_exhaustion_timestamp_seconds',
    type: 'gauge',
    help:
      'When the allocation runs out at the current burn rate (Unix seconds); absent when nothing is spent yet, ' +
      'the time of the computation when already exhausted.',
    labels: BUDGET,
    source: 'decisions',
    group: 'Budgets',
  },
  {
    name: 'genops_budget_period_end_timestamp_seconds',
    type: 'gauge',
    help: 'When the current period ends and spend resets (Unix seconds).',
    labels: BUDGET,
    source: 'decisions',
    group: 'Budgets',
  },
  {
    name: 'genops_budget_action',
    type: 'gauge',
    help: '1 for the action the AIBudget enforces now (allow, warn, throttle, block), 0 for the others.',
    labels: [...BUDGET, 'action'],
    source: 'decisions',
    group: 'Budgets',
  },
  {
    name: 'genops_budget_pending_approval',
    type: 'gauge',
    help: '1 while the AIBudget waits for an approval to exceed its allocation.',
    labels: BUDGET,
    source: 'decisions',
    group: 'Budgets',
  },

  // ---- Budget-aware autoscaling ---------------------------------------------------------------------
  {
    name: 'genops_workload_budget_headroom_ratio',
    type: 'gauge',
    help:
      'Allocation left / allocation (0..1) of the tightest AIBudget that selects the workload. ' +
      '0 means exhausted. Absent when no budget selects it.',
    labels: SCALE_TARGET,
    source: 'decisions',
    group: 'Budget-aware autoscaling',
  },
  {
    name: 'genops_workload_budget_burn_ratio',
    type: 'gauge',
    help:
      'Current burn rate / sustainable burn rate of the tightest AIBudget that selects the workload: ' +
      '(projected spend - spend) / (allocation - spend). Above 1 the budget runs out before the period ends; ' +
      'capped at 1000 (already exhausted).',
    labels: SCALE_TARGET,
    source: 'decisions',
    group: 'Budget-aware autoscaling',
  },
  {
    name: 'genops_workload_allowed_replicas',
    type: 'gauge',
    help:
      'Replicas the workload can run and still finish the period within budget: floor(current replicas / burn ratio), ' +
      'capped at the configured maximum. Absent when the current replica count or a selecting budget is unknown.',
    labels: SCALE_TARGET,
    source: 'decisions',
    group: 'Budget-aware autoscaling',
  },

  // ---- Policies and enforcement -------------------------------------------------------------------
  {
    name: 'genops_policy_violations_total',
    type: 'counter',
    help:
      'Policy and budget violations found by the decision stage: counted when a workload starts violating a rule ' +
      '(once per workload, rule and reason while it lasts). Admission refusals are genops_webhook_rulings_total.',
    labels: ['namespace', 'workload', 'policy', 'reason'],
    source: 'event',
    seed: true,
    group: 'Policies and enforcement',
  },
  {
    name: 'genops_workload_action',
    type: 'gauge',
    help: '1 for each workload currently under an action other than allow (warn, throttle, block).',
    labels: ['namespace', 'workload', 'action'],
    source: 'decisions',
    group: 'Policies and enforcement',
  },
  {
    name: 'genops_workloads_by_action',
    type: 'gauge',
    help: 'Workloads per action after the last evaluation (allow, warn, throttle, block).',
    labels: ['action'],
    source: 'event',
    group: 'Policies and enforcement',
  },
  {
    name: 'genops_workloads_bypassed',
    type: 'gauge',
    help: 'Workloads whose enforcement an emergency bypass annotation suspends, after the last evaluation.',
    labels: [],
    source: 'event',
    group: 'Policies and enforcement',
  },
  {
    name: 'genops_enforcement_actions_total',
    type: 'counter',
    help: 'Writes the enforcer made to the cluster, by what it did (scale, annotate, event, status, restore, hpa) and outcome.',
    labels: ['namespace', 'kind', 'action', 'outcome'],
    source: 'event',
    group: 'Policies and enforcement',
  },
  {
    name: 'genops_decision_evaluations_total',
    type: 'counter',
    help: 'Evaluations of the decision stage.',
    labels: [],
    source: 'event',
    group: 'Policies and enforcement',
  },
  {
    name: 'genops_decision_duration_seconds',
    type: 'histogram',
    help: 'Time one evaluation of policies and budgets against the usage snapshot took.',
    labels: [],
    source: 'event',
    buckets: LATENCY_FAST,
    group: 'Policies and enforcement',
  },

  // ---- Ingest ---------------------------------------------------------------------------------------
  {
    name: 'genops_spans_received_total',
    type: 'counter',
    help: 'Spans decoded from accepted OTLP export requests (every span, GenAI or not).',
    labels: ['transport'],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_spans_rejected_total',
    type: 'counter',
    help: 'Spans refused, individually (partial success) or with their whole request.',
    labels: ['transport', 'reason'],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_otlp_requests_refused_total',
    type: 'counter',
    help: 'Whole OTLP export requests refused before decoding (4xx/5xx, gRPC error).',
    labels: ['transport', 'reason'],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_spans_charged_total',
    type: 'counter',
    help: 'GenAI inference spans charged to a workload.',
    labels: [],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_spans_deduplicated_total',
    type: 'counter',
    help: 'Charged spans dropped as retried duplicates (same trace id and span id seen before).',
    labels: [],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_spans_unknown_model_total',
    type: 'counter',
    help: 'Charged spans whose model had no price (the fallback price was applied).',
    labels: ['provider', 'model'],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_model_names_folded_total',
    type: 'counter',
    help: 'Usage charged to a workload\'s "other" model row: too many distinct model names for that workload, or the model catalogue is full.',
    labels: [],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_spans_nested_total',
    type: 'counter',
    help: 'Inference spans not charged because another span of the same provider call is (charge-once: the innermost span is charged).',
    labels: ['instrumentation'],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_spans_without_usage_total',
    type: 'counter',
    help: 'Charged inference spans that reported no token counts (counted as requests at cost 0; see docs/compatibility.md).',
    labels: ['instrumentation'],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_spans_spoofed_total',
    type: 'counter',
    help: 'Spans whose resource attributes named another pod or namespace than the pod that sent them.',
    labels: ['namespace'],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_ingest_queue_depth',
    type: 'gauge',
    help: 'OTLP requests waiting for a decode worker.',
    labels: [],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_ingest_queued_bytes',
    type: 'gauge',
    help: 'Bytes of OTLP request bodies queued or being decoded.',
    labels: [],
    source: 'event',
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_otlp_request_duration_seconds',
    type: 'histogram',
    help: 'Receipt to response of an OTLP export request, by transport and outcome (ok, partial or a refusal reason).',
    labels: ['transport', 'outcome'],
    source: 'event',
    buckets: LATENCY_FAST,
    group: 'Ingest (OTLP)',
  },
  {
    name: 'genops_ingest_visible_latency_seconds',
    type: 'histogram',
    help: 'Receipt of an OTLP request to its usage being visible in a published snapshot.',
    labels: [],
    source: 'event',
    buckets: LATENCY_SLOW,
    group: 'Ingest (OTLP)',
  },

  // ---- Admission webhook -----------------------------------------------------------------------------
  {
    name: 'genops_webhook_admissions_total',
    type: 'counter',
    help: 'Admission reviews answered, by webhook and outcome (allowed, patched, warned, denied, bypassed, error).',
    labels: ['webhook', 'outcome'],
    source: 'event',
    group: 'Admission webhook',
  },
  {
    name: 'genops_webhook_rulings_total',
    type: 'counter',
    help: 'Rules that refused or warned about an admission request, by reason code (BUDGET, POLICY_DENY_MODEL, ...).',
    labels: ['webhook', 'reason', 'effect'],
    source: 'event',
    group: 'Admission webhook',
  },
  {
    name: 'genops_webhook_bypasses_total',
    type: 'counter',
    help: 'Admissions an emergency bypass let through that a rule would have refused (audited in the log too).',
    labels: ['namespace', 'kind'],
    source: 'event',
    group: 'Admission webhook',
  },
  {
    name: 'genops_webhook_certificate_expiry_timestamp_seconds',
    type: 'gauge',
    help: 'When the serving certificate in use expires (Unix seconds).',
    labels: [],
    source: 'event',
    group: 'Admission webhook',
  },
  {
    name: 'genops_webhook_certificate_errors_total',
    type: 'counter',
    help: 'Certificate reloads or rotations that failed (the previous certificate stays in use).',
    labels: ['stage'],
    source: 'event',
    group: 'Admission webhook',
  },
  {
    name: 'genops_webhook_admission_duration_seconds',
    type: 'histogram',
    help: 'Time to answer one admission review (request read to response written).',
    labels: ['webhook'],
    source: 'event',
    buckets: LATENCY_FAST,
    group: 'Admission webhook',
  },

  // ---- Gateway authorization -------------------------------------------------------------------------
  {
    name: 'genops_authz_checks_total',
    type: 'counter',
    help:
      'Gateway authorization checks answered (Envoy ext_authz gRPC and HTTP forward-auth on --authz-port), by ' +
      'protocol, outcome (allowed, denied, bypassed, error, unavailable) and deny reason code ("" when allowed).',
    labels: ['protocol', 'outcome', 'reason'],
    source: 'event',
    group: 'Gateway authorization',
  },
  {
    name: 'genops_authz_check_duration_seconds',
    type: 'histogram',
    help: 'Time to answer one gateway authorization check (request read to answer written).',
    labels: ['protocol'],
    source: 'event',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
    group: 'Gateway authorization',
  },

  // ---- Controller ------------------------------------------------------------------------------------
  {
    name: 'genops_reconcile_total',
    type: 'counter',
    help: 'Reconciles finished, by queue and outcome (success, retry, error).',
    labels: ['queue', 'outcome'],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_reconcile_errors_total',
    type: 'counter',
    help: 'Reconciles that failed (retried or dropped as terminal).',
    labels: ['queue'],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_reconcile_duration_seconds',
    type: 'histogram',
    help: 'Time one reconcile took.',
    labels: ['queue'],
    source: 'event',
    buckets: LATENCY_SLOW,
    group: 'Controller',
  },
  {
    name: 'genops_workqueue_depth',
    type: 'gauge',
    help: 'Keys waiting in a controller work queue.',
    labels: ['queue'],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_kube_api_requests_total',
    type: 'counter',
    help: 'Kubernetes API calls finished (after retries), by verb and HTTP status (0 = no response).',
    labels: ['verb', 'code'],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_kube_api_request_duration_seconds',
    type: 'histogram',
    help: 'Duration of Kubernetes API calls, retries included.',
    labels: ['verb'],
    source: 'event',
    buckets: LATENCY_SLOW,
    group: 'Controller',
  },
  {
    name: 'genops_kube_client_rate_limit_wait_seconds',
    type: 'histogram',
    help: 'Time a write waited for the client-side rate limiter.',
    labels: [],
    source: 'event',
    buckets: LATENCY_SLOW,
    group: 'Controller',
  },
  {
    name: 'genops_informer_restarts_total',
    type: 'counter',
    help: 'Informer failures followed by a restart after backoff.',
    labels: ['resource'],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_usage_record_writes_total',
    type: 'counter',
    help: "Writes of this replica's usage record (its spend of the current periods) to the cluster.",
    labels: ['outcome'],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_wal_sync_duration_seconds',
    type: 'histogram',
    help: 'One group commit of the usage write-ahead log (write + fdatasync of a batch): OTLP answers wait for it.',
    labels: [],
    source: 'event',
    buckets: LATENCY_FAST,
    group: 'Controller',
  },
  {
    name: 'genops_wal_entries_total',
    type: 'counter',
    help: 'Requests whose usage change was made durable in the write-ahead log.',
    labels: [],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_wal_bytes',
    type: 'gauge',
    help: 'Bytes in the write-ahead log segments (pruned after usage record writes and the dedupe window).',
    labels: [],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_wal_write_failures_total',
    type: 'counter',
    help: 'Write-ahead log write or sync failures; after one, OTLP requests are refused (retryable) until restart.',
    labels: [],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_usage_record_bytes',
    type: 'gauge',
    help: "Encoded size of this replica's last usage record write.",
    labels: [],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_usage_records_merged',
    type: 'gauge',
    help: "Other replicas' usage records merged into the decisions of this replica.",
    labels: [],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_leader',
    type: 'gauge',
    help: '1 while this replica holds the leader Lease (decides and enforces), else 0.',
    labels: [],
    source: 'event',
    group: 'Controller',
  },
  {
    name: 'genops_leader_transitions_total',
    type: 'counter',
    help: 'Times this replica acquired or lost the leader Lease.',
    labels: [],
    source: 'event',
    group: 'Controller',
  },

  // ---- Self --------------------------------------------------------------------------------------------
  {
    name: 'genops_metrics_series_dropped_total',
    type: 'counter',
    help:
      'Label combinations not exported because the metric reached its series cap (or, for scrape-time gauges, ' +
      'dropped at the last scrape).',
    labels: ['metric'],
    source: 'event',
    group: 'Self',
  },
  {
    name: 'genops_build_info',
    type: 'gauge',
    help: 'Always 1, labelled with the operator version.',
    labels: ['version'],
    source: 'event',
    group: 'Self',
  },
];

/** Catalogue entry by name; throws for a name the catalogue does not define (a programming error). */
export function metricDef(name: string): MetricDef {
  const def = CATALOGUE.find((d) => d.name === name);
  if (!def) throw new Error(`metric ${name} is not in the catalogue`);
  return def;
}

/**
 * Every series name Prometheus shows for the catalogue: histograms add _bucket, _sum and _count.
 * Dashboards and rules may use any of these and nothing else with the genops_ prefix.
 */
export function exportedSeriesNames(catalogue: readonly MetricDef[] = CATALOGUE): Set<string> {
  const names = new Set<string>();
  for (const def of catalogue) {
    names.add(def.name);
    if (def.type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(def.name + suffix);
    }
  }
  return names;
}
