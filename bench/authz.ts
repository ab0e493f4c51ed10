// Owns the `authz` entries of `npm run bench`: the gateway authorization server (real listener, real
// check, the admission benchmark's realistic view: 40 namespaces x 8 team budgets, one in eight
// blocked, a production policy each) on the main thread as the operator runs it (--thread: in the authz
// thread, authz/thread.ts; --echo adds the floor, bench/authz-echo.ts), in
// this process next to the real ingest pipeline receiving spans from bench/load.ts, and an open-loop
// client in a child process (this file, forked with --authz-load) sending checks at a fixed rate: gRPC
// Check over HTTP/2 connections as Envoy does (one per Envoy worker), or HTTP forward-auth over
// keep-alive connections as nginx does. Latency is measured in the server, from a request's arrival to
// its answer, through the metrics port (as genops_authz_* sees it).
//
//   node bench/authz.ts [--seconds 10] [--rate 5000] [--no-ingest] [--thread] [--echo]

import type { ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { connect, constants as h2 } from 'node:http2';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createManualClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/logger.ts';
import { CHECK_PATH, createAuthzServer } from '../authz/server.ts';
import { encodeCheckRequest } from '../authz/envoy-proto.ts';
import { createIdentityResolver } from '../authz/identity.ts';
import { createOutputCostEstimator } from '../authz/index.ts';
import { createAuthzThread } from '../authz/thread.ts';
import { createEchoThread } from './authz-echo.ts';
import { grpcHeaderBlock, rawH2Connection } from './h2-raw.ts';
import type { AuthzMetrics, AuthzProtocol } from '../authz/metrics.ts';
import { realisticView } from './webhook.ts';
import { ask, percentile, startChild, startIngestBeside, stop, type IngestBeside } from './children.ts';

export interface AuthzBenchOptions {
  readonly protocol: AuthzProtocol;
  /** Measured time. Default 10 s. */
  readonly durationMs?: number;
  /** Unmeasured time before it. Default 2 s. */
  readonly warmupMs?: number;
  /** Checks per second sent. Default 5000. */
  readonly rate?: number;
  /** Run the ingest pipeline in this process with one span client meanwhile. Default true. */
  readonly ingest?: boolean;
  readonly workers?: number;
  /** Serve from the authz thread (authz/thread.ts). Default false: the main thread, as the operator does. */
  readonly thread?: boolean;
  /**
   * gRPC only: instead of the authz server, the least node:http2 server (bench/authz-echo.ts, in a
   * worker thread): a fixed OK answer, no decode, no decision. The floor under the gRPC figure.
   */
  readonly echo?: boolean;
  /** gRPC connections the checks go round (Envoy: one per worker thread). Default 2. */
  readonly connections?: number;
  /**
   * gRPC client: 'raw' (bench/h2-raw.ts: pre-encoded frames, one write per call, as Envoy writes them;
   * default) or 'node' (node:http2's client, which costs as much as the server per call).
   */
  readonly client?: 'raw' | 'node';
}

export interface AuthzBenchResult {
  readonly name: string;
  readonly checksPerSecond: number;
  /** Server-side, request arrival to answer written. */
  readonly p99Ms: number;
  readonly p50Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Client-side p99 (its own event loop, the sockets and the other process's scheduling included). */
  readonly clientP99Ms: number;
  readonly denied: number;
  readonly errors: number;
  /** Checks the client did not send: 512 were already in flight (the server fell behind the rate). */
  readonly dropped: number;
  readonly ingestSpansPerSecond: number;
  /**
   * p99 of the main thread's event-loop delay while measured: how long work queued behind ingest
   * waits there (what a check on the main thread waits; the authz thread does not).
   */
  readonly mainLoopDelayP99Ms: number;
  /** CPU time of this process per check (sockets, HTTP/2 or HTTP/1, the check), without ingest only. */
  readonly cpuUsPerCheck: number | undefined;
}

interface LoadSpec {
  readonly type: 'run';
  readonly protocol: AuthzProtocol;
  readonly port: number;
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly connections: number;
  readonly client: 'raw' | 'node';
}

interface LoadReport {
  readonly type: 'result';
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  /** Not sent because MAX_IN_FLIGHT checks were already waiting for an answer. */
  readonly dropped: number;
  readonly clientP99Ms: number;
}

const MAX_IN_FLIGHT = 512;
const TEAMS = ['search', 'chat', 'ranking', 'vision', 'speech', 'agents', 'platform', 'research'];
const NAMESPACES = 40;

/** What a gateway asks: a chat completion of one of 320 workloads, with its body (model, max_tokens). */
function checkCase(i: number): { headers: Record<string, string>; body: string } {
  const team = TEAMS[i % TEAMS.length]!;
  const ns = `prod-${Math.floor(i / TEAMS.length) % NAMESPACES}`;
  return {
    headers: {
      'x-genops-namespace': ns,
      'x-genops-workload': `Deployment/${team}-svc-${i % 25}`,
      'x-genops-label-team': team,
      'x-genops-label-environment': 'production',
      'x-genops-label-genops.ai~data-classification': 'internal',
      'content-type': 'application/json',
      'user-agent': 'openai-python/1.54.0',
      'x-request-id': `5f2b8c1e-${i}`,
    },
    body: JSON.stringify({
      model: i % 5 === 0 ? 'gpt-4o' : 'gpt-4o-mini',
      max_tokens: 512,
      messages: [{ role: 'user', content: 'Summarise the attached ticket in two sentences.' }],
    }),
  };
}

export async function runAuthzBench(opts: AuthzBenchOptions): Promise<AuthzBenchResult> {
  const durationMs = opts.durationMs ?? 10_000;
  const warmupMs = opts.warmupMs ?? 2_000;
  const rate = opts.rate ?? 5000;
  const ingest = opts.ingest ?? true;

  const latencies = new Float64Array(Math.ceil(rate * (durationMs / 1000) * 1.5) + 1000);
  let count = 0;
  let denied = 0;
  let measuring = false;
  const metrics: AuthzMetrics = {
    checked: (_protocol, outcome, _reason, seconds) => {
      if (!measuring || count >= latencies.length) return;
      latencies[count++] = seconds * 1000;
      if (outcome === 'denied') denied++;
    },
  };
  const clock = createManualClock(Date.UTC(2026, 6, 20));
  const view = realisticView();
  const thread = opts.thread ?? false;
  const server = opts.echo
    ? createEchoThread(metrics)
    : thread
      ? createAuthzThread({ host: '127.0.0.1', port: 0, view, clock, logger: silentLogger, metrics })
      : createAuthzServer({
          host: '127.0.0.1',
          port: 0,
          view,
          identity: createIdentityResolver(),
          clock,
          logger: silentLogger,
          metrics,
          estimate: createOutputCostEstimator(() => view.policies(), undefined, clock),
        });

  let ingestLoad: IngestBeside | undefined;
  let loadClient: ChildProcess | undefined;
  try {
    await server.start();
    if (ingest) ingestLoad = await startIngestBeside(opts.workers ?? 1);
    loadClient = await startChild(['--authz-load'], new URL(import.meta.url));
    const spans = ingestLoad?.run(warmupMs, durationMs);
    const spec: LoadSpec = {
      type: 'run',
      protocol: opts.protocol,
      port: server.port(),
      rate,
      warmupMs,
      durationMs,
      connections: opts.connections ?? 2,
      client: opts.client ?? 'raw',
    };
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    let cpuStart: NodeJS.CpuUsage | undefined;
    let cpu: NodeJS.CpuUsage | undefined;
    const window = setTimeout(() => {
      measuring = true;
      loopDelay.enable();
      cpuStart = process.cpuUsage();
      setTimeout(() => {
        measuring = false;
        loopDelay.disable();
        cpu = process.cpuUsage(cpuStart);
      }, durationMs).unref();
    }, warmupMs);
    const [load, spanResult] = await Promise.all([ask<LoadReport>(loadClient, spec), spans]);
    clearTimeout(window);
    measuring = false;
    const sorted = latencies.slice(0, count).sort();
    return {
      name: `authz-${opts.protocol}${opts.echo ? '-echo' : thread ? '-thread' : ''}`,
      checksPerSecond: Math.round(count / (durationMs / 1000)),
      p99Ms: round(percentile(sorted, 99)),
      p50Ms: round(percentile(sorted, 50)),
      p999Ms: round(percentile(sorted, 99.9)),
      maxMs: round(sorted[sorted.length - 1] ?? NaN),
      clientP99Ms: round(load.clientP99Ms),
      denied,
      errors: load.errors,
      dropped: load.dropped,
      mainLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6),
      ingestSpansPerSecond: spanResult ? Math.round(spanResult.spans / spanResult.seconds) : 0,
      cpuUsPerCheck: !ingest && cpu && count > 0 ? Math.round((cpu.user + cpu.system) / count) : undefined,
    };
  } finally {
    await stop(loadClient);
    await ingestLoad?.stop();
    await server.shutdown();
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

// ---- the load client (child process) ---------------------------------------------------------------------

function runLoadClient(): void {
  const cases = Array.from({ length: 320 }, (_, i) => checkCase(i));
  const grpcFrames = cases.map((c) => {
    const msg = encodeCheckRequest({
      sourceAddress: '10.12.0.7',
      method: 'POST',
      path: '/v1/chat/completions',
      host: 'api.openai.com',
      headers: c.headers,
      body: c.body,
    });
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    frame.set(msg, 5);
    return frame;
  });
  const httpRequests = cases.map((c) => {
    const head = [
      'POST /v1/check HTTP/1.1',
      'host: genops-authz',
      'x-original-uri: /v1/chat/completions',
      'x-original-method: POST',
      ...Object.entries(c.headers).map(([k, v]) => `${k}: ${v}`),
      `content-length: ${Buffer.byteLength(c.body)}`,
    ].join('\r\n');
    return Buffer.from(`${head}\r\n\r\n${c.body}`);
  });
  process.on('message', (m: LoadSpec) => {
    if (m.type !== 'run') return;
    const started = performance.now();
    const measureFrom = started + m.warmupMs;
    const measureTo = measureFrom + m.durationMs;
    const client: number[] = [];
    let sent = 0;
    let ok = 0;
    let errors = 0;
    let inFlight = 0;
    let dropped = 0;
    let finished = false;
    // Envoy's ext_authz client keeps one HTTP/2 connection per Envoy worker thread (its concurrency
    // defaults to the cores: 2 here); the checks go round the connections.
    const raw = m.protocol === 'grpc' && m.client === 'raw';
    const rawConns = raw ? Array.from({ length: m.connections }, () => rawH2Connection(m.port)) : [];
    const block = grpcHeaderBlock(CHECK_PATH, `127.0.0.1:${m.port}`);
    const sessions =
      m.protocol === 'grpc' && !raw
        ? Array.from({ length: m.connections }, () =>
            connect(`http://127.0.0.1:${m.port}`, { maxSessionMemory: 64 }),
          )
        : [];
    for (const session of sessions) session.on('error', () => undefined);
    const done = (t0: number, success: boolean) => {
      inFlight--;
      if (success) ok++;
      else errors++;
      if (t0 >= measureFrom && t0 < measureTo) client.push(performance.now() - t0);
      maybeDone();
    };
    /** False when every connection is at the server's stream limit (the check is not sent). */
    const sendRaw = (i: number): boolean => {
      const t0 = performance.now();
      let conn = rawConns[0]!;
      for (const c of rawConns) if (c.inFlight() < conn.inFlight()) conn = c;
      return conn.call(block, grpcFrames[i % grpcFrames.length]!, (success) => {
        if (!success && errors < 3) process.stderr.write('grpc call reset or connection lost\n');
        done(t0, success);
      });
    };
    const sendGrpc = (i: number) => {
      const t0 = performance.now();
      const req = sessions[i % sessions.length]!.request({
        [h2.HTTP2_HEADER_METHOD]: 'POST',
        [h2.HTTP2_HEADER_PATH]: '/envoy.service.auth.v3.Authorization/Check',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let status: string | undefined;
      req.on('trailers', (t) => (status = String(t['grpc-status'])));
      req.on('data', () => undefined);
      req.on('end', () => done(t0, status === '0'));
      req.on('error', (e) => {
        if (errors < 3) process.stderr.write(`grpc error: ${String(e)}\n`);
        done(t0, false);
      });
      req.end(grpcFrames[i % grpcFrames.length]);
    };
    // HTTP/1.1 keep-alive connections as nginx keeps them, requests pipelined from pre-built bytes so
    // the client's own cost stays far below the server's (http.request would be the bottleneck).
    const conns = m.protocol === 'http' ? Array.from({ length: 16 }, () => pipelinedConnection(m.port)) : [];
    const sendHttp = (i: number) => {
      const t0 = performance.now();
      conns[i % conns.length]!.send(httpRequests[i % httpRequests.length]!, (status) => {
        if (status !== 200 && status !== 429 && status !== 403 && errors < 3)
          process.stderr.write(`http status ${status}\n`);
        done(t0, status === 200 || status === 429 || status === 403);
      });
    };
    const maybeDone = () => {
      if (!finished || inFlight > 0) return;
      for (const session of sessions) session.close();
      for (const c of rawConns) c.close();
      for (const c of conns) c.close();
      const sorted = Float64Array.from(client).sort();
      const report: LoadReport = {
        type: 'result',
        sent,
        ok,
        errors,
        dropped,
        clientP99Ms: percentile(sorted, 99),
      };
      process.send?.(report);
    };
    // Open loop: the schedule does not wait for answers, as a gateway's traffic does not.
    const tick = setInterval(() => {
      const t = performance.now();
      if (t >= measureTo) {
        clearInterval(tick);
        finished = true;
        maybeDone();
        return;
      }
      const due = Math.floor(((t - started) / 1000) * m.rate);
      while (sent + dropped < due) {
        // A gateway times a check out rather than queueing without bound: past MAX_IN_FLIGHT the
        // check is counted as dropped (the server is not keeping up) instead of piling up.
        if (inFlight >= MAX_IN_FLIGHT) {
          dropped++;
          continue;
        }
        inFlight++;
        if (raw) {
          if (!sendRaw(sent)) {
            // Every connection at the server's stream limit: not sent, as past MAX_IN_FLIGHT.
            inFlight--;
            dropped++;
            continue;
          }
        } else if (m.protocol === 'grpc') sendGrpc(sent);
        else sendHttp(sent);
        sent++;
      }
    }, 1);
  });
  process.send?.({ type: 'ready' });
}

/** One keep-alive connection with pipelined requests; answers arrive in order (HTTP/1.1). */
function pipelinedConnection(port: number): {
  send(req: Buffer, done: (status: number) => void): void;
  close(): void;
} {
  const socket = createConnection({ host: '127.0.0.1', port, noDelay: true });
  const waiting: ((status: number) => void)[] = [];
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = pending.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? '0');
      if (pending.length < end + 4 + length) return;
      pending = pending.subarray(end + 4 + length);
      waiting.shift()?.(Number(head.slice(9, 12)));
    }
  });
  socket.on('error', () => {
    for (const w of waiting.splice(0)) w(0);
  });
  return {
    send: (req, done) => {
      waiting.push(done);
      socket.write(req);
    },
    close: () => socket.destroy(),
  };
}

if (import.meta.main) {
  if (process.argv.includes('--authz-load')) {
    runLoadClient();
  } else {
    const { values } = parseArgs({
      options: {
        seconds: { type: 'string', default: '10' },
        rate: { type: 'string', default: '5000' },
        'no-ingest': { type: 'boolean', default: false },
        thread: { type: 'boolean', default: false },
        echo: { type: 'boolean', default: false },
      },
    });
    const base = {
      durationMs: Number(values.seconds) * 1000,
      rate: Number(values.rate),
      ingest: !values['no-ingest'],
      thread: values.thread,
    };
    for (const protocol of ['grpc', 'http'] as const) {
      process.stdout.write(JSON.stringify(await runAuthzBench({ ...base, protocol })) + '\n');
    }
    if (values.echo) {
      process.stdout.write(
        JSON.stringify(await runAuthzBench({ ...base, protocol: 'grpc', echo: true })) + '\n',
      );
    }
  }
}
