// Owns the two plain HTTP servers every runtime (`genops operator`, `genops local`) serves: /metrics
// (Prometheus text) and the health port (/healthz and /livez, /readyz, plus routes of the runtime
// such as local's /status). One implementation, so both runtimes answer probes and scrapes alike.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../kernel/logger.ts';
import type { Runnable } from '../kernel/runnables.ts';

export interface PortServer extends Runnable {
  /** The bound port once started (0 before). */
  port(): number;
}

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

export interface Liveness {
  readonly alive: boolean;
  /** Text of a 503 answer. */
  readonly why?: string;
}

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
  /** /healthz and /livez: 200 while alive, else 503 with `why`. */
  live(): Liveness;
  /** /readyz: 200 when ready, else 503. */
  ready(): boolean;
  /** More GET paths of the runtime (e.g. /status). */
  readonly routes?: Readonly<Record<string, (req: IncomingMessage, res: ServerResponse) => void>>;
}

export function createMetricsServer(options: {
  host: string;
  port: number;
  metrics: MetricsSource;
  logger: Logger;
}): PortServer {
  return portServer(
    'metrics-server',
    options.host,
    options.port,
    createServer((req, res) => {
      if (req.method === 'GET' && pathOf(req) === '/metrics') {
        options.metrics.render().then(
          (text) => res.writeHead(200, { 'content-type': options.metrics.contentType }).end(text),
          (err: unknown) => {
            options.logger.error('metrics rendering failed', { err });
            res.writeHead(500).end();
          },
        );
        return;
      }
      res.writeHead(404).end();
    }),
  );
}

export function createHealthServer(options: HealthServerOptions): PortServer {
  return portServer(
    'health-server',
    options.host,
    options.port,
    createServer((req, res) => {
      const path = pathOf(req);
      if (path === '/healthz' || path === '/livez') {
        const l = options.live();
        res
          .writeHead(l.alive ? 200 : 503, { 'content-type': 'text/plain' })
          .end(l.alive ? 'ok\n' : (l.why ?? 'not alive\n'));
      } else if (path === '/readyz') {
        const ready = options.ready();
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
          .end(ready ? 'ok\n' : 'not ready\n');
      } else {
        const route = options.routes?.[path];
        if (route === undefined) res.writeHead(404).end();
        else route(req, res);
      }
    }),
  );
}

const pathOf = (req: IncomingMessage): string => (req.url ?? '').split('?')[0] ?? '';

function portServer(name: string, host: string, port: number, server: Server): PortServer {
  let bound = 0;
  return {
    name,
    port: () => bound,
    start: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          bound = (server.address() as AddressInfo).port;
          resolve();
        });
      }),
    shutdown: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
