import { describe, expect, it } from 'vitest';
import { applyPatch, escapeToken, pointer } from '../admission/jsonpatch.ts';
import type { Pod } from '../admission/types.ts';
import { replicaSetPod } from '../testing/fixtures.ts';
import { injectionConfig } from './config.ts';
import { buildInjectionPatch, defaultServiceName, otelOperatorInjects, shouldInject } from './pod.ts';

type Env = Array<{ name: string; value?: string; valueFrom?: unknown }>;
const config = injectionConfig({ receiverHost: 'http://genops-otlp.genops-system.svc' });

function envOf(pod: unknown, i = 0, field: 'containers' | 'initContainers' = 'containers'): Env {
  return (pod as { spec: Record<string, Array<{ env?: Env }>> }).spec[field]![i]!.env ?? [];
}
const valueOf = (env: Env, name: string) => env.find((e) => e.name === name)?.value;

describe('JSON Pointer escaping', () => {
  it('escapes ~ before /', () => {
    expect(escapeToken('a/b~c')).toBe('a~1b~0c');
    expect(pointer('metadata', 'annotations', 'instrumentation.opentelemetry.io/inject-python')).toBe(
      '/metadata/annotations/instrumentation.opentelemetry.io~1inject-python',
    );
    expect(
      applyPatch({ a: { 'x/y~z': 1 } }, [{ op: 'replace', path: pointer('a', 'x/y~z'), value: 2 }]),
    ).toEqual({
      a: { 'x/y~z': 2 },
    });
  });
});

