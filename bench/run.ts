// Owns `npm run bench`: the real ingest runtime (receivers + piscina pool with the real worker +
// usage windows) in this process, and a load generator in a child process (bench/load.ts) sending
// realistic GenAI requests (100-512 spans of ~0.5 KB) over real sockets. Measures, on this machine
// with the load generator included:
// - spansPerSecond accepted for OTLP/HTTP protobuf, OTLP/gRPC and OTLP/HTTP JSON,
// - p99DecisionMs: request receipt -> its aggregate visible in a published snapshot, at the HTTP rate,
// - authz-grpc / authz-http: gateway authorization checks at 5000/s while ingesting (bench/authz.ts),
// - heapBytesPer1kWorkloads: windows memory (JS heap + typed-array stores) per 1000 tracked workloads.
//
//   npm run bench -- [--json out.json] [--seconds 10] [--warmup 2] [--workers N] [--concurrency N] [--wal]
//   npm run bench -- --compare-collector [--rounds N] [--cpu-prof DIR] [--protocols a,b] [same options]
//
// --compare-collector: only `genops local` against the OpenTelemetry Collector (otlp -> nop) under
// one cheap load generator, per protocol (bench/compare-collector.ts).
//
// --wal: the ingest runs with the usage write-ahead log (pipeline/wal) in a temporary directory, as
// the operator does with --wal-dir: every answer waits for the group commit (write + fdatasync).

import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createIngestPipeline } from '../pipeline/ingest.ts';
import type { IngestMetrics } from '../pipeline/ingest-metrics.ts';
import { noopIngestMetrics } from '../pipeline/ingest-metrics.ts';
import type { PartialAggregate, SenderIdentity, UsageGroup } from '../pipeline/partial.ts';
import { SPAN_RECORD_WIDTH } from '../pipeline/partial.ts';
import { createUsageWindows } from '../pipeline/windows/windows.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/logger.ts';
import { createUsageJournal, type UsageJournal } from '../pipeline/wal/journal.ts';
import { openWal } from '../pipeline/wal/wal.ts';
import type { LoadResult, LoadTransport, RunSpec } from './load.ts';
import { runWebhookBench } from './webhook.ts';
import { runAuthzBench, type AuthzBenchResult } from './authz.ts';
import { formatDecisionBench, runDecisionBench } from './decisions.ts';
import { formatCompare, PROTOCOLS, runCompareCollector } from './compare-collector.ts';

export interface BenchEntry {
  readonly name: string;
  readonly spansPerSecond?: number;
  readonly p99DecisionMs?: number;
  readonly [extra: string]: unknown;
}

export interface BenchReport {
  readonly results: BenchEntry[];
  readonly heapBytesPer1kWorkloads: number;
}

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    workers: { type: 'string' },
    concurrency: { type: 'string', default: '8' },
    wal: { type: 'boolean', default: false },
    'compare-collector': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
    protocols: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const workers = values.workers === undefined ? availableParallelism() : Number(values.workers);
const concurrency = Number(values.concurrency);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function startLoadGenerator(): Promise<ChildProcess> {
  const child = fork(new URL('./load.ts', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    child.once('message', (m: { type: string }) => {
      if (m.type === 'ready') resolve(child);
    });
  });
}

