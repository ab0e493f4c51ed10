// Owns the reference OTLP/JSON decoder: JSON.parse, then a walk that fills the same SpanView as the
// protobuf decoder. Simple and obviously right; the worker uses the faster byte scanner of
// trace-json.ts, which is tested against this one. Follows the OTLP/JSON mapping: lowerCamelCase keys
// (snake_case proto names accepted too, as protobuf JSON parsers do), trace/span ids as hex
// (case-insensitive), 64-bit integers as decimal strings or numbers, enums as integers (or their
// proto names), unknown fields ignored, null treated as absent.

import { GenOpsError } from '../../kernel/errors.ts';
import type {
  AttrValue,
  AttributeSlots,
  TraceDecoder,
  TraceDecoderOptions,
  TraceVisitor,
} from './span-view.ts';
import { SpanView } from './span-view.ts';
import type { IntegerRange } from './json-mapping.ts';
import {
  hexId,
  INTEGER,
  integerNumberInRange,
  integerTextInRange,
  SPAN_KIND_NAMES,
  STATUS_CODE_NAMES,
} from './json-mapping.ts';

type JsonObject = Record<string, unknown>;

/** Thrown by the walk's helpers; the decoder adds where in the document it happened. */
class MalformedJson extends Error {}

function fail(message: string, what: string): never {
  throw new MalformedJson(`${what}: ${message}`);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value of a field under its lowerCamelCase or snake_case name; null counts as absent. */
function field(o: JsonObject, camel: string, snake: string): unknown {
  const v = o[camel];
  if (v !== undefined && v !== null) return v;
  const s = o[snake];
  return s === null ? undefined : s;
}

function arrayField(o: JsonObject, camel: string, snake: string, path: string): readonly unknown[] {
  const v = field(o, camel, snake);
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(`${camel} is not an array`, path);
  return v;
}

function objectAt(v: unknown, path: string): JsonObject {
  if (!isObject(v)) fail('expected an object', path);
  return v;
}

/** int64/uint64/fixed64 as a JSON number or decimal string. */
function int64(v: unknown, path: string, range: IntegerRange = 'fixed64'): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail('integer is not finite', path);
    if (!integerNumberInRange(v, range)) fail(`integer out of ${range} range`, path);
    return Math.trunc(v);
  }
  if (typeof v === 'string' && INTEGER.test(v)) {
    if (!integerTextInRange(v, range)) fail(`integer out of ${range} range`, path);
    return Number(v);
  }
  return fail('expected an integer (number or decimal string)', path);
}

function double(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    if (v.trim() !== '' && !Number.isNaN(n)) return n;
  }
  return fail('expected a number', path);
}

function enumValue(v: unknown, names: Readonly<Record<string, number>>, path: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const n = names[v];
    if (n !== undefined) return n;
    if (INTEGER.test(v)) return Number(v);
  }
  return fail('expected an enum integer', path);
}

/** AnyValue scalar; arrays, maps and bytes give undefined. */
function anyValue(v: unknown, path: string): AttrValue | undefined {
  if (!isObject(v)) return undefined;
  const s = field(v, 'stringValue', 'string_value');
  if (s !== undefined) {
    if (typeof s !== 'string') fail('stringValue is not a string', path);
    return s;
  }
  const i = field(v, 'intValue', 'int_value');
  if (i !== undefined) return int64(i, 'intValue', 'int64');
  const d = field(v, 'doubleValue', 'double_value');
  if (d !== undefined) return double(d, 'doubleValue');
  const b = field(v, 'boolValue', 'bool_value');
  if (b !== undefined) {
    if (typeof b !== 'boolean') fail('boolValue is not a boolean', path);
    return b;
  }
  return undefined;
}

