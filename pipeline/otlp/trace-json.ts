// Owns decoding of OTLP/JSON ExportTraceServiceRequest bodies with a byte scanner: the JSON text
// is read directly from the Uint8Array, values the product does not need are skipped (still
// checked to be well-formed JSON) and nothing is materialised but what fills the SpanView, so it
// runs several times faster than JSON.parse plus a walk. Same meaning as the reference decoder in
// trace-json-parse.ts (tested against it): OTLP/JSON mapping with lowerCamelCase keys (snake_case
// accepted too), hex ids (case-insensitive), 64-bit integers as decimal strings or numbers, enums
// as integers or names, unknown fields ignored, null treated as absent. Limits: values nested more
// than 64 deep are refused; with duplicate keys both occurrences are read.

import { GenOpsError } from '../../kernel/errors.ts';
import type { ComparableBytes } from './bytes.ts';
import { comparableBytes, createStringInterner, decodeUtf8, equalsAt } from './bytes.ts';
import { createKeyTable } from './key-table.ts';
import type {
  AttrValue,
  AttributeSlots,
  TraceDecoder,
  TraceDecoderOptions,
  TraceVisitor,
} from './span-view.ts';
import { SpanView, StringSource } from './span-view.ts';
import type { IntegerRange } from './json-mapping.ts';
import {
  hexId,
  INTEGER,
  integerNumberInRange,
  integerTextInRange,
  SPAN_KIND_NAMES,
  STATUS_CODE_NAMES,
} from './json-mapping.ts';

// Digits of the integer bounds (json-mapping.ts IntegerRange), for the byte-level range check.
const INT64_MIN_DIGITS = '9223372036854775808';
const INT64_MAX_DIGITS = '9223372036854775807';
const UINT64_MAX_DIGITS = '18446744073709551615';

// Field names of the OTLP/JSON messages read here, in one table (ids by position).
const FIELD_NAMES = [
  'resourceSpans',
  'resource_spans',
  'resource',
  'scopeSpans',
  'scope_spans',
  'attributes',
  'spans',
  'traceId',
  'trace_id',
  'spanId',
  'span_id',
  'parentSpanId',
  'parent_span_id',
  'name',
  'kind',
  'startTimeUnixNano',
  'start_time_unix_nano',
  'endTimeUnixNano',
  'end_time_unix_nano',
  'events',
  'status',
  'timeUnixNano',
  'time_unix_nano',
  'code',
  'key',
  'value',
  'stringValue',
  'string_value',
  'intValue',
  'int_value',
  'doubleValue',
  'double_value',
  'boolValue',
  'bool_value',
  'scope',
] as const;
type FieldName = (typeof FIELD_NAMES)[number];
const FIELDS = createKeyTable(FIELD_NAMES);
const F = Object.fromEntries(FIELD_NAMES.map((n, i) => [n, i])) as Record<FieldName, number>;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const MAX_DEPTH = 64;
const quoted = (name: string): Uint8Array => new TextEncoder().encode(`"${name}"`);
const KEY_KEY = quoted('key');
const KEY_VALUE = quoted('value');
const KEY_STRING_VALUE = quoted('stringValue');
const KEY_INT_VALUE = quoted('intValue');
const enc = (text: string): ComparableBytes => comparableBytes(new TextEncoder().encode(text));
// The compact layout exporters write for one attribute, matched byte for byte (fast path).
const ATTR_OPEN = enc('{"key":');
const ATTR_VALUE_OPEN = enc(',"value":{');
const ATTR_STRING = enc('"stringValue":');
const ATTR_INT = enc('"intValue":');
const ATTR_DOUBLE = enc('"doubleValue":');
const ATTR_BOOL = enc('"boolValue":');
const POW10 = [1, 10, 100, 1000, 10000, 100000];
const TWO_POW_26 = 67108864;

