// Protocol behaviour of both receivers through the real pool, with a fake worker whose body is
// "<spans> <costMicros> <rejected>" (the real decoders are exercised in test/otlp-sdk.test.ts).
import { Client, Metadata, credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { connect as h2connect } from 'node:http2';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { IngestPipeline, IngestPipelineOptions } from '../ingest.ts';
import { createIngestPipeline } from '../ingest.ts';
import { createOtlpHttpReceiver } from './http.ts';
import { traceServiceDefinition } from './grpc.ts';

const FAKE_WORKER = new URL('./testing/fake-worker.ts', import.meta.url);
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

const running: { shutdown(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.shutdown()));
});

async function pipeline(extra: IngestPipelineOptions = {}, delayMs = 0): Promise<IngestPipeline> {
  const p = createIngestPipeline({
    grpc: { port: 0 },
    http: { port: 0 },
    ...extra,
    pool: { workerFile: FAKE_WORKER, threads: 1, workerData: { delayMs }, ...extra.pool },
  });
  running.push(p);
  await p.start();
  return p;
}

interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function post(port: number, body: Uint8Array | string, headers: Record<string, string>): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/traces',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
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

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSONH = { 'content-type': 'application/json' };

const spendOf = (p: IngestPipeline): number =>
  p.windows.publish().workloads.get('ns/Deployment/fake')?.spend.daily.costMicros ?? 0;

describe('OTLP/HTTP receiver', () => {
  it('accepts protobuf and JSON, identity, gzip and deflate, and answers in the request type', async () => {
    const p = await pipeline();
    const port = p.ports().http;
    const a = await post(port, '10 1000 0', PROTO);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/x-protobuf');
    expect(a.body.length).toBe(0);
    const b = await post(port, '10 2000 0', { ...JSONH, 'content-type': 'application/json; charset=utf-8' });
    expect(b.status).toBe(200);
    expect(b.headers['content-type']).toBe('application/json');
    expect(JSON.parse(b.body.toString())).toEqual({});
    expect((await post(port, gzipSync('5 4000 0'), { ...PROTO, 'content-encoding': 'gzip' })).status).toBe(
      200,
    );
    expect(
      (await post(port, deflateSync('5 8000 0'), { ...JSONH, 'content-encoding': 'deflate' })).status,
    ).toBe(200);
    expect(spendOf(p)).toBe(15000);
  });

  it('reports rejected spans as partial_success', async () => {
    const p = await pipeline();
    const json = await post(p.ports().http, '3 300 2', JSONH);
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body.toString())).toEqual({
      partialSuccess: { rejectedSpans: '2', errorMessage: 'fake rejection' },
    });
    const proto = await post(p.ports().http, '3 300 2', PROTO);
    // partial_success { rejected_spans: 2, error_message: "fake rejection" }
    expect([...proto.body.subarray(0, 4)]).toEqual([0x0a, 2 + 2 + 14, 0x08, 2]);
    expect(proto.body.subarray(6).toString()).toBe('fake rejection');
  });

  it('answers bad requests with the right status while good ones alongside are counted', async () => {
    const p = await pipeline({ maxBodyBytes: 64 * 1024 });
    const port = p.ports().http;
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024)); // 50 MiB of zeros in ~50 KiB
    expect(bomb.length).toBeLessThan(64 * 1024);
    const results = await Promise.all([
      post(port, '1 100 0', PROTO),
      post(port, 'not a batch', PROTO),
      post(port, '1 100 0', { 'content-type': 'text/plain' }),
      post(port, '1 100 0', { ...PROTO, 'content-encoding': 'br' }),
      post(port, Buffer.from('definitely not gzip'), { ...PROTO, 'content-encoding': 'gzip' }),
      post(port, Buffer.alloc(100 * 1024, 0x31), PROTO),
      post(port, bomb, { ...PROTO, 'content-encoding': 'gzip' }),
      post(port, '2 200 0', JSONH),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 400, 415, 415, 400, 413, 413, 200]);
    const bad = results[1];
    expect(bad.headers['content-type']).toBe('application/x-protobuf');
    expect(bad.body.subarray(0, 2)).toEqual(Buffer.from([0x08, 3])); // google.rpc.Status code INVALID_ARGUMENT
    expect(JSON.parse(results[2].body.toString()).code).toBe(3);
    expect(spendOf(p)).toBe(300);
    // The connection-level rules: wrong path and wrong method.
    const wrongPath = await new Promise<number>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/v1/metrics', method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).end();
    });
    expect(wrongPath).toBe(404);
  });

  it('answers 429 with Retry-After when the queue is full, and takes the retry', async () => {
    const p = await pipeline({ pool: { maxQueue: 0 }, retryAfterSeconds: 2 }, 300);
    const port = p.ports().http;
    const replies = await Promise.all([0, 1, 2].map(() => post(port, '1 1000 0', PROTO)));
    const refused = replies.filter((r) => r.status === 429);
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(refused).toHaveLength(2);
    expect(refused[0]!.headers['retry-after']).toBe('2');
    expect((await post(port, '1 1000 0', PROTO)).status).toBe(200);
    expect(spendOf(p)).toBe(2000);
  });

  it('answers 503 to requests that arrive while it stops, after finishing the one in flight', async () => {
    let release: () => void = () => undefined;
    const receiver = createOtlpHttpReceiver({
      port: 0,
      handler: {
        handle: () =>
          new Promise((resolve) => {
            release = () => resolve({ spansTotal: 1, rejectedSpans: 0, errorMessage: '' });
          }),
      },
    });
    running.push(receiver);
    await receiver.start();
    const first = post(receiver.port(), '{}', JSONH);
    await new Promise((r) => setTimeout(r, 100));
    const stopped = receiver.shutdown(Date.now() + 5_000);
    // While the request in flight finishes, new ones are told to come back later.
    const during = await post(receiver.port(), '{}', JSONH);
    expect(during.status).toBe(503);
    expect(during.headers['retry-after']).toBe('1');
    expect(during.headers['connection']).toBe('close');
    release();
    expect((await first).status).toBe(200);
    await stopped;
    await expect(post(receiver.port(), '{}', JSONH)).rejects.toThrow(/ECONNREFUSED/);
  });
});

