// `genops version`: the operator's version and the runtime it runs on.

import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { CommandContext } from '../context.ts';

interface PackageJson {
  version: string;
}

export function command(ctx: CommandContext): Command {
  return new Command('version').description('print the version of genops and Node.js').action(() => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as PackageJson;
    ctx.stdout(`genops ${pkg.version} (node ${process.version})\n`);
  });
}
