// `genops validate <file-or-dir>...`: checks every AIPolicy/AIBudget in YAML files offline, with the schema
// and CEL rules the CRDs carry. Other kinds are skipped. `-` reads standard input. Prints one line per
// problem on stdout (`file:line Kind/name: field.path: message`, the line of the offending value) and a
// summary on stderr; `-o json` prints one JSON object instead ({problems, summary}).

import { Command, Option } from 'commander';
import type { CommandContext } from '../context.ts';
import { EXIT } from '../context.ts';
import { formatProblem, loadResources } from '../../crds/load.ts';

export interface ValidateIo {
  /** Standard input, for the path `-`. */
  readStdin(): Promise<Uint8Array>;
}

async function readProcessStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function command(
  ctx: CommandContext,
  setExit: (code: number) => void,
  io: ValidateIo = { readStdin: readProcessStdin },
): Command {
  return new Command('validate')
    .description('validate AIPolicy and AIBudget resources in YAML files or directories (offline)')
    .argument(
      '<paths...>',
      'YAML files or directories (searched recursively for *.yaml, *.yml); - reads stdin',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (paths: string[], opts: { output: 'text' | 'json' }) => {
      let result;
      try {
        result = await loadResources(paths, { readStdin: () => io.readStdin() });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        ctx.stderr(
          `genops validate: ${e.code === 'ENOENT' ? `no such file or directory: ${e.path}` : e.message}\n`,
        );
        setExit(EXIT.unavailable);
        return;
      }
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
      const code = result.problems.length > 0 ? EXIT.failure : EXIT.ok;
      if (opts.output === 'json') {
        ctx.stdout(
          JSON.stringify(
            {
              valid: code === EXIT.ok,
              files: result.files,
              resources: result.checked,
              skipped: result.skipped,
              problems: result.problems.map((p) => ({
                file: p.file,
                line: p.line,
                document: p.index,
                ...(p.resource === undefined ? {} : { resource: p.resource }),
                path: p.path,
                message: p.message,
              })),
            },
            null,
            2,
          ) + '\n',
        );
        setExit(code);
        return;
      }
      for (const p of result.problems) ctx.stdout(formatProblem(p) + '\n');
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
