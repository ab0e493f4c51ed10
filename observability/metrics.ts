// Owns the operator's Prometheus registry: one prom-client Registry per instance built from the
// catalogue (no global registry, no default process metrics unless asked), a series cap per metric
// with a counter for what was dropped, scrape-time gauges over the latest snapshot and decision set,
// and the adapters that implement the stages' metrics ports. Stages never import prom-client.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionMetrics } from '../decision/engine.ts';
import type { Action, DecisionSet } from '../decision/types.ts';
import type { InformerMetrics } from '../cluster/informer.ts';
import type { KubeClientMetrics } from '../cluster/api.ts';
import type { WorkQueueMetrics } from '../cluster/workqueue.ts';
import type { EnforcementMetrics, LeaderMetrics } from '../enforcer/metrics.ts';
import type { UsageStoreMetrics } from '../enforcer/state/usage-store.ts';
import type { WalMetrics } from '../pipeline/wal/wal.ts';
import { systemClock, type Clock } from '../kernel/clock.ts';
import { microsToUsd, type Micros } from '../kernel/money.ts';
import type { IngestMetrics } from '../pipeline/ingest-metrics.ts';
import type { UsageSnapshot, WorkloadRef } from '../pipeline/snapshot.ts';
import type { WebhookMetrics } from '../webhook/metrics.ts';
import type { AuthzMetrics } from '../authz/metrics.ts';
import { CATALOGUE, type MetricDef } from './catalogue.ts';
import {
  decisionValues,
  snapshotValues,
  USAGE_COUNTERS,
  USAGE_GAUGES,
  usageCounterValues,
  violationsOf,
  type DerivedOptions,
  type Labels,
  type Sample,
} from './derived.ts';

export { CATALOGUE, exportedSeriesNames, metricDef } from './catalogue.ts';

/** Longer label values are cut: a label is for grouping, not for carrying text. */
export const MAX_LABEL_VALUE_LENGTH = 128;
export const DEFAULT_MAX_SERIES_PER_METRIC = 10_000;

/** Usage charged to a workload after dedupe, one call per (workload, provider, model) group and batch. */
export interface ChargedUsage {
  readonly workload: WorkloadRef;
  readonly provider: string;
  readonly model: string;
  readonly requests: number;
  readonly costMicros: Micros;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
}

/** Port for the usage windows (or whoever applies deduplicated partial aggregates). */
export interface UsageMetrics {
  charged(usage: ChargedUsage): void;
}

/** Violations are edges of the level-based decisions: the root reports every published set. */
export interface ViolationMetrics {
  /** A new DecisionSet was published; violations not in force in the previous one are counted. */
  decisionsPublished(set: DecisionSet): void;
}

export interface MetricsOptions {
  readonly clock?: Clock;
  /** Latest usage snapshot for the scrape-time gauges; undefined until the pipeline publishes one. */
  readonly snapshot?: () => UsageSnapshot | undefined;
  /** Latest decision set for the budget and autoscaling gauges. */
  readonly decisions?: () => DecisionSet | undefined;
  /** Team/project label keys, replica lookup and allowed-replicas cap for the derived gauges. */
  readonly derived?: DerivedOptions;
  readonly maxSeriesPerMetric?: number;
  /** Per-metric overrides of the series cap. */
  readonly seriesCaps?: Readonly<Record<string, number>>;
  /** Also export prom-client's process/Node.js metrics (process_*, nodejs_*). Off by default. */
  readonly defaultMetrics?: boolean;
  /** Sets genops_build_info{version}. */
  readonly version?: string;
  /**
   * Who exports the scrape-time gauges (usage snapshot and decisions hold the whole cluster on every
   * replica) and counts violations found by the decision stage: 'leader' (default) exports them only
   * while leader.leader(true) is in force, so each budget has one series and alerts fire once;
   * 'always' for a single process without leader election (`genops local`).
   */
  readonly clusterGauges?: 'leader' | 'always';
  /**
   * Where genops_cost_total_usd, genops_tokens_total and genops_requests_total come from:
   * - 'snapshot' (default): at scrape time, the current month's per-model figures of `usageSnapshot`,
   *   which must be this replica's OWN windows (not the merged view): every replica exports its own
   *   usage, Prometheus sums the replicas, the monthly reset looks like a counter reset. Caveat: a
   *   process restart inside the same pod restores its month-to-date and increase() counts it again.
   * - 'events': counts usage.charged() calls from process start; exact under restarts, but needs the
   *   usage windows to report every charged group (not wired yet).
   */
  readonly usageCounters?: 'events' | 'snapshot';
  /** This replica's own usage (its windows) for the usage counters; default `snapshot`. */
  readonly usageSnapshot?: () => UsageSnapshot | undefined;
  /** Extra labels on every series (e.g. { pod }); usually Prometheus adds these from the target. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
}

export interface GenOpsMetrics {
  readonly registry: Registry;
  /** Content-Type of render()'s text. */
  readonly contentType: string;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  readonly ingest: IngestMetrics;
  readonly usage: UsageMetrics;
  readonly decision: DecisionMetrics;
  readonly violations: ViolationMetrics;
  readonly webhook: WebhookMetrics;
  readonly authz: AuthzMetrics;
  readonly usageStore: UsageStoreMetrics;
  readonly wal: WalMetrics;
  readonly enforcement: EnforcementMetrics;
  readonly workQueue: WorkQueueMetrics;
  readonly kubeClient: KubeClientMetrics;
  readonly informer: InformerMetrics;
  readonly leader: LeaderMetrics;
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

function cleanLabels(def: MetricDef, labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of def.labels) {
    const v = labels[name] ?? '';
    out[name] = v.length > MAX_LABEL_VALUE_LENGTH ? v.slice(0, MAX_LABEL_VALUE_LENGTH) : v;
  }
  return out;
}

