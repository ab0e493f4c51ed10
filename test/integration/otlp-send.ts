// Sends GenAI spans over OTLP/HTTP JSON from a chosen loopback source address, as a process on that
// address would: the receiver sees that address as the peer (127.0.0.0/8 is all loopback on Linux).
import { request } from 'node:http';

let spanSeq = 1;

export interface SpanClaim {
  /** Resource attributes the sender claims (k8s.namespace.name, k8s.deployment.name, k8s.pod.label.*, ...). */
  readonly resource: Readonly<Record<string, string>>;
  readonly model?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly spans?: number;
}

export function otlpBody(claim: SpanClaim): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  return JSON.stringify({
    resourceSpans: [
      {
        resource: {
          attributes: Object.entries(claim.resource).map(([key, v]) => ({ key, value: { stringValue: v } })),
        },
        scopeSpans: [
          {
            spans: Array.from({ length: claim.spans ?? 1 }, () => {
              const n = spanSeq++;
              return {
                traceId: `${n.toString(16).padStart(8, '0')}5b8efff798038103d269b633`,
                spanId: `${n.toString(16).padStart(8, '0')}eee19b7e`,
                name: `chat ${claim.model ?? 'gpt-4o'}`,
                kind: 3,
                startTimeUnixNano: String(now - 1_000_000_000n),
                endTimeUnixNano: String(now),
                attributes: [
                  { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
                  { key: 'gen_ai.provider.name', value: { stringValue: 'openai' } },
                  { key: 'gen_ai.request.model', value: { stringValue: claim.model ?? 'gpt-4o' } },
                  { key: 'gen_ai.usage.input_tokens', value: { intValue: claim.inputTokens ?? 1000 } },
                  { key: 'gen_ai.usage.output_tokens', value: { intValue: claim.outputTokens ?? 500 } },
                ],
              };
            }),
          },
        ],
      },
    ],
  });
}

/** POST /v1/traces from `from` (a loopback address); resolves with the HTTP status. */
export function sendSpans(port: number, from: string, claim: SpanClaim): Promise<number> {
  const body = otlpBody(claim);
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        method: 'POST',
        path: '/v1/traces',
        headers: { 'content-type': 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('OTLP request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
