// The CRDs against a real API server: they install and become Established, every example applies with
// server-side apply and is defaulted exactly as `applyDefaults` does offline, the API server and
// `genops validate` agree on what is invalid (with the same messages for the CEL rules), least-privilege
// RBAC works, and `kubectl get` shows the printer columns.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { findYamlFiles, isGenOpsCandidate } from '../../crds/load.ts';
import { applyDefaults, validateResource } from '../../crds/validate.ts';

const kubeconfigPath = inject('genopsKubeconfig');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIELD_MANAGER = 'genops-crds-test';
/** Example folders of this module (monitoring/ and autoscaling/ need third-party CRDs). */
const EXAMPLE_PATHS = ['00-namespaces.yaml', 'policies', 'budgets', 'workloads', 'templates'].map((p) =>
  join(ROOT, 'examples', p),
);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', kubeconfigPath, ...args],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(args: readonly string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

type Doc = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };

function docsOf(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

const base = (kind: 'AIPolicy' | 'AIBudget', name: string, spec: unknown): Record<string, unknown> => ({
  apiVersion: 'genops.ai/v1alpha1',
  kind,
  metadata: { name, namespace: 'genops-crds-test' },
  spec,
});

// Documents the API server and the offline validator must agree on; `server` is a fragment of the API
// server's refusal (null: accepted).
const parity: Array<[string, Record<string, unknown>, string | null]> = [
  ['valid policy', base('AIPolicy', 'ok-policy', { costLimits: { daily: 1, monthly: 2 } }), null],
  [
    'valid budget, boundary values',
    base('AIBudget', 'ok-budget', { allocation: { amount: 0, period: 'yearly' } }),
    null,
  ],
  [
    'wrong enum',
    base('AIPolicy', 'bad-enum', { costLimits: { daily: 1, enforcement: 'deny' } }),
    'Unsupported value: "deny"',
  ],
  [
    'negative amount',
    base('AIBudget', 'bad-amount', { allocation: { amount: -5 } }),
    'spec.allocation.amount',
  ],
  [
    'score out of range',
    base('AIPolicy', 'bad-score', { contentSafety: { minimumSafetyScore: 1.5 } }),
    'spec.contentSafety.minimumSafetyScore',
  ],
  ['wrong type', base('AIBudget', 'bad-type', { allocation: { amount: 'lots' } }), 'spec.allocation.amount'],
  [
    'missing required section',
    base('AIBudget', 'bad-missing', { attribution: { team: 'x' } }),
    'spec.allocation',
  ],
  ['unknown field', base('AIPolicy', 'bad-field', { costLimits: { daily: 1 }, rateLimit: {} }), 'rateLimit'],
  [
    'daily above monthly (CEL)',
    base('AIPolicy', 'bad-cel-cost', { costLimits: { daily: 200, monthly: 100 } }),
    'costLimits.daily must not be greater than costLimits.monthly',
  ],
  [
    'unsorted thresholds (CEL, list library)',
    base('AIBudget', 'bad-cel-sorted', {
      allocation: { amount: 10 },
      alerts: { thresholds: [{ percentage: 80 }, { percentage: 50 }] },
    }),
    'alert thresholds must be listed in ascending order of percentage',
  ],
  [
    'duplicate thresholds (CEL)',
    base('AIBudget', 'bad-cel-unique', {
      allocation: { amount: 10 },
      alerts: { thresholds: [{ percentage: 50 }, { percentage: 50 }] },
    }),
    'alert threshold percentages must be unique',
  ],
  [
    'daily limit above allocation (CEL across sections)',
    base('AIBudget', 'bad-cel-daily', { allocation: { amount: 10 }, limits: { dailySpendLimit: 20 } }),
    'limits.dailySpendLimit must not be greater than allocation.amount',
  ],
  [
    'policy without any rule (CEL)',
    base('AIPolicy', 'bad-cel-empty', { selector: { matchLabels: { a: 'b' } } }),
    'an AIPolicy needs at least one of',
  ],
  [
    'selector Exists with values (CEL)',
    base('AIPolicy', 'bad-cel-selector', {
      rateLimits: { requestsPerMinute: 1 },
      selector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
    }),
    'values must be non-empty for operator In and NotIn',
  ],
  [
    'duplicate provider (set)',
    base('AIPolicy', 'bad-set', { modelGovernance: { allowedProviders: ['openai', 'openai'] } }),
    'Duplicate value',
  ],
];

describe('genops.ai CRDs on a real API server', () => {
  const created: string[] = [];

  beforeAll(async () => {
    await ok([
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager',
      FIELD_MANAGER,
      '-f',
      join(ROOT, 'config/crd/bases/'),
    ]);
    await ok([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/aipolicies.genops.ai',
      'crd/aibudgets.genops.ai',
    ]);
    await ok(
      ['apply', '--server-side', '--field-manager', FIELD_MANAGER, '-f', '-'],
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'genops-crds-test' } }),
    );
  });

  afterAll(async () => {
    // Remove what this file created (namespaces stay: other test files may use the same names).
    for (const file of created.reverse()) {
      if (file.endsWith('00-namespaces.yaml')) continue;
      await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', file]);
    }
  });

  it('installs both CRDs as structural, Established, with names accepted', async () => {
    for (const name of ['aipolicies.genops.ai', 'aibudgets.genops.ai']) {
      const crd = JSON.parse(await ok(['get', 'crd', name, '-o', 'json'])) as {
        status: { conditions: Array<{ type: string; status: string }> };
      };
      const conditions = Object.fromEntries(crd.status.conditions.map((c) => [c.type, c.status]));
      expect(conditions).toMatchObject({ Established: 'True', NamesAccepted: 'True' });
      expect(conditions['NonStructuralSchema']).toBeUndefined();
    }
    const resources = await ok(['api-resources', '--api-group=genops.ai', '--no-headers']);
    expect(resources).toMatch(/^aibudgets\s+aib\s+genops\.ai\/v1alpha1\s+true\s+AIBudget$/m);
    expect(resources).toMatch(/^aipolicies\s+aip\s+genops\.ai\/v1alpha1\s+true\s+AIPolicy$/m);
  });

  it('applies the seed install commands for CRDs and RBAC; the operator identity gets least privilege', async () => {
    await ok(['apply', '-f', join(ROOT, 'config/crd/bases/')]);
    await ok(['apply', '-f', join(ROOT, 'config/rbac/')]);
    const sa = 'system:serviceaccount:genops-system:genops-controller-manager';
    const can = async (verb: string, resource: string, ns = 'ai-platform'): Promise<string> =>
      (await kubectl(['auth', 'can-i', verb, resource, '-n', ns, '--as', sa])).stdout.trim();
    expect(await can('list', 'aibudgets.genops.ai')).toBe('yes');
    expect(await can('watch', 'aipolicies.genops.ai')).toBe('yes');
    const status = await kubectl([
      'auth',
      'can-i',
      'patch',
      'aibudgets.genops.ai',
      '--subresource=status',
      '-n',
      'default',
      '--as',
      sa,
    ]);
    expect(status.stdout.trim()).toBe('yes');
    expect(await can('update', 'aibudgets.genops.ai')).toBe('no');
    expect(await can('delete', 'aipolicies.genops.ai')).toBe('no');
    expect(await can('get', 'secrets')).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io', 'genops-system')).toBe('yes');
    expect(await can('update', 'leases.coordination.k8s.io', 'kube-system')).toBe('no');
  });

  it('applies every example with server-side apply; the server defaults them exactly as applyDefaults', async () => {
    const files = await findYamlFiles(EXAMPLE_PATHS);
    const docs = files.flatMap((f) => docsOf(f).map((d) => ({ file: f, doc: d })));
    // Namespaces first: those of 00-namespaces.yaml and any other an example names (templates).
    const namespaces = new Set(
      docs.map((d) => d.doc.metadata.namespace).filter((n): n is string => n !== undefined),
    );
    for (const name of namespaces) {
      await ok(
        ['apply', '--server-side', '--field-manager', FIELD_MANAGER, '-f', '-'],
        stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
      );
    }
    for (const file of files) {
      const out = await ok(['apply', '--server-side', '--field-manager', FIELD_MANAGER, '-f', file]);
      expect(out).toMatch(/serverside-applied/);
      created.push(file);
    }
    const ours = docs.filter((d) => isGenOpsCandidate(d.doc));
    expect(ours.length).toBeGreaterThanOrEqual(10);
    for (const { doc } of ours) {
      const plural = doc.kind === 'AIPolicy' ? 'aipolicies' : 'aibudgets';
      const live = JSON.parse(
        await ok([
          'get',
          `${plural}.genops.ai`,
          doc.metadata.name,
          '-n',
          doc.metadata.namespace ?? 'default',
          '-o',
          'json',
        ]),
      ) as { spec: unknown };
      const offline = applyDefaults(doc) as unknown as { spec: unknown };
      expect(live.spec, `${doc.kind}/${doc.metadata.name}`).toEqual(offline.spec);
    }
  });

  it.each(parity)('API server and genops validate agree: %s', async (name, doc, serverFragment) => {
    const offline = validateResource(doc);
    const r = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], stringify(doc));
    if (serverFragment === null) {
      expect(offline).toEqual([]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return;
    }
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(serverFragment);
    expect(offline.length).toBeGreaterThan(0);
    // Every problem found offline is named by the server: its field path, and for CEL rules the message.
    for (const p of offline) {
      expect(r.stderr, p.message).toContain(p.path.replace(/\[\d+\]$/, ''));
    }
    if (name.includes('(CEL')) {
      // The same rule, evaluated offline by cel-js, gives the same message.
      expect(offline.map((p) => p.message).join('\n')).toContain(serverFragment);
    }
  });

  it('kubectl get shows the printer columns, from spec and from status', async () => {
    const status = {
      status: {
        observedGeneration: 1,
        state: 'Warning',
        currency: 'USD',
        spend: '4123.456789',
        remaining: '876.543211',
        limit: '5000',
        utilizationPercent: 82.47,
        projectedSpend: '5210.00',
        currentPeriod: { start: '2025-01-01T00:00:00Z', resetTime: '2025-02-01T00:00:00Z' },
        breakdown: { byProvider: { openai: '3000.1', anthropic: '1123.356789' } },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Reconciled',
            message: '',
            lastTransitionTime: '2025-01-15T10:00:00Z',
          },
        ],
      },
    };
    await ok([
      'patch',
      'aibudget',
      'team-budget',
      '-n',
      'ai-platform',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    const budgets = await ok(['get', 'aibudgets', '-n', 'ai-platform']);
    expect(budgets.split('\n')[0]).toMatch(/^NAME\s+SPEND\s+LIMIT\s+UTILIZATION\s+STATE\s+AGE$/);
    expect(budgets).toMatch(/^team-budget\s+4123\.456789\s+5000\s+82\.47\s+Warning\s+\S+$/m);

    const wide = await ok(['get', 'aib', 'team-budget', '-n', 'ai-platform', '-o', 'wide']);
    expect(wide).toMatch(/PERIOD\s+PROJECTED/);
    expect(wide).toMatch(/monthly\s+5210\.00/);

    const policies = await ok(['get', 'aip', '-n', 'ai-platform']);
    expect(policies.split('\n')[0]).toMatch(
      /^NAME\s+COST\s+RATE\s+SAFETY\s+WORKLOADS\s+VIOLATIONS-24H\s+AGE$/,
    );
    expect(policies).toMatch(/^production-policy\s+throttle\s+throttle\s+block\s+/m);

    const category = await ok(['get', 'genops', '-A', '-o', 'name']);
    expect(category).toContain('aibudget.genops.ai/team-budget');
    expect(category).toContain('aipolicy.genops.ai/production-policy');
  });

  it('refuses a status with money as a float', async () => {
    const r = await kubectl([
      'patch',
      'aibudget',
      'team-budget',
      '-n',
      'ai-platform',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { spend: 12.5 } }),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('status.spend');
  });
});
