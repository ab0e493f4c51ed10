// Owns the contract between the OTLP receivers and whatever processes a request (the ingest
// composition: pool -> windows), plus the status mapping of error classes for both transports.

import type { ErrorClass, GenOpsError } from '../../kernel/errors.ts';
import type { Transport, RefusalReason } from '../ingest-metrics.ts';
import type { DecodeTask } from '../partial.ts';
import type { ByteReservation } from '../pool/pool.ts';

export interface ExportRequest extends DecodeTask {
  readonly transport: Transport;
  /** IP address of the connection's peer (normalised, no port), for attribution. */
  readonly peer: string | undefined;
  /** Receipt time from the injected clock (ms epoch): decides the budget period. */
  readonly receivedAt: number;
  /** Receipt time from performance.now(): for receipt -> visible latency. */
  readonly receivedMono: number;
  /** The bytes reserved while the body arrived; the handler releases it (ExportHandler.reserve). */
  readonly reservation?: ByteReservation;
}

export interface ExportOutcome {
  readonly spansTotal: number;
  /** Spans refused individually: reported as partial_success. */
  readonly rejectedSpans: number;
  readonly errorMessage: string;
}

/** Processes one request; rejects with a GenOpsError whose class picks the status. */
export interface ExportHandler {
  handle(request: ExportRequest): Promise<ExportOutcome>;
  /**
   * The refusal a request of `bytes` would meet now (queue full, pool stopping), so the body need
   * not be read; answered as is, never re-classified by the receiver.
   */
  refusal?(bytes: number): GenOpsError | undefined;
  /** A reservation that counts a body being received against the queue's byte bound. */
  reserve?(): ByteReservation;
}

export interface ReceiverLimits {
  /** Largest request body after decompression; default 64 MiB (the OTLP recommendation). */
  maxBodyBytes?: number;
  /** Seconds clients are told to wait when refused for backpressure; default 1. */
  retryAfterSeconds?: number;
  /** Open connections per receiver; more are refused at accept. Default 256. */
  maxConnections?: number;
  /** Time from connection (or the previous request) to the end of the request headers; default 10 s. */
  headersTimeoutMs?: number;
  /** Time to receive a whole body (gRPC: a whole request stream); default 30 s. */
  bodyTimeoutMs?: number;
  /** Longest pause between two chunks of one body; default 10 s. */
  idleTimeoutMs?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 256;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

/** One row of the status table: what each transport answers for an error class. */
export interface StatusMapping {
  /** HTTP status of the OTLP/HTTP answer. */
  readonly http: number;
  /** gRPC status code; also the google.rpc.Code of the HTTP error body (same numbering). */
  readonly grpc: number;
  /** Whether the answer carries Retry-After (HTTP) and RetryInfo (gRPC, and the HTTP body). */
  readonly retry: boolean;
  readonly reason: RefusalReason;
}

// gRPC codes by number (google.rpc.Code): the table below must not depend on grpc-js.
const INVALID_ARGUMENT = 3;
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;
const INTERNAL = 13;
const UNAVAILABLE = 14;

/**
 * The one mapping of error classes to answers, from which both receivers derive their status
 * (the OTel Collector's receiver does the same from gRPC codes): a full queue is gRPC UNAVAILABLE
 * with RetryInfo and HTTP 429 with Retry-After, a stopping receiver UNAVAILABLE and 503, an
 * oversized body RESOURCE_EXHAUSTED without RetryInfo (the same batch must not be retried) and 413.
 */
export const STATUS_TABLE: Readonly<Record<ErrorClass, StatusMapping>> = {
  invalid: { http: 400, grpc: INVALID_ARGUMENT, retry: false, reason: 'invalid' },
  'too-large': { http: 413, grpc: RESOURCE_EXHAUSTED, retry: false, reason: 'too-large' },
  retryable: { http: 429, grpc: UNAVAILABLE, retry: true, reason: 'queue-full' },
  'shutting-down': { http: 503, grpc: UNAVAILABLE, retry: true, reason: 'shutting-down' },
  timeout: { http: 408, grpc: DEADLINE_EXCEEDED, retry: false, reason: 'timeout' },
  internal: { http: 500, grpc: INTERNAL, retry: false, reason: 'internal' },
};

export function httpStatusOf(errorClass: ErrorClass): number {
  return STATUS_TABLE[errorClass].http;
}

export function refusalReasonOf(errorClass: ErrorClass): RefusalReason {
  return STATUS_TABLE[errorClass].reason;
}

/**
 * The IP of a socket address as attribution wants it: no port, no brackets, IPv4-mapped IPv6
 * turned into plain IPv4. Accepts grpc-js peers ("ipv4:1.2.3.4:5", "[::1]:5", "1.2.3.4:5").
 */
export function normalizePeer(address: string | undefined, withPort = false): string | undefined {
  if (!address) return undefined;
  let a = address.trim();
  if (a.startsWith('ipv4:') || a.startsWith('ipv6:')) a = a.slice(5);
  if (a.startsWith('unix:')) return undefined;
  if (withPort) {
    if (a.startsWith('[')) {
      const end = a.indexOf(']');
      a = end > 0 ? a.slice(1, end) : a;
    } else if (a.indexOf(':') === a.lastIndexOf(':')) {
      const colon = a.indexOf(':');
      if (colon > 0) a = a.slice(0, colon);
    } else {
      // grpc-js writes `${remoteAddress}:${remotePort}` unbracketed; TCP peers always have a port.
      a = a.slice(0, a.lastIndexOf(':'));
    }
  } else if (a.startsWith('[') && a.endsWith(']')) {
    a = a.slice(1, -1);
  }
  const lower = a.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  return lower;
}
