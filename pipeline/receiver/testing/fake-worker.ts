// Test-only worker for the receiver and pool tests: the body is read as the UTF-8 text
// "<spans> <costMicros> <rejected>" (any encoding), so tests control the outcome without the real
// OTLP decoders. Text that does not match is answered 'undecodable', as the real worker answers an
// undecodable body (pipeline/worker/result.ts).
// workerData.delayMs makes every task block that long (to fill the queue).

import { threadId, workerData } from 'node:worker_threads';
import type { DecodeTask, PartialAggregate } from '../../partial.ts';
import type { DecodeResult } from '../../worker/result.ts';

const delayMs = (workerData as { delayMs?: number } | undefined)?.delayMs ?? 0;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let keySeq = 0;

export default function decode(task: DecodeTask): DecodeResult {
  const value = aggregate(task);
  return value === undefined
    ? { ok: false, error: { code: 'undecodable', message: 'fake worker: undecodable body' } }
    : { ok: true, value };
}

function aggregate(task: DecodeTask): PartialAggregate | undefined {
  if (delayMs > 0) Atomics.wait(sleeper, 0, 0, delayMs);
  const text = new TextDecoder().decode(task.body);
  if (task.body.byteLength === 0) {
    return {
      identities: [],
      groups: [],
      safety: [],
      spans: new Float64Array(0),
      spansTotal: 0,
      spansCharged: 0,
      spansRejected: 0,
      rejectMessage: '',
    };
  }
  const m = /^(\d+) (\d+) (\d+)(?: (\w+))?/.exec(text);
  if (!m) return undefined;
  const spans = Number(m[1]);
  const cost = Number(m[2]);
  const rejected = Number(m[3]);
  // Keys are unique per task unless a tag is given (then the same tag repeats the same keys).
  const tag = m[4];
  const records = new Float64Array(spans * 8);
  for (let i = 0; i < spans; i++) {
    const hi = tag ? tag.length : 1_000_000 + threadId;
    records.set([hi, tag ? i : keySeq++, 0, cost / spans, 1, 1, 0, 0], i * 8);
  }
  return {
    identities: [{ namespace: 'ns', workloadKind: 'Deployment', workloadName: 'fake', labels: {} }],
    groups: [
      {
        identity: 0,
        provider: 'openai',
        model: 'gpt-4o',
        classification: '',
        requests: spans,
        inputTokens: spans,
        outputTokens: spans,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        costMicros: cost,
        unpriced: false,
        maxRequestCostMicros: cost / spans,
      },
    ],
    safety: [],
    spans: records,
    spansTotal: spans + rejected,
    spansCharged: spans,
    spansRejected: rejected,
    rejectMessage: rejected > 0 ? 'fake rejection' : '',
  };
}
