// Owns the pure function a worker runs per request: bytes -> decoded spans -> GenAI calls -> priced
// partial sums per (sender identity, provider, model, classification), content-safety scores per
// sender, one dedupe record per charged span, and the count and first reason of rejected spans.
// Deterministic for a given body and price table; the deps hold only caches and scratch space.

import type { Clock } from '../../kernel/clock.ts';
import { systemClock } from '../../kernel/clock.ts';
import { GenOpsError } from '../../kernel/errors.ts';
import { createGenAiExtractor, emptyGenAiCall, UNKNOWN } from '../genai/extract.ts';
import type { GenAiExtractor } from '../genai/extract.ts';
import { identityKey, senderIdentity } from '../genai/identity.ts';
import { createGenAiKeyTables } from '../genai/keys.ts';
import { forEachSafetyScore } from '../genai/safety.ts';
import { TELEMETRY_SDK_NAME } from '../genai/semconv.ts';
import type { ResourceAttributes, SpanView, TraceDecoder, TraceVisitor } from '../otlp/span-view.ts';
import { createJsonTraceDecoder } from '../otlp/trace-json.ts';
import { createProtobufTraceDecoder } from '../otlp/trace-protobuf.ts';
import type { DecodeTask, PartialAggregate, SafetyGroup, SenderIdentity, UsageGroup } from '../partial.ts';
import { LINK_FRAMEWORK, LINK_HAS_PARENT, LINK_NO_USAGE, LINK_WIDTH, SPAN_RECORD_WIDTH } from '../partial.ts';
import { createHostResolver, semconvProviderName } from '../pricing/hosts.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import { costMicros } from '../pricing/price.ts';
import { idHashInto, parentHashInto } from './hash.ts';

/** Built once per worker: decoders (with their intern tables), the extractor and the price book. */
export interface DecodeDeps {
  readonly priceBook: PriceBook;
  readonly protobuf: TraceDecoder;
  readonly json: TraceDecoder;
  readonly extractor: GenAiExtractor;
  /** Time for prices of spans that carry no timestamp. */
  readonly clock: Clock;
}

export function createDecodeDeps(options: { priceBook: PriceBook; clock?: Clock }): DecodeDeps {
  const tables = createGenAiKeyTables();
  return {
    priceBook: options.priceBook,
    protobuf: createProtobufTraceDecoder(tables),
    json: createJsonTraceDecoder(tables),
    extractor: createGenAiExtractor({ hostProvider: createHostResolver() }),
    clock: options.clock ?? systemClock,
  };
}

interface MutableGroup {
  identity: number;
  provider: string;
  model: string;
  classification: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costMicros: number;
  unpriced: boolean;
  maxRequestCostMicros: number;
}

interface MutableSafety {
  identity: number;
  min: number;
  sum: number;
  count: number;
}

const INITIAL_RECORDS = 512;

/**
 * The largest token count one span may report in any of its counts (input, output, cache read,
 * cache write, reasoning): 100 million, about fifty times the largest context window on offer
 * (2M tokens) and far beyond any single call's output. A span beyond it is forged or broken, never
 * charged: it is refused in partial_success and counted (genops_spans_rejected_total, reason
 * implausible-usage), so one forged span cannot exhaust a budget and trigger its block. Documented
 * in docs/operations.md (Limits against hostile input).
 */
export const MAX_PLAUSIBLE_TOKENS = 100_000_000;

/** The first count of `call` beyond MAX_PLAUSIBLE_TOKENS, as "<name> <value>", or undefined. */
function implausibleUsage(call: {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}): string | undefined {
  if (!(call.inputTokens <= MAX_PLAUSIBLE_TOKENS)) return `input tokens ${call.inputTokens}`;
  if (!(call.outputTokens <= MAX_PLAUSIBLE_TOKENS)) return `output tokens ${call.outputTokens}`;
  if (!(call.cacheReadTokens <= MAX_PLAUSIBLE_TOKENS)) return `cache read tokens ${call.cacheReadTokens}`;
  if (!(call.cacheWriteTokens <= MAX_PLAUSIBLE_TOKENS)) return `cache write tokens ${call.cacheWriteTokens}`;
  if (!(call.reasoningTokens <= MAX_PLAUSIBLE_TOKENS)) return `reasoning tokens ${call.reasoningTokens}`;
  return undefined;
}

function isAllZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Why a span cannot be accepted, or undefined. */
function invalidIds(span: SpanView): string | undefined {
  if (span.traceIdLength !== 16) {
    return span.traceIdLength < 0
      ? 'trace_id is not hex'
      : `trace_id has ${span.traceIdLength} bytes, expected 16`;
  }
  if (span.spanIdLength !== 8) {
    return span.spanIdLength < 0
      ? 'span_id is not hex'
      : `span_id has ${span.spanIdLength} bytes, expected 8`;
  }
  if (isAllZero(span.ids, 0, 16)) return 'trace_id is all zeros';
  if (isAllZero(span.ids, 16, 24)) return 'span_id is all zeros';
  return undefined;
}

/** A JSON body with nothing but whitespace: taken as an empty request, like an empty protobuf body. */
function isBlank(body: Uint8Array): boolean {
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  }
  return true;
}

export function decodeToPartial(task: DecodeTask, deps: DecodeDeps): PartialAggregate {
  const { priceBook, extractor } = deps;
  const call = emptyGenAiCall();
  const identities: SenderIdentity[] = [];
  const identityIndex = new Map<string, number>();
  const groups: MutableGroup[] = [];
  // identity -> provider -> model -> classification -> group index; no key strings per span.
  const groupIndex: Map<string, Map<string, Map<string, number>>>[] = [];
  const safety: MutableSafety[] = [];
  const safetyIndex: number[] = [];
  let records = new Float64Array(INITIAL_RECORDS * SPAN_RECORD_WIDTH);
  let links = new Float64Array(INITIAL_RECORDS * LINK_WIDTH);
  const instrumentations: string[] = [];
  let recordCount = 0;
  let spansTotal = 0;
  let spansRejected = 0;
  let spansImplausible = 0;
  let rejectMessage = '';
  let identity = -1;
  let resourceClassification = '';
  let resourceSdk = '';

  function reportSafety(score: number): void {
    let i = safetyIndex[identity];
    if (i === undefined) {
      i = safety.length;
      safetyIndex[identity] = i;
      safety.push({ identity, min: score, sum: 0, count: 0 });
    }
    const s = safety[i]!;
    if (score < s.min) s.min = score;
    s.sum += score;
    s.count++;
  }

  function groupFor(provider: string, model: string, classification: string): number {
    let byProvider = groupIndex[identity];
    if (byProvider === undefined) {
      byProvider = new Map();
      groupIndex[identity] = byProvider;
    }
    let byModel = byProvider.get(provider);
    if (byModel === undefined) {
      byModel = new Map();
      byProvider.set(provider, byModel);
    }
    let byClass = byModel.get(model);
    if (byClass === undefined) {
      byClass = new Map();
      byModel.set(model, byClass);
    }
    let g = byClass.get(classification);
    if (g === undefined) {
      g = groups.length;
      byClass.set(classification, g);
      groups.push({
        identity,
        provider,
        model,
        classification,
        requests: 0,
        inputTokens: 0,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        costMicros: 0,
        unpriced: false,
        maxRequestCostMicros: 0,
      });
    }
    return g;
  }

  const visitor: TraceVisitor = {
    resource(attributes: ResourceAttributes) {
      const id = senderIdentity(attributes);
      const key = identityKey(id);
      let i = identityIndex.get(key);
      if (i === undefined) {
        i = identities.length;
        identities.push(id);
        identityIndex.set(key, i);
      }
      identity = i;
      resourceClassification = id.classification ?? '';
      const sdk = attributes.get(TELEMETRY_SDK_NAME);
      resourceSdk = typeof sdk === 'string' ? sdk : '';
    },

    span(span: SpanView) {
      spansTotal++;
      const why = invalidIds(span);
      if (why !== undefined) {
        spansRejected++;
        if (rejectMessage === '') rejectMessage = `span ${spansTotal - 1}: ${why}`;
        return;
      }
      forEachSafetyScore(span, reportSafety);
      if (!extractor.read(span.attributes, call, resourceSdk, span.scopeName)) return;
      const implausible = implausibleUsage(call);
      if (implausible !== undefined) {
        spansRejected++;
        spansImplausible++;
        if (rejectMessage === '')
          rejectMessage = `span ${spansTotal - 1}: ${implausible} exceeds the plausible bound of ${MAX_PLAUSIBLE_TOKENS} per span`;
        return;
      }

      const classification = call.classification === '' ? resourceClassification : call.classification;
      const timeNs = span.endTimeUnixNano > 0 ? span.endTimeUnixNano : span.startTimeUnixNano;
      const atMs = timeNs > 0 ? Math.floor(timeNs / 1e6) : deps.clock.now();
      let price = priceBook.lookup(call.provider, call.model, atMs);
      // No provider sent, the model priced by its name alone: the table says whose it is, so a
      // provider allow-list sees the real provider rather than "unknown".
      if (price !== undefined && call.provider === UNKNOWN && price.source === 'table')
        call.provider = semconvProviderName(price.provider);
      const unpriced = price === undefined;
      if (price === undefined) price = priceBook.fallbackFor(call.provider);
      const cost = costMicros(call, price);

      const gi = groupFor(call.provider, call.model, classification);
      const g = groups[gi]!;
      g.requests++;
      g.inputTokens += call.inputTokens;
      g.outputTokens += call.outputTokens;
      g.cacheReadTokens += call.cacheReadTokens;
      g.cacheWriteTokens += call.cacheWriteTokens;
      g.reasoningTokens += call.reasoningTokens;
      g.costMicros += cost;
      if (unpriced) g.unpriced = true;
      if (cost > g.maxRequestCostMicros) g.maxRequestCostMicros = cost;

      if ((recordCount + 1) * SPAN_RECORD_WIDTH > records.length) {
        const grown = new Float64Array(records.length * 2);
        grown.set(records);
        records = grown;
        const grownLinks = new Float64Array(links.length * 2);
        grownLinks.set(links);
        links = grownLinks;
      }
      const o = recordCount * SPAN_RECORD_WIDTH;
      idHashInto(span.idsView, records, o);
      records[o + 2] = gi;
      records[o + 3] = cost;
      records[o + 4] = call.inputTokens;
      records[o + 5] = call.outputTokens;
      records[o + 6] = call.cacheReadTokens + call.cacheWriteTokens;
      records[o + 7] = call.reasoningTokens;
      const l = recordCount * LINK_WIDTH;
      let flags = 0;
      if (span.parentSpanIdLength === 8 && !isAllZero(span.ids, 24, 32)) {
        parentHashInto(span.idsView, links, l);
        flags |= LINK_HAS_PARENT;
      } else {
        links[l] = 0;
        links[l + 1] = 0;
      }
      if (call.role === 'framework') flags |= LINK_FRAMEWORK;
      if (!call.hasUsage) flags |= LINK_NO_USAGE;
      links[l + 2] = flags;
      let ii = instrumentations.indexOf(call.instrumentation);
      if (ii < 0) ii = instrumentations.push(call.instrumentation) - 1;
      links[l + 3] = ii;
      links[l + 4] = call.cacheReadTokens;
      recordCount++;
    },
  };

  if (task.encoding === 'protobuf') deps.protobuf.decode(task.body, visitor);
  else if (task.encoding === 'json') {
    if (!isBlank(task.body)) deps.json.decode(task.body, visitor);
  } else
    throw new GenOpsError('invalid', 'unsupported-encoding', `unsupported encoding ${String(task.encoding)}`);

  const usage: UsageGroup[] = groups;
  const scores: SafetyGroup[] = safety;
  return {
    identities,
    groups: usage,
    safety: scores,
    spans: records.subarray(0, recordCount * SPAN_RECORD_WIDTH),
    spansTotal,
    spansCharged: recordCount,
    spansRejected,
    spansImplausible,
    rejectMessage,
    links: links.subarray(0, recordCount * LINK_WIDTH),
    instrumentations,
  };
}
