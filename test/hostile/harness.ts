// Shared harness of the hostile-input suite: a seeded generator, real OTLP requests built by the
// OpenTelemetry JS SDK and its exporter serializers, loopback clients that misbehave on purpose
// (slow, lying, flooding), and the canary: one valid request whose exact charge is known, sent
// between attacks to prove they did not disturb billing.

import { SpanKind } from '@opentelemetry/api';
import { connect as h2connect } from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { recordSpans, toJson, toProtobuf } from '../../pipeline/otlp/testing/otel-spans.ts';
import type { IngestPipeline } from '../../pipeline/ingest.ts';

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Seeded xorshift32 in [0, 1): every run attacks with the same cases. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

export const POD = {
  'service.name': 'canary',
  'k8s.namespace.name': 'hostile',
  'k8s.deployment.name': 'canary',
  'k8s.pod.name': 'canary-5d8f7-x2x9q',
};

/** One gpt-4o chat call: 1000 input and 100 output tokens = 2500 + 1000 micros. */
export const CANARY_COST_MICROS = 3500;

export function canarySpans(extra: Record<string, string | number | boolean> = {}) {
  return recordSpans(POD, [
    {
      name: 'chat gpt-4o',
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.output_tokens': 100,
        ...extra,
      },
      startMs: Date.now(),
    },
  ]);
}

export const canaryProtobuf = (): Uint8Array => toProtobuf(canarySpans());
export const canaryJson = (): Uint8Array => toJson(canarySpans());

export function spendOf(p: IngestPipeline, workload = 'hostile/Deployment/canary'): number {
  return p.windows.publish().workloads.get(workload)?.spend.daily.costMicros ?? 0;
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function post(
  port: number,
  body: Uint8Array | string,
  headers: Record<string, string | number> = { 'content-type': 'application/x-protobuf' },
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/traces',
        agent: false,
        headers: { 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The canary over OTLP/HTTP protobuf: must be 200 and charged exactly CANARY_COST_MICROS. */
export async function sendCanary(p: IngestPipeline): Promise<{ status: number; charged: number }> {
  const before = spendOf(p);
  const reply = await post(p.ports().http, canaryProtobuf());
  return { status: reply.status, charged: spendOf(p) - before };
}

/** A raw TCP client speaking HTTP/1.1 by hand, for lying and slow requests. */
export function rawHttp(port: number): Promise<{ socket: Socket; reply: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let text = '';
    const reply = new Promise<string>((done) => {
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('close', () => done(text));
      socket.on('error', () => done(text));
    });
    socket.once('connect', () => resolve({ socket, reply }));
    socket.once('error', reject);
  });
}

/** gRPC length-prefixed message frame. */
export function grpcFrame(message: Uint8Array, compressed = false): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame[0] = compressed ? 1 : 0;
  frame.writeUInt32BE(message.byteLength, 1);
  Buffer.from(message.buffer, message.byteOffset, message.byteLength).copy(frame, 5);
  return frame;
}

export interface GrpcReply {
  status: number | undefined;
  message: string;
  headers: Record<string, unknown>;
  /** The stream was reset before any grpc-status reached us. */
  reset: boolean;
}

/**
 * One raw HTTP/2 gRPC request: `send` writes the request (and may stall); resolves with the
 * status as the client read it (trailers-only or trailers).
 */
export function grpcRaw(
  session: ClientHttp2Session,
  send: (stream: ClientHttp2Stream) => void,
  extraHeaders: Record<string, string> = {},
): Promise<GrpcReply> {
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': EXPORT_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extraHeaders,
    });
    let headers: Record<string, unknown> = {};
    stream.on('response', (h) => {
      headers = { ...headers, ...h };
    });
    stream.on('trailers', (t) => {
      headers = { ...headers, ...t };
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      const code = headers['grpc-status'];
      resolve({
        status: code === undefined ? undefined : Number(code),
        message:
          typeof headers['grpc-message'] === 'string' ? decodeURIComponent(headers['grpc-message']) : '',
        headers,
        reset: code === undefined,
      });
    });
    stream.resume();
    send(stream);
  });
}

export function h2(port: number): ClientHttp2Session {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Samples a memory figure every few ms while `work` runs; returns the peak growth over the start. */
export async function peakGrowth<T>(
  read: () => number,
  work: () => Promise<T>,
): Promise<{ result: T; peakBytes: number }> {
  const start = read();
  let peak = start;
  const timer = setInterval(() => {
    const now = read();
    if (now > peak) peak = now;
  }, 5);
  try {
    const result = await work();
    const now = read();
    if (now > peak) peak = now;
    return { result, peakBytes: peak - start };
  } finally {
    clearInterval(timer);
  }
}
