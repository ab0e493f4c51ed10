// Micro benchmark of the main thread's per-span work after the workers: dedupe and the windows'
// apply, on worker results shaped like the ingest benchmark's (requests of 128 charged spans, unique
// ids, one sender workload each out of `workloads`, two models, links present).
// Run: node pipeline/windows/windows.bench.ts [--seconds 3] [--workloads 1000]
//      node --cpu-prof --cpu-prof-dir=/tmp/prof pipeline/windows/windows.bench.ts

import { parseArgs } from 'node:util';
import { systemClock } from '../../kernel/clock.ts';
import type { PartialAggregate, SenderIdentity, UsageGroup } from '../partial.ts';
import { LINK_WIDTH, SPAN_RECORD_WIDTH } from '../partial.ts';
import { createUsageWindows } from './windows.ts';

export interface WindowsBenchResult {
  readonly spans: number;
  readonly seconds: number;
  readonly nsPerSpan: number;
  /** CPU time of this process per span: steadier than wall time on a shared machine. */
  readonly cpuNsPerSpan: number;
}

/** Worker results for `requests` requests, unique span ids. */
export function makePartials(requests: number, workloads: number, spansPerRequest = 128): PartialAggregate[] {
  const out: PartialAggregate[] = [];
  let key = 1;
  for (let q = 0; q < requests; q++) {
    const w = q % workloads;
    const identity: SenderIdentity = {
      namespace: `ns-${w % 20}`,
      workloadKind: 'Deployment',
      workloadName: `app-${w}`,
      labels: { team: `t${w % 10}`, app: `app-${w}` },
    };
    const models = ['gpt-4o', 'gpt-4o-mini'];
    const groups: UsageGroup[] = models.map((model) => ({
      identity: 0,
      provider: 'openai',
      model,
      classification: '',
      requests: spansPerRequest / 2,
      inputTokens: 1000 * (spansPerRequest / 2),
      outputTokens: 100 * (spansPerRequest / 2),
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      costMicros: 3500 * (spansPerRequest / 2),
      unpriced: false,
      maxRequestCostMicros: 3500,
    }));
    const spans = new Float64Array(spansPerRequest * SPAN_RECORD_WIDTH);
    const links = new Float64Array(spansPerRequest * LINK_WIDTH);
    for (let i = 0; i < spansPerRequest; i++) {
      const k = key++;
      spans.set([k >>> 0, (k * 2654435761) >>> 0, i % 2, 3500, 1000, 100, 0, 0], i * SPAN_RECORD_WIDTH);
    }
    out.push({
      identities: [identity],
      groups,
      safety: [],
      spans,
      links,
      spansTotal: spansPerRequest * 2,
      spansCharged: spansPerRequest,
      spansRejected: 0,
      rejectMessage: '',
    });
  }
  return out;
}

export function runWindowsBench(seconds: number, workloads: number): WindowsBenchResult {
  const windows = createUsageWindows({ clock: systemClock, publishIntervalMs: 20 });
  // A pool of results reused with fresh span ids each time (ids stay unique across the run).
  const pool = makePartials(512, workloads);
  let key = 1 << 24;
  let spans = 0;
  let i = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (let j = 0; j < 64; j++, i++) {
      const p = pool[i % pool.length]!;
      const s = p.spans;
      for (let o = 0; o < s.length; o += SPAN_RECORD_WIDTH) {
        const k = key++;
        s[o] = k >>> 0;
        s[o + 1] = (k * 2654435761) >>> 0;
      }
      spans += windows.apply(p, { peer: undefined, receivedAt: Date.now() }).charged;
    }
    windows.publish();
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  void windows.shutdown();
  return {
    spans,
    seconds: elapsed,
    nsPerSpan: (elapsed * 1e9) / spans,
    cpuNsPerSpan: ((cpu.user + cpu.system) * 1000) / spans,
  };
}

if (process.argv[1]?.endsWith('windows.bench.ts')) {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '3' }, workloads: { type: 'string', default: '1000' } },
  });
  const r = runWindowsBench(Number(values.seconds), Number(values.workloads));
  console.log(
    JSON.stringify({
      name: 'windows.apply (dedupe + charge), main thread',
      spans: r.spans,
      seconds: Number(r.seconds.toFixed(2)),
      nsPerSpan: Number(r.nsPerSpan.toFixed(1)),
      cpuNsPerSpan: Number(r.cpuNsPerSpan.toFixed(1)),
      spansPerSecond: Math.round(r.spans / r.seconds),
    }),
  );
}
