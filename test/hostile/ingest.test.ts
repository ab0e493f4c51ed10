// Hostile senders against the real ingest runtime on loopback (receivers -> pool with the real
// worker -> windows): fuzzed and structurally mutated OTLP requests built by the OpenTelemetry JS
// serializers, bombs, lying lengths, slow and flooding clients. Per attack: the answer, no crash
// or hang (bounded time), a memory bound read from the process, and a valid request afterwards
// charged exactly. Bounded in count and time (seeded generator).
import { status } from '@grpc/grpc-js';
import type { ClientHttp2Stream } from 'node:http2';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson, toProtobuf } from '../../pipeline/otlp/testing/otel-spans.ts';
import { createIngestPipeline } from '../../pipeline/ingest.ts';
import type { IngestPipeline } from '../../pipeline/ingest.ts';
import { noopIngestMetrics } from '../../pipeline/ingest-metrics.ts';
import type { IngestMetrics } from '../../pipeline/ingest-metrics.ts';
import {
  CANARY_COST_MICROS,
  canaryProtobuf,
  canarySpans,
  grpcFrame,
  grpcRaw,
  h2,
  peakGrowth,
  post,
  prng,
  rawHttp,
  sendCanary,
  sleep,
  spendOf,
} from './harness.ts';

const MiB = 1024 * 1024;
const refused: Record<string, number> = {};
const rejected: Record<string, number> = {};
const metrics: IngestMetrics = {
  ...noopIngestMetrics,
  requestRefused: (_t, reason) => (refused[reason] = (refused[reason] ?? 0) + 1),
  spansRejected: (n, _t, reason) => (rejected[reason] = (rejected[reason] ?? 0) + n),
};

let p: IngestPipeline;
beforeAll(async () => {
  p = createIngestPipeline({
    grpc: { port: 0 },
    http: { port: 0 },
    maxBodyBytes: 8 * MiB,
    metrics,
    limits: { maxConnections: 64, headersTimeoutMs: 1_000, bodyTimeoutMs: 3_000, idleTimeoutMs: 500 },
    pool: { threads: 1, maxQueuedBytes: 16 * MiB },
  });
  await p.start();
});
afterAll(async () => {
  await p.shutdown();
});

async function expectCanaryCharged(): Promise<void> {
  const c = await sendCanary(p);
  expect(c.status).toBe(200);
  expect(c.charged).toBe(CANARY_COST_MICROS);
}

/** Structure-aware mutations of a protobuf request: flips, truncations, length lies, splices. */
function mutate(base: Uint8Array, rand: () => number): Uint8Array {
  const b = Uint8Array.from(base);
  const at = Math.floor(rand() * b.length);
  switch (Math.floor(rand() * 7)) {
    case 0: // bit flip
      b[at] = b[at]! ^ (1 << Math.floor(rand() * 8));
      return b;
    case 1: // truncation
      return b.subarray(0, at);
    case 2: // a length prefix that lies (any byte < 0x80 might be a length)
      b[at] = Math.floor(rand() * 128);
      return b;
    case 3: // an over-long varint
      return Uint8Array.from([
        ...b.subarray(0, at),
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0x01,
        ...b.subarray(at),
      ]);
    case 4: // duplicate a slice (repeated fields, splices)
      return Uint8Array.from([
        ...b.subarray(0, at),
        ...b.subarray(Math.floor(at / 2), at),
        ...b.subarray(at),
      ]);
    case 5: // unknown field of a random wire type inserted
      return Uint8Array.from([
        ...b.subarray(0, at),
        ((Math.floor(rand() * 30) + 20) << 3) | Math.floor(rand() * 6),
        1,
        2,
        ...b.subarray(at),
      ]);
    default: // random bytes
      for (let i = 0; i < 8 && at + i < b.length; i++) b[at + i] = Math.floor(rand() * 256);
      return b;
  }
}

