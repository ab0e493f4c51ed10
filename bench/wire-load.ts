// Owns the load generator of `npm run bench -- --compare-collector`: a child process that costs the
// machine as little CPU as a load can, so the servers compared get the cores. Requests are encoded
// once (bench/fixtures.ts: 256 spans each, half GenAI chat spans) with the HTTP/1.1 head or the gRPC
// message prefix beside them, and every send only patches the first 4 bytes of each trace id with a
// fresh counter (unique ids: no request is a retry of another) before writing the bytes to the
// socket: raw HTTP/1.1 keep-alive sockets (protobuf or JSON) or one HTTP/2 connection with one
// stream per export (gRPC, node:http2 without a gRPC library). A closed loop of `concurrency`
// clients, each with its own copy of the requests (a buffer is patched only after its answer).
//
// It also reads the server's CPU time (/proc/<pid>/stat, all threads) at the edges of the measured
// window, and counts what was acknowledged over the whole run (warm-up included) with the cost
// each request must be charged (decodeToPartial with the default price book, as `genops local`).
//
// IPC with the parent: parent sends {type:'run', ...WireRunSpec}; the child answers {type:'ready'}
// once the requests are built and {type:'result', ...WireLoadResult} per run.

import { connect as connectHttp2, constants as h2 } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { createPriceBook } from '../pipeline/pricing/price-book.ts';
import { createDecodeDeps, decodeToPartial } from '../pipeline/worker/decode-to-partial.ts';
import type { PartialAggregate } from '../pipeline/partial.ts';
import { jsonTraceIdOffsets, makeGenAiRequest, protobufTraceIdOffsets } from './fixtures.ts';
import type { LoadTransport } from './load.ts';
import { processCpuSeconds, threadCpuSeconds, threadNameCpuSeconds } from './proc-cpu.ts';

export interface WireRunSpec {
  readonly transport: LoadTransport;
  readonly port: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The server's pid, whose CPU time is read at the edges of the measured window. */
  readonly serverPid: number;
}

export interface WireLoadResult {
  readonly transport: LoadTransport;
  /** Spans in requests answered with success inside the measured window. */
  readonly spans: number;
  readonly requests: number;
  /** "Retry later" answers (HTTP 429/503, gRPC UNAVAILABLE) in the window. */
  readonly refused: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU seconds (all threads) in the CPU window (the measured window as the timers saw it). */
  readonly serverCpuSeconds: number;
  /** Spans answered inside the CPU window: what the CPU figures are divided by. */
  readonly cpuWindowSpans: number;
  /** CPU seconds of the server's main thread in the window (a Node server's event loop). */
  readonly serverMainThreadCpuSeconds: number;
  /** The server's CPU seconds in the window per thread name (see threadNameCpuSeconds). */
  readonly serverThreadCpuSeconds: Record<string, number>;
  /** This load generator's CPU seconds in the measured window. */
  readonly loadCpuSeconds: number;
  /** Whole run, warm-up included: spans acknowledged and the cost they must be charged. */
  readonly acknowledgedSpans: number;
  readonly acknowledgedCostMicros: number;
  readonly bytesPerSpan: number;
}

export const SPANS_PER_REQUEST = 256;
const TEMPLATES = 8;
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

interface Template {
  readonly protobuf: Uint8Array;
  readonly json: Uint8Array;
  readonly protobufIds: Uint32Array;
  readonly jsonIds: Uint32Array;
  readonly costMicros: number;
}

function costOf(partial: PartialAggregate): number {
  return partial.groups.reduce((n, g) => n + g.costMicros, 0);
}

/** The requests of every run: 256 spans, half chat, 1-4 senders, spans timed `startMs`. */
export function buildTemplates(startMs: number): Template[] {
  const deps = createDecodeDeps({ priceBook: createPriceBook() });
  return Array.from({ length: TEMPLATES }, (_, i) => {
    const r = makeGenAiRequest({
      spans: SPANS_PER_REQUEST,
      workloads: 1 + (i % 4),
      seed: 9100 + i,
      startMs,
      chatFraction: 0.5,
    });
    const json = new TextEncoder().encode(r.json);
    const t: Template = {
      protobuf: r.protobuf,
      json,
      protobufIds: protobufTraceIdOffsets(r.protobuf),
      jsonIds: jsonTraceIdOffsets(json),
      costMicros: costOf(decodeToPartial({ body: r.protobuf.slice(), encoding: 'protobuf' }, deps)),
    };
    if (t.protobufIds.length !== SPANS_PER_REQUEST || t.jsonIds.length !== SPANS_PER_REQUEST)
      throw new Error('fixture trace ids not found');
    const jsonCost = costOf(decodeToPartial({ body: json.slice(), encoding: 'json' }, deps));
    if (jsonCost !== t.costMicros)
      throw new Error(`fixture ${i}: JSON costs ${jsonCost}, protobuf ${t.costMicros}`);
    return t;
  });
}