const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[65 + i] = 10 + i;
    t[97 + i] = 10 + i;
  }
  return t;
})();

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function createJsonTraceDecoder(options: TraceDecoderOptions): TraceDecoder {
  const keys = options.keys;
  const eventNames = options.eventNames;
  const interner = createStringInterner();
  const source = new StringSource(interner);
  const view = new SpanView(keys.names.length, source);
  let buf: Uint8Array = new Uint8Array(0);
  let data: DataView = new DataView(buf.buffer);
  let pos = 0;
  let end = 0;
  // The last scanned string: contents [strStart, strEnd), and whether it has escapes.
  let strStart = 0;
  let strEnd = 0;
  let strEscaped = false;
  // The last scanned number: [numStart, numEnd), and whether it is a plain integer.
  let numStart = 0;
  let numEnd = 0;
  let numInteger = false;

  function fail(message: string, at = pos): never {
    throw new GenOpsError('invalid', 'otlp-json-malformed', `malformed OTLP/JSON: ${message} at byte ${at}`);
  }

  function ws(): void {
    let p = pos;
    while (p < end) {
      const c = buf[p]!;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    pos = p;
  }

  /** The next non-space byte (not consumed), or -1 at the end. */
  function peek(): number {
    ws();
    return pos < end ? buf[pos]! : -1;
  }

  function expect(c: number, what: string): void {
    ws();
    if (pos >= end || buf[pos] !== c) fail(`expected ${what}`);
    pos++;
  }

  /** Scans a string starting at the opening quote; sets strStart/strEnd/strEscaped. */
  function scanString(): void {
    const open = pos;
    let p = pos + 1;
    let escaped = false;
    for (;;) {
      // Four bytes at a time while none is a quote, a backslash or a control character (SWAR:
      // a byte is flagged when (x - 0x01) & ~x has its top bit set, x being the byte XOR target).
      while (p + 8 <= end) {
        const v = data.getInt32(p, true);
        const w = data.getInt32(p + 4, true);
        const q = v ^ 0x22222222;
        const b = v ^ 0x5c5c5c5c;
        const q2 = w ^ 0x22222222;
        const b2 = w ^ 0x5c5c5c5c;
        const hit =
          ((q - 0x01010101) & ~q) |
          ((b - 0x01010101) & ~b) |
          ((v - 0x20202020) & ~v) |
          ((q2 - 0x01010101) & ~q2) |
          ((b2 - 0x01010101) & ~b2) |
          ((w - 0x20202020) & ~w);
        if (hit & 0x80808080) break;
        p += 8;
      }
      while (p + 4 <= end) {
        const v = data.getInt32(p, true);
        const q = v ^ 0x22222222;
        const b = v ^ 0x5c5c5c5c;
        if ((((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b) | ((v - 0x20202020) & ~v)) & 0x80808080) break;
        p += 4;
      }
      if (p >= end) fail('unterminated string', open);
      const c = buf[p]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        const e = buf[p + 1];
        if (e === 0x75) {
          // \uXXXX
          for (let i = 2; i < 6; i++) if (p + i >= end || HEX[buf[p + i]!]! < 0) fail('bad \\u escape', p);
          p += 6;
        } else if (
          e === QUOTE ||
          e === BACKSLASH ||
          e === 0x2f ||
          e === 0x62 ||
          e === 0x66 ||
          e === 0x6e ||
          e === 0x72 ||
          e === 0x74
        ) {
          p += 2;
        } else fail('bad escape', p);
      } else if (c < 0x20) fail('control character in string', p);
      else p++;
    }
    strStart = open + 1;
    strEnd = p;
    strEscaped = escaped;
    pos = p + 1;
  }

  /** The last scanned string as a JS string. */
  function stringText(): string {
    if (!strEscaped) return interner.decode(buf, data, strStart, strEnd);
    return JSON.parse(decodeUtf8(buf, strStart - 1, strEnd + 1)) as string;
  }

  function scanNumber(): void {
    const start = pos;
    let p = pos;
    if (buf[p] === MINUS) p++;
    if (p >= end || !isDigit(buf[p]!)) fail('bad number', start);
    if (buf[p] === 0x30) p++;
    else while (p < end && isDigit(buf[p]!)) p++;
    let integer = true;
    if (p < end && buf[p] === 0x2e) {
      integer = false;
      p++;
      if (p >= end || !isDigit(buf[p]!)) fail('bad number', start);
      while (p < end && isDigit(buf[p]!)) p++;
    }
    if (p < end && (buf[p] === 0x65 || buf[p] === 0x45)) {
      integer = false;
      p++;
      if (p < end && (buf[p] === PLUS || buf[p] === MINUS)) p++;
      if (p >= end || !isDigit(buf[p]!)) fail('bad number', start);
      while (p < end && isDigit(buf[p]!)) p++;
    }
    numStart = start;
    numEnd = p;
    numInteger = integer;
    pos = p;
  }

  /** Value of the last scanned number. */
  function numberValue(): number {
    let p = numStart;
    const negative = buf[p] === MINUS;
    if (negative) p++;
    if (numInteger && numEnd - p <= 20) {
      const n = digitsValue(p, numEnd);
      return negative ? -n : n;
    }
    return Number(decodeUtf8(buf, numStart, numEnd));
  }

  /**
   * Decimal digits buf[start, stop) (at most 20) as a correctly rounded number, without building a
   * string: up to 15 digits exactly; above, N = H * 10^k + L with H the first 15 digits, computed
   * as A + B where A = (H >> 26) * 10^k * 2^26 and B = (H & (2^26 - 1)) * 10^k + L are both exact
   * doubles, so the one addition rounds correctly (nanosecond timestamps have 19 digits).
   */
  function digitsValue(start: number, stop: number): number {
    const split = Math.min(stop, start + 15);
    let h = 0;
    for (let i = start; i < split; i++) h = h * 10 + (buf[i]! - 0x30);
    if (split === stop) return h;
    let low = 0;
    for (let i = split; i < stop; i++) low = low * 10 + (buf[i]! - 0x30);
    const scale = POW10[stop - split]!;
    const hHigh = Math.floor(h / TWO_POW_26);
    const hLow = h - hHigh * TWO_POW_26;
    return hHigh * scale * TWO_POW_26 + (hLow * scale + low);
  }

  function literal(text: string): void {
    for (let i = 0; i < text.length; i++) {
      if (buf[pos + i] !== text.charCodeAt(i)) fail('bad literal');
    }
    pos += text.length;
  }

  /** Skips any JSON value, checking it is well-formed. */
  function skipValue(depth: number): void {
    const c = peek();
    switch (c) {
      case QUOTE:
        scanString();
        return;
      case LBRACE: {
        if (depth >= MAX_DEPTH) fail('nested too deep');
        pos++;
        if (peek() === RBRACE) {
          pos++;
          return;
        }
        for (;;) {
          if (peek() !== QUOTE) fail('expected a key');
          scanString();
          expect(COLON, "':'");
          skipValue(depth + 1);
          const n = peek();
          pos++;
          if (n === RBRACE) return;
          if (n !== COMMA) fail("expected ',' or '}'", pos - 1);
        }
      }
      case LBRACKET: {
        if (depth >= MAX_DEPTH) fail('nested too deep');
        pos++;
        if (peek() === RBRACKET) {
          pos++;
          return;
        }
        for (;;) {
          skipValue(depth + 1);
          const n = peek();
          pos++;
          if (n === RBRACKET) return;
          if (n !== COMMA) fail("expected ',' or ']'", pos - 1);
        }
      }
      case 0x74:
        literal('true');
        return;
      case 0x66:
        literal('false');
        return;
      case 0x6e:
        literal('null');
        return;
      default:
        if (c === MINUS || isDigit(c)) {
          scanNumber();
          return;
        }
        fail(c < 0 ? 'unexpected end of input' : 'unexpected character');
    }
  }

  /** True (consumed) when the next value is null: fields set to null count as absent. */
  function isNull(): boolean {
    if (peek() === 0x6e) {
      literal('null');
      return true;
    }
    return false;
  }

  // --- object and array iteration ---

  /** Consumes '{'; false when the object is empty (and consumed). */
  function openObject(what: string): boolean {
    if (peek() !== LBRACE) fail(`${what}: expected an object`);
    pos++;
    if (peek() === RBRACE) {
      pos++;
      return false;
    }
    return true;
  }

  /**
   * Consumes `"<name>":` when it comes next, the usual layout: saves hashing the key. `pattern` is
   * the quoted name's bytes.
   */
  function tryKey(pattern: Uint8Array): boolean {
    ws();
    const n = pattern.length;
    let p = pos;
    if (p + n >= end) return false;
    for (let i = 0; i < n; i++) if (buf[p + i] !== pattern[i]) return false;
    p += n;
    while (p < end && (buf[p] === 0x20 || buf[p] === 0x0a || buf[p] === 0x0d || buf[p] === 0x09)) p++;
    if (buf[p] !== COLON) return false;
    pos = p + 1;
    return true;
  }

  /** Reads `"key":` and returns its field id (-1 for fields not read here). */
  function fieldKey(): number {
    if (peek() !== QUOTE) fail('expected a key');
    scanString();
    const id = strEscaped ? FIELDS.matchString(stringText()) : FIELDS.matchBytes(buf, data, strStart, strEnd);
    expect(COLON, "':'");
    return id;
  }

  /** After a member: true when another follows, false at '}'. */
  function nextMember(): boolean {
    const c = peek();
    pos++;
    if (c === COMMA) return true;
    if (c === RBRACE) return false;
    return fail("expected ',' or '}'", pos - 1);
  }

  /** Consumes '['; false when the array is empty (and consumed). Null counts as empty. */
  function openArray(what: string): boolean {
    const c = peek();
    if (c === 0x6e) {
      literal('null');
      return false;
    }
    if (c !== LBRACKET) fail(`${what} is not an array`);
    pos++;
    if (peek() === RBRACKET) {
      pos++;
      return false;
    }
    return true;
  }

  function nextElement(): boolean {
    const c = peek();
    pos++;
    if (c === COMMA) return true;
    if (c === RBRACKET) return false;
    return fail("expected ',' or ']'", pos - 1);
  }

  // --- scalar values with the OTLP/JSON rules ---

  /**
   * Whether the decimal digits buf[start, stop) are within the range, compared as bytes against
   * the bound's digits (no string or BigInt on the hot path: nanosecond times have 19 digits).
   */
  function digitsInRange(start: number, stop: number, negative: boolean, range: IntegerRange): boolean {
    let p = start;
    while (p < stop - 1 && buf[p] === 0x30) p++;
    const bound = negative ? INT64_MIN_DIGITS : range === 'int64' ? INT64_MAX_DIGITS : UINT64_MAX_DIGITS;
    const d = stop - p;
    if (d !== bound.length) return d < bound.length;
    for (let i = 0; i < d; i++) {
      const b = buf[p + i]!;
      const limit = bound.charCodeAt(i);
      if (b !== limit) return b < limit;
    }
    return true;
  }

  function int64Value(what: string, range: IntegerRange = 'fixed64'): number {
    const c = peek();
    if (c === QUOTE) {
      scanString();
      if (!strEscaped) {
        let p = strStart;
        if (buf[p] === MINUS || buf[p] === PLUS) p++;
        let ok = p < strEnd;
        for (let i = p; i < strEnd; i++) if (!isDigit(buf[i]!)) ok = false;
        if (ok) {
          const negative = buf[strStart] === MINUS;
          if (!digitsInRange(p, strEnd, negative, range))
            return fail(`${what}: integer out of ${range} range`);
          if (strEnd - p <= 20) {
            const n = digitsValue(p, strEnd);
            return negative ? -n : n;
          }
          return Number(decodeUtf8(buf, strStart, strEnd));
        }
        return fail(`${what}: expected an integer (number or decimal string)`);
      }
      const s = stringText();
      if (INTEGER.test(s)) {
        if (!integerTextInRange(s, range)) return fail(`${what}: integer out of ${range} range`);
        return Number(s);
      }
      return fail(`${what}: expected an integer (number or decimal string)`);
    }
    if (c === MINUS || isDigit(c)) {
      scanNumber();
      const n = numberValue();
      if (!Number.isFinite(n)) fail(`${what}: integer is not finite`);
      if (!integerNumberInRange(n, range)) fail(`${what}: integer out of ${range} range`);
      return Math.trunc(n);
    }
    return fail(`${what}: expected an integer (number or decimal string)`);
  }

  function doubleValue(): number {
    const c = peek();
    if (c === MINUS || isDigit(c)) {
      scanNumber();
      return numberValue();
    }
    if (c === QUOTE) {
      scanString();
      const s = stringText();
      if (s === 'NaN') return NaN;
      if (s === 'Infinity') return Infinity;
      if (s === '-Infinity') return -Infinity;
      const n = Number(s);
      if (s.trim() !== '' && !Number.isNaN(n)) return n;
    }
    return fail('doubleValue: expected a number');
  }

  function enumValue(names: Readonly<Record<string, number>>, what: string): number {
    const c = peek();
    if (c === MINUS || isDigit(c)) {
      scanNumber();
      const n = numberValue();
      if (Number.isInteger(n)) return n;
    } else if (c === QUOTE) {
      scanString();
      const s = stringText();
      const n = names[s];
      if (n !== undefined) return n;
      if (INTEGER.test(s)) return Number(s);
    }
    return fail(`${what}: expected an enum integer`);
  }

  /**
   * AnyValue object: scalar or undefined. Like the reference, the first present of string, int,
   * double, bool wins (in that order), and only the winner must be well-typed.
   */
  function anyValue(): AttrValue | undefined {
    if (peek() !== LBRACE) {
      skipValue(1);
      return undefined;
    }
    if (!openObject('value')) return undefined;
    let sStart = -1;
    let sEnd = 0;
    let sEscaped = false;
    let sBad = false;
    let intAt = -1;
    let doubleAt = -1;
    let boolAt = -1;
    do {
      const id = tryKey(KEY_STRING_VALUE) ? F.stringValue : tryKey(KEY_INT_VALUE) ? F.intValue : fieldKey();
      if (isNull()) continue;
      if (id === F.stringValue || id === F.string_value) {
        if (sStart < 0 && !sBad) {
          if (peek() === QUOTE) {
            scanString();
            sStart = strStart;
            sEnd = strEnd;
            sEscaped = strEscaped;
            continue;
          }
          sBad = true;
        }
      } else if (id === F.intValue || id === F.int_value) {
        if (intAt < 0) intAt = pos;
      } else if (id === F.doubleValue || id === F.double_value) {
        if (doubleAt < 0) doubleAt = pos;
      } else if (id === F.boolValue || id === F.bool_value) {
        if (boolAt < 0) boolAt = pos;
      }
      skipValue(1);
    } while (nextMember());
    if (sBad) fail('stringValue is not a string');
    if (sStart >= 0) {
      strStart = sStart;
      strEnd = sEnd;
      strEscaped = sEscaped;
      return stringText();
    }
    const after = pos;
    let value: AttrValue | undefined;
    if (intAt >= 0) {
      pos = intAt;
      value = int64Value('intValue', 'int64');
    } else if (doubleAt >= 0) {
      pos = doubleAt;
      value = doubleValue();
    } else if (boolAt >= 0) {
      pos = boolAt;
      const c = peek();
      if (c === 0x74) {
        literal('true');
        value = true;
      } else if (c === 0x66) {
        literal('false');
        value = false;
      } else fail('boolValue is not a boolean');
    }
    pos = after;
    return value;
  }

  function bytesAt(p: number, pattern: ComparableBytes): boolean {
    return p + pattern.bytes.length <= end && equalsAt(buf, data, p, pattern);
  }

  /**
   * One attribute in the compact layout `{"key":"k","value":{"<kind>Value":v}}` (what the JS
   * exporter and the Collector write), read with byte compares. Returns false, with nothing
   * consumed or stored, for any other layout; the general path then reads it.
   */
  function fastAttribute(slots: AttributeSlots): boolean {
    const start = pos;
    if (!bytesAt(start, ATTR_OPEN) || buf[start + ATTR_OPEN.bytes.length] !== QUOTE) return false;
    pos = start + ATTR_OPEN.bytes.length;
    scanString();
    if (strEscaped || !bytesAt(pos, ATTR_VALUE_OPEN)) {
      pos = start;
      return false;
    }
    const id = keys.matchBytes(buf, data, strStart, strEnd);
    pos += ATTR_VALUE_OPEN.bytes.length;
    let value: AttrValue | undefined;
    if (bytesAt(pos, ATTR_STRING) && buf[pos + ATTR_STRING.bytes.length] === QUOTE) {
      pos += ATTR_STRING.bytes.length;
      scanString();
      if (buf[pos] !== RBRACE || buf[pos + 1] !== RBRACE) {
        pos = start;
        return false;
      }
      pos += 2;
      // Kept as bytes until read (most are never read); escaped strings are decoded now.
      if (id >= 0) {
        if (strEscaped) slots.set(id, stringText());
        else slots.setLazyString(id, strStart, strEnd);
      }
      return true;
    } else if (id < 0) {
      // Not read: any well-formed value will do, whatever its kind.
      if (!(bytesAt(pos, ATTR_INT) || bytesAt(pos, ATTR_DOUBLE) || bytesAt(pos, ATTR_BOOL))) {
        pos = start;
        return false;
      }
      pos +=
        buf[pos + 1] === 0x69
          ? ATTR_INT.bytes.length
          : buf[pos + 1] === 0x64
            ? ATTR_DOUBLE.bytes.length
            : ATTR_BOOL.bytes.length;
      skipValue(1);
    } else if (bytesAt(pos, ATTR_INT)) {
      pos += ATTR_INT.bytes.length;
      value = int64Value('intValue', 'int64');
    } else if (bytesAt(pos, ATTR_DOUBLE)) {
      pos += ATTR_DOUBLE.bytes.length;
      value = doubleValue();
    } else if (bytesAt(pos, ATTR_BOOL)) {
      pos += ATTR_BOOL.bytes.length;
      const c = buf[pos];
      if (c === 0x74) {
        literal('true');
        value = true;
      } else if (c === 0x66) {
        literal('false');
        value = false;
      } else fail('boolValue is not a boolean');
    } else {
      pos = start;
      return false;
    }
    if (buf[pos] !== RBRACE || buf[pos + 1] !== RBRACE) {
      pos = start;
      return false;
    }
    pos += 2;
    if (value !== undefined) slots.set(id, value);
    return true;
  }

  /** A KeyValue list into slots (span and event attributes): only keys in the key table. */
  function attributesInto(slots: AttributeSlots): void {
    if (!openArray('attributes')) return;
    do {
      if (peek() !== LBRACE) fail('attribute is not an object');
      if (fastAttribute(slots)) continue;
      if (!openObject('attribute')) continue;
      let id = -1;
      let valueAt = -1;
      let done = false;
      do {
        const f = tryKey(KEY_KEY) ? F.key : tryKey(KEY_VALUE) ? F.value : fieldKey();
        if (f === F.key) {
          if (peek() === QUOTE) {
            scanString();
            id = strEscaped ? keys.matchString(stringText()) : keys.matchBytes(buf, data, strStart, strEnd);
          } else {
            skipValue(1);
            id = -1;
          }
        } else if (f === F.value && id >= 0 && !done) {
          const v = anyValue();
          if (v !== undefined) slots.set(id, v);
          done = true;
        } else {
          if (f === F.value) valueAt = pos;
          skipValue(1);
        }
      } while (nextMember());
      if (!done && id >= 0 && valueAt >= 0) {
        // The value came before the key.
        const after = pos;
        pos = valueAt;
        const v = anyValue();
        if (v !== undefined) slots.set(id, v);
        pos = after;
      }
    } while (nextElement());
  }

  function resourceAttributes(out: Map<string, AttrValue>): void {
    if (!openArray('attributes')) return;
    do {
      if (!openObject('resource.attributes')) continue;
      let key: string | undefined;
      let valueAt = -1;
      do {
        const f = fieldKey();
        if (f === F.key && peek() === QUOTE) {
          scanString();
          key = stringText();
        } else if (f === F.value) {
          valueAt = pos;
          skipValue(1);
        } else skipValue(1);
      } while (nextMember());
      if (key !== undefined && valueAt >= 0) {
        const after = pos;
        pos = valueAt;
        const v = anyValue();
        pos = after;
        if (v !== undefined) out.set(key, v);
      }
    } while (nextElement());
  }

  function idField(offset: number, size: number): number {
    if (peek() !== QUOTE) {
      skipValue(1);
      return -1;
    }
    scanString();
    const n = strEnd - strStart;
    let ascii = !strEscaped;
    if (ascii) for (let i = strStart; i < strEnd; i++) if (buf[i]! >= 0x80) ascii = false;
    if (!ascii) return hexId(stringText(), view.ids, offset, size);
    if (n === 0) return 0;
    if (n % 2 !== 0) return -1;
    if (n !== size * 2) return n / 2;
    for (let i = 0; i < size; i++) {
      const h = HEX[buf[strStart + 2 * i]!]!;
      const l = HEX[buf[strStart + 2 * i + 1]!]!;
      if (h < 0 || l < 0) return -1;
      view.ids[offset + i] = (h << 4) | l;
    }
    return size;
  }

  function event(): void {
    if (!openObject('events')) return;
    let nameId = -1;
    let timeAt = -1;
    let attributesAt = -1;
    do {
      const f = fieldKey();
      if (isNull()) continue;
      if (f === F.name && peek() === QUOTE) {
        scanString();
        nameId = strEscaped
          ? eventNames.matchString(stringText())
          : eventNames.matchBytes(buf, data, strStart, strEnd);
        continue;
      }
      // Time and attributes are read only for events that are kept (as the reference does).
      if (f === F.timeUnixNano || f === F.time_unix_nano) timeAt = pos;
      else if (f === F.attributes) attributesAt = pos;
      skipValue(1);
    } while (nextMember());
    if (nameId < 0) return;
    const ev = view.nextEvent();
    if (ev === undefined) return;
    const after = pos;
    ev.nameId = nameId;
    if (timeAt >= 0) {
      pos = timeAt;
      ev.timeUnixNano = int64Value('events.timeUnixNano');
    }
    if (attributesAt >= 0) {
      pos = attributesAt;
      attributesInto(ev.attributes);
    }
    pos = after;
  }

  function status(): void {
    if (peek() !== LBRACE) {
      skipValue(1);
      return;
    }
    if (!openObject('status')) return;
    do {
      const f = fieldKey();
      if (isNull()) continue;
      if (f === F.code) view.statusCode = enumValue(STATUS_CODE_NAMES, 'status.code');
      else skipValue(1);
    } while (nextMember());
  }

  function span(visitor: TraceVisitor): void {
    view.reset();
    if (openObject('spans')) {
      do {
        const f = fieldKey();
        if (isNull()) continue;
        switch (f) {
          case F.attributes:
            attributesInto(view.attributes);
            break;
          case F.traceId:
          case F.trace_id:
            view.traceIdLength = idField(0, 16);
            break;
          case F.spanId:
          case F.span_id:
            view.spanIdLength = idField(16, 8);
            break;
          case F.parentSpanId:
          case F.parent_span_id:
            if (peek() === QUOTE) {
              view.parentSpanIdLength = idField(24, 8);
              view.hasParent = view.parentSpanIdLength !== 0;
            } else {
              skipValue(1);
              view.hasParent = false;
            }
            break;
          case F.name:
            if (peek() === QUOTE) {
              scanString();
              if (strEscaped) view.name = stringText();
              else view.setNameBytes(buf, strStart, strEnd);
            } else {
              skipValue(1);
              view.name = '';
            }
            break;
          case F.kind:
            view.kind = enumValue(SPAN_KIND_NAMES, 'kind');
            break;
          case F.startTimeUnixNano:
          case F.start_time_unix_nano:
            view.startTimeUnixNano = int64Value('startTimeUnixNano');
            break;
          case F.endTimeUnixNano:
          case F.end_time_unix_nano:
            view.endTimeUnixNano = int64Value('endTimeUnixNano');
            break;
          case F.events:
            if (openArray('events')) {
              do event();
              while (nextElement());
            }
            break;
          case F.status:
            status();
            break;
          default:
            skipValue(1);
        }
      } while (nextMember());
    }
    visitor.span(view);
  }

  /** InstrumentationScope.name ("" when absent or not a string). */
  function scopeName(): string {
    let name = '';
    if (openObject('scope')) {
      do {
        const f = fieldKey();
        if (f === F.name && peek() === QUOTE) {
          scanString();
          name = stringText();
        } else skipValue(1);
      } while (nextMember());
    }
    return name;
  }

  function spansArray(visitor: TraceVisitor): void {
    if (openArray('spans')) {
      do span(visitor);
      while (nextElement());
    }
  }

  function scopeSpans(visitor: TraceVisitor): void {
    if (!openArray('scopeSpans')) return;
    do {
      if (!openObject('scopeSpans')) continue;
      view.scopeName = '';
      let scopeSeen = false;
      // Spans met before the scope: read once the scope is known (SDKs write the scope first).
      let pendingSpans = -1;
      do {
        const f = fieldKey();
        if (isNull()) continue;
        if (f === F.scope) {
          view.scopeName = scopeName();
          scopeSeen = true;
        } else if (f === F.spans && !scopeSeen && pendingSpans < 0) {
          pendingSpans = pos;
          skipValue(1);
        } else if (f === F.spans) {
          spansArray(visitor);
        } else skipValue(1);
      } while (nextMember());
      if (pendingSpans >= 0) {
        const after = pos;
        pos = pendingSpans;
        spansArray(visitor);
        pos = after;
      }
    } while (nextElement());
  }

  function resourceSpans(visitor: TraceVisitor): void {
    const attributes = new Map<string, AttrValue>();
    let resourceDone = false;
    let emitted = false;
    // scopeSpans met before the resource: read once the resource is known (visitor order).
    const pending: number[] = [];
    const emit = (): void => {
      if (emitted) return;
      emitted = true;
      visitor.resource(attributes);
      const after = pos;
      for (const at of pending) {
        pos = at;
        scopeSpans(visitor);
      }
      pos = after;
    };
    if (openObject('resourceSpans')) {
      do {
        const f = fieldKey();
        if (isNull()) continue;
        if (f === F.resource) {
          if (openObject('resource')) {
            do {
              const rf = fieldKey();
              if (rf === F.attributes) resourceAttributes(attributes);
              else skipValue(1);
            } while (nextMember());
          }
          resourceDone = true;
        } else if (f === F.scopeSpans || f === F.scope_spans) {
          if (resourceDone) {
            emit();
            scopeSpans(visitor);
          } else {
            pending.push(pos);
            skipValue(1);
          }
        } else skipValue(1);
      } while (nextMember());
    }
    emit();
  }

  function request(visitor: TraceVisitor): void {
    if (peek() !== LBRACE) fail('request: expected an object');
    if (openObject('request')) {
      do {
        const f = fieldKey();
        if (f === F.resourceSpans || f === F.resource_spans) {
          if (openArray('resourceSpans')) {
            do resourceSpans(visitor);
            while (nextElement());
          }
        } else skipValue(1);
      } while (nextMember());
    }
    if (peek() !== -1) fail('unexpected data after the request');
  }

  return {
    decode(body, visitor) {
      buf = body;
      data = new DataView(body.buffer, body.byteOffset, body.byteLength);
      source.attach(buf, data);
      end = body.length;
      // A UTF-8 byte order mark is allowed (TextDecoder drops it too).
      pos = end >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
      try {
        request(visitor);
      } finally {
        buf = new Uint8Array(0);
        data = new DataView(buf.buffer);
        source.detach();
      }
    },
  };
}
