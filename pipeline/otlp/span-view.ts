// Owns the decoder-neutral view of decoded trace data. Both the protobuf and the JSON decoder fill
// the same reusable SpanView (one per decoder, overwritten span after span) and call a visitor, so
// nothing per span is allocated beyond the attribute values the product actually reads.

import { decodeUtf8 } from './bytes.ts';
import type { KeyTable } from './key-table.ts';

/** Scalar attribute values; arrays, maps and bytes are not materialised. */
export type AttrValue = string | number | boolean;

/** Resource attributes, fully decoded (one per ResourceSpans, so the cost does not matter). */
export type ResourceAttributes = ReadonlyMap<string, AttrValue>;

/**
 * Attribute values indexed by key-table id. A generation stamp marks which slots belong to the
 * current span, so starting the next span is O(1) instead of clearing every slot.
 */
export class AttributeSlots {
  readonly values: (AttrValue | undefined)[];
  readonly stamps: Uint32Array;
  stamp = 1;

  constructor(size: number) {
    this.values = new Array<AttrValue | undefined>(size).fill(undefined);
    this.stamps = new Uint32Array(size);
  }

  get(id: number): AttrValue | undefined {
    return this.stamps[id] === this.stamp ? this.values[id] : undefined;
  }

  set(id: number, value: AttrValue): void {
    this.values[id] = value;
    this.stamps[id] = this.stamp;
  }

  clear(): void {
    if (this.stamp === 0xffffffff) {
      this.stamps.fill(0);
      this.stamp = 0;
    }
    this.stamp++;
  }
}

/** An event whose name the decoder was asked to materialise (e.g. gen_ai.evaluation.result). */
export class EventView {
  /** Index of the event name in the decoder's eventNames table. */
  nameId = -1;
  timeUnixNano = 0;
  readonly attributes: AttributeSlots;

  constructor(keyCount: number) {
    this.attributes = new AttributeSlots(keyCount);
  }
}

/** Events kept per span beyond this are dropped (bounded memory for hostile input). */
export const MAX_EVENTS_PER_SPAN = 16;

export class SpanView {
  /** Bytes [0, 16): trace id; [16, 24): span id. Only valid when the lengths are 16 and 8. */
  readonly ids = new Uint8Array(24);
  /** Little-endian view of `ids`, for word-wise hashing. */
  readonly idsView = new DataView(this.ids.buffer);
  /** Length in bytes of the trace id as sent (-1: not valid hex in JSON). */
  traceIdLength = 0;
  spanIdLength = 0;
  hasParent = false;
  /** SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind = 0;
  /** Nanoseconds since the epoch as a float (exact to ~256 ns, enough for time windows). */
  startTimeUnixNano = 0;
  endTimeUnixNano = 0;
  /** Status code: 0 unset, 1 ok, 2 error. */
  statusCode = 0;
  readonly attributes: AttributeSlots;
  readonly events: EventView[] = [];
  eventCount = 0;
  private readonly keyCount: number;
  // The protobuf decoder leaves the name as bytes: the product rarely needs it, so it is decoded
  // only when read (during the visitor call, while the request bytes are still there).
  private nameText = '';
  private nameBuf: Uint8Array | undefined;
  private nameStart = 0;
  private nameEnd = 0;

  constructor(keyCount: number) {
    this.keyCount = keyCount;
    this.attributes = new AttributeSlots(keyCount);
  }

  get name(): string {
    if (this.nameBuf !== undefined) {
      this.nameText = decodeUtf8(this.nameBuf, this.nameStart, this.nameEnd);
      this.nameBuf = undefined;
    }
    return this.nameText;
  }

  set name(value: string) {
    this.nameText = value;
    this.nameBuf = undefined;
  }

  /** Sets the name as UTF-8 bytes buf[start, end), decoded on first read. */
  setNameBytes(buf: Uint8Array, start: number, end: number): void {
    this.nameBuf = buf;
    this.nameStart = start;
    this.nameEnd = end;
  }

  reset(): void {
    this.traceIdLength = 0;
    this.spanIdLength = 0;
    this.hasParent = false;
    this.nameText = '';
    this.nameBuf = undefined;
    this.kind = 0;
    this.startTimeUnixNano = 0;
    this.endTimeUnixNano = 0;
    this.statusCode = 0;
    this.eventCount = 0;
    this.attributes.clear();
  }

  /** A cleared event slot for the next materialised event, or undefined past MAX_EVENTS_PER_SPAN. */
  nextEvent(): EventView | undefined {
    if (this.eventCount >= MAX_EVENTS_PER_SPAN) return undefined;
    let event = this.events[this.eventCount];
    if (event === undefined) {
      event = new EventView(this.keyCount);
      this.events.push(event);
    }
    this.eventCount++;
    event.nameId = -1;
    event.timeUnixNano = 0;
    event.attributes.clear();
    return event;
  }
}

/** Receives decoded data in wire order: resource(...) before the spans of that resource. */
export interface TraceVisitor {
  resource(attributes: ResourceAttributes): void;
  /** The view is reused for the next span: copy what must outlive the call. */
  span(span: SpanView): void;
}

/** What a decoder needs to know about the product: which attribute keys and event names to keep. */
export interface TraceDecoderOptions {
  /** Span and event attribute keys to materialise (ids index SpanView.attributes). */
  readonly keys: KeyTable;
  /** Event names to materialise (ids become EventView.nameId); other events are skipped. */
  readonly eventNames: KeyTable;
}

export interface TraceDecoder {
  /** Decodes a whole ExportTraceServiceRequest; throws GenOpsError('invalid') on malformed input. */
  decode(body: Uint8Array, visitor: TraceVisitor): void;
}
