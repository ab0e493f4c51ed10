// Prometheus and Grafana artefacts checked by the real promtool: the PrometheusRule's groups pass
// `promtool check rules` and the unit tests in config/prometheus/tests pass `promtool test rules`;
// every dashboard query parses; every genops_* name used anywhere is one the catalogue exports; the
// generated files (dashboards, ConfigMap, docs/metrics.md) match the code; and the seed alert fires
// on what the registry really exports.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDashboards, generatedFiles } from '../../grafana/generate.ts';
import { DOC_PATH, renderMetricsDoc } from '../../observability/gen-docs.ts';
import { CATALOGUE, createMetrics, exportedSeriesNames } from '../../observability/metrics.ts';
import { budget, decisionSet } from './observability-fixtures.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rulePath = join(root, 'config/prometheus/prometheusrule.yaml');
const testsDir = join(root, 'config/prometheus/tests');
const work = mkdtempSync(join(tmpdir(), 'genops-promtool-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleDoc {
  kind: string;
  metadata: { name: string };
  spec: { groups: { name: string; rules: Rule[] }[] };
}

const ruleDoc = parse(readFileSync(rulePath, 'utf8')) as RuleDoc;
const rules = ruleDoc.spec.groups.flatMap((g) => g.rules);
const autoscalingDoc = parse(
  readFileSync(join(root, 'examples/autoscaling/recording-rules.yaml'), 'utf8'),
) as RuleDoc;

/** The rule groups of both PrometheusRules, as the rule files the promtool tests name. */
function writeRuleFiles(): void {
  writeFileSync(join(work, 'genops-rules.yaml'), stringify({ groups: ruleDoc.spec.groups }));
  writeFileSync(join(work, 'autoscaling-rules.yaml'), stringify({ groups: autoscalingDoc.spec.groups }));
}

interface KedaTrigger {
  name: string;
  metadata: { query: string };
}
const keda = parse(readFileSync(join(root, 'examples/autoscaling/keda-scaledobject.yaml'), 'utf8')) as {
  spec: { advanced: { scalingModifiers: { formula: string } }; triggers: KedaTrigger[] };
};
interface AdapterRule {
  seriesQuery: string;
  metricsQuery: string;
}
const adapter = parse(
  readFileSync(join(root, 'examples/autoscaling/prometheus-adapter-values.yaml'), 'utf8'),
) as {
  rules: { external: AdapterRule[] };
};

/** Queries of the autoscaling examples, with prometheus-adapter's templates filled in. */
function autoscalingExprs(): { where: string; expr: string }[] {
  const out = keda.spec.triggers.map((t) => ({ where: `keda ${t.name}`, expr: t.metadata.query }));
  for (const r of adapter.rules.external) {
    const series = /^[^{]+/.exec(r.seriesQuery)![0];
    out.push({ where: `adapter ${series}`, expr: r.seriesQuery });
    out.push({
      where: `adapter ${series}`,
      expr: r.metricsQuery
        .replace(/<<\.Series>>/g, series)
        .replace(/<<\.LabelMatchers>>/g, 'namespace="ai-platform",workload="chat-assistant"')
        .replace(/<<\.GroupBy>>/g, 'namespace, workload'),
    });
  }
  for (const g of autoscalingDoc.spec.groups)
    for (const r of g.rules) out.push({ where: `recording ${r.record}`, expr: r.expr });
  return out;
}

function promtool(args: string[], cwd = work) {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool could not run (apt-get install prometheus): ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** genops_* names in a PromQL expression (label values in quotes are not metric names). */
function genopsNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...withoutStrings.matchAll(/\bgenops_[a-zA-Z0-9_]+/g)].map((m) => m[0]);
}

function dashboardExprs(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const d of buildDashboards()) {
    const walk = (node: unknown, where: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${where}[${i}]`));
      else if (node && typeof node === 'object') {
        const o = node as Record<string, unknown>;
        if (typeof o.expr === 'string')
          out.push({ where: `${d.file} ${String(o.refId)} ${where}`, expr: o.expr });
        if (typeof o.definition === 'string') out.push({ where: `${d.file} variable`, expr: o.definition });
        for (const [k, v] of Object.entries(o)) walk(v, `${where}.${k}`);
      }
    };
    walk(d.json, '');
  }
  return out;
}

describe('PrometheusRule', () => {
  it('keeps the seed alerts exactly as the README shows them', () => {
    expect(ruleDoc.kind).toBe('PrometheusRule');
    expect(ruleDoc.metadata.name).toBe('genops-alerts');
    const seed = ruleDoc.spec.groups.find((g) => g.name === 'genops.rules')!.rules;
    expect(seed.find((r) => r.alert === 'GenOpsBudgetExceeded')).toEqual({
      alert: 'GenOpsBudgetExceeded',
      expr: 'genops_budget_utilization_percent > 95',
      for: '1m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'AI budget exceeded',
        description: 'Budget {{ $labels.budget_name }} is {{ $value }}% utilized',
      },
    });
    const violation = seed.find((r) => r.alert === 'GenOpsPolicyViolation')!;
    expect([violation.expr, violation.for, violation.labels, violation.annotations?.summary]).toEqual([
      'increase(genops_policy_violations_total[5m]) > 10',
      '2m',
      { severity: 'warning' },
      'High policy violation rate',
    ]);
  });

  it('passes promtool check rules (and so do the autoscaling recording rules)', () => {
    writeRuleFiles();
    const r = promtool(['check', 'rules', 'genops-rules.yaml']);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code).toBe(0);
    const a = promtool(['check', 'rules', 'autoscaling-rules.yaml']);
    expect(a.out).toContain('SUCCESS: 4 rules found');
    expect(a.code).toBe(0);
  });

  it('passes its promtool unit tests, which cover every alert', () => {
    writeRuleFiles();
    const files = readdirSync(testsDir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    let tested = '';
    for (const f of files) {
      const text = readFileSync(join(testsDir, f), 'utf8');
      tested += text;
      writeFileSync(join(work, f), text);
    }
    const r = promtool(['test', 'rules', ...files]);
    expect(r.out).not.toContain('FAILED');
    expect(r.code).toBe(0);
    for (const rule of rules) expect(tested).toContain(`alertname: ${rule.alert}`);
  });

  it('is the same file in examples/monitoring', () => {
    expect(readFileSync(join(root, 'examples/monitoring/prometheus-rules.yaml'), 'utf8')).toBe(
      readFileSync(rulePath, 'utf8'),
    );
  });

  it('fires GenOpsBudgetExceeded on what the registry exports', () => {
    const decisions = decisionSet({
      budgets: [
        budget('team-budget', 'ai-platform', { spend: 4850, limit: 5000, projected: 5100 }),
        budget('research', 'ai-research', { spend: 100, limit: 2000, projected: 300 }),
      ],
    });
    const metrics = createMetrics({ decisions: () => decisions });
    metrics.leader.leader(true);
    return metrics.render().then((text) => {
      const series = text
        .split('\n')
        .filter((l) => l.startsWith('genops_budget_'))
        .map((l) => {
          const at = l.lastIndexOf(' ');
          return { series: l.slice(0, at), values: `${l.slice(at + 1)}x10` };
        });
      expect(series.length).toBeGreaterThan(4);
      const test = {
        rule_files: ['genops-rules.yaml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: series,
            alert_rule_test: [
              {
                eval_time: '2m',
                alertname: 'GenOpsBudgetExceeded',
                exp_alerts: [
                  {
                    exp_labels: {
                      severity: 'critical',
                      budget_name: 'team-budget',
                      namespace: 'ai-platform',
                    },
                    exp_annotations: {
                      summary: 'AI budget exceeded',
                      description: 'Budget team-budget is 97% utilized',
                    },
                  },
                ],
              },
            ],
          },
        ],
      };
      writeRuleFiles();
      writeFileSync(join(work, 'registry.test.yaml'), stringify(test));
      const r = promtool(['test', 'rules', 'registry.test.yaml']);
      expect(r.out).toContain('SUCCESS');
      expect(r.code).toBe(0);
    });
  });
});

describe('metric names used by rules and dashboards', () => {
  const exported = exportedSeriesNames();

  it('finds the genops_* names in a query', () => {
    expect(genopsNames('sum(rate(genops_a_total{x="genops_not_a_metric"}[5m])) / genops_b')).toEqual([
      'genops_a_total',
      'genops_b',
    ]);
  });

  it('rules use only metrics the catalogue exports', () => {
    const unknown = rules.flatMap((r) => genopsNames(r.expr)).filter((n) => !exported.has(n));
    expect(unknown).toEqual([]);
  });

  it('dashboards use only metrics the catalogue exports', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(30);
    const unknown = exprs.flatMap((e) =>
      genopsNames(e.expr)
        .filter((n) => !exported.has(n))
        .map((n) => `${e.where}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('autoscaling examples use only metrics the catalogue exports', () => {
    const exprs = autoscalingExprs();
    expect(exprs.length).toBeGreaterThan(10);
    const unknown = exprs.flatMap((e) =>
      genopsNames(e.expr)
        .filter((n) => !exported.has(n))
        .map((n) => `${e.where}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('the KEDA formula uses only the names of its triggers', () => {
    const names = new Set(keda.spec.triggers.map((t) => t.name));
    const used = keda.spec.advanced.scalingModifiers.formula.match(/[a-z_]+/g) ?? [];
    expect(used.filter((w) => w !== 'min' && !names.has(w))).toEqual([]);
    expect([...names].sort()).toEqual(['allowed', 'burn', 'load']);
  });

  it('the check itself catches a name the catalogue lacks', () => {
    expect(genopsNames('rate(genops_made_up_total[5m])').filter((n) => !exported.has(n))).toEqual([
      'genops_made_up_total',
    ]);
  });

  it('every dashboard and autoscaling query parses (promtool check rules on them as recording rules)', () => {
    const exprs = [...dashboardExprs(), ...autoscalingExprs()].map((e) =>
      e.expr
        .replace(/\$__rate_interval/g, '5m')
        .replace(/\$__range/g, '1h')
        .replace(/\$namespace/g, '.*'),
    );
    const groups = [
      {
        name: 'dashboards',
        rules: exprs.map((expr, i) => ({
          record: `genops_dashboard_check_${i}`,
          expr: expr.startsWith('label_values(') ? 'genops_workload_info' : expr,
        })),
      },
    ];
    writeFileSync(join(work, 'dashboards.yaml'), stringify({ groups }));
    const r = promtool(['check', 'rules', 'dashboards.yaml']);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('docs/metrics.md lists every metric and matches the generator', () => {
    const doc = readFileSync(DOC_PATH, 'utf8');
    expect(doc).toBe(renderMetricsDoc());
    for (const d of CATALOGUE) expect(doc).toContain(`\`${d.name}\``);
  });

  it('dashboards and the Grafana ConfigMap match the generator', () => {
    for (const [path, text] of generatedFiles()) expect(readFileSync(path, 'utf8'), path).toBe(text);
    const cm = parse(readFileSync(join(root, 'examples/monitoring/grafana-dashboard.yaml'), 'utf8')) as {
      kind: string;
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    };
    expect(cm.kind).toBe('ConfigMap');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const overview = JSON.parse(cm.data['genops-overview.json']!) as {
      uid: string;
      panels: { title: string }[];
    };
    expect(overview.uid).toBe('genops-overview');
    expect(overview.panels.map((p) => p.title)).toEqual(
      expect.arrayContaining([
        'Cost by team (USD/h)',
        'Budget utilization',
        'Policy violations by policy and reason',
      ]),
    );
  });
});
