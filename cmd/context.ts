// Owns what every subcommand receives from the composition root: no command reads process.env itself.

import type { Command } from 'commander';
import type { Clock } from '../kernel/clock.ts';
import type { Logger } from '../kernel/logger.ts';
import type { GenOpsEnv } from './env.ts';

/** Documented exit codes of the `genops` command. */
export const EXIT = {
  ok: 0,
  /** The command ran and found problems (invalid resources, failed checks). */
  failure: 1,
  /** Wrong flags or arguments. */
  usage: 2,
  /** A prerequisite is missing or unreachable (cluster, port in use, file not found). */
  unavailable: 3,
} as const;

export interface CommandContext {
  readonly env: GenOpsEnv;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly isTTY: boolean;
}

export interface CommandModule {
  /** Builds the subcommand; `setExit` records the exit code the process should end with. */
  command(ctx: CommandContext, setExit: (code: number) => void): Command;
}