describe('hostile OTLP bodies', () => {
  it('answers 200 or 400 to 300 mutated protobuf and 150 mutated JSON requests, never 5xx, charging nothing forged', async () => {
    const rand = prng(0x5eed13);
    const proto = toProtobuf(canarySpans());
    const json = new TextDecoder().decode(toJson(canarySpans()));
    const statuses = new Map<number, number>();
    const started = performance.now();
    const { peakBytes } = await peakGrowth(
      () => process.memoryUsage().rss,
      async () => {
        for (let i = 0; i < 300; i++) {
          const r = await post(p.ports().http, mutate(proto, rand));
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
        for (let i = 0; i < 150; i++) {
          const at = Math.floor(rand() * json.length);
          const cut = [
            json.slice(0, at),
            json.slice(0, at) + json.slice(at + 1 + Math.floor(rand() * 8)),
            json.slice(0, at) + '"' + json.slice(at),
            json.replace(
              '1000',
              ['1e400', '"1' + '0'.repeat(400) + '"', '-5', '1.5', '"NaN"', 'null'][i % 6]!,
            ),
          ][i % 4]!;
          const r = await post(p.ports().http, cut, { 'content-type': 'application/json' });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      },
    );
    expect(
      [...statuses.keys()].every((s) => s === 200 || s === 400),
      JSON.stringify([...statuses]),
    ).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(50);
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(peakBytes).toBeLessThan(200 * MiB);
    await expectCanaryCharged();
  });

  it('answers OK or INVALID_ARGUMENT to 150 mutated protobuf requests over gRPC (framing mutated too), never another code', async () => {
    const rand = prng(0x6a7c);
    const proto = toProtobuf(canarySpans());
    const session = h2(p.ports().grpc);
    const codes = new Map<string, number>();
    for (let i = 0; i < 150; i++) {
      const body = mutate(proto, rand);
      let frame = grpcFrame(body);
      // One in five: the frame itself lies (length prefix or a cut frame).
      if (i % 5 === 0) frame.writeUInt32BE(Math.max(0, body.length - 1 - Math.floor(rand() * 4)), 1);
      if (i % 5 === 1) frame = frame.subarray(0, Math.max(1, Math.floor(rand() * frame.length)));
      const r = await grpcRaw(session, (s) => s.end(frame));
      const key = r.reset ? 'reset' : String(r.status);
      codes.set(key, (codes.get(key) ?? 0) + 1);
    }
    session.close();
    expect(
      [...codes.keys()].every((c) => c === '0' || c === '3'),
      JSON.stringify([...codes]),
    ).toBe(true);
    expect(codes.get('3')).toBeGreaterThan(20);
    await expectCanaryCharged();
  });

  it('keeps gen_ai.operation.name when its AnyValue carries an unknown field: an agent span stays uncharged', async () => {
    // Hand-framed request (the SDK never writes unknown fields): an invoke_agent span reporting
    // usage, whose operation-name AnyValue has an unknown field 50 after the string.
    const enc = new TextEncoder();
    const varint = (n: number): number[] => {
      const out: number[] = [];
      while (n >= 0x80) {
        out.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      out.push(n);
      return out;
    };
    const len = (field: number, payload: number[]): number[] => [
      ...varint((field << 3) | 2),
      ...varint(payload.length),
      ...payload,
    ];
    const str = (field: number, v: string): number[] => len(field, [...enc.encode(v)]);
    const kv = (key: string, any: number[]): number[] => [...str(1, key), ...len(2, any)];
    const unknown = [...varint((50 << 3) | 0), 1];
    const attr = (key: string, any: number[]): number[] => len(9, kv(key, any));
    const rand = prng(7);
    const id = (n: number): number[] => Array.from({ length: n }, () => 1 + Math.floor(rand() * 255));
    const request = (operation: string): Uint8Array => {
      const span = [
        ...len(1, id(16)),
        ...len(2, id(8)),
        ...str(5, 'invoke_agent planner'),
        ...attr('gen_ai.operation.name', [...str(1, operation), ...unknown]),
        ...attr('gen_ai.provider.name', str(1, 'openai')),
        ...attr('gen_ai.request.model', [...unknown, ...str(1, 'gpt-4o')]),
        ...attr('gen_ai.usage.input_tokens', [...varint(3 << 3), ...varint(1000)]),
        ...attr('gen_ai.usage.output_tokens', [...varint(3 << 3), ...varint(100)]),
      ];
      const resource = len(1, [
        ...len(1, kv('k8s.namespace.name', str(1, 'hostile'))),
        ...len(1, kv('k8s.deployment.name', [...str(1, 'canary'), ...unknown])),
      ]);
      return Uint8Array.from(len(1, [...resource, ...len(2, len(2, span))]));
    };
    const before = spendOf(p);
    const r = await post(p.ports().http, request('invoke_agent'));
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
    // Before the fix the operation name was lost and this agent span was charged as a call.
    expect(spendOf(p) - before).toBe(0);
    // The same span as a chat call is charged, to the workload named through a value with an
    // unknown field, at the model read from one: nothing known was lost.
    expect((await post(p.ports().http, request('chat'))).status).toBe(200);
    expect(spendOf(p) - before).toBe(CANARY_COST_MICROS);
    await expectCanaryCharged();
  });

  it('refuses absurd token counts in partial_success and counts them, charging the sane span beside them', async () => {
    const spans = [
      ...canarySpans({ 'gen_ai.usage.input_tokens': 1e12 }),
      ...canarySpans({ 'gen_ai.usage.output_tokens': Infinity }),
      ...canarySpans(),
    ];
    const before = spendOf(p);
    const counted = rejected['implausible-usage'] ?? 0;
    const r = await post(p.ports().http, toProtobuf(spans));
    expect(r.status).toBe(200);
    // ExportTraceServiceResponse{partial_success{rejected_spans: 2, error_message}}
    expect([...r.body.subarray(0, 4)].slice(2)).toEqual([0x08, 2]);
    expect(r.body.toString('utf8')).toContain('exceeds the plausible bound of 100000000 per span');
    expect(spendOf(p) - before).toBe(CANARY_COST_MICROS);
    expect((rejected['implausible-usage'] ?? 0) - counted).toBe(2);
  });

  it('stops an HTTP gzip bomb at the body cap (413) and a gRPC one (RESOURCE_EXHAUSTED, delivered, not reset)', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * MiB));
    const { result, peakBytes } = await peakGrowth(
      () => process.memoryUsage().rss,
      async () => {
        const http = await post(p.ports().http, bomb, {
          'content-type': 'application/x-protobuf',
          'content-encoding': 'gzip',
        });
        const session = h2(p.ports().grpc);
        const grpc = await grpcRaw(session, (s) => s.end(grpcFrame(bomb, true)), { 'grpc-encoding': 'gzip' });
        session.close();
        return { http, grpc };
      },
    );
    expect(result.http.status).toBe(413);
    expect(result.grpc.status).toBe(status.RESOURCE_EXHAUSTED);
    expect(peakBytes).toBeLessThan(100 * MiB);
    await expectCanaryCharged();
  });

  it('answers corrupt gzip and truncated gRPC messages INVALID_ARGUMENT, an oversized one RESOURCE_EXHAUSTED before any reset', async () => {
    const session = h2(p.ports().grpc);
    const corrupt = await grpcRaw(session, (s) => s.end(grpcFrame(Buffer.from('not gzip at all'), true)), {
      'grpc-encoding': 'gzip',
    });
    const frame = grpcFrame(canaryProtobuf());
    const truncated = await grpcRaw(session, (s) => s.end(frame.subarray(0, frame.length - 7)));
    const oversized = await grpcRaw(session, (s) => {
      // Announces 9 MiB (cap 8 MiB) and starts sending it.
      const head = Buffer.alloc(5);
      head.writeUInt32BE(9 * MiB, 1);
      s.write(head);
      s.write(Buffer.alloc(256 * 1024));
    });
    session.close();
    expect(corrupt.status).toBe(status.INVALID_ARGUMENT);
    expect(truncated.status).toBe(status.INVALID_ARGUMENT);
    expect(oversized.reset).toBe(false);
    expect(oversized.status).toBe(status.RESOURCE_EXHAUSTED);
    await expectCanaryCharged();
  });
});

