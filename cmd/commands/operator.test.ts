import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { CommandContext } from '../context.ts';
import type { GenOpsEnv } from '../env.ts';
import { command, DEFAULT_WEBHOOK_CERT_DIR, operatorOptions } from './operator.ts';

function ctx(env: Partial<GenOpsEnv> = {}): CommandContext {
  return {
    env: {
      logLevel: 'info',
      inCluster: false,
      kubeconfig: undefined,
      podName: undefined,
      podNamespace: undefined,
      otel: {},
      ...env,
    },
    clock: systemClock,
    logger: silentLogger,
    stdout: () => undefined,
    stderr: () => undefined,
    isTTY: false,
  };
}

/** Parses flags the way `genops operator` does and returns the composition's options (nothing started). */
function parse(args: string[], c = ctx()): ReturnType<typeof operatorOptions> {
  const cmd = command(c, () => undefined);
  let out: ReturnType<typeof operatorOptions> | undefined;
  cmd.action((flags: Parameters<typeof operatorOptions>[0]) => {
    out = operatorOptions(flags, c);
  });
  new Command('genops')
    .exitOverride()
    .addCommand(cmd)
    .parse(['operator', ...args], { from: 'user' });
  return out!;
}

describe('genops operator flags', () => {
  it('defaults: leader election on, standard ports, loopback out of cluster, no webhook without certificates', () => {
    const o = parse(['--kubeconfig', '/k']);
    expect(o).toMatchObject({
      kubeconfig: '/k',
      inCluster: false,
      namespace: 'genops-system',
      host: '127.0.0.1',
      otlpGrpcPort: 4317,
      otlpHttpPort: 4318,
      metricsPort: 8080,
      healthPort: 8081,
      leaderElect: true,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      throttle: { fraction: 0.5, floor: 1 },
      statusIntervalMs: 5000,
    });
    expect(o.webhook).toBeUndefined();
  });

  it('in a cluster: pod identity and namespace, all interfaces, webhook with the mounted certificate', () => {
    const o = parse([], ctx({ inCluster: true, podName: 'genops-7f9-abc', podNamespace: 'ops' }));
    expect(o).toMatchObject({
      inCluster: true,
      kubeconfig: undefined,
      replicaId: 'genops-7f9-abc',
      namespace: 'ops',
      host: '0.0.0.0',
    });
    expect(o.webhook).toMatchObject({
      port: 9443,
      certificates: { mode: 'files', certDir: DEFAULT_WEBHOOK_CERT_DIR },
      exemptUsernames: ['system:serviceaccount:ops:genops-controller-manager'],
    });
  });

  it('takes every knob from flags', () => {
    const o = parse([
      '--no-leader-elect',
      '--replica-id',
      'r1',
      '--webhook-self-signed',
      '--webhook-url',
      'https://127.0.0.1:9443',
      '--throttle-fraction',
      '0.25',
      '--throttle-floor',
      '2',
      '--kube-api-qps',
      '5',
      '--kube-api-burst',
      '10',
      '--lease-duration',
      '30',
      '--trusted-peers',
      '10.0.0.0/8, 10.1.2.3',
      '--trusted-namespaces',
      'observability, otel',
      '--bypass-max-duration',
      '90m',
      '--scale-resource',
      'Rollout=argoproj.io/v1alpha1/rollouts',
    ]);
    expect(o.extraScalable).toEqual([
      { kind: 'Rollout', group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts', namespaced: true },
    ]);
    expect(o).toMatchObject({
      leaderElect: false,
      replicaId: 'r1',
      throttle: { fraction: 0.25, floor: 2 },
      writeQps: 5,
      writeBurst: 10,
      leaseDurationMs: 30_000,
      trustedPeers: ['10.0.0.0/8', '10.1.2.3'],
      trustedNamespaces: ['observability', 'otel'],
      bypassMaxDurationMs: 90 * 60_000,
    });
    expect(o.webhook?.certificates).toEqual({ mode: 'self-signed', url: 'https://127.0.0.1:9443' });
  });

  it('passes --inject-auto-instrumentation to the webhook, and sets nothing without it', () => {
    const o = parse(['--webhook-self-signed', '--inject-auto-instrumentation', 'observability/python']);
    expect(o.webhook?.autoInstrumentation).toBe('observability/python');
    expect(parse(['--webhook-self-signed']).webhook).not.toHaveProperty('autoInstrumentation');
  });

  it('accepts --leader-elect as the manifests pass it', () => {
    expect(parse(['--leader-elect']).leaderElect).toBe(true);
  });

  it('refuses a throttle fraction outside (0, 1) and a malformed scale resource', () => {
    expect(() => parse(['--throttle-fraction', '1.5'])).toThrow();
    expect(() => parse(['--scale-resource', 'rollouts'])).toThrow();
  });

  it('--namespaces (or GENOPS_NAMESPACES) sets the namespace scope; absent or empty means every namespace', () => {
    expect(parse(['--kubeconfig', '/k', '--namespaces', 'team-a, team-b,team-a,']).watchNamespaces).toEqual([
      'team-a',
      'team-b',
    ]);
    expect(parse(['--kubeconfig', '/k'], ctx({ namespaces: 'team-c' })).watchNamespaces).toEqual(['team-c']);
    // The flag wins over the environment.
    expect(
      parse(['--kubeconfig', '/k', '--namespaces', 'team-a'], ctx({ namespaces: 'team-c' })).watchNamespaces,
    ).toEqual(['team-a']);
    expect(parse(['--kubeconfig', '/k']).watchNamespaces).toBeUndefined();
    expect(parse(['--kubeconfig', '/k', '--namespaces', ' , ']).watchNamespaces).toBeUndefined();
  });
});
