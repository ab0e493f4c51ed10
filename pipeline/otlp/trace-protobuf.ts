// Owns decoding of OTLP ExportTraceServiceRequest protobuf bytes, written from the public field
// numbers of opentelemetry-proto (collector/trace/v1, trace/v1, common/v1, resource/v1). It is a
// field-skipping decoder: it reads the wire format directly over the Uint8Array and only
// materialises resource attributes, span ids/name/kind/times/status, the span attributes named in
// the key table and the events named in the event table. Everything else is jumped over by length,
// and the contents of skipped fields are not validated (only their framing is).

import { GenOpsError } from '../../kernel/errors.ts';
import { createStringInterner } from './bytes.ts';
import type {
  AttrValue,
  AttributeSlots,
  TraceDecoder,
  TraceDecoderOptions,
  TraceVisitor,
} from './span-view.ts';
import { SpanView, StringSource } from './span-view.ts';

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

// Tags (field number << 3 | wire type) of the fields this decoder reads.
const TAG_REQUEST_RESOURCE_SPANS = (1 << 3) | LEN;
const TAG_RS_RESOURCE = (1 << 3) | LEN;
const TAG_RS_SCOPE_SPANS = (2 << 3) | LEN;
const TAG_SS_SPANS = (2 << 3) | LEN;
const TAG_SS_SCOPE = (1 << 3) | LEN;
const TAG_SCOPE_NAME = (1 << 3) | LEN;
const SCOPE_FIELDS: WireTypes = [undefined, LEN, LEN, LEN, VARINT];
const TAG_RESOURCE_ATTRIBUTES = (1 << 3) | LEN;
const TAG_SPAN_TRACE_ID = (1 << 3) | LEN;
const TAG_SPAN_SPAN_ID = (2 << 3) | LEN;
const TAG_SPAN_PARENT_SPAN_ID = (4 << 3) | LEN;
const TAG_SPAN_NAME = (5 << 3) | LEN;
const TAG_SPAN_KIND = (6 << 3) | VARINT;
const TAG_SPAN_START = (7 << 3) | I64;
const TAG_SPAN_END = (8 << 3) | I64;
const TAG_SPAN_ATTRIBUTES = (9 << 3) | LEN;
const TAG_SPAN_EVENTS = (11 << 3) | LEN;
const TAG_SPAN_STATUS = (15 << 3) | LEN;
const TAG_EVENT_TIME = (1 << 3) | I64;
const TAG_EVENT_NAME = (2 << 3) | LEN;
const TAG_EVENT_ATTRIBUTES = (3 << 3) | LEN;
const TAG_STATUS_CODE = (3 << 3) | VARINT;
const TAG_KV_KEY = (1 << 3) | LEN;
const TAG_KV_VALUE = (2 << 3) | LEN;
const TAG_ANY_STRING = (1 << 3) | LEN;
const TAG_ANY_BOOL = (2 << 3) | VARINT;
const TAG_ANY_INT = (3 << 3) | VARINT;
const TAG_ANY_DOUBLE = (4 << 3) | I64;

/**
 * Expected wire type per field number of each message, for fields known by the schema. A known
 * field arriving with another wire type is malformed (as protobuf parsers treat it); unknown field
 * numbers are skipped whatever their type.
 */
type WireTypes = readonly (number | undefined)[];
const REQUEST_FIELDS: WireTypes = [undefined, LEN];
const RESOURCE_SPANS_FIELDS: WireTypes = [undefined, LEN, LEN, LEN];
const SCOPE_SPANS_FIELDS: WireTypes = [undefined, LEN, LEN, LEN];
const RESOURCE_FIELDS: WireTypes = [undefined, LEN, VARINT, LEN];
// Span: 1 trace_id, 2 span_id, 3 trace_state, 4 parent_span_id, 5 name, 6 kind, 7/8 times,
// 9 attributes, 10 dropped_attributes_count, 11 events, 12 dropped_events_count, 13 links,
// 14 dropped_links_count, 15 status, 16 flags (fixed32).
const SPAN_FIELDS: WireTypes = [
  undefined,
  LEN,
  LEN,
  LEN,
  LEN,
  LEN,
  VARINT,
  I64,
  I64,
  LEN,
  VARINT,
  LEN,
  VARINT,
  LEN,
  VARINT,
  LEN,
  I32,
];
const EVENT_FIELDS: WireTypes = [undefined, I64, LEN, LEN, VARINT];
const STATUS_FIELDS: WireTypes = [undefined, undefined, LEN, VARINT];
const KEY_VALUE_FIELDS: WireTypes = [undefined, LEN, LEN];
// AnyValue oneof: 1 string, 2 bool, 3 int64, 4 double, 5 array, 6 kvlist, 7 bytes.
const ANY_VALUE_FIELDS: WireTypes = [undefined, LEN, VARINT, VARINT, I64, LEN, LEN, LEN];

