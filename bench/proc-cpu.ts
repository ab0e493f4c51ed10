// Owns reading another process's CPU time from /proc/<pid>/stat (Linux): utime + stime, which
// cover every thread of the process (a Node server's decode workers, a Go server's goroutines).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`, 100 on Linux in practice). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * CPU seconds (user + system, all threads) a process has used so far. The command name (field 2)
 * may hold spaces and parentheses, so fields are counted from the last ')'.
 */
export function processCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds of one thread: the main thread of a process is the task whose id is the pid. */
export function threadCpuSeconds(pid: number, tid: number = pid): number {
  return statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
}

function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable ${path}`);
  return (utime + stime) / clockTicks();
}

/**
 * CPU seconds per thread name (/proc/<pid>/task/<tid>/comm), summed: for Node "MainThread",
 * "WorkerThread" (worker_threads), "V8Worker" (V8's background GC and compiler threads), "libuv-worker".
 * Threads that exited meanwhile are missing, so compare two calls only for long-lived threads.
 */
export function threadNameCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out[name] = (out[name] ?? 0) + statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return out;
}
