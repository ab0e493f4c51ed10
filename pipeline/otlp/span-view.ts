// Owns the decoder-neutral view of decoded trace data. Both the protobuf and the JSON decoder fill
// the same reusable SpanView (one per decoder, overwritten span after span) and call a visitor, so
// nothing per span is allocated beyond the attribute values the product actually reads.

import { createStringInterner, decodeUtf8 } from './bytes.ts';
import type { StringInterner } from './bytes.ts';
import type { KeyTable } from './key-table.ts';

/** Scalar attribute values; arrays, maps and bytes are not materialised. */
export type AttrValue = string | number | boolean;

/** Resource attributes, fully decoded (one per ResourceSpans, so the cost does not matter). */
export type ResourceAttributes = ReadonlyMap<string, AttrValue>;

/**
 * Where lazily kept string values come from: the request being decoded (valid while the visitor
 * runs) and the decoder's intern table. One per decoder, shared by its slots.
 */
export class StringSource {
  buf: Uint8Array = new Uint8Array(0);
  data: DataView = new DataView(this.buf.buffer);
  readonly interner: StringInterner;

  constructor(interner: StringInterner = createStringInterner()) {
    this.interner = interner;
  }

  attach(buf: Uint8Array, data: DataView): void {
    this.buf = buf;
    this.data = data;
  }

  detach(): void {
    this.buf = new Uint8Array(0);
    this.data = new DataView(this.buf.buffer);
  }
}

/** Marks a slot whose string is still bytes in the request (decoded on first read). */
const LAZY: object = Object.freeze({});

/**
 * Attribute values indexed by key-table id. A generation stamp marks which slots belong to the
 * current span, so starting the next span is O(1) instead of clearing every slot. String values
 * can be kept as a byte range and decoded on first read: of the four model/provider names a span
 * may carry, the extraction reads one.
 */
export class AttributeSlots {
  readonly values: (AttrValue | object | undefined)[];
  readonly stamps: Uint32Array;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly source: StringSource;
  stamp = 1;

  constructor(size: number, source: StringSource = new StringSource()) {
    this.values = new Array<AttrValue | object | undefined>(size).fill(undefined);
    this.stamps = new Uint32Array(size);
    this.starts = new Int32Array(size);
    this.ends = new Int32Array(size);
    this.source = source;
  }

  get(id: number): AttrValue | undefined {
    if (this.stamps[id] !== this.stamp) return undefined;
    const v = this.values[id];
    if (v !== LAZY) return v as AttrValue | undefined;
    const src = this.source;
    const s = src.interner.decode(src.buf, src.data, this.starts[id]!, this.ends[id]!);
    this.values[id] = s;
    return s;
  }

  set(id: number, value: AttrValue): void {
    this.values[id] = value;
    this.stamps[id] = this.stamp;
  }

  /** A UTF-8 string at source.buf[start, end), decoded when first read. */
  setLazyString(id: number, start: number, end: number): void {
    this.values[id] = LAZY;
    this.starts[id] = start;
    this.ends[id] = end;
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

  constructor(keyCount: number, source?: StringSource) {
    this.attributes = new AttributeSlots(keyCount, source);
  }
}

/** Events kept per span beyond this are dropped (bounded memory for hostile input). */
export const MAX_EVENTS_PER_SPAN = 16;

export class SpanView {
  /**
   * Bytes [0, 16): trace id; [16, 24): span id; [24, 32): parent span id (charge-once stage).
   * Only valid when the lengths are 16 and 8.
   */
  readonly ids = new Uint8Array(32);
  /** Little-endian view of `ids`, for word-wise hashing. */
  readonly idsView = new DataView(this.ids.buffer);
  /** Length in bytes of the trace id as sent (-1: not valid hex in JSON). */
  traceIdLength = 0;
  spanIdLength = 0;
  parentSpanIdLength = 0;
  hasParent = false;
  /**
   * InstrumentationScope.name of the ScopeSpans the span is in ("" when not sent); set once per
   * scope, not per span (instrumentation profiles are resolved from it).
   */
  scopeName = '';
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

  /** Source of lazily decoded strings, shared with the event slots. */
  readonly source: StringSource;

  constructor(keyCount: number, source: StringSource = new StringSource()) {
    this.keyCount = keyCount;
    this.source = source;
    this.attributes = new AttributeSlots(keyCount, source);
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
    this.parentSpanIdLength = 0;
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
      event = new EventView(this.keyCount, this.source);
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
