// `genops validate` end to end: in-process through the command module (output and exit codes) and once
// through the real executable.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command } from '../../cmd/commands/validate.ts';
import type { CommandContext } from '../../cmd/context.ts';
import { systemClock } from '../../kernel/clock.ts';
import { createLogger } from '../../kernel/logger.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');

async function run(...paths: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let code = -1;
  const ctx = {
    clock: systemClock,
    logger: createLogger({ level: 'error', write: () => {} }),
    stdout: (t: string) => (stdout += t),
    stderr: (t: string) => (stderr += t),
    isTTY: false,
  } as unknown as CommandContext;
  const cmd = command(ctx, (c) => (code = c)).exitOverride();
  await cmd.parseAsync(paths, { from: 'user' });
  return { code, stdout, stderr };
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'genops-validate-'));
  mkdirSync(join(dir, 'nested', 'deeper'), { recursive: true });
  writeFileSync(
    join(dir, 'mixed.yaml'),
    `apiVersion: v1
kind: ConfigMap
metadata: {name: not-ours}
data: {a: b}
---
apiVersion: genops.ai/v1alpha1
kind: AIBudget
metadata:
  name: bad-budget
spec:
  allocation:
    amount: -5
    period: hourly
---
apiVersion: genops.ai/v1alpha1
kind: AIPolicy
metadata:
  name: good-policy
spec:
  costLimits:
    daily: 1
`,
  );
  writeFileSync(
    join(dir, 'nested', 'deeper', 'policy.yml'),
    `apiVersion: genops.ai/v1alpha1
kind: AIPolicy
metadata:
  name: unsafe
spec:
  contentSafety:
    minimumSafetyScore: 2
    enforcement: deny
`,
  );
  writeFileSync(join(dir, 'nested', 'notes.txt'), 'kind: AIPolicy\nnot: yaml: really');
  writeFileSync(
    join(dir, 'broken.yaml'),
    'apiVersion: genops.ai/v1alpha1\nkind: AIPolicy\nspec: [unclosed\n',
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('genops validate', () => {
  it('accepts every example and says so', async () => {
    const r = await run(EXAMPLES);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^\d+ resource\(s\) in \d+ file\(s\), 0 invalid, \d+ other document\(s\) skipped: all valid\n$/,
    );
  });

  it('prints one line per problem with file, line, resource, path and message; exit 1', async () => {
    const r = await run(dir);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      `${join(dir, 'broken.yaml')}:4: YAML: ${lines[0]!.split(': YAML: ')[1]}`,
      `${join(dir, 'mixed.yaml')}:12 AIBudget/bad-budget: spec.allocation.amount: must be at least 0 (got -5)`,
      `${join(dir, 'mixed.yaml')}:13 AIBudget/bad-budget: spec.allocation.period: must be one of "daily", "weekly", "monthly", "quarterly", "yearly" (got "hourly")`,
      `${join(dir, 'nested', 'deeper', 'policy.yml')}:7 AIPolicy/unsafe: spec.contentSafety.minimumSafetyScore: must be at most 1 (got 2)`,
      `${join(dir, 'nested', 'deeper', 'policy.yml')}:8 AIPolicy/unsafe: spec.contentSafety.enforcement: must be one of "warn", "throttle", "block" (got "deny")`,
    ]);
    expect(lines[0]).toMatch(/YAML: .+/);
    // The ConfigMap is skipped, the good policy counted; notes.txt is not YAML by name.
    expect(r.stderr).toContain(
      '3 resource(s) in 3 file(s), 2 invalid, 1 other document(s) skipped, 1 unreadable document(s); 5 problem(s)',
    );
  });

  it('reads a single file whatever its name, and validates only what it is given', async () => {
    const r = await run(join(dir, 'nested', 'deeper', 'policy.yml'));
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('exits 3 for a path that does not exist', async () => {
    const r = await run(join(dir, 'missing.yaml'));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('no such file or directory');
  });

  it('works as the installed executable (exit code from the process)', async () => {
    const exec = promisify(execFile);
    const ok = await exec(process.execPath, [join(ROOT, 'cmd/genops.ts'), 'validate', EXAMPLES]);
    expect(ok.stderr).toContain('all valid');
    const failed = await exec(process.execPath, [
      join(ROOT, 'cmd/genops.ts'),
      'validate',
      join(dir, 'mixed.yaml'),
    ]).then(
      () => undefined,
      (e: { code: number; stdout: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toContain('AIBudget/bad-budget: spec.allocation.amount: must be at least 0');
  });
});
