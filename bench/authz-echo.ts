// Owns the floor of the gRPC figure in bench/authz.ts (--echo): the least a node:http2 server can do
// per unary gRPC call, in its own worker thread as the authz thread runs: read the stream, answer a
// fixed, pre-encoded OK CheckResponse with its trailers. No decoding, no decision. Whatever p99 this
// shows under the same load is what node:http2 costs on this machine, whatever the check does.

import { constants as h2, createServer, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { encodeCheckResponse } from '../authz/envoy-proto.ts';
import type { AuthzMetrics } from '../authz/metrics.ts';
import type { AuthzServer } from '../authz/server.ts';

type FromEcho = { type: 'listening'; port: number } | { type: 'check'; seconds: number } | { type: 'closed' };

/** The echo server in a worker thread, reporting each call's seconds into `metrics` as 'allowed'. */
export function createEchoThread(metrics: AuthzMetrics): AuthzServer {
  let worker: Worker | undefined;
  let port = 0;
  return {
    start: () =>
      new Promise((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { echo: true } });
        worker = w;
        w.once('error', reject);
        w.on('message', (m: FromEcho) => {
          if (m.type === 'listening') {
            port = m.port;
            resolve();
          } else if (m.type === 'check') metrics.checked('grpc', 'allowed', '', m.seconds);
        });
      }),
    port: () => port,
    shutdown: async () => {
      const w = worker;
      if (!w) return;
      worker = undefined;
      const closed = new Promise<void>((r) =>
        w.on('message', (m: FromEcho) => {
          if (m.type === 'closed') r();
        }),
      );
      w.postMessage('shutdown');
      await closed;
      await w.terminate();
    },
  };
}

function runEcho(): void {
  const message = encodeCheckResponse({ kind: 'ok', headers: [], responseHeaders: [] });
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const post = (m: FromEcho) => parentPort!.postMessage(m);
  const server = createServer({ maxSessionMemory: 64, settings: { maxConcurrentStreams: 256 } });
  server.on('stream', (stream: ServerHttp2Stream) => {
    // Timed as the authz server times a check: from the message's arrival.
    let started = performance.now();
    let messageSeen = false;
    stream.on('error', () => undefined);
    stream.on('data', () => {
      if (messageSeen) return;
      messageSeen = true;
      started = performance.now();
    });
    stream.on('end', () => {
      post({ type: 'check', seconds: (performance.now() - started) / 1000 });
      stream.respond(
        { [h2.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame);
    });
  });
  const sessions = new Set<Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.listen(0, '127.0.0.1', () =>
    post({ type: 'listening', port: (server.address() as AddressInfo).port }),
  );
  parentPort!.on('message', () => {
    for (const s of sessions) s.destroy();
    server.close(() => {
      post({ type: 'closed' });
      parentPort!.close();
    });
  });
}

if (!isMainThread && (workerData as { echo?: boolean } | undefined)?.echo === true) runEcho();