function runLoad(child: ChildProcess, spec: RunSpec): Promise<LoadResult> {
  return new Promise((resolve) => {
    const onMessage = (m: { type: string } & LoadResult): void => {
      if (m.type !== 'result') return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.send({ type: 'run', ...spec });
  });
}

interface ThroughputResult {
  readonly load: LoadResult;
  readonly serverSpans: number;
  readonly p50VisibleMs: number;
  readonly p99VisibleMs: number;
  readonly samples: number;
  readonly eventLoopP99Ms: number;
  /** CPU seconds of this process (main thread + workers) in the measured window. */
  readonly serverCpuSeconds: number;
  /** CPU seconds of the main thread alone (receivers, windows, snapshots). */
  readonly mainThreadCpuSeconds: number;
}

interface PacedResult {
  readonly offeredSpansPerSecond: number;
  readonly achievedSpansPerSecond: number;
  readonly p50VisibleMs: number;
  readonly p99VisibleMs: number;
}

let pacedResult: PacedResult | undefined;
const pacedSeconds = 5;

async function measureThroughput(): Promise<Map<LoadTransport, ThroughputResult>> {
  let collecting = false;
  let serverSpans = 0;
  const visible: number[] = [];
  const metrics: IngestMetrics = {
    ...noopIngestMetrics,
    spansReceived: (n) => {
      if (collecting) serverSpans += n;
    },
    visibleLatency: (s) => {
      if (collecting) visible.push(s * 1000);
    },
  };
  const walDir = values.wal ? mkdtempSync(join(tmpdir(), 'genops-bench-wal-')) : undefined;
  let journal: UsageJournal | undefined;
  const pipeline = createIngestPipeline({
    grpc: { port: 0 },
    http: { port: 0 },
    pool: { threads: workers },
    metrics,
    ...(walDir === undefined ? {} : { journal: { record: (r) => journal!.record(r) } }),
  });
  if (walDir !== undefined) {
    journal = createUsageJournal({
      wal: await openWal({ dir: walDir, clock: systemClock, logger: silentLogger }),
      windows: pipeline.windows,
      logger: silentLogger,
    });
    await journal.replay(undefined);
  }
  await pipeline.start();
  const child = await startLoadGenerator();
  const out = new Map<LoadTransport, ThroughputResult>();
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  try {
    for (const transport of ['otlp-http-protobuf', 'otlp-grpc', 'otlp-http-json'] as const) {
      const port = transport === 'otlp-grpc' ? pipeline.ports().grpc : pipeline.ports().http;
      serverSpans = 0;
      visible.length = 0;
      const loop = monitorEventLoopDelay({ resolution: 10 });
      const done = runLoad(child, {
        transport,
        port,
        concurrency,
        warmupMs: warmup * 1000,
        durationMs: seconds * 1000,
      });
      let cpuStart: NodeJS.CpuUsage | undefined;
      let mainStart: NodeJS.CpuUsage | undefined;
      let serverCpuSeconds = 0;
      let mainThreadCpuSeconds = 0;
      const start = setTimeout(() => {
        collecting = true;
        loop.enable();
        cpuStart = process.cpuUsage();
        mainStart = process.threadCpuUsage();
      }, warmup * 1000);
      const stop = setTimeout(
        () => {
          const used = process.cpuUsage(cpuStart);
          serverCpuSeconds = (used.user + used.system) / 1e6;
          const main = process.threadCpuUsage(mainStart);
          mainThreadCpuSeconds = (main.user + main.system) / 1e6;
        },
        (warmup + seconds) * 1000,
      );
      const load = await done;
      clearTimeout(start);
      clearTimeout(stop);
      collecting = false;
      loop.disable();
      const sorted = [...visible].sort((a, b) => a - b);
      out.set(transport, {
        load,
        serverSpans,
        p50VisibleMs: percentile(sorted, 50),
        p99VisibleMs: percentile(sorted, 99),
        samples: sorted.length,
        eventLoopP99Ms: loop.percentile(99) / 1e6,
        serverCpuSeconds,
        mainThreadCpuSeconds,
      });
      // Let the pool drain between scenarios.
      await new Promise((r) => setTimeout(r, 300));
    }
    // Latency without saturation: half the measured HTTP protobuf rate, offered at a steady pace.
    const max = out.get('otlp-http-protobuf')!;
    const offered = Math.max(1000, Math.round((max.load.spans / max.load.seconds) * 0.5));
    serverSpans = 0;
    visible.length = 0;
    const paced = runLoad(child, {
      transport: 'otlp-http-protobuf',
      port: pipeline.ports().http,
      concurrency,
      warmupMs: 1000,
      durationMs: pacedSeconds * 1000,
      spansPerSecond: offered,
    });
    const startPaced = setTimeout(() => (collecting = true), 1000);
    const pacedLoad = await paced;
    clearTimeout(startPaced);
    collecting = false;
    const sortedPaced = [...visible].sort((a, b) => a - b);
    pacedResult = {
      offeredSpansPerSecond: offered,
      achievedSpansPerSecond: Math.round(pacedLoad.spans / pacedLoad.seconds),
      p50VisibleMs: percentile(sortedPaced, 50),
      p99VisibleMs: percentile(sortedPaced, 99),
    };
  } finally {
    child.send({ type: 'exit' });
    await pipeline.shutdown();
    await journal?.close();
    if (walDir !== undefined) rmSync(walDir, { recursive: true, force: true });
  }
  return out;
}

/** A worker result for `count` workloads starting at `first`: 2 models each, safety scores, labels. */
function workloadsPartial(first: number, count: number, keyBase: number): PartialAggregate {
  const identities: SenderIdentity[] = [];
  const groups: UsageGroup[] = [];
  const records = new Float64Array(count * 2 * SPAN_RECORD_WIDTH);
  for (let i = 0; i < count; i++) {
    const w = first + i;
    identities.push({
      namespace: `team-${w % 50}`,
      workloadKind: 'Deployment',
      workloadName: `app-${w}`,
      labels: { app: `app-${w}`, team: `team-${w % 50}`, environment: w % 2 ? 'production' : 'staging' },
    });
    for (const [j, [provider, model]] of [
      ['openai', 'gpt-4o'],
      ['anthropic', 'claude-sonnet-4'],
    ].entries()) {
      const g = groups.length;
      groups.push({
        identity: i,
        provider: provider!,
        model: model!,
        classification: 'internal',
        requests: 1,
        inputTokens: 1200,
        outputTokens: 300,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        costMicros: 6000,
        unpriced: false,
        maxRequestCostMicros: 6000,
      });
      records.set([keyBase + w, j, g, 6000, 1200, 300, 0, 0], g * SPAN_RECORD_WIDTH);
    }
  }
  return {
    identities,
    groups,
    safety: identities.map((_, i) => ({ identity: i, min: 0.9, sum: 0.9, count: 1 })),
    spans: records,
    spansTotal: count * 2,
    spansCharged: count * 2,
    spansRejected: 0,
    rejectMessage: '',
  };
}

function measureHeap(): { bytesPer1k: number; workloads: number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const total = 10_000;
  // The dedupe set is a fixed allocation (not per workload): kept small here.
  const windows = createUsageWindows({ dedupe: { maxKeys: 1024 } });
  gc();
  gc();
  const before = process.memoryUsage();
  for (let first = 0; first < total; first += 100)
    windows.apply(workloadsPartial(first, 100, 1), { peer: undefined });
  const snapshot = windows.publish();
  gc();
  gc();
  const after = process.memoryUsage();
  if (snapshot.workloads.size !== total)
    throw new Error(`expected ${total} workloads, got ${snapshot.workloads.size}`);
  const delta = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  // Keep the windows alive until after the measurement.
  void windows.current();
  return { bytesPer1k: Math.round(delta / (total / 1000)), workloads: total };
}

function perSpanMicros(cpuSeconds: number, spans: number): number {
  return spans > 0 ? (cpuSeconds * 1e6) / spans : NaN;
}

/** What the CPU cost per span (server + load generator) would allow on 2 cores nobody else uses. */
function projected(r: ThroughputResult): number {
  const perSpan = (r.serverCpuSeconds + r.load.cpuSeconds) / Math.max(1, r.load.spans);
  return Math.round(2 / perSpan);
}

/** Extra, machine-load-independent figures (CPU time per span) next to the wall-clock rate. */
function cpuFigures(r: ThroughputResult): Record<string, number> {
  return {
    serverCpuMicrosPerSpan: Math.round(perSpanMicros(r.serverCpuSeconds, r.load.spans) * 100) / 100,
    loadGeneratorCpuMicrosPerSpan: Math.round(perSpanMicros(r.load.cpuSeconds, r.load.spans) * 100) / 100,
    spansPerSecondOn2FreeCores: projected(r),
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const throughput = await measureThroughput();
  const heap = measureHeap();
  // Admission reviews at 500/s over HTTPS while spans are ingested (bench/webhook.ts).
  const webhook = await runWebhookBench({
    durationMs: seconds * 1000,
    warmupMs: warmup * 1000,
    rate: 500,
    ingest: true,
  });
  // Gateway authorization checks at 5000/s, gRPC then HTTP forward-auth, while spans are ingested (bench/authz.ts).
  const authz: AuthzBenchResult[] = [];
  for (const protocol of ['grpc', 'http'] as const) {
    authz.push(
      await runAuthzBench({
        protocol,
        durationMs: seconds * 1000,
        warmupMs: warmup * 1000,
        rate: 5000,
        ingest: true,
      }),
    );
  }
  // Decision engine, incremental and full, at 10k and 100k workloads (bench/decisions.ts).
  const decisions = await runDecisionBench();
  const get = (t: LoadTransport): ThroughputResult => throughput.get(t)!;
  const sps = (r: ThroughputResult): number => Math.round(r.load.spans / r.load.seconds);
  const report: BenchReport = {
    results: [
      {
        name: 'otlp-http-protobuf',
        spansPerSecond: sps(get('otlp-http-protobuf')),
        p99DecisionMs: Math.round(get('otlp-http-protobuf').p99VisibleMs * 10) / 10,
        ...cpuFigures(get('otlp-http-protobuf')),
        ...(pacedResult
          ? {
              p99DecisionMsAtHalfRate: Math.round(pacedResult.p99VisibleMs * 10) / 10,
              halfRateSpansPerSecond: pacedResult.achievedSpansPerSecond,
            }
          : {}),
      },
      { name: 'otlp-grpc', spansPerSecond: sps(get('otlp-grpc')), ...cpuFigures(get('otlp-grpc')) },
      {
        name: 'otlp-http-json',
        spansPerSecond: sps(get('otlp-http-json')),
        ...cpuFigures(get('otlp-http-json')),
      },
      {
        name: 'webhook',
        reviewsPerSecond: Math.round(webhook.reviewsPerSecond),
        p99Ms: Math.round(webhook.p99Ms * 100) / 100,
        p50Ms: Math.round(webhook.p50Ms * 100) / 100,
        ingestSpansPerSecond: Math.round(webhook.ingestSpansPerSecond),
      },
      ...authz.map((a) => ({
        name: a.name,
        checksPerSecond: a.checksPerSecond,
        p99Ms: a.p99Ms,
        p50Ms: a.p50Ms,
        p999Ms: a.p999Ms,
        clientP99Ms: a.clientP99Ms,
        errors: a.errors,
        dropped: a.dropped,
        ingestSpansPerSecond: a.ingestSpansPerSecond,
      })),
      ...decisions.map((d) => ({ ...d })),
    ],
    heapBytesPer1kWorkloads: heap.bytesPer1k,
  };

  const goals: Record<string, number> = {
    'otlp-http-protobuf': 200_000,
    'otlp-grpc': 150_000,
    'otlp-http-json': 100_000,
  };
  const rows: string[][] = [
    [
      'scenario',
      'spans/s',
      'goal',
      'req/s',
      'refused',
      'errors',
      'B/span',
      'p50 vis ms',
      'p99 vis ms',
      'server CPU µs/span',
      'main thread µs/span',
      'loadgen CPU µs/span',
      'spans/s if 2 free cores',
    ],
  ];
  for (const [t, r] of throughput) {
    rows.push([
      t,
      String(sps(r)),
      `>= ${goals[t]}`,
      (r.load.requests / r.load.seconds).toFixed(0),
      String(r.load.refused),
      String(r.load.errors),
      String(r.load.bytesPerSpan),
      r.p50VisibleMs.toFixed(1),
      r.p99VisibleMs.toFixed(1),
      perSpanMicros(r.serverCpuSeconds, r.load.spans).toFixed(2),
      perSpanMicros(r.mainThreadCpuSeconds, r.load.spans).toFixed(2),
      perSpanMicros(r.load.cpuSeconds, r.load.spans).toFixed(2),
      String(projected(r)),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
  );
  process.stdout.write(
    `ingest benchmark: ${workers} worker thread(s), ${concurrency} concurrent clients, ${seconds} s per scenario after ${warmup} s warm-up, ` +
      (values.wal ? 'with the usage write-ahead log (answers after fdatasync), ' : '') +
      `${availableParallelism()} cores shared with the load generator\n\n` +
      lines.join('\n') +
      `\n\np99 receipt -> visible (HTTP protobuf): ${report.results[0]!.p99DecisionMs} ms at the saturated rate (goal <= 100)` +
      (pacedResult
        ? `; at a steady ${pacedResult.achievedSpansPerSecond} spans/s (half the rate): p50 ${pacedResult.p50VisibleMs.toFixed(1)} ms, p99 ${pacedResult.p99VisibleMs.toFixed(1)} ms`
        : '') +
      '\n' +
      `webhook: ${Math.round(webhook.reviewsPerSecond)} reviews/s offered 500/s, server p50 ${webhook.p50Ms.toFixed(2)} ms, p99 ${webhook.p99Ms.toFixed(2)} ms (goal <= 5), ` +
      `while ingesting ${Math.round(webhook.ingestSpansPerSecond)} spans/s\n` +
      authz
        .map(
          (a) =>
            `${a.name}: ${a.checksPerSecond} checks/s offered 5000/s, server p50 ${a.p50Ms.toFixed(3)} ms, p99 ${a.p99Ms.toFixed(3)} ms (goal <= 1), ` +
            `client p99 ${a.clientP99Ms.toFixed(1)} ms, ${a.errors} errors, ${a.dropped} not sent (512 in flight), while ingesting ${a.ingestSpansPerSecond} spans/s\n`,
        )
        .join('') +
      formatDecisionBench(decisions) +
      `windows memory: ${heap.bytesPer1k} bytes per 1k workloads (${(heap.bytesPer1k / 1024 / 1024).toFixed(2)} MiB; goal <= 2 MiB), ${heap.workloads} workloads\n` +
      `total time ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
}

function parseProtocols(list: string): LoadTransport[] {
  return list.split(',').map((p) => {
    if (!PROTOCOLS.includes(p as LoadTransport))
      throw new Error(`unknown protocol ${p}: ${PROTOCOLS.join(', ')}`);
    return p as LoadTransport;
  });
}

async function compareCollector(): Promise<void> {
  const report = await runCompareCollector({
    seconds,
    warmup,
    concurrency,
    rounds: Number(values.rounds),
    ...(values.workers !== undefined ? { workers } : {}),
    ...(values['cpu-prof'] !== undefined ? { cpuProfDir: values['cpu-prof'] } : {}),
    ...(values.protocols !== undefined ? { protocols: parseProtocols(values.protocols) } : {}),
  });
  process.stdout.write(
    `genops local vs the OpenTelemetry Collector (${report.collectorVersion}, otlp -> nop): ` +
      `${report.spansPerRequest} spans per request, ${concurrency} clients, ${seconds} s per run after ${warmup} s warm-up, ` +
      `median of ${values.rounds} round(s), ${availableParallelism()} cores shared with the load generator\n\n` +
      formatCompare(report) +
      '\n',
  );
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
}

(values['compare-collector'] ? compareCollector() : main()).catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