const HEX = Buffer.from('0123456789abcdef');
let counter = ((process.pid & 0xffff) * 0x10000) >>> 0;

/** One client's copy of a request: the bytes on the wire and where its trace ids start. */
interface WireRequest {
  /** Bytes sent before the body (HTTP head or gRPC prefix). */
  readonly head: Buffer;
  readonly body: Buffer;
  readonly ids: Uint32Array;
  readonly hex: boolean;
  readonly costMicros: number;
}

function patchIds(r: WireRequest): void {
  const c = counter++ >>> 0;
  const body = r.body;
  if (r.hex) {
    for (const off of r.ids) for (let i = 0; i < 8; i++) body[off + i] = HEX[(c >>> (28 - i * 4)) & 15]!;
  } else {
    for (const off of r.ids) body.writeUInt32BE(c, off);
  }
}

function wireRequests(templates: readonly Template[], transport: LoadTransport, port: number): WireRequest[] {
  const json = transport === 'otlp-http-json';
  return templates.map((t) => {
    const body = Buffer.from(json ? t.json : t.protobuf);
    let head: Buffer;
    if (transport === 'otlp-grpc') {
      head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
    } else {
      head = Buffer.from(
        `POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          `Content-Type: ${json ? 'application/json' : 'application/x-protobuf'}\r\n` +
          `Content-Length: ${body.length}\r\n\r\n`,
      );
    }
    return { head, body, ids: json ? t.jsonIds : t.protobufIds, hex: json, costMicros: t.costMicros };
  });
}

type Outcome = 'ok' | 'refused' | 'error';

interface Client {
  send(r: WireRequest): Promise<Outcome>;
  /** Whether the connection is gone (the server closed it); HTTP clients then reconnect. */
  closed(): boolean;
  close(): void;
}

/**
 * A keep-alive HTTP/1.1 connection that sends one request at a time and reads just enough of the
 * answer (status line, Content-Length or chunked end) to know it is complete.
 */
function httpClient(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let pending: ((o: Outcome) => void) | undefined;
    let buf: Buffer = Buffer.alloc(0);
    const settle = (o: Outcome): void => {
      const p = pending;
      pending = undefined;
      p?.(o);
    };
    const parse = (): void => {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const status = Number(head.slice(9, 12));
        const lower = head.toLowerCase();
        const cl = /\r\ncontent-length:\s*(\d+)/.exec(lower);
        let total: number;
        if (cl) total = end + 4 + Number(cl[1]);
        else if (lower.includes('\r\ntransfer-encoding: chunked')) {
          const fin = buf.indexOf('0\r\n\r\n', end + 4);
          if (fin < 0) return;
          total = fin + 5;
        } else total = end + 4;
        if (buf.length < total) return;
        buf = buf.subarray(total);
        settle(status === 200 ? 'ok' : status === 429 || status === 503 ? 'refused' : 'error');
        if (lower.includes('\r\nconnection: close')) socket.destroy();
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      parse();
    });
    let dead = false;
    socket.on('close', () => {
      dead = true;
      settle('error');
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      // A later error is followed by 'close', which settles the request in flight.
      socket.on('error', () => {});
      resolve({
        send: (r) =>
          new Promise<Outcome>((done) => {
            if (dead) {
              done('error');
              return;
            }
            pending = done;
            socket.cork();
            socket.write(r.head);
            socket.write(r.body);
            socket.uncork();
          }),
        closed: () => dead,
        close: () => socket.destroy(),
      });
    });
  });
}

/** One HTTP/2 connection shared by the gRPC clients: one stream per export, as exporters do. */
function grpcSession(port: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

function grpcClient(session: ClientHttp2Session): Client {
  const headers = {
    [h2.HTTP2_HEADER_METHOD]: 'POST',
    [h2.HTTP2_HEADER_PATH]: EXPORT_PATH,
    [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    te: 'trailers',
  };
  return {
    send: (r) =>
      new Promise<Outcome>((done) => {
        let code: string | undefined;
        const stream = session.request(headers);
        stream.on('response', (h) => {
          // Trailers-only answers carry grpc-status in the headers.
          const s = h['grpc-status'];
          if (s !== undefined) code = String(s);
        });
        stream.on('trailers', (t) => {
          const s = t['grpc-status'];
          if (s !== undefined) code = String(s);
        });
        stream.on('data', () => {});
        stream.on('error', () => {});
        stream.on('close', () => done(code === '0' ? 'ok' : code === '14' ? 'refused' : 'error'));
        stream.write(r.head);
        stream.end(r.body);
      }),
    closed: () => session.closed || session.destroyed,
    close: () => {},
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runWireLoad(
  spec: WireRunSpec,
  templates: readonly Template[],
): Promise<WireLoadResult> {
  const session = spec.transport === 'otlp-grpc' ? await grpcSession(spec.port) : undefined;
  const clients: Client[] = [];
  for (let i = 0; i < spec.concurrency; i++)
    clients.push(session ? grpcClient(session) : await httpClient(spec.port));
  const t0 = performance.now();
  const measureFrom = t0 + spec.warmupMs;
  const until = measureFrom + spec.durationMs;
  let spans = 0;
  let requests = 0;
  let refused = 0;
  let errors = 0;
  let acknowledgedSpans = 0;
  let acknowledgedCostMicros = 0;
  let latencies = new Float64Array(1 << 14);
  let samples = 0;
  let serverCpuStart = 0;
  let serverCpuSeconds = 0;
  let mainCpuStart = 0;
  let serverMainThreadCpuSeconds = 0;
  let threadsStart: Record<string, number> = {};
  const serverThreadCpuSeconds: Record<string, number> = {};
  let loadCpuStart: NodeJS.CpuUsage | undefined;
  let loadCpuSeconds = 0;
  const startTimer = setTimeout(() => {
    serverCpuStart = processCpuSeconds(spec.serverPid);
    mainCpuStart = threadCpuSeconds(spec.serverPid);
    threadsStart = threadNameCpuSeconds(spec.serverPid);
    loadCpuStart = process.cpuUsage();
    windowOpen = true;
  }, spec.warmupMs);
  let windowOpen = false;
  let windowClosed = false;
  let cpuWindowSpans = 0;
  /** The window's end: from its timer, or after the clients stopped when that timer was late. */
  const closeWindow = (): void => {
    if (windowClosed) return;
    windowClosed = true;
    windowOpen = false;
    serverCpuSeconds = processCpuSeconds(spec.serverPid) - serverCpuStart;
    serverMainThreadCpuSeconds = threadCpuSeconds(spec.serverPid) - mainCpuStart;
    for (const [name, cpu] of Object.entries(threadNameCpuSeconds(spec.serverPid)))
      serverThreadCpuSeconds[name] = Math.round((cpu - (threadsStart[name] ?? 0)) * 100) / 100;
    const used = process.cpuUsage(loadCpuStart);
    loadCpuSeconds = (used.user + used.system) / 1e6;
  };
  const stopTimer = setTimeout(closeWindow, spec.warmupMs + spec.durationMs);
  const loop = async (first: Client, index: number): Promise<void> => {
    let client = first;
    const own = wireRequests(templates, spec.transport, spec.port);
    let next = index;
    while (performance.now() < until) {
      const r = own[next++ % own.length]!;
      patchIds(r);
      const sent = performance.now();
      const outcome = await client.send(r);
      const now = performance.now();
      if (outcome === 'ok') {
        acknowledgedSpans += SPANS_PER_REQUEST;
        if (windowOpen) cpuWindowSpans += SPANS_PER_REQUEST;
        acknowledgedCostMicros += r.costMicros;
      }
      if (client.closed()) {
        if (session) break;
        // The server closed the keep-alive connection: reconnect (at most once per request).
        client.close();
        try {
          client = clients[index] = await httpClient(spec.port);
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
      if (sent < measureFrom || now > until) continue;
      if (outcome === 'ok') {
        spans += SPANS_PER_REQUEST;
        requests++;
        if (samples === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[samples++] = now - sent;
      } else if (outcome === 'refused') {
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      } else errors++;
    }
  };
  await Promise.all(clients.map((c, i) => loop(c, i)));
  clearTimeout(startTimer);
  clearTimeout(stopTimer);
  closeWindow();
  for (const c of clients) c.close();
  session?.close();
  const sorted = latencies.slice(0, samples).sort();
  const bytes = templates.reduce(
    (n, t) => n + (spec.transport === 'otlp-http-json' ? t.json.length : t.protobuf.length),
    0,
  );
  return {
    transport: spec.transport,
    spans,
    requests,
    refused,
    errors,
    seconds: spec.durationMs / 1000,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    serverCpuSeconds,
    cpuWindowSpans,
    serverMainThreadCpuSeconds,
    serverThreadCpuSeconds,
    loadCpuSeconds,
    acknowledgedSpans,
    acknowledgedCostMicros,
    bytesPerSpan: Math.round(bytes / (templates.length * SPANS_PER_REQUEST)),
  };
}

if (process.send) {
  const startMs = Number(process.argv[2] ?? Date.now());
  const templates = buildTemplates(startMs);
  process.on('message', (msg: { type: string } & WireRunSpec) => {
    if (msg.type === 'run') {
      void runWireLoad(msg, templates).then(
        (r) => process.send!({ type: 'result', ...r }),
        (err: unknown) => process.send!({ type: 'result', error: String(err) }),
      );
    } else if (msg.type === 'exit') {
      process.disconnect();
    }
  });
  process.send({ type: 'ready' });
}
