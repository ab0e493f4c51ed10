// Two `genops operator` processes against the real API server, with the operator's identity: spans go
// to both replicas and only their sum exceeds the budget; the leader blocks the workload, writes status
// and an Event; then the leader is killed (SIGKILL): the other replica takes the Lease and carries on
// without double-charging (status spend unchanged) or repeating actions (still one Blocked event); the
// killed replica restarts with its id and continues its period; SIGTERM shuts both down gracefully.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeApi } from '../../cluster/api.ts';
import { RESOURCES, type KubeObject } from '../../cluster/resources.ts';
import type { LeaseObject } from '../../enforcer/leader/lease.ts';
import { decodeRecord } from '../../enforcer/state/usage-record.ts';
import { formatMicros } from '../../kernel/money.ts';
import { createPriceBook } from '../../pipeline/pricing/price-book.ts';
import { costMicros } from '../../pipeline/pricing/price.ts';
import {
  apiFor,
  createDeployment,
  ensureNamespace,
  eventsFor,
  eventually,
  kubeconfigPath,
  OPERATOR_NAMESPACE,
  operatorKubeconfigPath,
  prepareCluster,
  replicasOf,
  ROOT,
  uniqueName,
} from './enforcer-harness.ts';

interface Replica {
  id: string;
  child: ChildProcess;
  http: number;
  stderr: string[];
  exited: Promise<number | null>;
}

const INPUT = 100_000;
const OUTPUT = 10_000;

function startReplica(id: string, lease: string): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'cmd/genops.ts'),
      'operator',
      '--kubeconfig',
      operatorKubeconfigPath(),
      '--namespace',
      OPERATOR_NAMESPACE,
      '--replica-id',
      id,
      '--otlp-grpc-port',
      '0',
      '--otlp-http-port',
      '0',
      '--metrics-port',
      '0',
      '--health-port',
      '0',
      '--no-webhook',
      // The test process sends the spans from loopback as a Collector would: a trusted forwarder
      // (an address that is no pod and no forwarder is charged to no named workload).
      '--trusted-peers',
      '127.0.0.1',
      '--authz-port',
      '0',
      '--lease-name',
      lease,
      '--lease-duration',
      '3',
      '--renew-deadline',
      '2',
      '--retry-period',
      '0.25',
      '--usage-write-interval',
      '0.25',
      '--status-interval',
      '0.25',
      '--workers',
      '1',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, GENOPS_LOG_LEVEL: 'info', KUBECONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`replica ${id} did not start: ${stderr.join('').slice(-2000)}`)),
      60_000,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /OTLP HTTP :(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ id, child, http: Number(m[1]), stderr, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`replica ${id} exited with ${code}: ${stderr.join('').slice(-2000)}`));
    });
  });
}

/** OTLP/JSON with `count` GenAI chat spans of the Deployment. */
async function sendSpans(port: number, namespace: string, count: number): Promise<void> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans = Array.from({ length: count }, () => ({
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    name: 'chat gpt-4o',
    kind: 3,
    startTimeUnixNano: String(now - 1_000_000_000n),
    endTimeUnixNano: String(now),
    attributes: [
      { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
      { key: 'gen_ai.provider.name', value: { stringValue: 'openai' } },
      { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } },
      { key: 'gen_ai.usage.input_tokens', value: { intValue: String(INPUT) } },
      { key: 'gen_ai.usage.output_tokens', value: { intValue: String(OUTPUT) } },
    ],
  }));
  const body = {
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'k8s.namespace.name', value: { stringValue: namespace } },
            { key: 'k8s.deployment.name', value: { stringValue: 'chat' } },
            { key: 'service.name', value: { stringValue: 'chat' } },
          ],
        },
        scopeSpans: [{ scope: { name: 'ha-test' }, spans }],
      },
    ],
  };
  const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
}

interface BudgetObject extends KubeObject {
  status?: { spend?: string; state?: string; conditions?: Array<{ type: string; status: string }> };
}

