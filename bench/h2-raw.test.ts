import { constants as h2, createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcHeaderBlock, rawH2Connection } from './h2-raw.ts';

let server: Http2Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A real node:http2 server: answers path /ok with a gRPC reply and trailers, resets anything else. */
async function start(seen: { path: string; body: string; te: string }[]): Promise<number> {
  server = createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined); // the reset below is on purpose
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const path = String(headers[h2.HTTP2_HEADER_PATH]);
      seen.push({ path, body: Buffer.concat(chunks).toString(), te: String(headers['te']) });
      if (path !== '/ok') {
        stream.close(h2.NGHTTP2_REFUSED_STREAM);
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.alloc(5));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('raw h2c load connection', () => {
  it('sends calls a real http2 server reads as such, done at trailers; a reset call is not ok', async () => {
    const seen: { path: string; body: string; te: string }[] = [];
    const port = await start(seen);
    const conn = rawH2Connection(port);
    const call = (path: string, body: string) =>
      new Promise<boolean>((resolve) => {
        expect(conn.call(grpcHeaderBlock(path, `127.0.0.1:${port}`), Buffer.from(body), resolve)).toBe(true);
      });
    // More calls than one connection window of 64 KiB: flow control must follow the server's updates.
    const big = 'x'.repeat(1000);
    const results = await Promise.all(Array.from({ length: 90 }, () => call('/ok', big)));
    expect(results.every((ok) => ok)).toBe(true);
    expect(await call('/refused', 'y')).toBe(false);
    expect(seen).toHaveLength(91);
    expect(seen[0]).toEqual({ path: '/ok', body: big, te: 'trailers' });
    expect(conn.inFlight()).toBe(0);
    conn.close();
  });
});
