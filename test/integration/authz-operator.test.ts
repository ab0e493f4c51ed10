// Gateway authorization in the operator (the real composition, `startOperator`) on the real API
// server: a trusted gateway (127.0.0.1 in --trusted-peers) states the caller's address, the operator
// resolves it to the pod through the same pod directory as span attribution, and answers from the
// decisions: the pod of the blocked team gets 429 over HTTP forward-auth and gRPC, the other team 200.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { connect, constants as h2 } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCheckRequest } from '../../authz/envoy-proto.ts';
import { startOperator, type OperatorRuntime } from '../../cmd/operator-main.ts';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES } from '../../cluster/resources.ts';
import { loadKubeConfig } from '../../cluster/config.ts';
import { systemClock } from '../../kernel/clock.ts';
import {
  apiFor,
  charge,
  ensureNamespace,
  eventually,
  kubeconfigPath,
  prepareCluster,
  testLogger,
  uniqueName,
  testOperatorOptions,
} from './enforcer-harness.ts';

let admin: KubeApi;
let core: CoreV1Api;
let op: OperatorRuntime;
const ns = uniqueName('authz');

/** Pods get no IP without a kubelet: set status.podIP as the kubelet would. */
async function pod(name: string, team: string, ip: string): Promise<void> {
  const created: V1Pod = await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name, labels: { team } },
      spec: { containers: [{ name: 'app', image: 'registry.example/chat:1' }] },
    },
  });
  const fresh = await core.readNamespacedPodStatus({ name, namespace: ns });
  fresh.status = { ...fresh.status, podIP: ip, podIPs: [{ ip }] };
  expect(created.metadata?.name).toBe(name);
  await core.replaceNamespacedPodStatus({ name, namespace: ns, body: fresh });
}

async function httpCheck(
  forwardedFor: string,
): Promise<{ status: number; body: string; workload: string | null }> {
  const res = await fetch(`http://127.0.0.1:${op.ports().authz}/v1/check`, {
    headers: { 'x-forwarded-for': forwardedFor, 'x-original-uri': '/v1/chat/completions' },
  });
  return { status: res.status, body: await res.text(), workload: res.headers.get('x-genops-workload') };
}

function grpcCheck(sourceAddress: string): Promise<{ grpcStatus: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${op.ports().authz}`);
    session.on('error', reject);
    const req = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/envoy.service.auth.v3.Authorization/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus = '';
    req.on('trailers', (t) => {
      grpcStatus = String(t['grpc-status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ grpcStatus, message: Buffer.concat(chunks).subarray(5).toString('latin1') });
    });
    const msg = encodeCheckRequest({ sourceAddress, method: 'POST', path: '/v1/chat/completions' });
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    frame.set(msg, 5);
    req.end(frame);
  });
}

beforeAll(async () => {
  admin = apiFor(kubeconfigPath());
  await prepareCluster(admin);
  core = loadKubeConfig({ kubeconfig: kubeconfigPath(), inCluster: false }).makeApiClient(CoreV1Api);
  await ensureNamespace(admin, ns);
  await pod('chat-a', 'a', '10.77.0.5');
  await pod('chat-b', 'b', '10.77.0.6');
  await admin.create(RESOURCES.aiBudget, ns, {
    apiVersion: 'genops.ai/v1alpha1',
    kind: 'AIBudget',
    metadata: { name: 'team-a-budget', namespace: ns },
    spec: {
      allocation: { amount: 0.01, period: 'monthly' },
      enforcement: { onBudgetExceeded: 'block' },
      selector: { matchLabels: { team: 'a' } },
    },
  } as never);
  op = await startOperator(testOperatorOptions('authz', { authzPort: 0, trustedPeers: ['127.0.0.1'] }), {
    logger: testLogger(),
    clock: systemClock,
  });
});

afterAll(async () => {
  await op?.shutdown();
});

describe('gateway authorization in the operator', () => {
  it('resolves the stated caller address to its pod and answers from the decisions', async () => {
    // Before any spend: allowed, attributed to the pod at the stated address.
    const before = await eventually('pod known', async () => {
      const r = await httpCheck('10.77.0.5');
      return r.workload === `${ns}/Pod/chat-a` ? r : undefined;
    });
    expect(before.status).toBe(200);

    charge(
      op.pipeline.windows,
      { namespace: ns, kind: 'Pod', name: 'chat-a', labels: { team: 'a' } },
      20_000,
      2,
    );
    op.pipeline.windows.publish();
    op.enforcer.evaluateNow();
    const denied = await eventually('team a refused', async () => {
      const r = await httpCheck('192.0.2.1, 10.77.0.5');
      return r.status === 429 ? r : undefined;
    });
    expect(JSON.parse(denied.body)).toMatchObject({
      code: 'BUDGET_EXCEEDED',
      namespace: ns,
      name: 'team-a-budget',
      limit: '0.010000',
      workload: `${ns}/Pod/chat-a`,
    });
    // The client-written first X-Forwarded-For entry is not the caller: the last one (the gateway's) is.
    expect((await httpCheck('10.77.0.5, 10.77.0.6')).status).toBe(200);
    expect((await httpCheck('10.77.0.6')).status).toBe(200);

    const grpcDenied = await grpcCheck('10.77.0.5');
    expect(grpcDenied.grpcStatus).toBe('0');
    expect(grpcDenied.message).toContain('team-a-budget');
    const grpcAllowed = await grpcCheck('10.77.0.6');
    expect(grpcAllowed.message).not.toContain('team-a-budget');

    const metrics = await op.metrics.render();
    expect(metrics).toMatch(
      /genops_authz_checks_total\{protocol="http",outcome="denied",reason="BUDGET_EXCEEDED"\} [1-9]/,
    );
    expect(metrics).toMatch(/genops_authz_checks_total\{protocol="grpc",outcome="allowed",reason=""\} [1-9]/);
  });
});
