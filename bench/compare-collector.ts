// Owns `npm run bench -- --compare-collector`: `genops local` and the OpenTelemetry Collector
// (test/collector's otelcol-genops, pipeline `otlp -> nop`: decoding and nothing else) side by side
// on this machine, one after the other under the same load (bench/wire-load.ts: a cheap child
// process, 256 spans per request, half GenAI chat spans, unique ids, closed loop), per protocol.
// Both servers run as their own processes; their CPU is read from /proc (all threads). Reported per
// protocol and round: spans/s, server CPU µs per span, p99 latency, the ratios genops/Collector, and
// whether genops charged exactly the cost of the spans it acknowledged (genops_cost_total_usd).
//
//   npm run bench -- --compare-collector [--seconds 10] [--warmup 2] [--concurrency 8] [--rounds 1]
//                    [--workers N] [--cpu-prof DIR] [--protocols otlp-grpc,...] [--json out.json]
//
// --cpu-prof DIR: genops runs with node --cpu-prof (one .cpuprofile per thread, workers included).

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ensureCollector } from '../test/collector/build.ts';
import { ask, startChild, stop } from './children.ts';
import type { LoadTransport } from './load.ts';
import type { WireLoadResult, WireRunSpec } from './wire-load.ts';

export interface CompareOptions {
  readonly seconds: number;
  readonly warmup: number;
  readonly concurrency: number;
  readonly rounds: number;
  readonly workers?: number;
  readonly cpuProfDir?: string;
  /** Default all three. */
  readonly protocols?: readonly LoadTransport[];
  readonly log?: (message: string) => void;
}

/** One server under one protocol's load in one round. */
export interface ServerRun {
  readonly spansPerSecond: number;
  readonly serverCpuMicrosPerSpan: number;
  /** Of which the main thread (for genops: receivers, charge-once, windows; the workers decode). */
  readonly mainThreadCpuMicrosPerSpan: number;
  /** CPU µs per span by thread name (genops: MainThread, WorkerThread, V8Worker = GC and JIT). */
  readonly threadCpuMicrosPerSpan: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly refused: number;
  readonly errors: number;
  readonly loadGeneratorCpuMicrosPerSpan: number;
}

export interface CompareRound {
  readonly genops: ServerRun;
  readonly collector: ServerRun;
  /** genops spans/s over the Collector's. */
  readonly ratio: number;
  /** genops CPU per span over the Collector's. */
  readonly cpuRatio: number;
  /** The cost genops charged during the run (its counter's increase), µUSD. */
  readonly chargedMicros: number;
  /** What the spans it acknowledged cost (the load generator's count), µUSD. */
  readonly acknowledgedMicros: number;
  readonly costExact: boolean;
}

export interface CompareEntry {
  readonly name: string;
  readonly protocol: LoadTransport;
  /** Median over the rounds. */
  readonly spansPerSecond: number;
  readonly collectorSpansPerSecond: number;
  readonly ratio: number;
  readonly ratioMin: number;
  readonly ratioMax: number;
  readonly serverCpuMicrosPerSpan: number;
  readonly mainThreadCpuMicrosPerSpan: number;
  readonly collectorCpuMicrosPerSpan: number;
  readonly cpuRatio: number;
  readonly p99Ms: number;
  readonly collectorP99Ms: number;
  /** Every round charged exactly the acknowledged spans' cost. */
  readonly costExact: boolean;
  readonly rounds: readonly CompareRound[];
}

export interface CompareReport {
  readonly results: CompareEntry[];
  readonly collectorVersion: string;
  readonly spansPerRequest: number;
  readonly concurrency: number;
  readonly seconds: number;
}

