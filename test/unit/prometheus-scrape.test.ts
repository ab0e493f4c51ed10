// A real Prometheus (Debian's `prometheus` package, which .ci/run installs for promtool) scrapes a
// running `genops local` on loopback with the scrape job the Prometheus Operator generates for
// config/prometheus/servicemonitor.yaml: its target relabelling (namespace, service, pod, container,
// job, endpoint from the Kubernetes service discovery, here set as static target labels), then the
// ServiceMonitor's own relabelings, and `honor_labels` from its honorLabels. The workloads' `namespace`
// label must survive that (the dashboards, alerts and KEDA queries select by it); a second job without
// honor_labels shows what happened before: the operator's namespace wins, the workload's is renamed
// exported_namespace.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocal, type LocalRuntime } from '../../cmd/commands/local.ts';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const OPERATOR_NAMESPACE = 'genops-system';
const WORKLOAD_NAMESPACE = 'ai-platform-dev'; // examples/budgets/dev-namespace-budget.yaml

interface ServiceMonitor {
  metadata: { name: string; namespace: string };
  spec: {
    endpoints: {
      port: string;
      path?: string;
      honorLabels?: boolean;
      relabelings?: { sourceLabels?: string[]; targetLabel?: string; action?: string; regex?: string }[];
    }[];
  };
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * The scrape job the Prometheus Operator writes for endpoint `index` of a ServiceMonitor (its
 * generator's relabelling for role endpointslice), with the endpoint's own relabelings appended.
 */
function operatorScrapeJob(monitor: ServiceMonitor, index: number, target: string, honorLabels: boolean) {
  const endpoint = monitor.spec.endpoints[index]!;
  const meta = {
    __meta_kubernetes_namespace: OPERATOR_NAMESPACE,
    __meta_kubernetes_service_name: 'genops-controller-manager-metrics',
    __meta_kubernetes_service_label_control_plane: 'controller-manager',
    __meta_kubernetes_service_labelpresent_control_plane: 'true',
    __meta_kubernetes_endpointslice_port_name: endpoint.port,
    __meta_kubernetes_endpointslice_address_target_kind: 'Pod',
    __meta_kubernetes_endpointslice_address_target_name: 'genops-controller-manager-7d9c-x2x4q',
    __meta_kubernetes_pod_name: 'genops-controller-manager-7d9c-x2x4q',
    __meta_kubernetes_pod_container_name: 'manager',
  };
  return {
    job_name: `serviceMonitor/${monitor.metadata.namespace}/${monitor.metadata.name}/${index}${honorLabels ? '' : '-unhonoured'}`,
    honor_labels: honorLabels,
    honor_timestamps: true,
    scrape_interval: '1s',
    scrape_timeout: '1s',
    metrics_path: endpoint.path ?? '/metrics',
    scheme: 'http',
    static_configs: [{ targets: [target], labels: meta }],
    relabel_configs: [
      { source_labels: ['job'], target_label: '__tmp_prometheus_job_name' },
      {
        action: 'keep',
        source_labels: [
          '__meta_kubernetes_service_label_control_plane',
          '__meta_kubernetes_service_labelpresent_control_plane',
        ],
        regex: '(controller-manager);true',
      },
      { action: 'keep', source_labels: ['__meta_kubernetes_endpointslice_port_name'], regex: endpoint.port },
      {
        source_labels: [
          '__meta_kubernetes_endpointslice_address_target_kind',
          '__meta_kubernetes_endpointslice_address_target_name',
        ],
        separator: ';',
        regex: 'Pod;(.*)',
        replacement: '${1}',
        target_label: 'pod',
      },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'job', replacement: '${1}' },
      { target_label: 'endpoint', replacement: endpoint.port },
      ...(endpoint.relabelings ?? []).map((r) => ({
        ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
        ...(r.targetLabel ? { target_label: r.targetLabel } : {}),
        ...(r.action ? { action: r.action } : {}),
        ...(r.regex ? { regex: r.regex } : {}),
      })),
    ],
  };
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('a real Prometheus scraping genops local through the ServiceMonitor', () => {
  let dir = '';
  let local: LocalRuntime | undefined;
  let prometheus: ChildProcess | undefined;
  let stderr = '';
  let promPort = 0;
  let monitor: ServiceMonitor;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genops-prom-'));
    local = await startLocal(
      {
        policies: join(root, 'examples'),
        host: '127.0.0.1',
        otlpGrpcPort: 0,
        otlpHttpPort: 0,
        metricsPort: 0,
        healthPort: 0,
        timeZone: 'UTC',
        workers: 1,
      },
      { logger: silentLogger, clock: systemClock },
    );
    monitor = parse(
      await readFile(join(root, 'config/prometheus/servicemonitor.yaml'), 'utf8'),
    ) as ServiceMonitor;
    const target = `127.0.0.1:${local.ports().metrics}`;
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [
        operatorScrapeJob(monitor, 0, target, monitor.spec.endpoints[0]!.honorLabels ?? false),
        operatorScrapeJob(monitor, 0, target, false),
      ],
    };
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));
    promPort = await freePort();
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    prometheus.on('error', (error) => {
      stderr += `\nprometheus could not start (Debian package prometheus): ${error.message}`;
    });
  }, 30_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    }
    await local?.shutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Polls the query API (bounded: 60 tries, 500 ms apart) until the query returns a series of each job. */
  async function query(expr: string): Promise<Sample[]> {
    let last = '';
    for (let attempt = 0; attempt < 60; attempt++) {
      try {
        const res = await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`,
          { signal: AbortSignal.timeout(2000) },
        );
        last = await res.text();
        const body = JSON.parse(last) as { status: string; data?: { result: Sample[] } };
        const result = body.data?.result ?? [];
        if (result.length >= 2) return result;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`no series for ${expr} from Prometheus: ${last}\n${stderr}`);
  }

  it('keeps the workload namespace label with honorLabels, and loses it without', async () => {
    expect(monitor.spec.endpoints[0]!.honorLabels).toBe(true);
    const samples = await query(`genops_budget_utilization_percent{budget_name="dev-namespace-budget"}`);
    const honoured = samples.filter((s) => s.metric.exported_namespace === undefined);
    const unhonoured = samples.filter((s) => s.metric.exported_namespace !== undefined);
    expect(honoured).toHaveLength(1);
    expect(unhonoured).toHaveLength(1);
    // With the ServiceMonitor as shipped the budget's namespace is the series' namespace ...
    expect(honoured[0]!.metric).toMatchObject({
      namespace: WORKLOAD_NAMESPACE,
      service: 'genops-controller-manager-metrics',
      pod: 'genops-controller-manager-7d9c-x2x4q',
      container: 'manager',
      endpoint: 'metrics',
    });
    // ... and the target's namespace does not replace it.
    expect(honoured[0]!.metric.namespace).not.toBe(OPERATOR_NAMESPACE);
    // Without honor_labels (the ServiceMonitor before) the workload namespace moves to exported_namespace.
    expect(unhonoured[0]!.metric.namespace).toBe(OPERATOR_NAMESPACE);
    expect(unhonoured[0]!.metric.exported_namespace).toBe(WORKLOAD_NAMESPACE);
  }, 60_000);
});