describe('telemetry injection', () => {
  it('injects the OTLP settings and the downward API identity into a pod created with generateName', () => {
    const pod = replicaSetPod({ labels: { team: 'search', project: 'chat', 'genops.ai/enable': 'true' } });
    const ops = buildInjectionPatch(pod, config);
    const out = applyPatch(pod, ops);
    const env = envOf(out);

    // The user's variables stay first and untouched.
    expect(env.slice(0, 2).map((e) => e.name)).toEqual(['GENOPS_POD_NAMESPACE', 'GENOPS_POD_NAME']);
    expect(env.find((e) => e.name === 'OPENAI_API_KEY')?.valueFrom).toEqual({
      secretKeyRef: { name: 'ai-secrets', key: 'openai-key' },
    });
    expect(env.find((e) => e.name === 'GENOPS_POD_NAME')?.valueFrom).toEqual({
      fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' },
    });
    expect(env.find((e) => e.name === 'GENOPS_POD_UID')?.valueFrom).toEqual({
      fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.uid' },
    });
    expect(valueOf(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://genops-otlp.genops-system.svc:4318');
    expect(valueOf(env, 'OTEL_EXPORTER_OTLP_PROTOCOL')).toBe('http/protobuf');
    expect(valueOf(env, 'OTEL_SERVICE_NAME')).toBe('chat');
    expect(valueOf(env, 'OTEL_SEMCONV_STABILITY_OPT_IN')).toBe('gen_ai_latest_experimental');
    // The receiver takes traces only: metrics and logs exporters are switched off, not sent to it.
    expect(valueOf(env, 'OTEL_METRICS_EXPORTER')).toBe('none');
    expect(valueOf(env, 'OTEL_LOGS_EXPORTER')).toBe('none');
    expect(valueOf(env, 'OTEL_RESOURCE_ATTRIBUTES')).toBe(
      'k8s.namespace.name=$(GENOPS_POD_NAMESPACE),k8s.pod.name=$(GENOPS_POD_NAME),k8s.pod.uid=$(GENOPS_POD_UID),' +
        'k8s.container.name=app,k8s.replicaset.name=chat-5d8f7c9b4,k8s.deployment.name=chat,' +
        'k8s.pod.label.team=search,k8s.pod.label.project=chat',
    );
    // $(VAR) expands only variables defined earlier in the list.
    const ra = env.findIndex((e) => e.name === 'OTEL_RESOURCE_ATTRIBUTES');
    for (const v of ['GENOPS_POD_NAME', 'GENOPS_POD_NAMESPACE', 'GENOPS_POD_UID']) {
      expect(env.findIndex((e) => e.name === v)).toBeLessThan(ra);
    }
    expect((out as { metadata: { annotations: Record<string, string> } }).metadata.annotations).toEqual({
      'genops.ai/telemetry-injected': 'true',
    });
  });

  it('is idempotent: a second pass over the patched pod produces no patch', () => {
    const pod = replicaSetPod({ labels: { team: 'search' }, initContainers: [{ name: 'init', image: 'x' }] });
    const once = applyPatch(pod, buildInjectionPatch(pod as Pod, config));
    expect(buildInjectionPatch(once as Pod, config)).toEqual([]);
  });

  it('never overrides what the user set, and merges OTEL_RESOURCE_ATTRIBUTES keeping user keys', () => {
    const pod = replicaSetPod({
      labels: { team: 'search' },
      containers: [
        {
          name: 'app',
          env: [
            {
              name: 'OTEL_RESOURCE_ATTRIBUTES',
              value: 'deployment.environment=prod,k8s.pod.label.team=override',
            },
            { name: 'OTEL_SERVICE_NAME', value: 'my-service' },
            { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'grpc' },
          ],
        },
      ],
    });
    const out = applyPatch(pod, buildInjectionPatch(pod as Pod, config));
    const env = envOf(out);
    expect(valueOf(env, 'OTEL_SERVICE_NAME')).toBe('my-service');
    expect(valueOf(env, 'OTEL_EXPORTER_OTLP_PROTOCOL')).toBe('grpc');
    // The endpoint follows the protocol the user chose.
    expect(valueOf(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://genops-otlp.genops-system.svc:4317');
    const ra = valueOf(env, 'OTEL_RESOURCE_ATTRIBUTES')!;
    expect(ra.startsWith('deployment.environment=prod,k8s.pod.label.team=override,')).toBe(true);
    expect(ra.match(/k8s\.pod\.label\.team=/g)).toHaveLength(1);
    expect(ra).toContain('k8s.pod.name=$(GENOPS_POD_NAME)');
    expect(env.filter((e) => e.name === 'OTEL_RESOURCE_ATTRIBUTES')).toHaveLength(1);
    expect(env.findIndex((e) => e.name === 'GENOPS_POD_NAME')).toBeLessThan(
      env.findIndex((e) => e.name === 'OTEL_RESOURCE_ATTRIBUTES'),
    );
    expect(buildInjectionPatch(out as Pod, config)).toEqual([]);
  });

  it('leaves a valueFrom OTEL_RESOURCE_ATTRIBUTES and an explicit traces endpoint alone', () => {
    const pod = replicaSetPod({
      containers: [
        {
          name: 'app',
          env: [
            {
              name: 'OTEL_RESOURCE_ATTRIBUTES',
              valueFrom: { configMapKeyRef: { name: 'otel', key: 'attrs' } },
            },
            { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', value: 'http://collector:4318/v1/traces' },
          ],
        },
      ],
    });
    const out = applyPatch(pod, buildInjectionPatch(pod as Pod, config));
    const env = envOf(out);
    expect(env[0]).toEqual({
      name: 'OTEL_RESOURCE_ATTRIBUTES',
      valueFrom: { configMapKeyRef: { name: 'otel', key: 'attrs' } },
    });
    expect(env.map((e) => e.name)).not.toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
    // Its own routing: its metrics and logs exporters are none of our business.
    expect(env.map((e) => e.name)).not.toContain('OTEL_METRICS_EXPORTER');
    expect(env.map((e) => e.name)).not.toContain('OTEL_LOGS_EXPORTER');
    expect(env.map((e) => e.name)).not.toContain('GENOPS_POD_NAME');
    expect(env.map((e) => e.name)).not.toContain('OTEL_SERVICE_NAME');
    expect(valueOf(env, 'OTEL_SEMCONV_STABILITY_OPT_IN')).toBe('gen_ai_latest_experimental');
  });

  it('injects init containers too, unless configured not to', () => {
    const pod = replicaSetPod({ initContainers: [{ name: 'warmup', image: 'x' }] });
    const withInit = applyPatch(pod, buildInjectionPatch(pod as Pod, config));
    expect(valueOf(envOf(withInit, 0, 'initContainers'), 'OTEL_RESOURCE_ATTRIBUTES')).toContain(
      'k8s.container.name=warmup',
    );
    const without = applyPatch(
      pod,
      buildInjectionPatch(pod as Pod, injectionConfig({ includeInitContainers: false })),
    );
    expect(envOf(without, 0, 'initContainers')).toEqual([]);
  });

  it('adds the OpenTelemetry Operator annotation for a declared language only when configured, with ~1 escaping', () => {
    const pod = replicaSetPod({ labels: { 'genops.ai/language': 'python' }, annotations: { keep: 'me' } });
    const plain = buildInjectionPatch(pod, config);
    expect(plain.some((op) => op.path.includes('instrumentation.opentelemetry.io'))).toBe(false);

    const ops = buildInjectionPatch(pod, injectionConfig({ autoInstrumentation: 'genops-system/genops' }));
    expect(ops).toContainEqual({
      op: 'add',
      path: '/metadata/annotations/instrumentation.opentelemetry.io~1inject-python',
      value: 'genops-system/genops',
    });
    const out = applyPatch(pod, ops) as { metadata: { annotations: Record<string, string> } };
    expect(out.metadata.annotations).toMatchObject({
      keep: 'me',
      'instrumentation.opentelemetry.io/inject-python': 'genops-system/genops',
    });

    const userSet = replicaSetPod({
      labels: { 'genops.ai/language': 'python' },
      annotations: { 'instrumentation.opentelemetry.io/inject-python': 'false' },
    });
    const again = buildInjectionPatch(userSet, injectionConfig({ autoInstrumentation: 'true' }));
    expect(again.some((op) => op.path.includes('inject-python'))).toBe(false);
  });

  describe('next to the OpenTelemetry Operator', () => {
    // What the OpenTelemetry Operator's pod webhook does with an Instrumentation whose exporter is a
    // Collector: it sets each variable only when the container does not have it yet.
    const otelOperator = (pod: unknown): unknown => {
      const out = structuredClone(pod) as { spec: { containers: Array<{ env?: Env }> } };
      for (const c of out.spec.containers) {
        const env = (c.env ??= []);
        const setIfAbsent = (name: string, value: string) => {
          const at = env.findIndex((e) => e.name === name);
          if (at < 0) env.push({ name, value });
          else if (name === 'OTEL_RESOURCE_ATTRIBUTES' && env[at]!.value !== undefined)
            env[at]!.value = `${env[at]!.value},${value}`;
        };
        setIfAbsent('OTEL_SERVICE_NAME', 'chat-from-otel-operator');
        setIfAbsent('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://otel-collector.observability.svc:4318');
        setIfAbsent('OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf');
        setIfAbsent('OTEL_RESOURCE_ATTRIBUTES', 'k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME)');
      }
      return out;
    };
    const annotated = (value: string) =>
      replicaSetPod({
        labels: { team: 'search', 'genops.ai/enable': 'true' },
        annotations: { 'instrumentation.opentelemetry.io/inject-python': value },
      });

    it('leaves the exporter to it on a pod annotated inject-<language>, and keeps attribution', () => {
      const pod = annotated('true');
      expect(otelOperatorInjects(pod)).toBe(true);
      const ours = applyPatch(pod, buildInjectionPatch(pod, config));
      const env = envOf(ours);
      // Not ours to set: endpoint, protocol, service name, and no switching its metrics and logs off.
      for (const name of [
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'OTEL_EXPORTER_OTLP_PROTOCOL',
        'OTEL_SERVICE_NAME',
        'OTEL_METRICS_EXPORTER',
        'OTEL_LOGS_EXPORTER',
      ]) {
        expect(valueOf(env, name), name).toBeUndefined();
      }
      // Ours: what charging the right workload needs, and the GenAI semantic conventions.
      expect(valueOf(env, 'OTEL_RESOURCE_ATTRIBUTES')).toContain('k8s.pod.label.team=search');
      expect(valueOf(env, 'OTEL_RESOURCE_ATTRIBUTES')).toContain('k8s.deployment.name=chat');
      expect(env.find((e) => e.name === 'GENOPS_POD_NAME')?.valueFrom).toBeDefined();
      expect(valueOf(env, 'OTEL_SEMCONV_STABILITY_OPT_IN')).toBe('gen_ai_latest_experimental');

      // Our webhook is called first; the OpenTelemetry Operator then sets its exporter and merges its attributes.
      const both = envOf(otelOperator(ours));
      expect(valueOf(both, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe(
        'http://otel-collector.observability.svc:4318',
      );
      expect(valueOf(both, 'OTEL_SERVICE_NAME')).toBe('chat-from-otel-operator');
      expect(valueOf(both, 'OTEL_METRICS_EXPORTER')).toBeUndefined();
      expect(valueOf(both, 'OTEL_RESOURCE_ATTRIBUTES')).toMatch(
        /k8s\.pod\.label\.team=search.*k8s\.node\.name=/,
      );
      // Reinvoked after it (reinvocationPolicy IfNeeded): nothing more to do, its values stay.
      expect(buildInjectionPatch(otelOperator(ours) as typeof pod, config)).toEqual([]);
    });

    it('in the other order too: its settings survive our webhook', () => {
      const first = otelOperator(annotated('true')) as ReturnType<typeof annotated>;
      const env = envOf(applyPatch(first, buildInjectionPatch(first, config)));
      expect(valueOf(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe(
        'http://otel-collector.observability.svc:4318',
      );
      expect(valueOf(env, 'OTEL_SERVICE_NAME')).toBe('chat-from-otel-operator');
      expect(valueOf(env, 'OTEL_LOGS_EXPORTER')).toBeUndefined();
      expect(valueOf(env, 'OTEL_RESOURCE_ATTRIBUTES')).toContain('k8s.pod.label.team=search');
    });

    it('routes the pod to genops when the annotation is "false" or absent', () => {
      for (const pod of [annotated('false'), replicaSetPod({ labels: { 'genops.ai/enable': 'true' } })]) {
        expect(otelOperatorInjects(pod)).toBe(false);
        const env = envOf(applyPatch(pod, buildInjectionPatch(pod, config)));
        expect(valueOf(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://genops-otlp.genops-system.svc:4318');
        expect(valueOf(env, 'OTEL_METRICS_EXPORTER')).toBe('none');
      }
    });

    it('routes the pod to genops when the annotation is its own (--inject-auto-instrumentation)', () => {
      const pod = replicaSetPod({ labels: { 'genops.ai/language': 'python', 'genops.ai/enable': 'true' } });
      const withAgent = injectionConfig({ autoInstrumentation: 'true' });
      const out = applyPatch(pod, buildInjectionPatch(pod, withAgent));
      expect(valueOf(envOf(out), 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe(
        'http://genops-otlp.genops-system.svc:4318',
      );
      expect(
        (out as { metadata: { annotations: Record<string, string> } }).metadata.annotations,
      ).toMatchObject({
        'instrumentation.opentelemetry.io/inject-python': 'true',
      });
      // The OpenTelemetry Operator then adds its agent but keeps our endpoint.
      expect(valueOf(envOf(otelOperator(out)), 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe(
        'http://genops-otlp.genops-system.svc:4318',
      );
    });
  });

  it('decides which pods are injected', () => {
    const labelled = { metadata: { labels: { 'genops.ai/enable': 'true' } } };
    const optedOut = { metadata: { labels: { 'genops.ai/enable': 'false' } } };
    const plain = { metadata: { labels: {} } };
    expect(shouldInject(labelled, {})).toBe(true);
    expect(shouldInject(optedOut, { 'genops.ai/injection': 'enabled' })).toBe(false);
    expect(shouldInject(plain, { 'genops.ai/injection': 'enabled' })).toBe(true);
    expect(shouldInject(plain, { other: 'x' })).toBe(false);
  });

  it('derives a service name from labels, owner or generateName', () => {
    expect(defaultServiceName({ metadata: { labels: { 'app.kubernetes.io/name': 'api' } } })).toBe('api');
    expect(
      defaultServiceName({
        metadata: { ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }], name: 'db-0' },
      }),
    ).toBe('db');
    expect(defaultServiceName({ metadata: { generateName: 'batch-run-' } })).toBe('batch-run');
  });
});
