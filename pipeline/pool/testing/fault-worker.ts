// Test-only worker for the error-mapping tests: the body text picks the outcome, so each error
// class can be provoked through the real pool and receivers. "ok" answers an empty aggregate,
// "bad" an undecodable body, "bug" a decoder fault, "die" kills the worker thread with the task,
// "slow" blocks 300 ms first (to fill the queue). The empty start-up probe answers ok.

import type { DecodeTask, PartialAggregate } from '../../partial.ts';
import type { DecodeResult } from '../../worker/result.ts';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

const EMPTY: PartialAggregate = {
  identities: [],
  groups: [],
  safety: [],
  spans: new Float64Array(0),
  spansTotal: 0,
  spansCharged: 0,
  spansRejected: 0,
  rejectMessage: '',
};

export default function decode(task: DecodeTask): DecodeResult {
  const text = new TextDecoder().decode(task.body);
  if (text.startsWith('slow')) Atomics.wait(sleeper, 0, 0, 300);
  if (text === 'bad') return { ok: false, error: { code: 'undecodable', message: 'fault worker: bad body' } };
  if (text === 'bug') return { ok: false, error: { code: 'decoder-bug', message: 'fault worker: a bug' } };
  if (text === 'die') process.exit(1);
  return { ok: true, value: EMPTY };
}
