// Owns the metrics port of the ingest runtime (receivers, pool, windows, attribution). The stage
// never imports prom-client: observability/ implements this interface and the composition root
// passes it in. Methods name what happened, not how it is exported.

export type Transport = 'otlp-grpc' | 'otlp-http-protobuf' | 'otlp-http-json';

/** Why a whole export request was refused. */
export type RefusalReason =
  | 'invalid'
  | 'too-large'
  | 'unsupported-media-type'
  | 'queue-full'
  | 'shutting-down'
  | 'internal'
  /** The client was too slow sending its request (header, body or idle timeout). */
  | 'timeout'
  /** Refused at accept: the receiver's connection limit is reached. */
  | 'connection-limit'
  /** A GenAI span reporting a token count beyond the plausible bound (spans only). */
  | 'implausible-usage';

export interface IngestMetrics {
  /** Spans decoded from accepted requests (every span, GenAI or not). */
  spansReceived(count: number, transport: Transport): void;
  /** Spans refused: individually (partial_success) or with their whole request (count unknown = 0). */
  spansRejected(count: number, transport: Transport, reason: RefusalReason): void;
  /** A whole request refused before decoding (status 4xx/5xx or gRPC error). */
  requestRefused(transport: Transport, reason: RefusalReason): void;
  /** GenAI inference spans charged to a workload. */
  spansCharged(count: number): void;
  /** Charged spans dropped as retried duplicates (trace id + span id seen before). */
  spansDeduplicated(count: number): void;
  /** Charged spans whose model had no price (fallback price applied). */
  spansUnpriced(count: number, provider: string, model: string): void;
  /** Inference spans not charged: another span of the same provider call is (charge-once). */
  spansNested?(count: number, instrumentation: string): void;
  /** Charged inference spans that reported no token counts (cost 0, flagged). */
  spansWithoutUsage?(count: number, instrumentation: string): void;
  /** Spans whose resource attributes named another pod/namespace than the sending pod. */
  spansSpoofed(count: number, namespace: string): void;
  /** Tasks waiting for a worker, sampled whenever it changes. */
  queueDepth(tasks: number): void;
  /** Bytes of request bodies queued or being decoded. */
  queuedBytes(bytes: number): void;
  /** Receipt to response, seconds, per transport and outcome (ok, partial, or a RefusalReason). */
  requestDuration(seconds: number, transport: Transport, outcome: string): void;
  /** Receipt to the aggregate being visible in a published snapshot, seconds. */
  visibleLatency(seconds: number): void;
  /** Workloads tracked by the windows, sampled at each publish. */
  workloadsTracked(count: number): void;
  /**
   * A batch of a workload's usage charged to its ("other", "other") model row: the workload has
   * too many distinct model names, or the model catalogue is full. Optional for older ports.
   */
  modelNamesFolded?(count: number): void;
}

const nothing = (): void => undefined;

export const noopIngestMetrics: IngestMetrics = {
  spansReceived: nothing,
  spansRejected: nothing,
  requestRefused: nothing,
  spansCharged: nothing,
  spansDeduplicated: nothing,
  spansUnpriced: nothing,
  spansSpoofed: nothing,
  queueDepth: nothing,
  queuedBytes: nothing,
  requestDuration: nothing,
  visibleLatency: nothing,
  workloadsTracked: nothing,
  modelNamesFolded: nothing,
};