function seriesKey(def: MetricDef, labels: Record<string, string>): string {
  return def.labels.map((n) => labels[n]).join('\u0000');
}

/** prom-client's default gauges whose names end in _total; dropped, their per-type twins stay. */
export const PROM_CLIENT_TOTAL_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

export function createMetrics(options: MetricsOptions = {}): GenOpsMetrics {
  const clock = options.clock ?? systemClock;
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels({ ...options.defaultLabels });
  if (options.defaultMetrics) {
    // process_* and nodejs_* (CPU, memory, fds, heap, event-loop lag, GC) on this registry only.
    collectDefaultMetrics({ register: registry });
    // Gauges named *_total break the exposition conventions (promtool check metrics); each is the sum
    // of its per-type twin without the suffix (nodejs_active_handles{type}), which stays.
    for (const name of PROM_CLIENT_TOTAL_GAUGES) registry.removeSingleMetric(name);
  }
  const capOf = (name: string) =>
    options.seriesCaps?.[name] ?? options.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES_PER_METRIC;

  const metrics = new Map<string, AnyMetric>();
  const defs = new Map<string, MetricDef>();
  // Series ever created by event metrics (counters keep their series for the process lifetime).
  const seen = new Map<string, Set<string>>();

  const droppedDef = CATALOGUE.find((d) => d.name === 'genops_metrics_series_dropped_total')!;
  // Never capped itself: its only label is a metric name from the catalogue.
  const dropped = new Counter({
    name: droppedDef.name,
    help: droppedDef.help,
    labelNames: [...droppedDef.labels],
    registers: [registry],
  });
  metrics.set(droppedDef.name, dropped);
  defs.set(droppedDef.name, droppedDef);
  const countDropped = (metric: string, n: number) => {
    if (n > 0) dropped.inc({ metric }, n);
  };

  /** Admits a label combination under the cap; returns the cleaned labels or undefined when dropped. */
  const admit = (def: MetricDef, labels: Labels): Record<string, string> | undefined => {
    const clean = cleanLabels(def, labels);
    if (def.labels.length === 0) return clean;
    let set = seen.get(def.name);
    if (!set) seen.set(def.name, (set = new Set()));
    const key = seriesKey(def, clean);
    if (set.has(key)) return clean;
    if (set.size >= capOf(def.name)) {
      countDropped(def.name, 1);
      return undefined;
    }
    set.add(key);
    return clean;
  };

  // Scrape-time values, computed once per scrape (one registry.metrics() call collects every
  // gauge within the same millisecond or so) rather than once per gauge.
  let cache: { at: number; snapshot: unknown; decisions: unknown; values: Map<string, Sample[]> } | undefined;
  let isLeaderNow = false;
  const exportsClusterView = () => options.clusterGauges === 'always' || isLeaderNow;
  const usageFromSnapshot = options.usageCounters !== 'events';
  const usageSnapshot = options.usageSnapshot ?? options.snapshot;
  // Per-replica usage counters: exported by every replica, never gated on leadership.
  let usageCache: { at: number; snapshot: unknown; values: Map<string, Sample[]> } | undefined;
  const usageValues = (): Map<string, Sample[]> => {
    const snapshot = usageSnapshot?.();
    const now = clock.now();
    if (usageCache && usageCache.snapshot === snapshot && now - usageCache.at < 1000)
      return usageCache.values;
    usageCache = { at: now, snapshot, values: usageCounterValues(snapshot) };
    return usageCache.values;
  };
  const derivedValues = (): Map<string, Sample[]> => {
    if (!exportsClusterView()) return new Map();
    const snapshot = options.snapshot?.();
    const decisions = options.decisions?.();
    const now = clock.now();
    if (cache && cache.snapshot === snapshot && cache.decisions === decisions && now - cache.at < 1000) {
      return cache.values;
    }
    const values = snapshotValues(snapshot, options.derived);
    for (const [name, samples] of decisionValues(decisions, options.derived)) values.set(name, samples);
    cache = { at: now, snapshot, decisions, values };
    return values;
  };

  /** Writes scrape-time samples up to the metric's cap; the rest is counted as dropped. */
  const writeCapped = (
    def: MetricDef,
    samples: readonly Sample[],
    write: (labels: Record<string, string>, value: number) => void,
  ) => {
    const cap = capOf(def.name);
    let written = 0;
    for (const s of samples) {
      if (written >= cap) break;
      if (s.value > 0 || def.type === 'gauge') write(cleanLabels(def, s.labels), s.value);
      written++;
    }
    countDropped(def.name, samples.length - written);
  };

  for (const def of CATALOGUE) {
    if (def === droppedDef) continue;
    defs.set(def.name, def);
    const base = { name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] };
    if (usageFromSnapshot && USAGE_COUNTERS.includes(def.name)) {
      const fromSnapshot: Counter<string> = new Counter({
        ...base,
        collect: () => {
          fromSnapshot.reset();
          writeCapped(def, usageValues().get(def.name) ?? [], (labels, v) => fromSnapshot.inc(labels, v));
        },
      });
      metrics.set(def.name, fromSnapshot);
    } else if (USAGE_GAUGES.includes(def.name)) {
      const own: Gauge<string> = new Gauge({
        ...base,
        collect: () => {
          own.reset();
          writeCapped(def, usageValues().get(def.name) ?? [], (labels, v) => own.set(labels, v));
        },
      });
      metrics.set(def.name, own);
    } else if (def.type === 'counter') {
      metrics.set(def.name, new Counter(base));
    } else if (def.type === 'histogram') {
      metrics.set(def.name, new Histogram({ ...base, buckets: [...(def.buckets ?? [])] }));
    } else if (def.source === 'event') {
      metrics.set(def.name, new Gauge(base));
    } else {
      const gauge: Gauge<string> = new Gauge({
        ...base,
        collect: () => {
          gauge.reset();
          writeCapped(def, derivedValues().get(def.name) ?? [], (labels, v) => gauge.set(labels, v));
        },
      });
      metrics.set(def.name, gauge);
    }
  }

  const handle = <M extends AnyMetric>(name: string): { def: MetricDef; metric: M } => {
    const def = defs.get(name);
    const metric = metrics.get(name);
    if (!def || !metric) throw new Error(`metric ${name} is not in the catalogue`);
    return { def, metric: metric as M };
  };
  const counter = (name: string) => {
    const { def, metric } = handle<Counter<string>>(name);
    return (labels: Labels, value = 1) => {
      if (!(value > 0)) return;
      const clean = admit(def, labels);
      if (clean) metric.inc(clean, value);
    };
  };
  const gauge = (name: string) => {
    const { def, metric } = handle<Gauge<string>>(name);
    return (labels: Labels, value: number) => {
      const clean = admit(def, labels);
      if (clean) metric.set(clean, value);
    };
  };
  const histogram = (name: string) => {
    const { def, metric } = handle<Histogram<string>>(name);
    return (labels: Labels, seconds: number) => {
      if (!Number.isFinite(seconds) || seconds < 0) return;
      const clean = admit(def, labels);
      if (clean) metric.observe(clean, seconds);
    };
  };
  const none: Labels = {};

  // ---- ingest port ----
  const spansReceived = counter('genops_spans_received_total');
  const spansRejected = counter('genops_spans_rejected_total');
  const requestsRefused = counter('genops_otlp_requests_refused_total');
  const spansCharged = counter('genops_spans_charged_total');
  const spansDeduplicated = counter('genops_spans_deduplicated_total');
  const spansUnknownModel = counter('genops_spans_unknown_model_total');
  const spansSpoofed = counter('genops_spans_spoofed_total');
  const spansNested = counter('genops_spans_nested_total');
  const spansWithoutUsage = counter('genops_spans_without_usage_total');
  const ingestQueueDepth = gauge('genops_ingest_queue_depth');
  const ingestQueuedBytes = gauge('genops_ingest_queued_bytes');
  const otlpDuration = histogram('genops_otlp_request_duration_seconds');
  const visibleLatency = histogram('genops_ingest_visible_latency_seconds');
  const workloadsTracked = gauge('genops_workloads_tracked');
  const modelNamesFolded = counter('genops_model_names_folded_total');
  const ingest: IngestMetrics = {
    spansReceived: (count, transport) => spansReceived({ transport }, count),
    spansRejected: (count, transport, reason) => spansRejected({ transport, reason }, count),
    requestRefused: (transport, reason) => requestsRefused({ transport, reason }),
    spansCharged: (count) => spansCharged(none, count),
    spansDeduplicated: (count) => spansDeduplicated(none, count),
    spansUnpriced: (count, provider, model) => spansUnknownModel({ provider, model }, count),
    spansSpoofed: (count, namespace) => spansSpoofed({ namespace }, count),
    spansNested: (count, instrumentation) => spansNested({ instrumentation }, count),
    spansWithoutUsage: (count, instrumentation) => spansWithoutUsage({ instrumentation }, count),
    queueDepth: (tasks) => ingestQueueDepth(none, tasks),
    queuedBytes: (bytes) => ingestQueuedBytes(none, bytes),
    requestDuration: (seconds, transport, outcome) => otlpDuration({ transport, outcome }, seconds),
    visibleLatency: (seconds) => visibleLatency(none, seconds),
    workloadsTracked: (count) => workloadsTracked(none, count),
    modelNamesFolded: (count) => modelNamesFolded(none, count),
  };

  // ---- usage port ----
  const cost = counter('genops_cost_total_usd');
  const tokens = counter('genops_tokens_total');
  const requests = counter('genops_requests_total');
  const usage: UsageMetrics = {
    charged: (u) => {
      if (usageFromSnapshot) return;
      const labels = {
        namespace: u.workload.namespace,
        workload: u.workload.name,
        provider: u.provider,
        model: u.model,
      };
      cost(labels, microsToUsd(u.costMicros));
      requests(labels, u.requests);
      tokens({ ...labels, token_type: 'input' }, u.inputTokens);
      tokens({ ...labels, token_type: 'output' }, u.outputTokens);
      tokens({ ...labels, token_type: 'cache_read' }, u.cacheReadTokens);
      tokens({ ...labels, token_type: 'cache_write' }, u.cacheWriteTokens);
      tokens({ ...labels, token_type: 'reasoning' }, u.reasoningTokens);
    },
  };

  // ---- decision port ----
  const evaluations = counter('genops_decision_evaluations_total');
  const decisionDuration = histogram('genops_decision_duration_seconds');
  const byAction = gauge('genops_workloads_by_action');
  const bypassedGauge = gauge('genops_workloads_bypassed');
  const decision: DecisionMetrics = {
    evaluated: (seconds, workloadsByAction, bypassed) => {
      evaluations(none);
      decisionDuration(none, seconds);
      for (const [action, n] of Object.entries(workloadsByAction) as [Action, number][])
        byAction({ action }, n);
      bypassedGauge(none, bypassed);
    },
  };

  // ---- violations: edges of the level-based decisions, counted by the leader ----
  const violationsCounter = counter('genops_policy_violations_total');
  let inForce = new Set<string>();
  const violations: ViolationMetrics = {
    decisionsPublished: (set) => {
      if (!exportsClusterView()) {
        // A new leader counts the violations in force once more: better than never.
        inForce = new Set();
        return;
      }
      const next = new Set<string>();
      for (const v of violationsOf(set)) {
        next.add(v.id);
        if (!inForce.has(v.id)) violationsCounter(v.labels);
      }
      inForce = next;
    },
  };

  // ---- webhook port ----
  const admissions = counter('genops_webhook_admissions_total');
  const admissionDuration = histogram('genops_webhook_admission_duration_seconds');
  const rulings = counter('genops_webhook_rulings_total');
  const bypasses = counter('genops_webhook_bypasses_total');
  const certificateExpiry = gauge('genops_webhook_certificate_expiry_timestamp_seconds');
  const certificateErrors = counter('genops_webhook_certificate_errors_total');
  const webhook: WebhookMetrics = {
    reviewed: (name, outcome, seconds) => {
      admissions({ webhook: name, outcome });
      admissionDuration({ webhook: name }, seconds);
    },
    ruled: (name, code, effect) => rulings({ webhook: name, reason: code, effect }),
    bypassUsed: (namespace, kind) => bypasses({ namespace, kind }),
    certificateLoaded: (notAfterMs) => certificateExpiry(none, notAfterMs / 1000),
    certificateError: (stage) => certificateErrors({ stage }),
  };

  // ---- write-ahead log port ----
  const walSync = histogram('genops_wal_sync_duration_seconds');
  const walEntries = counter('genops_wal_entries_total');
  const walBytes = gauge('genops_wal_bytes');
  const walFailures = counter('genops_wal_write_failures_total');
  const wal: WalMetrics = {
    batchSynced: (entries, _bytes, seconds) => {
      walSync(none, seconds);
      walEntries(none, entries);
    },
    sizeBytes: (bytes) => walBytes(none, bytes),
    failed: () => walFailures(none, 1),
  };

  // ---- gateway authorization port ----
  const authzChecks = counter('genops_authz_checks_total');
  const authzDuration = histogram('genops_authz_check_duration_seconds');
  const authz: AuthzMetrics = {
    checked: (protocol, outcome, reason, seconds) => {
      authzChecks({ protocol, outcome, reason });
      authzDuration({ protocol }, seconds);
    },
  };

  // ---- usage store port ----
  const recordWrites = counter('genops_usage_record_writes_total');
  const recordBytes = gauge('genops_usage_record_bytes');
  const recordsMerged = gauge('genops_usage_records_merged');
  const usageStore: UsageStoreMetrics = {
    usageRecordWrite: (outcome, bytes) => {
      recordWrites({ outcome });
      if (outcome === 'written') recordBytes(none, bytes);
    },
    usageRecordsMerged: (count) => recordsMerged(none, count),
  };

  // ---- enforcer ports ----
  const enforcementActions = counter('genops_enforcement_actions_total');
  const enforcement: EnforcementMetrics = {
    action: (namespace, kind, action, outcome) => enforcementActions({ namespace, kind, action, outcome }),
  };
  const reconciles = counter('genops_reconcile_total');
  const reconcileErrors = counter('genops_reconcile_errors_total');
  const reconcileDuration = histogram('genops_reconcile_duration_seconds');
  const workqueueDepth = gauge('genops_workqueue_depth');
  const workQueue: WorkQueueMetrics = {
    reconciled: (queue, outcome, seconds) => {
      reconciles({ queue, outcome });
      if (outcome !== 'success') reconcileErrors({ queue });
      reconcileDuration({ queue }, seconds);
    },
    depth: (queue, depth) => workqueueDepth({ queue }, depth),
  };
  const apiRequests = counter('genops_kube_api_requests_total');
  const apiDuration = histogram('genops_kube_api_request_duration_seconds');
  const rateLimitWait = histogram('genops_kube_client_rate_limit_wait_seconds');
  const kubeClient: KubeClientMetrics = {
    apiRequest: (verb, status, seconds) => {
      apiRequests({ verb, code: String(status) });
      apiDuration({ verb }, seconds);
    },
    rateLimitWait: (seconds) => rateLimitWait(none, seconds),
  };
  const informerRestarts = counter('genops_informer_restarts_total');
  const informer: InformerMetrics = { restart: (resource) => informerRestarts({ resource }) };

  const leaderGauge = gauge('genops_leader');
  const leaderTransitions = counter('genops_leader_transitions_total');
  leaderGauge(none, 0);
  const leader: LeaderMetrics = {
    leader: (isLeader) => {
      if (isLeader !== isLeaderNow) leaderTransitions(none);
      isLeaderNow = isLeader;
      leaderGauge(none, isLeader ? 1 : 0);
    },
  };

  gauge('genops_build_info')({ version: options.version ?? 'unknown' }, 1);

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    ingest,
    usage,
    decision,
    violations,
    webhook,
    authz,
    usageStore,
    wal,
    enforcement,
    workQueue,
    kubeClient,
    informer,
    leader,
  };
}
