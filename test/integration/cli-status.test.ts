// `genops status` against the real API server: an AIBudget with status (as the operator writes it
// through the status subresource) is listed as a table, as JSON and filtered by namespace.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';

const kubeconfig = inject('genopsKubeconfig');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NS = 'genops-cli-status';

function run(
  cmd: string,
  args: readonly string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const kubectl = (args: readonly string[], input?: string) =>
  run('kubectl', ['--kubeconfig', kubeconfig, ...args], input);
const genops = (args: readonly string[]) => run(process.execPath, ['cmd/genops.ts', 'status', ...args]);

beforeAll(async () => {
  expect(
    (await kubectl(['apply', '--server-side', '--force-conflicts', '-f', 'config/crd/bases/'])).code,
  ).toBe(0);
  await kubectl(['wait', '--for=condition=Established', 'crd/aibudgets.genops.ai', '--timeout=60s']);
  await kubectl(['create', 'namespace', NS]);
  const budget = {
    apiVersion: 'genops.ai/v1alpha1',
    kind: 'AIBudget',
    metadata: { name: 'cli-budget', namespace: NS },
    spec: { allocation: { amount: 100, period: 'monthly' }, selector: { matchLabels: { team: 'cli' } } },
  };
  const applied = await kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(budget));
  expect(applied.stderr).toBe('');
  const status = {
    status: {
      state: 'Warning',
      spend: '81.250000',
      limit: '100.000000',
      remaining: '18.750000',
      utilizationPercent: 81.25,
      currentPeriod: { start: '2026-11-01T00:00:00Z', resetTime: '2099-12-01T00:00:00Z' },
      enforcement: { action: 'none' },
    },
  };
  const patched = await kubectl([
    'patch',
    'aibudget',
    'cli-budget',
    '-n',
    NS,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify(status),
  ]);
  expect(patched.stderr).toBe('');
});

describe('genops status (cluster)', () => {
  it('shows spend, limit, utilization and state as a table', async () => {
    const r = await genops(['--kubeconfig', kubeconfig, '-n', NS]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.includes('cli-budget'));
    expect(line).toMatch(
      /genops-cli-status\s+cli-budget\s+81\.250000\s+100\.000000\s+81\.25%\s+Warning\s+none/,
    );
  });

  it('prints JSON with the resources and their status', async () => {
    const r = await genops(['--kubeconfig', kubeconfig, '-o', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const b = doc.budgets.find((x: { metadata: { name: string } }) => x.metadata.name === 'cli-budget');
    expect(b.status.spend).toBe('81.250000');
  });

  it('exits 3 and names the address when a local instance cannot be reached', async () => {
    const r = await run(process.execPath, ['cmd/genops.ts', 'status', '--local', 'http://127.0.0.1:9']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cannot reach http://127.0.0.1:9/status');
  });
});