describe('two operator replicas on the real API server', () => {
  let admin: KubeApi;
  let ns: string;
  const lease = uniqueName('ha-lease');
  const prefix = uniqueName('ha');
  const replicas: Replica[] = [];
  const price = createPriceBook().lookup('openai', 'gpt-4o');
  const perSpan = costMicros(
    { inputTokens: INPUT, outputTokens: OUTPUT, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
    price!,
  );

  beforeAll(async () => {
    admin = apiFor(kubeconfigPath());
    await prepareCluster(admin);
    ns = uniqueName('enf-ha');
    await ensureNamespace(admin, ns);
    await createDeployment(admin, ns, 'chat', { team: 'a' }, 2);
    // Two spans per replica stay under the allocation; the four together exceed it.
    const amount = (perSpan * 3) / 1_000_000;
    await admin.create(RESOURCES.aiBudget, ns, {
      apiVersion: 'genops.ai/v1alpha1',
      kind: 'AIBudget',
      metadata: { name: 'team-budget', namespace: ns },
      spec: {
        allocation: { amount, period: 'monthly' },
        enforcement: { onBudgetExceeded: 'block', gracePeriod: 0 },
        selector: { matchLabels: { team: 'a' } },
      },
    } as never);
  });

  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    for (const id of ['a', 'b']) {
      await admin.delete(RESOURCES.configMap, OPERATOR_NAMESPACE, `genops-usage-${prefix}-${id}`);
    }
  });

  const holder = async () =>
    (await admin.get<LeaseObject>(RESOURCES.lease, OPERATOR_NAMESPACE, lease))?.spec?.holderIdentity;
  const budget = () => admin.get<BudgetObject>(RESOURCES.aiBudget, ns, 'team-budget');
  const ourEvents = async (reason: string) =>
    (await eventsFor(admin, ns, 'Deployment', 'chat')).filter(
      (e) => e.reportingController === 'genops.ai/operator' && e.reason === reason,
    );
  const budgetEvents = async (reason: string) =>
    (await eventsFor(admin, ns, 'AIBudget', 'team-budget')).filter(
      (e) => e.reportingController === 'genops.ai/operator' && e.reason === reason,
    );

  it('sums both replicas once, survives the leader being killed, and a restart keeps the period', async () => {
    const a = await startReplica(`${prefix}-a`, lease);
    replicas.push(a);
    await eventually('a leads', async () => ((await holder()) === a.id ? true : undefined));
    const b = await startReplica(`${prefix}-b`, lease);
    replicas.push(b);

    await sendSpans(a.http, ns, 2);
    await sendSpans(b.http, ns, 2);
    const total = formatMicros(perSpan * 4);
    const exceeded = await eventually(
      'status shows the summed spend',
      async () => {
        const s = (await budget())?.status;
        return s?.spend === total ? s : undefined;
      },
      30_000,
    );
    expect(exceeded.conditions?.find((c) => c.type === 'BudgetExceeded')?.status).toBe('True');
    await eventually('deployment blocked', async () =>
      (await replicasOf(admin, ns, 'chat')) === 0 ? true : undefined,
    );
    await eventually('Blocked event', async () =>
      (await ourEvents('Blocked')).length === 1 ? true : undefined,
    );
    await eventually('EnforcementStarted on the budget', async () =>
      (await budgetEvents('EnforcementStarted')).length === 1 ? true : undefined,
    );

    // Without a write-ahead log a replica's spend outlives it from its last record write on
    // (docs/operations.md): the leader dies once its record holds its two spans, not before.
    await eventually('a wrote its record', async () => {
      const cm = await admin.get<KubeObject & { binaryData?: Record<string, string> }>(
        RESOURCES.configMap,
        OPERATOR_NAMESPACE,
        `genops-usage-${a.id}`,
      );
      const data = cm?.binaryData?.['usage.json.gz'];
      const record = data === undefined ? undefined : decodeRecord(Buffer.from(data, 'base64'));
      const month = record?.spend.workloads.reduce((sum, w) => sum + (w.spend.monthly?.costMicros ?? 0), 0);
      return month === perSpan * 2 ? true : undefined;
    });
    // The leader dies without a word.
    a.child.kill('SIGKILL');
    await a.exited;
    await eventually('b takes the lease', async () => ((await holder()) === b.id ? true : undefined), 20_000);
    // B has decided and written as leader: spend is the same sum (A's record once, B's own windows once).
    await new Promise((r) => setTimeout(r, 1500));
    expect((await budget())?.status?.spend).toBe(total);
    expect(await replicasOf(admin, ns, 'chat')).toBe(0);
    expect(await ourEvents('Blocked')).toHaveLength(1);
    // The new leader continues what its predecessor started: no second announcement (issue 12 item 9).
    expect(await budgetEvents('EnforcementStarted')).toHaveLength(1);
    expect((await holder()) === b.id).toBe(true);

    // A comes back with its id: its record is restored, its period continues.
    const a2 = await startReplica(`${prefix}-a`, lease);
    replicas.push(a2);
    await sendSpans(a2.http, ns, 1);
    const after = formatMicros(perSpan * 5);
    await eventually(
      'status includes the restarted replica',
      async () => ((await budget())?.status?.spend === after ? true : undefined),
      30_000,
    );
    expect(await holder()).toBe(b.id);
    expect(await budgetEvents('EnforcementStarted')).toHaveLength(1);

    // Graceful: SIGTERM on both; the leader releases the Lease.
    b.child.kill('SIGTERM');
    a2.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(await a2.exited).toBe(0);
    const released = await holder();
    expect(released === undefined || released === '' || released === a2.id).toBe(true);
  });
});
