// process_* and nodejs_* metrics (prom-client's default collectors on the operator's own registry):
// present when the operator or `genops local` enables them, absent otherwise, and the whole
// exposition passes the real `promtool check metrics` except the seed's own name genops_cost_total_usd
// (docs/metrics.md). prom-client's three *_total gauges, which promtool flags, are not exported.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createMetrics, PROM_CLIENT_TOTAL_GAUGES } from '../../observability/metrics.ts';

const SEED_FINDING = 'genops_cost_total_usd counter metrics should have "_total" suffix';
const EXPECTED = [
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'process_open_fds',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_gc_duration_seconds',
  'nodejs_active_handles',
  'nodejs_version_info',
];

const typeLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('# TYPE '))
    .map((l) => l.split(' ')[2]!);

describe('process and Node.js metrics', () => {
  it('exports heap, event-loop lag, GC and process metrics when enabled, and promtool finds only the seed name', async () => {
    const m = createMetrics({ defaultMetrics: true });
    m.webhook.reviewed('validate-workloads', 'allowed', 0.002);
    // The event-loop lag histogram needs a moment of samples.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const text = await m.render();
    const names = typeLines(text);
    for (const name of EXPECTED) expect(names, name).toContain(name);
    for (const name of PROM_CLIENT_TOTAL_GAUGES) expect(names).not.toContain(name);
    // A real value, not a zero placeholder: this process has resident memory.
    const rss = /^process_resident_memory_bytes (\d+)/m.exec(text);
    expect(Number(rss?.[1])).toBeGreaterThan(10 * 1024 * 1024);

    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    const problems = `${result.stdout}\n${result.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith(SEED_FINDING));
    expect(problems).toEqual([]);
  });

  it('promtool does flag a *_total gauge (the check has teeth)', () => {
    const text =
      '# HELP nodejs_active_handles_total x\n# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n';
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${result.stdout}${result.stderr}`).toContain(
      'non-counter metrics should not have "_total" suffix',
    );
  });

  it('exports none of them when not enabled (tests and embedders keep a small registry)', async () => {
    const names = typeLines(await createMetrics().render());
    expect(names.filter((n) => n.startsWith('process_') || n.startsWith('nodejs_'))).toEqual([]);
  });
});
