// Shared by the gateway tests: the policies of a small team setup, spans from the real OTel SDK
// exporter, and waiting for a decision. Team a has a budget of 0.01 USD that blocks when used up;
// team b has a large budget with a per-request limit and may only call gpt-4o models.

import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { LocalRuntime } from '../../cmd/commands/local.ts';

export const POLICIES = `apiVersion: genops.ai/v1alpha1
kind: AIBudget
metadata:
  name: team-a-budget
  namespace: ai
spec:
  allocation:
    amount: 0.01
    period: monthly
  enforcement:
    onBudgetExceeded: block
  selector:
    matchLabels:
      team: a
---
apiVersion: genops.ai/v1alpha1
kind: AIBudget
metadata:
  name: team-b-budget
  namespace: ai
spec:
  allocation:
    amount: 100
    period: monthly
  limits:
    perRequestLimit: 0.01
  enforcement:
    onBudgetExceeded: block
  selector:
    matchLabels:
      team: b
---
apiVersion: genops.ai/v1alpha1
kind: AIPolicy
metadata:
  name: team-b-models
  namespace: ai
spec:
  modelGovernance:
    allowedModels: ["gpt-4o*"]
  selector:
    matchLabels:
      team: b
`;

/** One span of a chat call by a workload of a team, sent with the SDK's OTLP/HTTP protobuf exporter. */
export async function sendChatSpans(
  otlpHttpPort: number,
  team: 'a' | 'b',
  count: number,
  tokens = { input: 1000, output: 500 },
): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': `chat-${team}`,
      'k8s.namespace.name': 'ai',
      'k8s.deployment.name': `chat-${team}`,
      'k8s.pod.label.team': team,
    }),
    spanProcessors: [
      new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${otlpHttpPort}/v1/traces` })),
    ],
  });
  const tracer = provider.getTracer('gateway-test');
  for (let i = 0; i < count; i++) {
    tracer
      .startSpan('chat gpt-4o', {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': 'gpt-4o',
          'gen_ai.response.model': 'gpt-4o',
          'gen_ai.usage.input_tokens': tokens.input,
          'gen_ai.usage.output_tokens': tokens.output,
        },
      })
      .end();
  }
  await provider.forceFlush();
  await provider.shutdown();
}

/** Waits (at most timeoutMs) until the budget's decided state satisfies `ok`. */
export async function waitForBudget(
  local: LocalRuntime,
  name: string,
  ok: (state: { action: string; spendMicros: number }) => boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = local.decisions.decisions().budgets.get(`ai/${name}`);
    if (state && ok(state)) return;
    if (Date.now() > deadline) {
      throw new Error(`budget ${name} did not reach the state in time: ${JSON.stringify(state ?? null)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Headers a gateway sets (or the caller sends, in genops local) to name the workload. */
export const teamHeaders = (team: 'a' | 'b'): Record<string, string> => ({
  'x-genops-namespace': 'ai',
  'x-genops-workload': `Deployment/chat-${team}`,
  'x-genops-label-team': team,
});
