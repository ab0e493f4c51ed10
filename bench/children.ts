// Owns what the benchmarks that measure a server while ingesting share: the load clients as forked
// child processes (ready / run / result over IPC) and the percentile of a sorted sample.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

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
