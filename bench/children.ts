// Owns what the benchmarks that measure a server while ingesting share: the load clients as forked
// child processes (ready / run / result over IPC), the real ingest running beside the measured server,
// and the percentile of a sorted sample.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { LoadResult, RunSpec } from './load.ts';

/** Nearest-rank percentile of an ascending sample; NaN when it is empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Forks a load client and resolves once it says it is ready. */
export function startChild(args: string[], file: URL): Promise<ChildProcess> {
  const child = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${file.pathname} exited with ${code}`)));
    child.once('message', (m: { type: string }) => {
      if (m.type === 'ready') resolve(child);
    });
  });
}

/** Sends a run request and resolves with the child's result message. */
export function ask<T>(child: ChildProcess, message: object): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (m: { type: string }): void => {
      if (m.type !== 'result') return;
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Real ingest next to a measured server: the pipeline on OTLP/HTTP and bench/load.ts sending it protobuf. */
export interface IngestBeside {
  /** Starts the span load; resolves with its result when the run ends. */
  run(warmupMs: number, durationMs: number): Promise<LoadResult>;
  /** Stops the span client, then the pipeline. */
  stop(): Promise<void>;
}

export async function startIngestBeside(workers: number): Promise<IngestBeside> {
  const { createIngestPipeline } = await import('../pipeline/ingest.ts');
  const pipeline = createIngestPipeline({ grpc: false, http: { port: 0 }, pool: { threads: workers } });
  await pipeline.start();
  let spanClient: ChildProcess | undefined;
  try {
    spanClient = await startChild([], new URL('./load.ts', import.meta.url));
  } catch (err) {
    await pipeline.shutdown();
    throw err;
  }
  const client = spanClient;
  return {
    run(warmupMs, durationMs) {
      const spec: RunSpec = {
        transport: 'otlp-http-protobuf',
        port: pipeline.ports().http,
        concurrency: 1,
        warmupMs,
        durationMs,
      };
      return ask<LoadResult>(client, { type: 'run', ...spec });
    },
    async stop() {
      await stop(client);
      await pipeline.shutdown();
    },
  };
}
