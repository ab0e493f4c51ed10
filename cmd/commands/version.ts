// `genops version`: the operator's version and the runtime it runs on.

import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { CommandContext } from '../context.ts';

interface PackageJson {
  version: string;
}

/** `genops 0.1.0 (node v24.x)`: what `genops version` and `genops --version` print. */
export function versionLine(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson;
  return `genops ${pkg.version} (node ${process.version})`;
}

export function command(ctx: CommandContext): Command {
  return new Command('version').description('print the version of genops and Node.js').action(() => {
    ctx.stdout(`${versionLine()}\n`);
  });
}