export function createJsonParseTraceDecoder(options: TraceDecoderOptions): TraceDecoder {
  const keys = options.keys;
  const eventNames = options.eventNames;
  const view = new SpanView(keys.names.length);
  const textDecoder = new TextDecoder('utf-8');
  // Where the walk is, for error messages; kept as numbers so the hot path builds no strings.
  let atResource = -1;
  let atScope = -1;
  let atSpan = -1;

  function location(): string {
    let where = '$';
    if (atResource >= 0) where += `.resourceSpans[${atResource}]`;
    if (atScope >= 0) where += `.scopeSpans[${atScope}]`;
    if (atSpan >= 0) where += `.spans[${atSpan}]`;
    return where;
  }

  function attributesInto(list: readonly unknown[], slots: AttributeSlots, path: string): void {
    for (let i = 0; i < list.length; i++) {
      const kv = list[i];
      if (!isObject(kv)) fail('attribute is not an object', path);
      const key = kv['key'];
      if (typeof key !== 'string') continue;
      const id = keys.matchString(key);
      if (id < 0) continue;
      const value = anyValue(kv['value'], path);
      if (value !== undefined) slots.set(id, value);
    }
  }

  function decodeSpan(span: JsonObject): void {
    view.reset();
    view.traceIdLength = hexId(field(span, 'traceId', 'trace_id'), view.ids, 0, 16);
    view.spanIdLength = hexId(field(span, 'spanId', 'span_id'), view.ids, 16, 8);
    const parent = field(span, 'parentSpanId', 'parent_span_id');
    view.hasParent = typeof parent === 'string' && parent.length > 0;
    view.parentSpanIdLength = view.hasParent ? hexId(parent, view.ids, 24, 8) : 0;
    const name = span['name'];
    view.name = typeof name === 'string' ? name : '';
    const kind = span['kind'];
    if (kind !== undefined && kind !== null) view.kind = enumValue(kind, SPAN_KIND_NAMES, 'kind');
    const start = field(span, 'startTimeUnixNano', 'start_time_unix_nano');
    if (start !== undefined) view.startTimeUnixNano = int64(start, 'startTimeUnixNano');
    const end = field(span, 'endTimeUnixNano', 'end_time_unix_nano');
    if (end !== undefined) view.endTimeUnixNano = int64(end, 'endTimeUnixNano');
    attributesInto(arrayField(span, 'attributes', 'attributes', 'span'), view.attributes, 'attributes');
    const events = arrayField(span, 'events', 'events', 'span');
    for (let i = 0; i < events.length; i++) {
      const ev = objectAt(events[i], 'events');
      const evName = ev['name'];
      if (typeof evName !== 'string') continue;
      const nameId = eventNames.matchString(evName);
      if (nameId < 0) continue;
      const event = view.nextEvent();
      if (event === undefined) break;
      event.nameId = nameId;
      const time = field(ev, 'timeUnixNano', 'time_unix_nano');
      if (time !== undefined) event.timeUnixNano = int64(time, 'events.timeUnixNano');
      attributesInto(
        arrayField(ev, 'attributes', 'attributes', 'events'),
        event.attributes,
        'events.attributes',
      );
    }
    const status = span['status'];
    if (isObject(status)) {
      const code = status['code'];
      if (code !== undefined && code !== null)
        view.statusCode = enumValue(code, STATUS_CODE_NAMES, 'status.code');
    }
  }

  function walk(root: unknown, visitor: TraceVisitor): void {
    const request = objectAt(root, 'request');
    const resourceSpans = arrayField(request, 'resourceSpans', 'resource_spans', 'request');
    for (let r = 0; r < resourceSpans.length; r++) {
      atResource = r;
      const rs = objectAt(resourceSpans[r], 'resourceSpans');
      const attributes = new Map<string, AttrValue>();
      const resource = field(rs, 'resource', 'resource');
      if (resource !== undefined) {
        const list = arrayField(objectAt(resource, 'resource'), 'attributes', 'attributes', 'resource');
        for (let i = 0; i < list.length; i++) {
          const kv = objectAt(list[i], 'resource.attributes');
          const key = kv['key'];
          if (typeof key !== 'string') continue;
          const value = anyValue(kv['value'], 'resource.attributes');
          if (value !== undefined) attributes.set(key, value);
        }
      }
      visitor.resource(attributes);
      const scopes = arrayField(rs, 'scopeSpans', 'scope_spans', 'resourceSpans');
      for (let s = 0; s < scopes.length; s++) {
        atScope = s;
        const ss = objectAt(scopes[s], 'scopeSpans');
        const scope = ss['scope'];
        const scopeName = isObject(scope) ? scope['name'] : undefined;
        view.scopeName = typeof scopeName === 'string' ? scopeName : '';
        const spans = arrayField(ss, 'spans', 'spans', 'scopeSpans');
        for (let i = 0; i < spans.length; i++) {
          atSpan = i;
          decodeSpan(objectAt(spans[i], 'spans'));
          visitor.span(view);
        }
        atSpan = -1;
      }
      atScope = -1;
    }
  }

  return {
    decode(body, visitor) {
      let root: unknown;
      try {
        root = JSON.parse(textDecoder.decode(body));
      } catch (err) {
        throw new GenOpsError(
          'invalid',
          'otlp-json-malformed',
          `malformed OTLP/JSON: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      atResource = -1;
      atScope = -1;
      atSpan = -1;
      try {
        walk(root, visitor);
      } catch (err) {
        if (err instanceof MalformedJson) {
          throw new GenOpsError(
            'invalid',
            'otlp-json-malformed',
            `malformed OTLP/JSON: ${err.message} at ${location()}`,
          );
        }
        throw err;
      }
    },
  };
}
