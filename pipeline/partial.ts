// Owns the contract between the pure workers (decode -> GenAI usage -> partial sums) and the
// main thread (attribution, dedupe, windows). Workers return this; it crosses the thread boundary
// by structured clone, with `spans` transferred.

/** What the resource attributes of one ResourceSpans say about the sender. */
export interface SenderIdentity {
  readonly podUid?: string;
  readonly namespace?: string;
  readonly podName?: string;
  readonly podIp?: string;
  /** Owning workload named by resource attributes (k8s.deployment.name, ...), kind in Kubernetes form. */
  readonly workloadKind?: string;
  readonly workloadName?: string;
  readonly serviceName?: string;
  /** From k8s.pod.label.<key> and k8s.<workload>.label.<key>. */
  readonly labels: Readonly<Record<string, string>>;
  /** genops.data.classification on the resource, if any. */
  readonly classification?: string;
}

/** Usage pre-summed per (sender identity, provider, model, classification). */
export interface UsageGroup {
  /** Index into PartialAggregate.identities. */
  readonly identity: number;
  readonly provider: string;
  readonly model: string;
  /** Classification from span or resource attribute; "" when none. */
  readonly classification: string;
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
  /** Cost from the operator's price table (with the fallback price when unknown), integer micro-USD. */
  readonly costMicros: number;
  /** True when the model had no price and the fallback was used. */
  readonly unpriced: boolean;
  /** Most expensive single request in the group, micro-USD. */
  readonly maxRequestCostMicros: number;
}

/** Content-safety evaluations per sender identity. */
export interface SafetyGroup {
  readonly identity: number;
  readonly min: number;
  readonly sum: number;
  readonly count: number;
}

/**
 * One record per charged span, 8 float64 slots each (SPAN_RECORD_WIDTH), so the main thread can
 * drop exact duplicates of retried exports and subtract them from their group:
 * [dedupeKeyHigh, dedupeKeyLow, groupIndex, costMicros, inputTokens, outputTokens, cacheRead+cacheWrite, reasoningTokens]
 * The dedupe key is a 64-bit hash of trace id + span id split into two unsigned 32-bit halves.
 */
export const SPAN_RECORD_WIDTH = 8;

/**
 * Per charged span, in the order of `spans`, LINK_WIDTH float64 slots: what the charge-once stage
 * (pipeline/charge-once) needs to charge one provider call once when several spans describe it:
 * [parentKeyHigh, parentKeyLow, flags, instrumentationIndex, cacheReadTokens]. The parent key is the dedupe-key hash
 * of trace id + parent span id (so it equals the parent's own dedupe key); flags: LINK_HAS_PARENT,
 * LINK_FRAMEWORK, LINK_NO_USAGE. instrumentationIndex indexes PartialAggregate.instrumentations;
 * cacheReadTokens splits the record's cache sum (cache writes = the rest).
 */
export const LINK_WIDTH = 5;
export const LINK_HAS_PARENT = 1;
/** The span's instrumentation profile is a framework that may wrap a provider-SDK span. */
export const LINK_FRAMEWORK = 2;
/** The span sent no token counts at all (counted, flagged, never silent). */
export const LINK_NO_USAGE = 4;

export interface PartialAggregate {
  readonly identities: readonly SenderIdentity[];
  readonly groups: readonly UsageGroup[];
  readonly safety: readonly SafetyGroup[];
  readonly spans: Float64Array;
  /** Every span seen in the request. */
  readonly spansTotal: number;
  /** Spans that were GenAI inference and charged (records in `spans`). */
  readonly spansCharged: number;
  /** Spans refused as invalid (e.g. bad ids); reported back as OTLP partial_success. */
  readonly spansRejected: number;
  /**
   * Of `spansRejected`, the GenAI spans refused because a token count is beyond the plausible
   * bound (MAX_PLAUSIBLE_TOKENS in pipeline/worker/decode-to-partial.ts); absent means 0.
   */
  readonly spansImplausible?: number;
  /** First reason for a rejection, for partial_success.error_message. */
  readonly rejectMessage: string;
  /** LINK_WIDTH slots per record of `spans`; absent from producers that know no links. */
  readonly links?: Float64Array;
  /** Instrumentation profile ids (pipeline/genai/profiles.ts) the links refer to. */
  readonly instrumentations?: readonly string[];
}

/** What the receiver hands a worker: the whole request body, already un-gzipped and size-checked. */
export interface DecodeTask {
  readonly body: Uint8Array;
  readonly encoding: 'protobuf' | 'json';
}
