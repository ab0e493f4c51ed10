// Owns the load generator of `npm run bench`: a child process (so its CPU is not the receiver's
// event loop) that sends realistic OTLP requests from bench/fixtures.ts over real sockets: HTTP/1.1
// keep-alive (protobuf or JSON) or gRPC (one HTTP/2 connection), in a closed loop of `concurrency`
// clients. Every send rewrites the first 4 bytes of each trace id with a fresh counter, so no
// request is a retry of another (the pipeline's dedupe would otherwise drop them).
//
// Protocol with the parent (IPC): parent sends {type:'run', ...RunSpec}; child answers
// {type:'ready'} once fixtures are built and {type:'result', ...LoadResult} per run.

import { Client, Metadata, credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { Agent, request } from 'node:http';
import { jsonTraceIdOffsets, makeGenAiRequest, protobufTraceIdOffsets } from './fixtures.ts';

export type LoadTransport = 'otlp-http-protobuf' | 'otlp-grpc' | 'otlp-http-json';

export interface RunSpec {
  readonly transport: LoadTransport;
  readonly port: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Offered load: clients pace themselves to this many spans per second (default: as fast as answered). */
  readonly spansPerSecond?: number;
}

export interface LoadResult {
  readonly transport: LoadTransport;
  /** Spans in requests answered with success inside the measured window. */
  readonly spans: number;
  readonly requests: number;
  /** Requests answered "retry later" (HTTP 429/503, gRPC UNAVAILABLE). */
  readonly refused: number;
  readonly errors: number;
  readonly seconds: number;
  readonly bytesPerSpan: number;
  /** CPU seconds this process used during the measured window. */
  readonly cpuSeconds: number;
}

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

interface Template {
  readonly bytes: Uint8Array;
  readonly spans: number;
  /** Offsets of every trace id's first byte (protobuf) or first hex digit (JSON). */
  readonly traceIdOffsets: Uint32Array;
}

const HEX = Buffer.from('0123456789abcdef');
let counter = (process.pid & 0xffff) * 0x10000;

/** A copy of the template with a fresh trace id prefix in every span. */
function freshBody(t: Template, json: boolean): Buffer {
  const body = Buffer.from(t.bytes);
  const c = counter++ >>> 0;
  for (const off of t.traceIdOffsets) {
    if (json) {
      for (let i = 0; i < 8; i++) body[off + i] = HEX[(c >>> (28 - i * 4)) & 15]!;
    } else {
      body.writeUInt32BE(c, off);
    }
  }
  return body;
}

function buildTemplates(): { protobuf: Template[]; json: Template[] } {
  const protobuf: Template[] = [];
  const json: Template[] = [];
  // 100..512 spans per request, 1..4 senders per request (SDK exporters and Collectors).
  const sizes = [256, 512, 128, 384, 100, 512, 300, 200, 448, 256, 160, 512];
  sizes.forEach((spans, i) => {
    const r = makeGenAiRequest({ spans, workloads: 1 + (i % 4), seed: 7000 + i, startMs: Date.now() });
    protobuf.push({ bytes: r.protobuf, spans, traceIdOffsets: protobufTraceIdOffsets(r.protobuf) });
    const jsonBytes = new TextEncoder().encode(r.json);
    json.push({ bytes: jsonBytes, spans, traceIdOffsets: jsonTraceIdOffsets(jsonBytes) });
    if (protobuf.at(-1)!.traceIdOffsets.length !== spans || json.at(-1)!.traceIdOffsets.length !== spans) {
      throw new Error('fixture trace ids not found');
    }
  });
  return { protobuf, json };
}

type Sender = (body: Buffer) => Promise<'ok' | 'refused' | 'error'>;

function httpSender(port: number, concurrency: number, contentType: string): { send: Sender; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const send: Sender = (body) =>
    new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/traces',
          agent,
          headers: { 'content-type': contentType, 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const s = res.statusCode ?? 0;
            resolve(s === 200 ? 'ok' : s === 429 || s === 503 ? 'refused' : 'error');
          });
        },
      );
      req.on('error', () => resolve('error'));
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

