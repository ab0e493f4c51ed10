// Each error class of the ingest path, provoked through the real pool and both real receivers (a
// test worker picks the outcome), answers over HTTP and over gRPC from the one STATUS_TABLE row of
// its class: the HTTP status, the google.rpc.Status code in the HTTP body, and the gRPC status are
// the same row's, so a full queue is HTTP 429 whose body says 14 (UNAVAILABLE), as gRPC says 14.

import { Client, Metadata, credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorClass } from '../kernel/errors.ts';
import { ERROR_CODES } from '../kernel/errors.ts';
import { createIngestPipeline, type IngestPipeline, type IngestPipelineOptions } from './ingest.ts';
import { STATUS_TABLE } from './receiver/types.ts';

const FAULT_WORKER = new URL('./pool/testing/fault-worker.ts', import.meta.url);
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

const running: IngestPipeline[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.shutdown()));
});

async function pipeline(extra: IngestPipelineOptions = {}): Promise<IngestPipeline> {
  const p = createIngestPipeline({
    grpc: { port: 0 },
    http: { port: 0 },
    ...extra,
    pool: { workerFile: FAULT_WORKER, threads: 1, ...extra.pool },
  });
  running.push(p);
  await p.start();
  return p;
}

interface HttpAnswer {
  status: number;
  retryAfter: string | undefined;
  /** google.rpc.Status.code of the protobuf body (field 1, a one-byte varint here). */
  rpcCode: number | undefined;
}

function httpExport(port: number, body: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/traces',
        headers: { 'content-type': 'application/x-protobuf', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const b = Buffer.concat(chunks);
          const retry = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: Array.isArray(retry) ? retry[0] : retry,
            rpcCode: b[0] === 0x08 ? b[1] : undefined,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

type Unary = (
  path: string,
  serialize: (b: Buffer) => Buffer,
  deserialize: (b: Buffer) => Buffer,
  arg: Buffer,
  metadata: Metadata,
  callback: (err: ServiceError | null, value?: Buffer) => void,
) => void;

function grpcExport(port: number, body: string): Promise<ServiceError | null> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const id = (b: Buffer) => b;
  return new Promise((resolve) => {
    (client.makeUnaryRequest.bind(client) as unknown as Unary)(
      EXPORT_PATH,
      id,
      id,
      Buffer.from(body),
      new Metadata(),
      (err) => {
        client.close();
        resolve(err);
      },
    );
  });
}

/** Both answers are the row of `errorClass`, and the HTTP body's code is the gRPC status. */
function expectRow(errorClass: ErrorClass, http: HttpAnswer, grpc: ServiceError | null): void {
  const row = STATUS_TABLE[errorClass];
  expect(http.status).toBe(row.http);
  expect(http.rpcCode).toBe(row.grpc);
  expect(grpc?.code).toBe(row.grpc);
  expect(http.retryAfter !== undefined).toBe(row.retry);
  expect(grpc?.metadata.get('grpc-status-details-bin').length ?? 0).toBe(row.retry ? 1 : 0);
}

describe('one error class, one answer on both protocols', () => {
  it('the catalogue gives every worker and pool code a class the status table answers', () => {
    for (const [code, errorClass] of Object.entries(ERROR_CODES)) {
      expect(STATUS_TABLE[errorClass], code).toBeDefined();
    }
    expect(ERROR_CODES['queue-full']).toBe('retryable');
    expect(ERROR_CODES.undecodable).toBe('invalid');
    expect(ERROR_CODES['decoder-bug']).toBe('internal');
  });

  it('invalid: an undecodable body is 400 / INVALID_ARGUMENT, and is not retried', async () => {
    const p = await pipeline();
    const http = await httpExport(p.ports().http, 'bad');
    const grpc = await grpcExport(p.ports().grpc, 'bad');
    expectRow('invalid', http, grpc);
    expect([http.status, http.rpcCode, grpc?.code]).toEqual([
      400,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
    ]);
  });

  it('too-large: a body over the limit is 413 / RESOURCE_EXHAUSTED without RetryInfo', async () => {
    const p = await pipeline({ maxBodyBytes: 64 });
    const big = 'x'.repeat(1024);
    const http = await httpExport(p.ports().http, big);
    const grpc = await grpcExport(p.ports().grpc, big);
    expectRow('too-large', http, grpc);
    expect([http.status, http.rpcCode, grpc?.code]).toEqual([
      413,
      status.RESOURCE_EXHAUSTED,
      status.RESOURCE_EXHAUSTED,
    ]);
  });

  it('retryable: a full queue is HTTP 429 whose google.rpc code is UNAVAILABLE (14), as over gRPC', async () => {
    const p = await pipeline({ pool: { maxQueue: 0 } });
    // One slow task holds the only thread; nothing may wait behind it.
    const slow = httpExport(p.ports().http, 'slow');
    await new Promise((r) => setTimeout(r, 50));
    const http = await httpExport(p.ports().http, 'ok');
    const grpc = await grpcExport(p.ports().grpc, 'ok');
    expectRow('retryable', http, grpc);
    expect([http.status, http.rpcCode, grpc?.code]).toEqual([429, 14, status.UNAVAILABLE]);
    // Never RESOURCE_EXHAUSTED (8): a client would not retry that.
    expect(http.rpcCode).not.toBe(status.RESOURCE_EXHAUSTED);
    expect(http.retryAfter).toBe('1');
    expect((await slow).status).toBe(200);
  });

  it('shutting-down: a stopped pool behind running receivers is 503 / UNAVAILABLE with RetryInfo', async () => {
    const p = await pipeline();
    await p.pool.shutdown();
    const http = await httpExport(p.ports().http, 'ok');
    const grpc = await grpcExport(p.ports().grpc, 'ok');
    expectRow('shutting-down', http, grpc);
    expect([http.status, http.rpcCode, grpc?.code]).toEqual([503, 14, status.UNAVAILABLE]);
  });

  it('internal: a decoder bug and a dead worker are 500 / INTERNAL, never blamed on the input', async () => {
    const p = await pipeline();
    for (const body of ['bug', 'die']) {
      const http = await httpExport(p.ports().http, body);
      const grpc = await grpcExport(p.ports().grpc, body);
      expectRow('internal', http, grpc);
      expect([http.status, http.rpcCode, grpc?.code], body).toEqual([500, status.INTERNAL, status.INTERNAL]);
      expect(http.status).not.toBe(400);
    }
    // The pool goes on after a thread died.
    expect((await httpExport(p.ports().http, 'ok')).status).toBe(200);
  });
});
