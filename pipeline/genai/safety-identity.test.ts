import { describe, expect, it } from 'vitest';
import { SpanView } from '../otlp/span-view.ts';
import type { AttrValue } from '../otlp/span-view.ts';
import { identityKey, senderIdentity } from './identity.ts';
import { E_EVALUATION_RESULT, GENAI_KEY_NAMES } from './keys.ts';
import { evaluationSafety, forEachSafetyScore } from './safety.ts';

function span(attributes: Record<string, AttrValue>, events: Record<string, AttrValue>[] = []): SpanView {
  const view = new SpanView(GENAI_KEY_NAMES.length);
  view.reset();
  const id = (k: string): number => {
    const i = GENAI_KEY_NAMES.indexOf(k);
    if (i < 0) throw new Error(`not a GenAI key: ${k}`);
    return i;
  };
  for (const [k, v] of Object.entries(attributes)) view.attributes.set(id(k), v);
  for (const e of events) {
    const ev = view.nextEvent()!;
    ev.nameId = E_EVALUATION_RESULT;
    for (const [k, v] of Object.entries(e)) ev.attributes.set(id(k), v);
  }
  return view;
}

function scores(view: SpanView): number[] {
  const out: number[] = [];
  forEachSafetyScore(view, (s) => out.push(s));
  return out;
}

describe('content-safety scores', () => {
  it('reads gen_ai.evaluation.result events about safety, inverting harm scores', () => {
    const view = span({}, [
      { 'gen_ai.evaluation.name': 'Safety', 'gen_ai.evaluation.score.value': 0.92 },
      { 'gen_ai.evaluation.name': 'toxicity', 'gen_ai.evaluation.score.value': 0.25 },
      { 'gen_ai.evaluation.name': 'relevance', 'gen_ai.evaluation.score.value': 0.1 },
      { 'gen_ai.evaluation.name': 'content_safety', 'gen_ai.evaluation.score.label': 'unsafe' },
    ]);
    expect(scores(view)).toEqual([0.92, 0.75, 0]);
  });

  it('reads evaluation spans and genops.eval.* attributes', () => {
    expect(
      scores(span({ 'gen_ai.evaluation.name': 'harmfulness', 'gen_ai.evaluation.score.value': '0.5' })),
    ).toEqual([0.5]);
    expect(scores(span({ 'genops.eval.safety_score': 0.8, 'genops.eval.toxicity_score': 0.1 }))).toEqual([
      0.8, 0.9,
    ]);
  });

  it('ignores scores outside [0, 1] and unknown labels', () => {
    expect(scores(span({ 'genops.eval.safety_score': 7 }))).toEqual([]);
    expect(evaluationSafety('safety', 85, undefined)).toBe(-1);
    expect(evaluationSafety('safety', undefined, 'meh')).toBe(-1);
    expect(evaluationSafety('toxicity', undefined, 'non_toxic')).toBe(1);
    expect(evaluationSafety(undefined, 0.5, undefined)).toBe(-1);
  });
});

describe('sender identity from resource attributes', () => {
  it('reads pod, namespace, owning workload, service, labels and classification', () => {
    const id = senderIdentity(
      new Map<string, AttrValue>([
        ['k8s.namespace.name', 'team-a'],
        ['k8s.pod.name', 'chat-7d9f-abcde'],
        ['k8s.pod.uid', '0b1c'],
        ['k8s.pod.ip', '10.0.0.7'],
        ['k8s.replicaset.name', 'chat-7d9f'],
        ['k8s.deployment.name', 'chat'],
        ['service.name', 'chat-svc'],
        ['k8s.deployment.label.app', 'from-deployment'],
        ['k8s.deployment.label.tier', 'backend'],
        ['k8s.pod.label.app', 'chat'],
        ['k8s.pod.labels.team', 'search'],
        ['k8s.pod.label.__proto__', 'polluted?'],
        ['genops.data.classification', 'Internal'],
        ['k8s.node.name', 'node-1'],
      ]),
    );
    expect(id).toMatchObject({
      namespace: 'team-a',
      podName: 'chat-7d9f-abcde',
      podUid: '0b1c',
      podIp: '10.0.0.7',
      workloadKind: 'Deployment',
      workloadName: 'chat',
      serviceName: 'chat-svc',
      classification: 'internal',
    });
    expect({ ...id.labels }).toEqual({
      app: 'chat',
      tier: 'backend',
      team: 'search',
      ['__proto__']: 'polluted?',
    });
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('names the workload by precedence and works with service.name alone', () => {
    expect(
      senderIdentity(
        new Map([
          ['k8s.statefulset.name', 'db'],
          ['k8s.replicaset.name', 'x'],
        ]),
      ),
    ).toMatchObject({ workloadKind: 'StatefulSet', workloadName: 'db' });
    expect(
      senderIdentity(
        new Map([
          ['k8s.cronjob.name', 'nightly'],
          ['k8s.job.name', 'nightly-123'],
        ]),
      ),
    ).toMatchObject({ workloadKind: 'CronJob' });
    const svc = senderIdentity(new Map([['service.name', 'local-dev']]));
    expect(svc).toEqual({ labels: {}, serviceName: 'local-dev' });
  });

  it('gives equal identities equal keys and different ones different keys', () => {
    const a = senderIdentity(
      new Map([
        ['k8s.pod.label.a', '1'],
        ['k8s.pod.label.b', '2'],
        ['service.name', 's'],
      ]),
    );
    const b = senderIdentity(
      new Map([
        ['service.name', 's'],
        ['k8s.pod.label.b', '2'],
        ['k8s.pod.label.a', '1'],
      ]),
    );
    const c = senderIdentity(
      new Map([
        ['service.name', 's'],
        ['k8s.pod.label.a', '1'],
      ]),
    );
    expect(identityKey(a)).toBe(identityKey(b));
    expect(identityKey(a)).not.toBe(identityKey(c));
  });
});