type Unary = (
  path: string,
  serialize: (b: Buffer) => Buffer,
  deserialize: (b: Buffer) => Buffer,
  arg: Buffer,
  metadata: Metadata,
  options: Record<string, unknown>,
  cb: (err: ServiceError | null) => void,
) => void;

function grpcSender(port: number): { send: Sender; close(): void } {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const id = (b: Buffer): Buffer => b;
  const unary = client.makeUnaryRequest.bind(client) as unknown as Unary;
  const send: Sender = (body) =>
    new Promise((resolve) => {
      unary(EXPORT_PATH, id, id, body, new Metadata(), {}, (err) => {
        resolve(err === null ? 'ok' : err.code === status.UNAVAILABLE ? 'refused' : 'error');
      });
    });
  return { send, close: () => client.close() };
}

async function run(
  spec: RunSpec,
  templates: { protobuf: Template[]; json: Template[] },
): Promise<LoadResult> {
  const json = spec.transport === 'otlp-http-json';
  const list = json ? templates.json : templates.protobuf;
  const sender =
    spec.transport === 'otlp-grpc'
      ? grpcSender(spec.port)
      : httpSender(spec.port, spec.concurrency, json ? 'application/json' : 'application/x-protobuf');
  const t0 = performance.now();
  const measureFrom = t0 + spec.warmupMs;
  const until = measureFrom + spec.durationMs;
  let spans = 0;
  let requests = 0;
  let refused = 0;
  let errors = 0;
  let next = 0;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpuSeconds = 0;
  const cpuFrom = setTimeout(() => (cpuStart = process.cpuUsage()), spec.warmupMs);
  const cpuTo = setTimeout(() => {
    const used = process.cpuUsage(cpuStart);
    cpuSeconds = (used.user + used.system) / 1e6;
  }, spec.warmupMs + spec.durationMs);
  const meanSpans = list.reduce((n, t) => n + t.spans, 0) / list.length;
  // Paced: each client sends every `interval` ms (staggered), catching up when answers are late.
  const interval = spec.spansPerSecond ? (spec.concurrency * meanSpans * 1000) / spec.spansPerSecond : 0;
  let clientIndex = 0;
  const client = async (): Promise<void> => {
    let due = t0 + (interval * clientIndex++) / spec.concurrency;
    while (performance.now() < until) {
      if (interval > 0) {
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        due = Math.max(due + interval, performance.now() - interval);
        if (performance.now() >= until) break;
      }
      const t = list[next++ % list.length]!;
      const outcome = await sender.send(freshBody(t, json));
      const now = performance.now();
      if (now < measureFrom || now > until) continue;
      if (outcome === 'ok') {
        spans += t.spans;
        requests++;
      } else if (outcome === 'refused') {
        refused++;
        // Honour "retry later" a little, as exporters do, instead of spinning.
        await new Promise((r) => setTimeout(r, 5));
      } else errors++;
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, client));
  clearTimeout(cpuFrom);
  clearTimeout(cpuTo);
  sender.close();
  const bytes = list.reduce((n, t) => n + t.bytes.length, 0);
  const spanCount = list.reduce((n, t) => n + t.spans, 0);
  return {
    transport: spec.transport,
    spans,
    requests,
    refused,
    errors,
    seconds: spec.durationMs / 1000,
    bytesPerSpan: Math.round(bytes / spanCount),
    cpuSeconds,
  };
}

if (process.send) {
  const templates = buildTemplates();
  process.on('message', (msg: { type: string } & RunSpec) => {
    if (msg.type === 'run') {
      void run(msg, templates).then((r) => process.send!({ type: 'result', ...r }));
    } else if (msg.type === 'exit') {
      process.disconnect();
    }
  });
  process.send({ type: 'ready' });
}
