// Acknowledged spend survives faults, and nothing is charged twice: two `genops operator` processes
// (each with its own --wal-dir) on the real API server, steady load from the real OTel SDK exporters
// (OTLP/HTTP protobuf with its own retry; OTLP/gRPC with a Collector-like retry of the same spans)
// through loopback "Services" with ClientIP-like affinity. Rounds: kill -9 at a seeded random moment
// and restart with the same replica id; failover (the killed replica's clients move to the other one,
// it restarts later); the API server going away and coming back. After every round, read from the
// usage records of both replicas: charged spend per stream == the cost of the spans the exporter saw
// acknowledged (export result callback). Figures per fault go to docs/operations.md.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { decodeRecord } from '../../enforcer/state/usage-record.ts';
import { usageRecordName, type ConfigMapObject } from '../../enforcer/state/usage-store.ts';
import { createPriceBook } from '../../pipeline/pricing/price-book.ts';
import { costMicros } from '../../pipeline/pricing/price.ts';
import {
  apiFor,
  ensureNamespace,
  kubeconfigPath,
  OPERATOR_NAMESPACE,
  operatorKubeconfigPath,
  prepareCluster,
  ROOT,
  uniqueName,
} from './enforcer-harness.ts';

const INPUT = 1000;
const OUTPUT = 100;
const SPANS_PER_EXPORT = 4;
const SEED = 20261202;

/** mulberry32: the kill moments are random but the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- a TCP proxy: the Service in front of the replicas, and the API server's front door ----

interface Proxy {
  port: number;
  /** Drops every connection and refuses new ones until resume(). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

async function startProxy(target: () => number | undefined): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let paused = false;
  const server: Server = createServer((client) => {
    const port = target();
    if (paused || port === undefined) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    // A dying replica's last bytes still reach the client (the kernel delivers what was sent before
    // the FIN/RST); then the client sees the connection end, as with a real pod.
    upstream
      .on('error', () => undefined)
      .on('close', () => {
        sockets.delete(upstream);
        client.end();
      });
    client
      .on('error', () => undefined)
      .on('close', () => {
        sockets.delete(client);
        upstream.destroy();
      });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    pause() {
      paused = true;
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    resume() {
      paused = false;
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// ---- operator replicas ----

interface Replica {
  readonly id: string;
  readonly walDir: string;
  child?: ChildProcess;
  http: number | undefined;
  grpc: number | undefined;
  exited?: Promise<number | null>;
  stderr: string[];
}

function start(r: Replica, kubeconfig: string, lease: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'cmd/genops.ts'),
      'operator',
      ...['--kubeconfig', kubeconfig, '--namespace', OPERATOR_NAMESPACE, '--replica-id', r.id],
      ...['--otlp-grpc-port', '0', '--otlp-http-port', '0', '--metrics-port', '0', '--health-port', '0'],
      ...['--no-webhook', '--lease-name', lease, '--lease-duration', '3', '--renew-deadline', '2'],
      ...['--retry-period', '0.25', '--usage-write-interval', '0.25', '--workers', '1'],
      ...['--wal-dir', r.walDir, '--authz-port', '0'],
      // The spans come through loopback proxies standing in for the Service, as from a Collector: a
      // trusted forwarder (an address that is no pod and no forwarder is charged to no named workload).
      ...['--trusted-peers', '127.0.0.1'],
    ],
    {
      cwd: ROOT,
      env: { ...process.env, GENOPS_LOG_LEVEL: 'warn', KUBECONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  r.child = child;
  r.http = undefined;
  r.grpc = undefined;
  r.stderr = [];
  child.stderr?.on('data', (d: Buffer) => r.stderr.push(d.toString()));
  r.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`replica ${r.id} did not start: ${r.stderr.join('').slice(-2000)}`)),
      60_000,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /OTLP gRPC :(\d+), OTLP HTTP :(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        r.grpc = Number(m[1]);
        r.http = Number(m[2]);
        resolve();
      }
    });
    void r.exited!.then((code) => {
      clearTimeout(timer);
      reject(new Error(`replica ${r.id} exited with ${code}: ${r.stderr.join('').slice(-2000)}`));
    });
  });
}

async function kill9(r: Replica): Promise<void> {
  r.http = undefined;
  r.grpc = undefined;
  r.child?.kill('SIGKILL');
  await r.exited;
}

// ---- load from the real SDK exporters ----

interface Stream {
  readonly name: string;
  /** Spans whose export the exporter reported as successful. */
  acked: number;
  /** Spans of exports that finally failed (not acknowledged). */
  failed: number;
  /** Spans of the export in flight right now (0 or SPANS_PER_EXPORT). */
  inFlight: number;
  /** Largest inFlight seen at a kill of this stream's replica. */
  inFlightAtKill: number;
  /** When acknowledgements came (ms), for the pod-loss bound. */
  readonly ackTimes: number[];
}