const TWO_POW_32 = 4294967296;
const MAX_GROUP_DEPTH = 32;

export function createProtobufTraceDecoder(options: TraceDecoderOptions): TraceDecoder {
  const keys = options.keys;
  const eventNames = options.eventNames;
  const interner = createStringInterner();
  const source = new StringSource(interner);
  const view = new SpanView(keys.names.length, source);
  let buf: Uint8Array = new Uint8Array(0);
  let data: DataView = new DataView(buf.buffer);
  let pos = 0;

  function fail(message: string, what: string, at: number): never {
    throw new GenOpsError(
      'invalid',
      'otlp-protobuf-malformed',
      `malformed OTLP protobuf: ${message} in ${what} at offset ${at}`,
    );
  }

  /** Unsigned varint; exact up to 2^53 (tags, lengths, enums, counts). */
  function readVarint(end: number, what: string): number {
    const start = pos;
    if (start >= end) fail('truncated varint', what, start);
    let b = buf[start]!;
    if (b < 0x80) {
      pos = start + 1;
      return b;
    }
    let result = b & 0x7f;
    let multiplier = 128;
    let i = start + 1;
    for (;;) {
      if (i >= end) fail('truncated varint', what, start);
      if (i - start >= 10) fail('varint longer than 10 bytes', what, start);
      b = buf[i++]!;
      result += (b & 0x7f) * multiplier;
      if (b < 0x80) break;
      multiplier *= 128;
    }
    pos = i;
    return result;
  }

  /** Signed two's-complement int64 varint as a number (exact within +-2^53). */
  function readInt64(end: number, what: string): number {
    const start = pos;
    let lo = 0;
    let hi = 0;
    let i = start;
    let shift = 0;
    for (;;) {
      if (i >= end) fail('truncated varint', what, start);
      if (i - start >= 10) fail('varint longer than 10 bytes', what, start);
      const b = buf[i++]!;
      if (shift < 28) {
        lo |= (b & 0x7f) << shift;
      } else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else {
        hi |= (b & 0x7f) << (shift - 32);
      }
      if (b < 0x80) break;
      shift += 7;
    }
    pos = i;
    if (hi & 0x80000000) {
      // Negative: -(~value + 1).
      return -((~hi >>> 0) * TWO_POW_32 + (~lo >>> 0) + 1);
    }
    return (hi >>> 0) * TWO_POW_32 + (lo >>> 0);
  }

  function readLength(end: number, what: string): number {
    const at = pos;
    const len = readVarint(end, what);
    if (len > end - pos) fail(`length ${len} exceeds the ${end - pos} bytes left`, what, at);
    return len;
  }

  function readFixed64(end: number, what: string): number {
    const p = pos;
    if (end - p < 8) fail('truncated fixed64', what, p);
    pos = p + 8;
    const lo = (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
    const hi = (buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24)) >>> 0;
    return hi * TWO_POW_32 + lo;
  }

  /** Skips the value of a field this decoder does not read, validating only its framing. */
  function skipField(
    tag: number,
    end: number,
    what: string,
    known: WireTypes,
    tagAt: number,
    depth = 0,
  ): void {
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 0) fail('field number 0', what, tagAt);
    const expected = field < known.length ? known[field] : undefined;
    if (expected !== undefined && expected !== wireType) {
      fail(`field ${field} has wire type ${wireType}, expected ${expected}`, what, tagAt);
    }
    switch (wireType) {
      case VARINT: {
        const start = pos;
        let i = start;
        for (;;) {
          if (i >= end) fail('truncated varint', what, start);
          if (i - start >= 10) fail('varint longer than 10 bytes', what, start);
          if (buf[i++]! < 0x80) break;
        }
        pos = i;
        return;
      }
      case I64:
        if (end - pos < 8) fail('truncated fixed64', what, pos);
        pos += 8;
        return;
      case LEN: {
        const len = readLength(end, what);
        pos += len;
        return;
      }
      case I32:
        if (end - pos < 4) fail('truncated fixed32', what, pos);
        pos += 4;
        return;
      case SGROUP: {
        // Deprecated groups never appear in OTLP, but a conforming parser can skip them.
        if (depth >= MAX_GROUP_DEPTH) fail('groups nested too deep', what, tagAt);
        for (;;) {
          const at = pos;
          const inner = readVarint(end, what);
          if ((inner & 7) === EGROUP) {
            if (Math.floor(inner / 8) !== field) fail('mismatched end group', what, at);
            return;
          }
          skipField(inner, end, what, [], at, depth + 1);
        }
      }
      default:
        fail(`invalid wire type ${wireType}`, what, tagAt);
    }
  }

  function readString(end: number, what: string): string {
    const len = readLength(end, what);
    const start = pos;
    pos = start + len;
    return interner.decode(buf, data, start, start + len);
  }

  /** AnyValue scalar (string, bool, int, double); arrays, maps and bytes give undefined. */
  function decodeAnyValue(end: number): AttrValue | undefined {
    const p = pos;
    // Fast path: a single short string field covering the whole value.
    if (buf[p] === TAG_ANY_STRING && p + 1 < end) {
      const len = buf[p + 1]!;
      if (len < 0x80 && p + 2 + len === end) {
        pos = end;
        return interner.decode(buf, data, p + 2, end);
      }
    }
    let value: AttrValue | undefined;
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'AnyValue');
      if (tag === TAG_ANY_STRING) value = readString(end, 'AnyValue.string_value');
      else if (tag === TAG_ANY_INT) value = readInt64(end, 'AnyValue.int_value');
      else if (tag === TAG_ANY_DOUBLE) {
        if (end - pos < 8) fail('truncated double', 'AnyValue.double_value', pos);
        value = data.getFloat64(pos, true);
        pos += 8;
      } else if (tag === TAG_ANY_BOOL) value = readVarint(end, 'AnyValue.bool_value') !== 0;
      else {
        skipField(tag, end, 'AnyValue', ANY_VALUE_FIELDS, at);
        // Only the other members of the value oneof (array, kvlist, bytes) replace what came
        // before (last one wins, as protobuf parsers do). A field this schema does not know (a
        // newer proto, or a forger) is skipped and never costs the known value: dropping
        // gen_ai.operation.name or the model would turn an agent span into a charged call or
        // mis-attribute it.
        const field = Math.floor(tag / 8);
        if (field < ANY_VALUE_FIELDS.length) value = undefined;
      }
    }
    return value;
  }

  /** One KeyValue: stored into `slots` when its key is in the key table. */
  function decodeKeyValueInto(end: number, slots: AttributeSlots, what: string): void {
    const p = pos;
    // Fast path for the layout every encoder writes: key (tag 0x0a, 1-byte length), then value
    // (tag 0x12, 1-byte length) ending exactly at the message end. Anything else takes the
    // general path below, which handles any order, long lengths and unknown fields.
    if (buf[p] === TAG_KV_KEY && p + 1 < end) {
      const keyLen = buf[p + 1]!;
      const keyStart = p + 2;
      const keyEnd = keyStart + keyLen;
      if (keyLen < 0x80 && keyEnd + 2 <= end && buf[keyEnd] === TAG_KV_VALUE) {
        const valueLen = buf[keyEnd + 1]!;
        if (valueLen < 0x80 && keyEnd + 2 + valueLen === end) {
          pos = end;
          const id = keys.matchBytes(buf, data, keyStart, keyEnd);
          if (id < 0) return;
          const v = keyEnd + 2;
          // A short string value: kept as bytes until read (most are never read).
          if (buf[v] === TAG_ANY_STRING && v + 1 < end && buf[v + 1]! < 0x80 && v + 2 + buf[v + 1]! === end) {
            slots.setLazyString(id, v + 2, end);
            return;
          }
          pos = v;
          const value = decodeAnyValue(end);
          pos = end;
          if (value !== undefined) slots.set(id, value);
          return;
        }
      }
    }
    let keyStart = -1;
    let keyEnd = -1;
    let valueStart = -1;
    let valueEnd = -1;
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, what);
      if (tag === TAG_KV_KEY) {
        const len = readLength(end, what);
        keyStart = pos;
        keyEnd = pos + len;
        pos = keyEnd;
      } else if (tag === TAG_KV_VALUE) {
        const len = readLength(end, what);
        valueStart = pos;
        valueEnd = pos + len;
        pos = valueEnd;
      } else {
        skipField(tag, end, what, KEY_VALUE_FIELDS, at);
      }
    }
    if (keyStart < 0 || valueStart < 0) return;
    const id = keys.matchBytes(buf, data, keyStart, keyEnd);
    if (id < 0) return;
    pos = valueStart;
    const value = decodeAnyValue(valueEnd);
    pos = end;
    if (value !== undefined) slots.set(id, value);
  }

  function decodeResource(end: number, attributes: Map<string, AttrValue>): void {
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'Resource');
      if (tag === TAG_RESOURCE_ATTRIBUTES) {
        const len = readLength(end, 'Resource.attributes');
        const kvEnd = pos + len;
        let key: string | undefined;
        let value: AttrValue | undefined;
        while (pos < kvEnd) {
          const kvAt = pos;
          const kvTag = readVarint(kvEnd, 'Resource.attributes');
          if (kvTag === TAG_KV_KEY) key = readString(kvEnd, 'Resource.attributes.key');
          else if (kvTag === TAG_KV_VALUE) {
            const vlen = readLength(kvEnd, 'Resource.attributes.value');
            value = decodeAnyValue(pos + vlen);
          } else skipField(kvTag, kvEnd, 'Resource.attributes', KEY_VALUE_FIELDS, kvAt);
        }
        if (key !== undefined && value !== undefined) attributes.set(key, value);
      } else {
        skipField(tag, end, 'Resource', RESOURCE_FIELDS, at);
      }
    }
  }

  function copyId(len: number, offset: number, size: number): void {
    if (len === size) {
      const start = pos;
      for (let i = 0; i < size; i++) view.ids[offset + i] = buf[start + i]!;
    }
  }

  function decodeEvent(end: number): void {
    const start = pos;
    let nameId = -1;
    let time = 0;
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'Span.Event');
      if (tag === TAG_EVENT_NAME) {
        const len = readLength(end, 'Span.Event.name');
        nameId = eventNames.matchBytes(buf, data, pos, pos + len);
        pos += len;
      } else if (tag === TAG_EVENT_TIME) {
        time = readFixed64(end, 'Span.Event.time_unix_nano');
      } else {
        skipField(tag, end, 'Span.Event', EVENT_FIELDS, at);
      }
    }
    if (nameId < 0) return;
    const event = view.nextEvent();
    if (event === undefined) return;
    event.nameId = nameId;
    event.timeUnixNano = time;
    pos = start;
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'Span.Event');
      if (tag === TAG_EVENT_ATTRIBUTES) {
        const len = readLength(end, 'Span.Event.attributes');
        decodeKeyValueInto(pos + len, event.attributes, 'Span.Event.attributes');
      } else {
        skipField(tag, end, 'Span.Event', EVENT_FIELDS, at);
      }
    }
  }

  function decodeStatus(end: number): void {
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'Span.Status');
      if (tag === TAG_STATUS_CODE) view.statusCode = readVarint(end, 'Span.Status.code');
      else skipField(tag, end, 'Span.Status', STATUS_FIELDS, at);
    }
  }

  function decodeSpan(end: number): void {
    view.reset();
    const slots = view.attributes;
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'Span');
      switch (tag) {
        case TAG_SPAN_ATTRIBUTES: {
          const len = readLength(end, 'Span.attributes');
          decodeKeyValueInto(pos + len, slots, 'Span.attributes');
          break;
        }
        case TAG_SPAN_TRACE_ID: {
          const len = readLength(end, 'Span.trace_id');
          view.traceIdLength = len;
          copyId(len, 0, 16);
          pos += len;
          break;
        }
        case TAG_SPAN_SPAN_ID: {
          const len = readLength(end, 'Span.span_id');
          view.spanIdLength = len;
          copyId(len, 16, 8);
          pos += len;
          break;
        }
        case TAG_SPAN_PARENT_SPAN_ID: {
          const len = readLength(end, 'Span.parent_span_id');
          view.hasParent = len > 0;
          view.parentSpanIdLength = len;
          copyId(len, 24, 8);
          pos += len;
          break;
        }
        case TAG_SPAN_NAME: {
          const len = readLength(end, 'Span.name');
          view.setNameBytes(buf, pos, pos + len);
          pos += len;
          break;
        }
        case TAG_SPAN_KIND:
          view.kind = readVarint(end, 'Span.kind');
          break;
        case TAG_SPAN_START:
          view.startTimeUnixNano = readFixed64(end, 'Span.start_time_unix_nano');
          break;
        case TAG_SPAN_END:
          view.endTimeUnixNano = readFixed64(end, 'Span.end_time_unix_nano');
          break;
        case TAG_SPAN_EVENTS: {
          const len = readLength(end, 'Span.events');
          decodeEvent(pos + len);
          break;
        }
        case TAG_SPAN_STATUS: {
          const len = readLength(end, 'Span.status');
          decodeStatus(pos + len);
          break;
        }
        default:
          skipField(tag, end, 'Span', SPAN_FIELDS, at);
      }
    }
  }

  /** InstrumentationScope.name, interned (profiles are resolved from it); "" when absent. */
  function decodeScopeName(end: number): string {
    let name = '';
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'InstrumentationScope');
      if (tag === TAG_SCOPE_NAME) {
        const len = readLength(end, 'InstrumentationScope.name');
        name = interner.decode(buf, data, pos, pos + len);
        pos += len;
      } else {
        skipField(tag, end, 'InstrumentationScope', SCOPE_FIELDS, at);
      }
    }
    return name;
  }

  function decodeScopeSpans(end: number, visitor: TraceVisitor): void {
    // Pass 1: the scope, wherever it sits in the message (SDKs write it first, so this pass
    // usually reads one field; otherwise it skips the spans by their lengths).
    const start = pos;
    view.scopeName = '';
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'ScopeSpans');
      if (tag === TAG_SS_SCOPE) {
        const len = readLength(end, 'ScopeSpans.scope');
        view.scopeName = decodeScopeName(pos + len);
        break;
      }
      skipField(tag, end, 'ScopeSpans', SCOPE_SPANS_FIELDS, at);
    }
    pos = start;
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'ScopeSpans');
      if (tag === TAG_SS_SPANS) {
        const len = readLength(end, 'ScopeSpans.spans');
        const spanEnd = pos + len;
        decodeSpan(spanEnd);
        visitor.span(view);
      } else {
        skipField(tag, end, 'ScopeSpans', SCOPE_SPANS_FIELDS, at);
      }
    }
  }

  function decodeResourceSpans(end: number, visitor: TraceVisitor): void {
    const start = pos;
    // Pass 1: the resource (its attributes identify the sender of every span below it), wherever
    // it sits in the message.
    const attributes = new Map<string, AttrValue>();
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'ResourceSpans');
      if (tag === TAG_RS_RESOURCE) {
        const len = readLength(end, 'ResourceSpans.resource');
        decodeResource(pos + len, attributes);
      } else {
        skipField(tag, end, 'ResourceSpans', RESOURCE_SPANS_FIELDS, at);
      }
    }
    visitor.resource(attributes);
    // Pass 2: the spans.
    pos = start;
    while (pos < end) {
      const at = pos;
      const tag = readVarint(end, 'ResourceSpans');
      if (tag === TAG_RS_SCOPE_SPANS) {
        const len = readLength(end, 'ResourceSpans.scope_spans');
        decodeScopeSpans(pos + len, visitor);
      } else {
        skipField(tag, end, 'ResourceSpans', RESOURCE_SPANS_FIELDS, at);
      }
    }
  }

  return {
    decode(body, visitor) {
      buf = body;
      data = new DataView(body.buffer, body.byteOffset, body.byteLength);
      source.attach(buf, data);
      pos = 0;
      const end = body.length;
      try {
        while (pos < end) {
          const at = pos;
          const tag = readVarint(end, 'ExportTraceServiceRequest');
          if (tag === TAG_REQUEST_RESOURCE_SPANS) {
            const len = readLength(end, 'ExportTraceServiceRequest.resource_spans');
            decodeResourceSpans(pos + len, visitor);
          } else {
            skipField(tag, end, 'ExportTraceServiceRequest', REQUEST_FIELDS, at);
          }
        }
      } finally {
        // Do not keep the request alive between tasks.
        buf = new Uint8Array(0);
        data = new DataView(buf.buffer);
        source.detach();
      }
    },
  };
}