describe('hostile clients', () => {
  it('answers 408 to headers that never finish, and to a body that stalls (idle deadline)', async () => {
    const slowHeaders = await rawHttp(p.ports().http);
    slowHeaders.socket.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\n');
    const stalled = await rawHttp(p.ports().http);
    stalled.socket.write(
      'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5000\r\n\r\nabc',
    );
    const started = performance.now();
    const [a, b] = await Promise.all([slowHeaders.reply, stalled.reply]);
    expect(a).toMatch(/^HTTP\/1\.1 408 /);
    expect(b).toMatch(/^HTTP\/1\.1 408 /);
    // Deadlines (1 s headers, 0.5 s idle) plus Node's 1 s check interval; never the old 60-90 s.
    expect(performance.now() - started).toBeLessThan(4_000);
    await expectCanaryCharged();
  });

  it('answers 408 to a body trickled just under the idle deadline once the body deadline passes', async () => {
    const slow = await rawHttp(p.ports().http);
    slow.socket.write(
      'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5000\r\n\r\n',
    );
    const started = performance.now();
    const trickle = setInterval(() => {
      if (!slow.socket.destroyed) slow.socket.write('a');
    }, 200);
    const reply = await slow.reply;
    clearInterval(trickle);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    const took = performance.now() - started;
    // Body deadline 3 s; the idle deadline (0.5 s) never fired.
    expect(took).toBeGreaterThan(2_500);
    expect(took).toBeLessThan(6_000);
    await expectCanaryCharged();
  });

  it('closes a gRPC stream that stalls mid-message with DEADLINE_EXCEEDED', async () => {
    const session = h2(p.ports().grpc);
    const frame = grpcFrame(canaryProtobuf());
    const started = performance.now();
    const reply = await grpcRaw(session, (s) => s.write(frame.subarray(0, 10)));
    session.close();
    expect(reply.status).toBe(status.DEADLINE_EXCEEDED);
    expect(performance.now() - started).toBeLessThan(3_000);
    await expectCanaryCharged();
  });

  it('bounds memory under 12 slow 6 MiB bodies at once: bytes being received count against the queue bound (429 early)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const measure = () => process.memoryUsage().arrayBuffers;
    const { result, peakBytes } = await peakGrowth(measure, async () => {
      const clients = await Promise.all(Array.from({ length: 12 }, () => rawHttp(p.ports().http)));
      // Half declare their length (reserved up front), half stream chunked (reserved per chunk).
      clients.forEach((c, i) =>
        c.socket.write(
          `POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n${
            i % 2 === 0 ? `Content-Length: ${6 * MiB}` : 'Transfer-Encoding: chunked'
          }\r\n\r\n`,
        ),
      );
      // Send about 3 MiB each, slowly, with a canary in the middle.
      let canary: { status: number; charged: number } | undefined;
      for (let round = 0; round < 48; round++) {
        for (const [i, c] of clients.entries()) {
          if (c.socket.destroyed) continue;
          if (i % 2 === 0) c.socket.write(chunk);
          else c.socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`, 'latin1');
        }
        if (round === 24) canary = await sendCanary(p);
        await sleep(5);
      }
      const early = clients.map((c) => c.reply);
      for (const c of clients) c.socket.destroy();
      return { canary, replies: await Promise.all(early) };
    });
    const tooMany = result.replies.filter((r) => /^HTTP\/1\.1 429 /.test(r));
    expect(tooMany.length).toBeGreaterThanOrEqual(8);
    expect(tooMany.every((r) => /Retry-After: \d+/i.test(r))).toBe(true);
    // 16 MiB queue bound + the canary and slack: never 12 x 6 MiB.
    expect(peakBytes).toBeLessThan(40 * MiB);
    expect(result.canary?.status).toBe(200);
    expect(result.canary?.charged).toBe(CANARY_COST_MICROS);
    await sleep(50);
    expect(p.pool.receivingBytes()).toBe(0);
    await expectCanaryCharged();
  });

  it('bounds gRPC streams the same way: 8 slow 6 MiB messages at once get UNAVAILABLE + RetryInfo early', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const session = h2(p.ports().grpc);
    const { result, peakBytes } = await peakGrowth(
      () => process.memoryUsage().arrayBuffers,
      async () => {
        const streams: ClientHttp2Stream[] = [];
        const replies = Array.from({ length: 8 }, () =>
          grpcRaw(session, (s) => {
            const head = Buffer.alloc(5);
            head.writeUInt32BE(6 * MiB, 1);
            s.write(head);
            streams.push(s);
          }),
        );
        for (let round = 0; round < 48; round++) {
          for (const s of streams) if (!s.destroyed && !s.writableEnded) s.write(chunk);
          await sleep(5);
        }
        for (const s of streams) if (!s.destroyed) s.close();
        return Promise.all(replies);
      },
    );
    session.close();
    const unavailable = result.filter((r) => r.status === status.UNAVAILABLE);
    expect(unavailable.length).toBeGreaterThanOrEqual(5);
    for (const r of unavailable) {
      const details = Buffer.from(String(r.headers['grpc-status-details-bin']), 'base64');
      expect(details.toString('latin1')).toContain('type.googleapis.com/google.rpc.RetryInfo');
    }
    expect(peakBytes).toBeLessThan(40 * MiB);
    await sleep(50);
    expect(p.pool.receivingBytes()).toBe(0);
    await expectCanaryCharged();
  });

  it('caps connections: a flood of idle sockets beyond the limit is dropped, and the service still answers', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 80 }, () => rawHttp(p.ports().http).catch(() => undefined)),
    );
    await sleep(100);
    const dropped = refused['connection-limit'] ?? 0;
    expect(dropped).toBeGreaterThanOrEqual(10);
    for (const s of sockets) s?.socket.destroy();
    await sleep(100);
    await expectCanaryCharged();
  });
});

describe('shutdown with a stuck client', () => {
  it('answers a sender stuck mid-body 503 at once and stops well before the drain deadline', async () => {
    const q = createIngestPipeline({ grpc: { port: 0 }, http: { port: 0 }, pool: { threads: 1 } });
    await q.start();
    const stuck = await rawHttp(q.ports().http);
    stuck.socket.write(
      'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\nabc',
    );
    const session = h2(q.ports().grpc);
    const grpcStuck = grpcRaw(session, (s) => s.write(grpcFrame(canaryProtobuf()).subarray(0, 10)));
    await sleep(100);
    const started = performance.now();
    await q.shutdown(Date.now() + 10_000);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await stuck.reply).toMatch(/^HTTP\/1\.1 503 /);
    expect((await grpcStuck).status).toBe(status.UNAVAILABLE);
    session.close();
  });
});
