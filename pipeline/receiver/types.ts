// Owns the contract between the OTLP receivers and whatever processes a request (the ingest
// composition: pool -> windows), plus the status mapping of error classes for both transports.

import type { ErrorClass } from '../../kernel/errors.ts';
import type { Transport, RefusalReason } from '../ingest-metrics.ts';
import type { DecodeTask } from '../partial.ts';

export interface ExportRequest extends DecodeTask {
  readonly transport: Transport;
  /** IP address of the connection's peer (normalised, no port), for attribution. */
  readonly peer: string | undefined;
  /** Receipt time from the injected clock (ms epoch): decides the budget period. */
  readonly receivedAt: number;
  /** Receipt time from performance.now(): for receipt -> visible latency. */
  readonly receivedMono: number;
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
  /** True when a request of `bytes` would be refused now, so the body need not be read. */
  wouldRefuse?(bytes: number): boolean;
}

export interface ReceiverLimits {
  /** Largest request body after decompression; default 64 MiB (the OTLP recommendation). */
  maxBodyBytes?: number;
  /** Seconds clients are told to wait when refused for backpressure; default 1. */
  retryAfterSeconds?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export function httpStatusOf(errorClass: ErrorClass): number {
  switch (errorClass) {
    case 'invalid':
      return 400;
    case 'too-large':
      return 413;
    case 'retryable':
      return 429;
    case 'shutting-down':
      return 503;
    case 'internal':
      return 500;
  }
}

export function refusalReasonOf(errorClass: ErrorClass): RefusalReason {
  switch (errorClass) {
    case 'invalid':
      return 'invalid';
    case 'too-large':
      return 'too-large';
    case 'retryable':
      return 'queue-full';
    case 'shutting-down':
      return 'shutting-down';
    case 'internal':
      return 'internal';
  }
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
