#!/usr/bin/env node
// The `genops` executable: the composition root. Only this file (through cmd/env.ts) reads the
// environment and only this file exits the process.

import { Command, CommanderError } from 'commander';
import { readEnv } from './env.ts';
import type { CommandContext } from './context.ts';
import { EXIT } from './context.ts';
import { createLogger } from '../kernel/logger.ts';
import { systemClock } from '../kernel/clock.ts';
import { commandModules } from './commands/index.ts';
import { versionLine } from './commands/version.ts';

async function main(argv: readonly string[]): Promise<number> {
  const env = readEnv(process.env);
  const ctx: CommandContext = {
    env,
    clock: systemClock,
    logger: createLogger({ level: env.logLevel }),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: process.stdout.isTTY === true,
  };
  const program = new Command('genops')
    .description('GenOps: cost, budgets and policy enforcement for AI workloads on Kubernetes')
    .version(versionLine(), '-V, --version', 'print the version of genops and Node.js')
    .exitOverride()
    .configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr });
  let exitCode: number = EXIT.ok;
  for (const load of commandModules) {
    const mod = await load();
    const sub = mod.command(ctx, (code) => {
      exitCode = code;
    });
    // addCommand does not pass settings down: every level must throw instead of exiting itself.
    for (const c of [sub, ...sub.commands]) {
      c.exitOverride().configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr });
    }
    program.addCommand(sub);
  }
  try {
    await program.parseAsync(argv, { from: 'node' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    ctx.stderr(`genops: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  }
  return exitCode;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`genops: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT.failure;
  },
);
