// `genops validate <file-or-dir>...`: checks every AIPolicy/AIBudget in YAML files offline, with the schema
// and CEL rules the CRDs carry. Other kinds are skipped. Prints one line per problem on stdout
// (`file:doc Kind/name: field.path: message`, documents counted from 1) and a summary on stderr.

import { Command } from 'commander';
import type { CommandContext } from '../context.ts';
import { EXIT } from '../context.ts';
import { formatProblem, loadResources } from '../../crds/load.ts';

export function command(ctx: CommandContext, setExit: (code: number) => void): Command {
  return new Command('validate')
    .description('validate AIPolicy and AIBudget resources in YAML files or directories (offline)')
    .argument('<paths...>', 'YAML files or directories (searched recursively for *.yaml, *.yml)')
    .action(async (paths: string[]) => {
      let result;
      try {
        result = await loadResources(paths);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        ctx.stderr(
          `genops validate: ${e.code === 'ENOENT' ? `no such file or directory: ${e.path}` : e.message}\n`,
        );
        setExit(EXIT.unavailable);
        return;
      }
      for (const p of result.problems) ctx.stdout(formatProblem(p) + '\n');
      const docs = (yaml: boolean): number =>
        new Set(
          result.problems
            .filter((p) => (p.resource === undefined) === yaml)
            .map((p) => `${p.file}:${p.index}`),
        ).size;
      const unreadable = docs(true);
      const summary =
        `${result.checked} resource(s) in ${result.files} file(s), ${docs(false)} invalid, ` +
        `${result.skipped} other document(s) skipped` +
        (unreadable > 0 ? `, ${unreadable} unreadable document(s)` : '');
      if (result.problems.length > 0) {
        ctx.stderr(`${summary}; ${result.problems.length} problem(s)\n`);
        setExit(EXIT.failure);
        return;
      }
      ctx.stderr(
        result.checked === 0 ? `${summary}: no AIPolicy or AIBudget found\n` : `${summary}: all valid\n`,
      );
      setExit(EXIT.ok);
    });
}
