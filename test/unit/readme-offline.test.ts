// The README's first command, as a newcomer runs it: `npm start` (= genops local --policies examples
// --demo) on the default ports, without a terminal. Within a minute the demo's spans are priced and
// attributed, and decisions show: summarizer uses a model production-policy does not allow, and
// research spend accumulates against its sandbox budget. Ends the process with SIGINT like Ctrl-C.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface StatusDoc {
  budgets: { metadata: { name: string }; status?: { spend?: string; state?: string } }[];
  policies: {
    metadata: { name: string };
    status?: { lastViolation?: { category: string; workload?: string } };
  }[];
}

async function status(): Promise<StatusDoc | undefined> {
  try {
    const res = await fetch('http://127.0.0.1:8081/status', { signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as StatusDoc) : undefined;
  } catch {
    return undefined;
  }
}

describe('npm start', () => {
  it('is what package.json runs', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('node cmd/genops.ts local --policies examples --demo');
  });

  it('prices the demo traffic and shows decisions within a minute', { timeout: 120_000 }, async () => {
    const child = spawn(process.execPath, ['cmd/genops.ts', 'local', '--policies', 'examples', '--demo'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let doc: StatusDoc | undefined;
      const deadline = Date.now() + 90_000;
      for (;;) {
        doc = await status();
        const sandbox = doc?.budgets.find((b) => b.metadata.name === 'research-sandbox-daily');
        const prod = doc?.policies.find((p) => p.metadata.name === 'production-policy');
        if (Number(sandbox?.status?.spend ?? 0) > 0 && prod?.status?.lastViolation !== undefined) break;
        if (Date.now() > deadline) throw new Error(`no decisions in time; stderr:\n${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      const prod = doc!.policies.find((p) => p.metadata.name === 'production-policy');
      expect(prod?.status?.lastViolation).toMatchObject({
        category: 'modelGovernance',
        workload: 'Deployment/summarizer',
      });
      expect(stdout).toContain('OTLP gRPC :4317, OTLP HTTP :4318, metrics :8080/metrics');
      const metrics = await (await fetch('http://127.0.0.1:8080/metrics')).text();
      const cost =
        /genops_cost_total_usd\{namespace="default",workload="research-agent",provider="openai",model="gpt-4o"\} (\S+)/.exec(
          metrics,
        );
      expect(Number(cost?.[1])).toBeGreaterThan(0);
      // Without a terminal the view is plain JSON log lines on stderr, decisions audited.
      expect(stderr).toContain('"audit":true');
    } finally {
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  });
});
