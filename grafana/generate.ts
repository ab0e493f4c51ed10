// Owns the Grafana dashboards: built here as code, written as JSON to grafana/dashboards/ and wrapped
// in a ConfigMap for the Grafana sidecar (examples/monitoring/grafana-dashboard.yaml).
//   node grafana/generate.ts          rewrite both
//   node grafana/generate.ts --check  fail (exit code 1) when a file differs from what the code builds
// Queries only use metrics of observability/catalogue.ts (a test checks every genops_* name).

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

interface Target {
  readonly expr: string;
  readonly legend: string;
  readonly instant?: boolean;
  readonly format?: 'table' | 'time_series';
}

type PanelType = 'timeseries' | 'stat' | 'bargauge' | 'table' | 'row';

interface PanelSpec {
  readonly title: string;
  readonly type: PanelType;
  readonly targets?: readonly Target[];
  readonly unit?: string;
  readonly description?: string;
  /** Grid width (of 24) and height. */
  readonly w?: number;
  readonly h?: number;
  readonly stack?: boolean;
  readonly thresholds?: readonly { readonly value: number | null; readonly color: string }[];
  readonly max?: number;
  readonly min?: number;
}

export interface Dashboard {
  readonly file: string;
  readonly json: Record<string, unknown>;
}

const DS = { type: 'prometheus', uid: '${datasource}' };
const NS = 'namespace=~"$namespace"';
const RATE = '$__rate_interval';

const t = (expr: string, legend = '', extra: Partial<Target> = {}): Target => ({ expr, legend, ...extra });

function layout(specs: readonly PanelSpec[]): Record<string, unknown>[] {
  const panels: Record<string, unknown>[] = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  let id = 1;
  for (const p of specs) {
    if (p.type === 'row') {
      if (x > 0) y += rowHeight;
      panels.push({
        id: id++,
        type: 'row',
        title: p.title,
        collapsed: false,
        gridPos: { h: 1, w: 24, x: 0, y },
      });
      y += 1;
      x = 0;
      rowHeight = 0;
      continue;
    }
    const w = p.w ?? 12;
    const h = p.h ?? 8;
    if (x + w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    panels.push(panel(id++, p, { h, w, x, y }));
    x += w;
    rowHeight = Math.max(rowHeight, h);
  }
  return panels;
}

function panel(id: number, p: PanelSpec, gridPos: Record<string, number>): Record<string, unknown> {
  const defaults: Record<string, unknown> = { unit: p.unit ?? 'short' };
  if (p.min !== undefined) defaults.min = p.min;
  if (p.max !== undefined) defaults.max = p.max;
  if (p.thresholds) {
    defaults.thresholds = { mode: 'absolute', steps: p.thresholds };
    if (p.type === 'timeseries') defaults.custom = { thresholdsStyle: { mode: 'line' } };
  }
  if (p.type === 'timeseries') {
    defaults.custom = {
      ...(defaults.custom as object | undefined),
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: p.stack ? 30 : 10,
      stacking: { mode: p.stack ? 'normal' : 'none', group: 'A' },
      showPoints: 'never',
    };
  }
  const options: Record<string, unknown> =
    p.type === 'timeseries'
      ? {
          legend: { displayMode: 'table', placement: 'right', calcs: ['lastNotNull'] },
          tooltip: { mode: 'multi' },
        }
      : p.type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value' }
        : p.type === 'bargauge'
          ? {
              reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
              displayMode: 'gradient',
              orientation: 'horizontal',
            }
          : { showHeader: true };
  return {
    id,
    type: p.type,
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource: DS,
    gridPos,
    fieldConfig: { defaults, overrides: [] },
    options,
    targets: (p.targets ?? []).map((target, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DS,
      expr: target.expr,
      legendFormat: target.legend,
      ...(target.instant ? { instant: true, range: false } : { range: true }),
      ...(target.format ? { format: target.format } : {}),
    })),
  };
}

function dashboard(uid: string, title: string, description: string, specs: readonly PanelSpec[]) {
  return {
    uid,
    title,
    description,
    tags: ['genops', 'ai-governance'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '1m',
    time: { from: 'now-24h', to: 'now' },
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
        },
        {
          name: 'namespace',
          label: 'Namespace',
          type: 'query',
          datasource: DS,
          query: { query: 'label_values(genops_workload_info, namespace)', refId: 'namespace' },
          definition: 'label_values(genops_workload_info, namespace)',
          refresh: 2,
          includeAll: true,
          multi: true,
          allValue: '.*',
          current: { text: 'All', value: '$__all' },
          sort: 1,
          hide: 0,
        },
      ],
    },
    panels: layout(specs),
  };
}

