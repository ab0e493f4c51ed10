// `genops prices` through the real executable: table prices, exact request cost, overrides, unknown models.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['cmd/genops.ts', 'prices', ...args],
      {
        cwd: ROOT,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

const dir = mkdtempSync(join(tmpdir(), 'genops-prices-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('genops prices', () => {
  it('prices a gpt-4o request exactly from the maintained table', async () => {
    const r = await run(
      'openai',
      'gpt-4o',
      '--input',
      '1000000',
      '--output',
      '1000000',
      '--cache-read',
      '500000',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('input 2.5, output 10, cache read 1.25');
    // 500k uncached x 2.50 + 500k cached x 1.25 + 1M output x 10.00 per 1M tokens
    expect(r.stdout).toContain('request cost: 11.875000 USD');
  });

  it('prints JSON with the Anthropic cache prices', async () => {
    const r = await run('anthropic', 'claude-sonnet-4-20250514', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.source).toBe('table');
    expect(doc.usdPerMillionTokens).toMatchObject({
      input: '3',
      output: '15',
      cacheRead: '0.3',
      cacheWrite: '3.75',
    });
  });

  it('uses an operator price file before the table', async () => {
    const file = join(dir, 'prices.yaml');
    writeFileSync(
      file,
      'models:\n  - provider: acme\n    model: "acme-*"\n    usdPerMillionTokens: { input: 1, output: 2 }\n',
    );
    const r = await run('acme', 'acme-large', '--price-file', file, '--input', '1000', '--output', '1000');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(override)');
    expect(r.stdout).toContain('request cost: 0.003000 USD');
  });

  it('says what an unknown model is charged: the highest price of its provider by default', async () => {
    const byDefault = await run('anthropic', 'claude-nonexistent-9');
    expect(byDefault.code).toBe(1);
    // Anthropic's highest in the table: Claude 3 Opus, 15 in / 75 out.
    expect(byDefault.stderr).toContain('fallback 15/75 USD per 1M input/output');
  });

  it('--unknown-model-price 0 or <input>,<output>: the operator chooses', async () => {
    const zero = await run('anthropic', 'claude-nonexistent-9', '--unknown-model-price', '0');
    expect(zero.stderr).toContain('fallback 0/0 USD per 1M input/output');
    const chosen = await run('acme', 'nope', '--unknown-model-price', '2,8');
    expect(chosen.stderr).toContain('fallback 2/8 USD per 1M input/output');
  });

  it('--unknown-model-price refuses what it cannot read', async () => {
    const bad = await run('acme', 'nope', '--unknown-model-price', 'cheap');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('expected highest, 0, or <input>,<output>');
  });

  it('says how to fix an unknown model and exits 1', async () => {
    const r = await run('acme', 'nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no price known for acme/nope');
    expect(r.stderr).toContain('--price-file');
  });
});
