// Owns what every cached test prerequisite built from a Go module shares (the control plane, the
// Collector, helm): whether a cached binary is there, and running the Go toolchain with the tail of
// its output in the error.
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export interface BuildToolOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** What the command builds, for the message when it is not installed ("the test Collector"). */
  readonly builds: string;
}

/** Runs `command`; rejects with the last 8000 characters of its output when it fails. */
export function runBuildTool(command: string, args: string[], options: BuildToolOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const collect = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error(
              `'${command}' is not on PATH: ${options.builds} is built with the Go toolchain (>= 1.26)`,
            )
          : error,
      );
    });
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}