// Replicas each serve the cluster-wide scrape-time gauges: max over replicas, never sum.
const workloadTeam = 'max by (namespace, workload, team) (genops_workload_info)';
const workloadProject = 'max by (namespace, workload, project) (genops_workload_info)';
const costRate = `rate(genops_cost_total_usd{${NS}}[${RATE}])`;

const overview: readonly PanelSpec[] = [
  { type: 'row', title: 'Cost' },
  {
    type: 'stat',
    title: 'Spend rate',
    unit: 'currencyUSD',
    w: 6,
    h: 5,
    description: 'USD per hour charged over the selected interval, all replicas.',
    targets: [t(`sum(${costRate}) * 3600`, 'USD/h')],
  },
  {
    type: 'stat',
    title: 'Spend in range',
    unit: 'currencyUSD',
    w: 6,
    h: 5,
    description:
      'USD charged in the selected range, all replicas. Each process counts from 0 when it starts, so a restart does not count the restored month again.',
    targets: [t(`sum(increase(genops_cost_total_usd{${NS}}[$__range]))`, 'USD', { instant: true })],
  },
  {
    type: 'stat',
    title: 'GenAI requests per second',
    unit: 'reqps',
    w: 6,
    h: 5,
    targets: [t(`sum(max by (namespace, workload) (genops_requests_per_second{${NS}}))`, 'req/s')],
  },
  {
    type: 'stat',
    title: 'Lowest content-safety score today',
    unit: 'percentunit',
    w: 6,
    h: 5,
    min: 0,
    max: 1,
    thresholds: [
      { value: null, color: 'red' },
      { value: 0.7, color: 'orange' },
      { value: 0.85, color: 'green' },
    ],
    targets: [t(`min(genops_content_safety_score_min{${NS}})`, 'min score')],
  },
  {
    type: 'timeseries',
    title: 'Month to date per replica (USD)',
    unit: 'currencyUSD',
    description:
      'What each replica holds for the current month, restored across its restarts (usage record + write-ahead log). A restart keeps the line level; a drop to 0 is a new month or a replica with a new identity.',
    targets: [t(`sum by (pod) (genops_cost_month_to_date_usd{${NS}})`, '{{pod}}')],
  },
  {
    type: 'timeseries',
    title: 'Cost by team (USD/h)',
    unit: 'currencyUSD',
    stack: true,
    targets: [
      t(
        `sum by (team) (sum by (namespace, workload) (${costRate}) * on (namespace, workload) group_left (team) ${workloadTeam}) * 3600`,
        '{{team}}',
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Cost by project (USD/h)',
    unit: 'currencyUSD',
    stack: true,
    targets: [
      t(
        `sum by (project) (sum by (namespace, workload) (${costRate}) * on (namespace, workload) group_left (project) ${workloadProject}) * 3600`,
        '{{project}}',
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Cost by model (USD/h)',
    unit: 'currencyUSD',
    stack: true,
    targets: [t(`sum by (provider, model) (${costRate}) * 3600`, '{{provider}}/{{model}}')],
  },
  {
    type: 'timeseries',
    title: 'Tokens per second by type',
    unit: 'short',
    stack: true,
    targets: [t(`sum by (token_type) (rate(genops_tokens_total{${NS}}[${RATE}]))`, '{{token_type}}')],
  },
  {
    type: 'timeseries',
    title: 'Requests per second by workload',
    unit: 'reqps',
    targets: [
      t(`max by (namespace, workload) (genops_requests_per_second{${NS}})`, '{{namespace}}/{{workload}}'),
    ],
  },
  {
    type: 'timeseries',
    title: 'Content-safety score by workload (mean today)',
    unit: 'percentunit',
    min: 0,
    max: 1,
    targets: [
      t(`max by (namespace, workload) (genops_content_safety_score{${NS}})`, '{{namespace}}/{{workload}}'),
    ],
  },

  { type: 'row', title: 'Budgets' },
  {
    type: 'bargauge',
    title: 'Budget utilization',
    unit: 'percent',
    min: 0,
    max: 100,
    thresholds: [
      { value: null, color: 'green' },
      { value: 80, color: 'orange' },
      { value: 95, color: 'red' },
    ],
    targets: [
      t(
        `max by (namespace, budget_name) (genops_budget_utilization_percent{${NS}})`,
        '{{namespace}}/{{budget_name}}',
        { instant: true },
      ),
    ],
  },
  {
    type: 'bargauge',
    title: 'Projected spend at period end (% of allocation)',
    unit: 'percent',
    min: 0,
    thresholds: [
      { value: null, color: 'green' },
      { value: 90, color: 'orange' },
      { value: 100, color: 'red' },
    ],
    targets: [
      t(
        `100 * max by (namespace, budget_name) (genops_budget_projected_spend_usd{${NS}}) / max by (namespace, budget_name) (genops_budget_limit_usd{${NS}})`,
        '{{namespace}}/{{budget_name}}',
        { instant: true },
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Budget spend, projection and allocation',
    unit: 'currencyUSD',
    w: 24,
    targets: [
      t(`max by (namespace, budget_name) (genops_budget_spend_usd{${NS}})`, 'spend {{budget_name}}'),
      t(
        `max by (namespace, budget_name) (genops_budget_projected_spend_usd{${NS}})`,
        'projected {{budget_name}}',
      ),
      t(`max by (namespace, budget_name) (genops_budget_limit_usd{${NS}})`, 'allocation {{budget_name}}'),
    ],
  },
  {
    type: 'table',
    title: 'Hours until allocation runs out at the current burn rate',
    unit: 'h',
    targets: [
      t(
        `(max by (namespace, budget_name) (genops_budget_projected_exhaustion_timestamp_seconds{${NS}}) - time()) / 3600`,
        '{{namespace}}/{{budget_name}}',
        { instant: true, format: 'table' },
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Budget burn ratio by workload (1 = runs out exactly at period end)',
    unit: 'short',
    thresholds: [
      { value: null, color: 'green' },
      { value: 1, color: 'red' },
    ],
    targets: [
      t(
        `max by (namespace, workload) (genops_workload_budget_burn_ratio{${NS}})`,
        '{{namespace}}/{{workload}}',
      ),
    ],
  },

  { type: 'row', title: 'Policies and enforcement' },
  {
    type: 'timeseries',
    title: 'Policy violations by policy and reason',
    unit: 'short',
    stack: true,
    targets: [
      t(
        `sum by (policy, reason) (increase(genops_policy_violations_total{${NS}}[${RATE}]))`,
        '{{policy}} {{reason}}',
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Workloads under an action',
    unit: 'short',
    stack: true,
    targets: [
      t(
        `count by (action) (max by (namespace, workload, action) (genops_workload_action{${NS}}))`,
        '{{action}}',
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Admissions refused or warned by reason',
    unit: 'short',
    stack: true,
    targets: [
      t(`sum by (reason, effect) (increase(genops_webhook_rulings_total[${RATE}]))`, '{{effect}} {{reason}}'),
    ],
  },
  {
    type: 'timeseries',
    title: 'Emergency bypasses used',
    unit: 'short',
    stack: true,
    targets: [
      t(
        `sum by (namespace, kind) (increase(genops_webhook_bypasses_total{${NS}}[${RATE}]))`,
        '{{namespace}} {{kind}}',
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Enforcement actions',
    unit: 'short',
    w: 24,
    stack: true,
    targets: [
      t(
        `sum by (action, outcome) (increase(genops_enforcement_actions_total{${NS}}[${RATE}]))`,
        '{{action}} {{outcome}}',
      ),
    ],
  },
];

const operator: readonly PanelSpec[] = [
  { type: 'row', title: 'Replicas' },
  {
    type: 'stat',
    title: 'Replicas up',
    w: 6,
    h: 5,
    targets: [t('count(genops_build_info)', 'replicas')],
  },
  {
    type: 'stat',
    title: 'Leaders (must be 1)',
    w: 6,
    h: 5,
    thresholds: [
      { value: null, color: 'red' },
      { value: 1, color: 'green' },
      { value: 2, color: 'red' },
    ],
    targets: [t('sum(genops_leader)', 'leaders')],
  },
  {
    type: 'stat',
    title: 'Dropped metric series (rate)',
    w: 6,
    h: 5,
    targets: [t(`sum(rate(genops_metrics_series_dropped_total[${RATE}]))`, 'dropped/s')],
  },
  {
    type: 'stat',
    title: 'Workloads tracked',
    w: 6,
    h: 5,
    targets: [t('max(genops_workloads_tracked)', 'workloads')],
  },

  { type: 'row', title: 'Ingest (OTLP)' },
  {
    type: 'timeseries',
    title: 'Spans received per second',
    unit: 'short',
    stack: true,
    targets: [
      t(`sum by (transport) (rate(genops_spans_received_total[${RATE}]))`, '{{transport}}'),
      t(`sum(rate(genops_spans_charged_total[${RATE}]))`, 'charged (GenAI)'),
    ],
  },
  {
    type: 'timeseries',
    title: 'Spans rejected, deduplicated and unpriced per second',
    unit: 'short',
    targets: [
      t(`sum by (reason) (rate(genops_spans_rejected_total[${RATE}]))`, 'rejected {{reason}}'),
      t(`sum by (reason) (rate(genops_otlp_requests_refused_total[${RATE}]))`, 'requests refused {{reason}}'),
      t(`sum(rate(genops_spans_deduplicated_total[${RATE}]))`, 'duplicates'),
      t(`sum(rate(genops_spans_unknown_model_total[${RATE}]))`, 'unknown model'),
      t(`sum(rate(genops_spans_spoofed_total[${RATE}]))`, 'spoofed identity'),
    ],
  },
  {
    type: 'timeseries',
    title: 'OTLP request latency',
    unit: 's',
    targets: [
      t(
        `histogram_quantile(0.99, sum by (le, transport) (rate(genops_otlp_request_duration_seconds_bucket[${RATE}])))`,
        'p99 {{transport}}',
      ),
      t(
        `histogram_quantile(0.5, sum by (le, transport) (rate(genops_otlp_request_duration_seconds_bucket[${RATE}])))`,
        'p50 {{transport}}',
      ),
      t(
        `histogram_quantile(0.99, sum by (le) (rate(genops_ingest_visible_latency_seconds_bucket[${RATE}])))`,
        'p99 receipt to visible',
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Decode queue',
    unit: 'short',
    targets: [
      t('max by (pod) (genops_ingest_queue_depth)', 'requests {{pod}}'),
      t('max by (pod) (genops_ingest_queued_bytes) / 1048576', 'MiB {{pod}}'),
    ],
  },

  { type: 'row', title: 'Admission webhook' },
  {
    type: 'timeseries',
    title: 'Admissions per second by outcome',
    unit: 'reqps',
    stack: true,
    targets: [
      t(
        `sum by (webhook, outcome) (rate(genops_webhook_admissions_total[${RATE}]))`,
        '{{webhook}} {{outcome}}',
      ),
    ],
  },
  {
    type: 'timeseries',
    title: 'Admission latency',
    unit: 's',
    targets: [
      t(
        `histogram_quantile(0.99, sum by (le, webhook) (rate(genops_webhook_admission_duration_seconds_bucket[${RATE}])))`,
        'p99 {{webhook}}',
      ),
      t(
        `histogram_quantile(0.5, sum by (le, webhook) (rate(genops_webhook_admission_duration_seconds_bucket[${RATE}])))`,
        'p50 {{webhook}}',
      ),
    ],
  },

  {
    type: 'stat',
    title: 'Webhook certificate expires in',
    unit: 's',
    w: 6,
    h: 5,
    thresholds: [
      { value: null, color: 'red' },
      { value: 604800, color: 'orange' },
      { value: 2592000, color: 'green' },
    ],
    targets: [t('min(genops_webhook_certificate_expiry_timestamp_seconds) - time()', 'expires in')],
  },
  {
    type: 'stat',
    title: 'Certificate errors (range)',
    w: 6,
    h: 5,
    targets: [
      t('sum(increase(genops_webhook_certificate_errors_total[$__range]))', 'errors', { instant: true }),
    ],
  },
  {
    type: 'timeseries',
    title: 'Admissions by reason (denied, warned)',
    unit: 'short',
    stack: true,
    targets: [
      t(
        `sum by (webhook, reason, effect) (rate(genops_webhook_rulings_total[${RATE}]))`,
        '{{webhook}} {{effect}} {{reason}}',
      ),
    ],
  },

  { type: 'row', title: 'Controller' },
  {
    type: 'timeseries',
    title: 'Reconciles per second',
    unit: 'short',
    stack: true,
    targets: [t(`sum by (queue, outcome) (rate(genops_reconcile_total[${RATE}]))`, '{{queue}} {{outcome}}')],
  },
  {
    type: 'timeseries',
    title: 'Work queue depth',
    unit: 'short',
    targets: [t('max by (queue) (genops_workqueue_depth)', '{{queue}}')],
  },
  {
    type: 'timeseries',
    title: 'Kubernetes API calls per second',
    unit: 'reqps',
    stack: true,
    targets: [t(`sum by (verb, code) (rate(genops_kube_api_requests_total[${RATE}]))`, '{{verb}} {{code}}')],
  },
  {
    type: 'timeseries',
    title: 'Usage records (spend shared between replicas)',
    unit: 'short',
    targets: [
      t(`sum by (outcome) (rate(genops_usage_record_writes_total[${RATE}]))`, 'writes {{outcome}}'),
      t('max by (pod) (genops_usage_records_merged)', 'records merged {{pod}}'),
    ],
  },
  {
    type: 'timeseries',
    title: 'Decision evaluation and reconcile latency (p99)',
    unit: 's',
    targets: [
      t(
        `histogram_quantile(0.99, sum by (le) (rate(genops_decision_duration_seconds_bucket[${RATE}])))`,
        'decision',
      ),
      t(
        `histogram_quantile(0.99, sum by (le, queue) (rate(genops_reconcile_duration_seconds_bucket[${RATE}])))`,
        'reconcile {{queue}}',
      ),
    ],
  },
];

export function buildDashboards(): Dashboard[] {
  return [
    {
      file: 'genops-overview.json',
      json: dashboard(
        'genops-overview',
        'GenOps / Cost, budgets and policies',
        'AI spend by team, project and model; budget utilization and projection; violations and enforcement.',
        overview,
      ),
    },
    {
      file: 'genops-operator.json',
      json: dashboard(
        'genops-operator',
        'GenOps / Operator health',
        'OTLP ingest, admission webhook and controller health of the GenOps operator.',
        operator,
      ),
    },
  ];
}

export const DASHBOARD_DIR = fileURLToPath(new URL('./dashboards/', import.meta.url));
export const CONFIGMAP_PATH = fileURLToPath(
  new URL('../examples/monitoring/grafana-dashboard.yaml', import.meta.url),
);

export function dashboardJson(d: Dashboard): string {
  return JSON.stringify(d.json, null, 2) + '\n';
}

/** The ConfigMap the Grafana sidecar (label grafana_dashboard: "1") loads dashboards from. */
export function configMapYaml(dashboards: readonly Dashboard[]): string {
  const data: Record<string, string> = {};
  for (const d of dashboards) data[d.file] = dashboardJson(d);
  const doc = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'genops-grafana-dashboards',
      namespace: 'monitoring',
      labels: { grafana_dashboard: '1', 'app.kubernetes.io/part-of': 'genops' },
      annotations: { grafana_folder: 'GenOps' },
    },
    data,
  };
  return (
    '# Generated by `node grafana/generate.ts` from grafana/generate.ts. Do not edit.\n' +
    '# The Grafana sidecar (kube-prometheus-stack: grafana.sidecar.dashboards.enabled) loads every\n' +
    '# ConfigMap labelled grafana_dashboard: "1"; change the namespace to the one the sidecar watches.\n' +
    stringify(doc, { lineWidth: 0, blockQuote: 'literal', singleQuote: true })
  );
}

export function generatedFiles(): Map<string, string> {
  const dashboards = buildDashboards();
  const files = new Map<string, string>();
  for (const d of dashboards) files.set(DASHBOARD_DIR + d.file, dashboardJson(d));
  files.set(CONFIGMAP_PATH, configMapYaml(dashboards));
  return files;
}

async function main(argv: readonly string[]): Promise<void> {
  const check = argv.includes('--check');
  for (const [path, text] of generatedFiles()) {
    if (check) {
      const current = await readFile(path, 'utf8').catch(() => '');
      if (current !== text) {
        process.stderr.write(`${path} is out of date: run node grafana/generate.ts\n`);
        process.exitCode = 1;
      }
    } else {
      await writeFile(path, text);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