export const PROTOCOLS: readonly LoadTransport[] = ['otlp-http-protobuf', 'otlp-grpc', 'otlp-http-json'];
const repoRoot = fileURLToPath(new URL('../', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Resolves once something accepts connections on the port (bounded). */
async function waitForPort(port: number, what: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not listen on ${port} within 60 s`);
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** genops_cost_total_usd summed over its series, in µUSD. */
async function chargedMicros(metricsPort: number): Promise<number> {
  const { body } = await httpGet(metricsPort, '/metrics');
  let usd = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith('genops_cost_total_usd')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) usd += value;
  }
  return Math.round(usd * 1e6);
}

interface Server {
  readonly name: 'genops' | 'collector';
  readonly pid: number;
  port(protocol: LoadTransport): number;
  stop(): Promise<void>;
}

async function startCollector(binary: string, work: string, log: (m: string) => void): Promise<Server> {
  const grpc = await freePort();
  const http = await freePort();
  const config = {
    receivers: {
      otlp: {
        protocols: { grpc: { endpoint: `127.0.0.1:${grpc}` }, http: { endpoint: `127.0.0.1:${http}` } },
      },
    },
    exporters: { nop: {} },
    service: {
      pipelines: { traces: { receivers: ['otlp'], exporters: ['nop'] } },
      // Nothing but decoding: no internal metrics endpoint, warnings only.
      telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
    },
  };
  const path = join(work, 'collector.yaml');
  writeFileSync(path, stringify(config));
  const child = spawn(binary, [`--config=${path}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  try {
    await waitForPort(http, 'the Collector', child);
    await waitForPort(grpc, 'the Collector', child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`, { cause: err });
  }
  log(`Collector (pid ${child.pid}) on gRPC :${grpc}, HTTP :${http}`);
  return {
    name: 'collector',
    pid: child.pid!,
    port: (p) => (p === 'otlp-grpc' ? grpc : http),
    stop: () => stopProcess(child),
  };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function startGenops(
  work: string,
  options: CompareOptions,
  log: (m: string) => void,
): Promise<Server & { metricsPort: number }> {
  // An empty policy directory: ingest only, no budgets to evaluate.
  const policies = join(work, 'policies');
  mkdirSync(policies);
  const ports = {
    grpc: await freePort(),
    http: await freePort(),
    metrics: await freePort(),
    health: await freePort(),
    authz: await freePort(),
  };
  const nodeArgs = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  const args = [
    ...nodeArgs,
    join(repoRoot, 'cmd/genops.ts'),
    'local',
    '--policies',
    policies,
    '--otlp-grpc-port',
    String(ports.grpc),
    '--otlp-http-port',
    String(ports.http),
    '--metrics-port',
    String(ports.metrics),
    '--health-port',
    String(ports.health),
    '--authz-port',
    String(ports.authz),
    ...(options.workers !== undefined ? ['--workers', String(options.workers)] : []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GENOPS_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  try {
    await waitForPort(ports.health, 'genops local', child);
    const deadline = Date.now() + 60_000;
    while ((await httpGet(ports.health, '/readyz')).status !== 200) {
      if (Date.now() > deadline) throw new Error('genops local not ready within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitForPort(ports.metrics, 'genops local', child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`, { cause: err });
  }
  log(`genops local (pid ${child.pid}) on gRPC :${ports.grpc}, HTTP :${ports.http}`);
  return {
    name: 'genops',
    pid: child.pid!,
    metricsPort: ports.metrics,
    port: (p) => (p === 'otlp-grpc' ? ports.grpc : ports.http),
    // SIGTERM: genops shuts down in order, and --cpu-prof writes its profiles at exit.
    stop: () => stopProcess(child),
  };
}

function serverRun(r: WireLoadResult): ServerRun {
  // CPU is read by timers, which run late on a busy machine: divided by the spans answered between
  // the two reads, not by the spans of the nominal window.
  const per = (cpu: number): number =>
    r.cpuWindowSpans > 0 ? Math.round(((cpu * 1e6) / r.cpuWindowSpans) * 100) / 100 : NaN;
  return {
    spansPerSecond: Math.round(r.spans / r.seconds),
    serverCpuMicrosPerSpan: per(r.serverCpuSeconds),
    mainThreadCpuMicrosPerSpan: per(r.serverMainThreadCpuSeconds),
    threadCpuMicrosPerSpan: Object.fromEntries(
      Object.entries(r.serverThreadCpuSeconds).map(([name, cpu]) => [name, per(cpu)]),
    ),
    p50Ms: Math.round(r.p50Ms * 100) / 100,
    p99Ms: Math.round(r.p99Ms * 100) / 100,
    refused: r.refused,
    errors: r.errors,
    loadGeneratorCpuMicrosPerSpan: per(r.loadCpuSeconds),
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** Waits until genops has applied what it acknowledged (the charge-once hold is 1 s), bounded. */
async function settledCharge(metricsPort: number, before: number, expected: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  let charged = (await chargedMicros(metricsPort)) - before;
  while (charged !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    charged = (await chargedMicros(metricsPort)) - before;
  }
  return charged;
}

export async function runCompareCollector(options: CompareOptions): Promise<CompareReport> {
  const log = options.log ?? ((m: string) => process.stderr.write(`[compare] ${m}\n`));
  const binary = await ensureCollector({ log });
  const work = mkdtempSync(join(tmpdir(), 'genops-compare-'));
  const servers: Server[] = [];
  let load: ChildProcess | undefined;
  try {
    const genops = await startGenops(work, options, log);
    servers.push(genops);
    const collector = await startCollector(binary, work, log);
    servers.push(collector);
    // Spans timed a minute ago: inside the current budget period and the plausibility window.
    load = await startChild([String(Date.now() - 60_000)], new URL('./wire-load.ts', import.meta.url));
    const protocols = options.protocols ?? PROTOCOLS;
    const rounds = new Map<LoadTransport, CompareRound[]>(protocols.map((p) => [p, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (const protocol of protocols) {
        const results: Partial<Record<'genops' | 'collector', WireLoadResult>> = {};
        let charged = 0;
        for (const server of [genops, collector]) {
          const before = server === genops ? await chargedMicros(genops.metricsPort) : 0;
          const spec: WireRunSpec = {
            transport: protocol,
            port: server.port(protocol),
            concurrency: options.concurrency,
            warmupMs: options.warmup * 1000,
            durationMs: options.seconds * 1000,
            serverPid: server.pid,
          };
          const r = await ask<WireLoadResult & { error?: string }>(load, { type: 'run', ...spec });
          if (r.error !== undefined) throw new Error(`load generator: ${r.error}`);
          results[server.name] = r;
          if (server === genops)
            charged = await settledCharge(genops.metricsPort, before, r.acknowledgedCostMicros);
          // Let the server settle (GC, queues) before the other one is measured.
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        const g = serverRun(results.genops!);
        const c = serverRun(results.collector!);
        const acknowledged = results.genops!.acknowledgedCostMicros;
        const entry: CompareRound = {
          genops: g,
          collector: c,
          ratio: round2(g.spansPerSecond / c.spansPerSecond),
          cpuRatio: round2(g.serverCpuMicrosPerSpan / c.serverCpuMicrosPerSpan),
          chargedMicros: charged,
          acknowledgedMicros: acknowledged,
          costExact: charged === acknowledged && acknowledged > 0,
        };
        rounds.get(protocol)!.push(entry);
        log(
          `round ${round + 1} ${protocol}: genops ${g.spansPerSecond} spans/s (${g.serverCpuMicrosPerSpan} µs/span), ` +
            `Collector ${c.spansPerSecond} spans/s (${c.serverCpuMicrosPerSpan} µs/span), ratio ${entry.ratio}, ` +
            `cost ${entry.costExact ? 'exact' : `NOT exact: charged ${charged}, acknowledged ${acknowledged} µUSD`}`,
        );
      }
    }
    const results: CompareEntry[] = protocols.map((protocol) => {
      const list = rounds.get(protocol)!;
      const ratios = list.map((r) => r.ratio);
      return {
        name: `${protocol}-vs-collector`,
        protocol,
        spansPerSecond: Math.round(median(list.map((r) => r.genops.spansPerSecond))),
        collectorSpansPerSecond: Math.round(median(list.map((r) => r.collector.spansPerSecond))),
        ratio: round2(median(ratios)),
        ratioMin: Math.min(...ratios),
        ratioMax: Math.max(...ratios),
        serverCpuMicrosPerSpan: round2(median(list.map((r) => r.genops.serverCpuMicrosPerSpan))),
        mainThreadCpuMicrosPerSpan: round2(median(list.map((r) => r.genops.mainThreadCpuMicrosPerSpan))),
        collectorCpuMicrosPerSpan: round2(median(list.map((r) => r.collector.serverCpuMicrosPerSpan))),
        cpuRatio: round2(median(list.map((r) => r.cpuRatio))),
        p99Ms: round2(median(list.map((r) => r.genops.p99Ms))),
        collectorP99Ms: round2(median(list.map((r) => r.collector.p99Ms))),
        costExact: list.every((r) => r.costExact),
        rounds: list,
      };
    });
    return {
      results,
      collectorVersion: binary.split('/').at(-2) ?? 'otelcol-genops',
      spansPerRequest: 256,
      concurrency: options.concurrency,
      seconds: options.seconds,
    };
  } finally {
    if (load) {
      load.removeAllListeners('exit');
      load.send({ type: 'exit' });
      await stop(load);
    }
    for (const s of servers) await s.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The table printed by `npm run bench -- --compare-collector`. */
export function formatCompare(report: CompareReport): string {
  const rows: string[][] = [
    [
      'protocol',
      'genops spans/s',
      'Collector spans/s',
      'ratio (min-max)',
      'genops µs/span',
      'of which main thread',
      'Collector µs/span',
      'CPU ratio',
      'genops p99 ms',
      'Collector p99 ms',
      'cost exact',
    ],
  ];
  for (const e of report.results) {
    rows.push([
      e.protocol,
      String(e.spansPerSecond),
      String(e.collectorSpansPerSecond),
      `${e.ratio.toFixed(2)} (${e.ratioMin.toFixed(2)}-${e.ratioMax.toFixed(2)})`,
      e.serverCpuMicrosPerSpan.toFixed(2),
      e.mainThreadCpuMicrosPerSpan.toFixed(2),
      e.collectorCpuMicrosPerSpan.toFixed(2),
      e.cpuRatio.toFixed(2),
      e.p99Ms.toFixed(1),
      e.collectorP99Ms.toFixed(1),
      e.costExact ? 'yes' : 'NO',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}