type Unary = (
  path: string,
  serialize: (b: Buffer) => Buffer,
  deserialize: (b: Buffer) => Buffer,
  arg: Buffer,
  metadata: Metadata,
  cb: (err: ServiceError | null, value?: Buffer) => void,
) => void;

function grpcExport(
  port: number,
  body: string | Buffer,
  options: Record<string, number> = {},
): Promise<{ err: ServiceError | null; value?: Buffer }> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), options);
  const id = (b: Buffer) => b;
  return new Promise((resolve) => {
    (client.makeUnaryRequest.bind(client) as unknown as Unary)(
      EXPORT_PATH,
      id,
      id,
      Buffer.from(body),
      new Metadata(),
      (err, value) => {
        client.close();
        resolve(value === undefined ? { err } : { err, value });
      },
    );
  });
}

describe('OTLP/gRPC receiver', () => {
  it('exports raw bytes, with and without gzip, and reports partial success', async () => {
    const p = await pipeline();
    const port = p.ports().grpc;
    const plain = await grpcExport(port, '4 4000 0');
    expect(plain.err).toBeNull();
    expect(plain.value!.length).toBe(0);
    const gz = await grpcExport(port, '4 6000 1', { 'grpc.default_compression_algorithm': 2 });
    expect(gz.err).toBeNull();
    expect([...gz.value!.subarray(0, 4)]).toEqual([0x0a, 18, 0x08, 1]);
    expect(spendOf(p)).toBe(10000);
    expect(traceServiceDefinition['Export']!.path).toBe(EXPORT_PATH);
  });

  it('maps bad data, oversize and full queues to their status codes', async () => {
    const p = await pipeline({ maxBodyBytes: 1024, pool: { maxQueue: 0 } }, 300);
    const port = p.ports().grpc;
    const [bad, big] = await Promise.all([
      grpcExport(port, 'garbage'),
      grpcExport(port, Buffer.alloc(4096, 0x31)),
    ]);
    expect(bad.err!.code).toBe(status.INVALID_ARGUMENT);
    expect(big.err!.code).toBe(status.RESOURCE_EXHAUSTED);
    const replies = await Promise.all([0, 1, 2].map(() => grpcExport(port, '1 10 0')));
    const refused = replies.filter((r) => r.err?.code === status.UNAVAILABLE);
    expect(refused).toHaveLength(2);
    const details = refused[0]!.err!.metadata.get('grpc-status-details-bin')[0] as Buffer;
    // google.rpc.Status{code 14, message, details[Any{RetryInfo{retry_delay{seconds 1}}}]}
    expect(details[0]).toBe(0x08);
    expect(details[1]).toBe(14);
    expect(details.toString('latin1')).toContain('type.googleapis.com/google.rpc.RetryInfo');
    expect([...details.subarray(details.length - 6)]).toEqual([0x12, 4, 0x0a, 2, 0x08, 1]);
    expect(spendOf(p)).toBe(10);
  });

  it('stops a gzip bomb at the receive limit', async () => {
    const p = await pipeline({ maxBodyBytes: 1024 * 1024 });
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const frame = Buffer.alloc(5 + bomb.length);
    frame[0] = 1; // compressed
    frame.writeUInt32BE(bomb.length, 1);
    bomb.copy(frame, 5);
    const session = h2connect(`http://127.0.0.1:${p.ports().grpc}`);
    const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': EXPORT_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-encoding': 'gzip',
      });
      let headers: Record<string, unknown> = {};
      stream.on('response', (h) => {
        headers = { ...h };
      });
      stream.on('trailers', (t) => {
        headers = { ...headers, ...t };
      });
      // A trailers-only response carries grpc-status in the headers.
      stream.on('close', () => resolve(headers));
      stream.on('error', reject);
      stream.resume();
      stream.end(frame);
    });
    // The server widened HTTP/2 flow control for large exports (64 KiB by default).
    expect(session.remoteSettings.initialWindowSize).toBe(4 * 1024 * 1024);
    session.close();
    expect(Number(trailers['grpc-status'])).toBe(status.RESOURCE_EXHAUSTED);
    // And the receiver still works.
    expect((await grpcExport(p.ports().grpc, '1 5 0')).err).toBeNull();
    expect(spendOf(p)).toBe(5);
  });
});