function spanFactory(namespace: string, workload: string): () => ReadableSpan[] {
  const ended: ReadableSpan[] = [];
  const collect: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (s) => void ended.push(s),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': workload,
      'k8s.namespace.name': namespace,
      'k8s.deployment.name': workload,
    }),
    spanProcessors: [collect],
  });
  const tracer = provider.getTracer('durability-faults');
  return () => {
    for (let i = 0; i < SPANS_PER_EXPORT; i++) {
      tracer
        .startSpan('chat gpt-4o', {
          kind: SpanKind.CLIENT,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': 'gpt-4o',
            'gen_ai.usage.input_tokens': INPUT,
            'gen_ai.usage.output_tokens': OUTPUT,
          },
        })
        .end();
    }
    return ended.splice(0);
  };
}

/** ExportResultCode.SUCCESS of @opentelemetry/core (not a direct dependency). */
const SUCCESS: number = 0;

const exportOnce = (exporter: SpanExporter, spans: ReadableSpan[]): Promise<boolean> =>
  new Promise((resolve) => exporter.export(spans, (r) => resolve((r.code as number) === SUCCESS)));

/**
 * Sends exports one after another until `stop` is set. `retries`: how often the same spans are
 * exported again after a failure, as a Collector's retry_on_failure would (the gRPC exporter of the
 * JS SDK does not retry by itself; the HTTP one does, within its timeout).
 */
async function runLoad(
  stream: Stream,
  exporter: SpanExporter,
  next: () => ReadableSpan[],
  control: { stop: boolean },
  retries: number,
): Promise<void> {
  while (!control.stop) {
    const spans = next();
    stream.inFlight = spans.length;
    let ok = false;
    for (let attempt = 0; attempt <= retries && !ok; attempt++) {
      if (attempt > 0) await sleep(300);
      ok = await exportOnce(exporter, spans);
    }
    stream.inFlight = 0;
    if (ok) {
      stream.acked += spans.length;
      stream.ackTimes.push(Date.now());
    } else stream.failed += spans.length;
    await sleep(15);
  }
}

// ---- the test ----

interface Figures {
  fault: string;
  acknowledged: number;
  charged: number;
  lost: number;
  doubled: number;
  notAcknowledged: number;
}

