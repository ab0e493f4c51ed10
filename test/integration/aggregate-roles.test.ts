// Namespace users read the status of their budgets and policies through the built-in view, edit and
// admin ClusterRoles (config/rbac/aggregate_read_role.yaml aggregates into them), and still cannot
// change them: writing a budget stays with whoever governs spending.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const kubeconfig = inject('genopsKubeconfig');
const ns = `genops-agg-${Date.now().toString(36)}`;

function kubectl(args: string[]) {
  const r = spawnSync('kubectl', args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: kubeconfig },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

/** `kubectl auth can-i` as a user; answers yes/no (exit code 1 for no). */
const can = (user: string, verb: string, resource: string) =>
  kubectl(['auth', 'can-i', verb, resource, '-n', ns, '--as', user]).out;

describe('aggregated ClusterRoles', () => {
  beforeAll(() => {
    for (const args of [
      ['apply', '-f', 'config/crd/bases/'],
      ['apply', '-f', 'config/rbac/aggregate_read_role.yaml'],
      ['create', 'namespace', ns],
      ['create', 'rolebinding', 'viewer', '--clusterrole=view', '--user=viewer@example.com', '-n', ns],
      ['create', 'rolebinding', 'editor', '--clusterrole=edit', '--user=editor@example.com', '-n', ns],
      ['create', 'rolebinding', 'admin', '--clusterrole=admin', '--user=admin@example.com', '-n', ns],
    ]) {
      const r = kubectl(args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(0);
    }
  });
  afterAll(() => {
    kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it.each(['viewer@example.com', 'editor@example.com', 'admin@example.com'])(
    '%s reads budgets, policies and their status in the namespace, and writes none of them',
    async (user) => {
      // The aggregation controller fills the roles a moment after the role exists: bounded retry.
      let answer = '';
      for (let i = 0; i < 30 && answer !== 'yes'; i++) {
        answer = can(user, 'list', 'aibudgets.genops.ai');
        if (answer !== 'yes') await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(answer).toBe('yes');
      for (const resource of ['aibudgets.genops.ai', 'aipolicies.genops.ai']) {
        expect(can(user, 'get', resource)).toBe('yes');
        expect(can(user, 'watch', resource)).toBe('yes');
        expect(can(user, 'create', resource)).toBe('no');
        expect(can(user, 'delete', resource)).toBe('no');
      }
      expect(can(user, 'get', 'aibudgets.genops.ai/status')).toBe('yes');
      expect(can(user, 'update', 'aibudgets.genops.ai/status')).toBe('no');
      expect(can(user, 'patch', 'aibudgets.genops.ai')).toBe('no');
    },
  );

  it('gives nothing outside the namespace the role is bound in', () => {
    const r = kubectl([
      'auth',
      'can-i',
      'list',
      'aibudgets.genops.ai',
      '-n',
      'default',
      '--as',
      'viewer@example.com',
    ]);
    expect(r.out).toBe('no');
  });
});
