import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../kernel/logger.ts';
import { createDemoTraffic } from './traffic.ts';
import { demoWorkloads } from './scenario.ts';

describe('demo traffic', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it('sends OTLP/HTTP protobuf through the real SDK exporter, one resource per workload', async () => {
    const bodies: { type: string | undefined; bytes: number }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({ type: req.headers['content-type'], bytes: Buffer.concat(chunks).length });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const traffic = createDemoTraffic({
      endpoint: `http://127.0.0.1:${port}`,
      protocol: 'http/protobuf',
      rate: 1,
      logger: silentLogger,
    });
    closers.push(() => traffic.shutdown());
    await traffic.burst(3);
    expect(traffic.requestsSent()).toBe(3 * demoWorkloads.length);
    // One export per workload's tracer provider (each has its own resource).
    expect(bodies.length).toBe(demoWorkloads.length);
    for (const b of bodies) {
      expect(b.type).toBe('application/x-protobuf');
      expect(b.bytes).toBeGreaterThan(300);
    }
  });
});