describe('durability under faults: two replicas, real exporters, real API server', () => {
  let admin: KubeApi;
  let ns: string;
  let work: string;
  let apiProxy: Proxy;
  let kubeconfig: string;
  const prefix = uniqueName('dur');
  const lease = uniqueName('dur-lease');
  const replicas: Replica[] = [];
  const proxies: Proxy[] = [];
  const perSpan = costMicros(
    { inputTokens: INPUT, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
    createPriceBook().lookup('openai', 'gpt-4o')!,
  );

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
    ns = uniqueName('dur');
    await ensureNamespace(admin, ns);
    work = mkdtempSync(join(tmpdir(), 'genops-durability-'));
    // The operators reach the API server through a proxy the test can take away.
    const kc = parse(readFileSync(operatorKubeconfigPath(), 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    const api = new URL(kc.clusters[0]!.cluster.server);
    apiProxy = await startProxy(() => Number(api.port));
    kc.clusters[0]!.cluster.server = `https://${api.hostname}:${apiProxy.port}`;
    kubeconfig = join(work, 'operator.kubeconfig');
    writeFileSync(kubeconfig, stringify(kc));
  });

  afterAll(async () => {
    for (const r of replicas) if (r.child?.exitCode === null) r.child.kill('SIGKILL');
    for (const r of replicas) await r.exited;
    for (const p of proxies) await p.close();
    await apiProxy?.close();
    for (const r of replicas)
      await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, usageRecordName(r.id));
    rmSync(work, { recursive: true, force: true });
  });

  /** Charged spans per workload: both replicas' usage records, each once. */
  async function charged(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const r of replicas) {
      const cm = await admin.get<ConfigMapObject>(
        RESOURCES.configMap,
        OPERATOR_NAMESPACE,
        usageRecordName(r.id),
      );
      const data = cm?.binaryData?.['usage.json.gz'];
      const record = data === undefined ? undefined : decodeRecord(Buffer.from(data, 'base64'));
      for (const w of record?.spend.workloads ?? []) {
        if (w.ref.namespace !== ns) continue;
        const micros = w.spend.monthly?.costMicros ?? 0;
        out.set(w.ref.name, (out.get(w.ref.name) ?? 0) + micros / perSpan);
      }
    }
    return out;
  }

  /** Waits until the records stop changing (written every 0.25 s when usage changed). */
  async function settled(): Promise<Map<string, number>> {
    let last = '';
    for (let i = 0; i < 40; i++) {
      await sleep(500);
      const now = await charged();
      const key = JSON.stringify([...now].sort());
      if (key === last) return now;
      last = key;
    }
    throw new Error('usage records did not settle');
  }

  it('charges exactly the acknowledged spans after kill -9, restart, failover and an API server outage', async () => {
    const rnd = prng(SEED);
    const a: Replica = {
      id: `${prefix}-a`,
      walDir: join(work, 'wal-a'),
      stderr: [],
      http: undefined,
      grpc: undefined,
    };
    const b: Replica = {
      id: `${prefix}-b`,
      walDir: join(work, 'wal-b'),
      stderr: [],
      http: undefined,
      grpc: undefined,
    };
    replicas.push(a, b);
    await Promise.all([start(a, kubeconfig, lease), start(b, kubeconfig, lease)]);

    // Two "client pods": the HTTP one has affinity to A, the gRPC one to B, each moving to the other
    // replica only in failover mode (while its own replica is down), as ClientIP affinity does.
    const failover = { a: false, b: false };
    const pick = (own: Replica, other: Replica, port: 'http' | 'grpc', moved: () => boolean) => () =>
      own[port] !== undefined ? own[port] : moved() ? other[port] : undefined;
    const httpService = await startProxy(pick(a, b, 'http', () => failover.a));
    const grpcService = await startProxy(pick(b, a, 'grpc', () => failover.b));
    proxies.push(httpService, grpcService);

    const streams: Record<'http' | 'grpc', Stream> = {
      http: { name: 'chat-http', acked: 0, failed: 0, inFlight: 0, inFlightAtKill: 0, ackTimes: [] },
      grpc: { name: 'chat-grpc', acked: 0, failed: 0, inFlight: 0, inFlightAtKill: 0, ackTimes: [] },
    };
    const httpExporter = new ProtoExporter({
      url: `http://127.0.0.1:${httpService.port}/v1/traces`,
      timeoutMillis: 15_000,
    });
    const grpcExporter = new GrpcExporter({
      url: `http://127.0.0.1:${grpcService.port}`,
      timeoutMillis: 5_000,
    });
    const httpSpans = spanFactory(ns, 'chat-http');
    const grpcSpans = spanFactory(ns, 'chat-grpc');

    const figures: Figures[] = [];
    let before = new Map<string, number>();
    let ackedBefore = { http: 0, grpc: 0 };
    let failedBefore = { http: 0, grpc: 0 };

    /** Runs load during `fault`, then checks the invariant for this round. */
    /** 'exact': charged == acknowledged. 'failover': up to the in-flight spans doubled. 'pod-lost': the
     * emptyDir went with the pod: up to what was acknowledged since the last usage record write is lost. */
    let podLostBound = 0;
    const round = async (
      fault: string,
      inject: () => Promise<void>,
      mode: 'exact' | 'failover' | 'pod-lost' = 'exact',
    ): Promise<void> => {
      const control = { stop: false };
      const load = Promise.all([
        runLoad(streams.http, httpExporter, httpSpans, control, 0),
        runLoad(streams.grpc, grpcExporter, grpcSpans, control, 60),
      ]);
      await inject();
      await sleep(800);
      control.stop = true;
      await load;
      const after = await settled();
      for (const key of ['http', 'grpc'] as const) {
        const s = streams[key];
        const acknowledged = s.acked - ackedBefore[key];
        const got = (after.get(s.name) ?? 0) - (before.get(s.name) ?? 0);
        const diff = Math.round(got) - acknowledged;
        figures.push({
          fault: `${fault} (${key})`,
          acknowledged,
          charged: Math.round(got),
          lost: Math.max(0, -diff),
          doubled: Math.max(0, diff),
          notAcknowledged: s.failed - failedBefore[key],
        });
        console.log(`durability round: ${JSON.stringify(figures[figures.length - 1])}`);
        const what = `${fault} ${key}: charged ${got} for ${acknowledged} acknowledged`;
        if (mode === 'pod-lost' && key === 'http') {
          // The log went with the pod: what was acknowledged after the last record write is gone,
          // and nothing more; a retry of an unanswered request may be charged again.
          expect(-diff, what).toBeLessThanOrEqual(podLostBound);
          expect(diff, what).toBeLessThanOrEqual(s.inFlightAtKill);
        } else {
          // Never lose an acknowledged span.
          expect(diff, what).toBeGreaterThanOrEqual(0);
          // Nothing doubled; in a failover, at most the spans the dead replica had made durable but
          // not yet answered can be charged again by the other replica (the remaining window).
          if (mode === 'failover') expect(diff, what).toBeLessThanOrEqual(s.inFlightAtKill);
          else expect(diff, what).toBe(0);
        }
        // Load really ran through the fault.
        expect(acknowledged).toBeGreaterThan(0);
      }
      before = after;
      ackedBefore = { http: streams.http.acked, grpc: streams.grpc.acked };
      failedBefore = { http: streams.http.failed, grpc: streams.grpc.failed };
    };

    const killAt = async (r: Replica, stream: Stream) => {
      await sleep(300 + Math.floor(rnd() * 1200));
      stream.inFlightAtKill = Math.max(stream.inFlightAtKill, stream.inFlight);
      await kill9(r);
    };

    await round('steady (no fault)', () => sleep(1000));

    // kill -9 and restart with the same id: retries reach the same replica again.
    await round('kill -9 A, restart A', async () => {
      await killAt(a, streams.http);
      await start(a, kubeconfig, lease);
    });
    await round('kill -9 B, restart B', async () => {
      await killAt(b, streams.grpc);
      await start(b, kubeconfig, lease);
    });

    // Failover: A's client moves to B while A is down; A comes back later with its log.
    await round(
      'kill -9 A, failover to B, A restarts later',
      async () => {
        failover.a = true;
        streams.http.inFlightAtKill = 0;
        await killAt(a, streams.http);
        await sleep(1500);
        await start(a, kubeconfig, lease);
      },
      'failover',
    );
    failover.a = false;

    // The API server goes away (no record can be written) and comes back.
    await round('API server away 3 s', async () => {
      await sleep(300 + Math.floor(rnd() * 500));
      apiProxy.pause();
      await sleep(3000);
      apiProxy.resume();
    });

    await round('kill -9 A again, restart A', async () => {
      await killAt(a, streams.http);
      await start(a, kubeconfig, lease);
    });

    // The whole pod is lost (node gone): the container starts on a new emptyDir, a new log.
    await round(
      'pod of A lost (kill -9, new emptyDir), A restarts',
      async () => {
        streams.http.inFlightAtKill = 0;
        await killAt(a, streams.http);
        const killedAt = Date.now();
        // Records are written every 0.25 s here: what was acknowledged in the last write interval
        // plus the write's own time (bounded generously by 1.5 s) may be gone.
        podLostBound = streams.http.ackTimes.filter((t) => t >= killedAt - 1500).length * SPANS_PER_EXPORT;
        rmSync(a.walDir, { recursive: true, force: true });
        await start(a, kubeconfig, lease);
      },
      'pod-lost',
    );

    console.log(`durability figures (seed ${SEED}):\n${JSON.stringify(figures, null, 1)}`);
    await httpExporter.shutdown();
    await grpcExporter.shutdown();
  });
});
