// A directory lock for the cached test prerequisites (control-plane binaries, the Collector, Python
// environments), so a CLI run and a vitest run never build the same thing at once. A lock whose
// holder died is taken over.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `body` holding `lockDir`; `what` names the build in the waiting message. */
export async function withLock<T>(
  lockDir: string,
  what: string,
  log: (message: string) => void,
  body: () => Promise<T>,
): Promise<T> {
  const pidFile = join(lockDir, 'pid');
  const started = Date.now();
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(pidFile, String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(pidFile, 'utf8').catch(() => ''));
      // No pid after 10 s: the holder died between mkdir and writing its pid.
      const stale = (holder > 0 && !processAlive(holder)) || (!holder && Date.now() - started > 10_000);
      if (stale) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > 60 * 60_000) {
        throw new Error(`timed out waiting for lock ${lockDir}`, { cause: error });
      }
      if ((Date.now() - started) % 30_000 < 1000) log(`waiting for another ${what} (pid ${holder})`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  try {
    return await body();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
