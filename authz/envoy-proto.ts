// Owns the wire form of Envoy's external authorization API (envoy.service.auth.v3): a hand-written
// protobuf decoder for the fields of CheckRequest the check reads (source address, HTTP method, path,
// host, headers, body) and an encoder of CheckResponse (google.rpc.Status, OkHttpResponse,
// DeniedHttpResponse). Unknown fields are skipped, as protobuf requires, so newer Envoys with more
// fields still decode. Field numbers are those of data-plane-api (checked against the generated
// client of xds-protos in authz/test/envoy-grpc.test.ts).

import { GenOpsError } from '../kernel/errors.ts';

/** What a check needs of a CheckRequest. Header names are lower case, as Envoy sends them. */
export interface EnvoyCheckRequest {
  /** attributes.source.address.socket_address.address: the downstream peer as Envoy saw it. */
  readonly sourceAddress: string | undefined;
  /** attributes.source.principal (mTLS SPIFFE id in a mesh). */
  readonly sourcePrincipal: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly headers: Readonly<Record<string, string>>;
  /** attributes.request.http.body or raw_body, when with_request_body is configured. */
  readonly body: string | undefined;
  /** attributes.context_extensions (per-route settings of the gateway). */
  readonly contextExtensions: Readonly<Record<string, string>>;
}

export interface EnvoyHeader {
  readonly key: string;
  readonly value: string;
}

export type EnvoyCheckResponse =
  | {
      readonly kind: 'ok';
      /** Added to the request forwarded upstream. */
      readonly headers: readonly EnvoyHeader[];
      /** Added to the response sent to the client. */
      readonly responseHeaders: readonly EnvoyHeader[];
    }
  | {
      readonly kind: 'denied';
      /** google.rpc.Code of the status: 7 PERMISSION_DENIED or 8 RESOURCE_EXHAUSTED. */
      readonly rpcCode: number;
      readonly message: string;
      /** HTTP status the gateway answers with (403, 429). */
      readonly httpStatus: number;
      readonly headers: readonly EnvoyHeader[];
      readonly body: string;
    };

// ---- decoding ------------------------------------------------------------------------------------------

const MAX_DEPTH_BYTES = 64 * 1024 * 1024;

class Reader {
  pos: number;
  readonly buf: Uint8Array;
  readonly end: number;
  constructor(buf: Uint8Array, start: number, end: number) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw malformed('truncated varint');
      const b = this.buf[this.pos++]!;
      // Above 2^53 precision is lost; only lengths, tags and enums are read, which are small.
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    throw malformed('varint too long');
  }
  /** [start, end) of a length-delimited field's content. */
  bytes(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw malformed('length beyond the message');
    this.pos = start + len;
    return [start, this.pos];
  }
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw malformed(`unsupported wire type ${wireType}`);
    }
  }
  private advance(n: number): void {
    if (this.pos + n > this.end) throw malformed('truncated field');
    this.pos += n;
  }
}

function malformed(detail: string): GenOpsError {
  return new GenOpsError('invalid', 'AUTHZ_MALFORMED', `malformed CheckRequest: ${detail}`);
}

// Buffer#toString over a range: no subarray view and a fast path for ASCII, which headers are.
const text = (buf: Uint8Array, [s, e]: [number, number]): string => (buf as Buffer).toString('utf8', s, e);

/** Calls fn(field, wireType, reader) for each field of buf[start, end). */
function fields(
  buf: Uint8Array,
  range: [number, number],
  fn: (field: number, wireType: number, r: Reader) => void,
): void {
  const r = new Reader(buf, range[0], range[1]);
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 0) throw malformed('field number 0');
    const before = r.pos;
    fn(field, wireType, r);
    // A handler that did not consume its field leaves it to be skipped here.
    if (r.pos === before) r.skip(wireType);
  }
}

function expectLen(wireType: number, what: string): void {
  if (wireType !== 2) throw malformed(`${what} is not length-delimited`);
}

/** map<string,string> entry: key = 1, value = 2. */
function mapEntry(buf: Uint8Array, range: [number, number]): [string, string] {
  let key = '';
  let value = '';
  fields(buf, range, (f, w, r) => {
    if (f === 1) {
      expectLen(w, 'map key');
      key = text(buf, r.bytes());
    } else if (f === 2) {
      expectLen(w, 'map value');
      value = text(buf, r.bytes());
    }
  });
  return [key, value];
}

export function decodeCheckRequest(input: Uint8Array): EnvoyCheckRequest {
  if (input.length > MAX_DEPTH_BYTES) throw malformed('too large');
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let sourceAddress: string | undefined;
  let sourcePrincipal: string | undefined;
  let method = '';
  let path = '';
  let host = '';
  let body: string | undefined;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const contextExtensions: Record<string, string> = Object.create(null) as Record<string, string>;

  const httpRequest = (range: [number, number]): void =>
    fields(buf, range, (f, w, r) => {
      switch (f) {
        case 2:
          expectLen(w, 'method');
          method = text(buf, r.bytes());
          break;
        case 3: {
          expectLen(w, 'headers');
          const [k, v] = mapEntry(buf, r.bytes());
          headers[k.toLowerCase()] = v;
          break;
        }
        case 4:
          expectLen(w, 'path');
          path = text(buf, r.bytes());
          break;
        case 5:
          expectLen(w, 'host');
          host = text(buf, r.bytes());
          break;
        case 11:
          expectLen(w, 'body');
          body = text(buf, r.bytes());
          break;
        case 12:
          expectLen(w, 'raw_body');
          body = text(buf, r.bytes());
          break;
        case 13:
          // header_map (HeaderMap { repeated HeaderValue headers = 1 }), sent instead of `headers`
          // when encode_raw_headers is set; values may then be in raw_value (3).
          expectLen(w, 'header_map');
          fields(buf, r.bytes(), (hf, hw, hr) => {
            if (hf !== 1) return;
            expectLen(hw, 'header');
            let key = '';
            let value = '';
            fields(buf, hr.bytes(), (vf, vw, vr) => {
              if (vf === 1) {
                expectLen(vw, 'header key');
                key = text(buf, vr.bytes());
              } else if (vf === 2 || vf === 3) {
                expectLen(vw, 'header value');
                value = text(buf, vr.bytes());
              }
            });
            const name = key.toLowerCase();
            headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
          });
          break;
      }
    });

  const peer = (range: [number, number]): void =>
    fields(buf, range, (f, w, r) => {
      if (f === 1) {
        expectLen(w, 'address');
        // Address { socket_address = 1 { address = 2 } }
        fields(buf, r.bytes(), (af, aw, ar) => {
          if (af !== 1) return;
          expectLen(aw, 'socket_address');
          fields(buf, ar.bytes(), (sf, sw, sr) => {
            if (sf !== 2) return;
            expectLen(sw, 'socket address');
            sourceAddress = text(buf, sr.bytes());
          });
        });
      } else if (f === 4) {
        expectLen(w, 'principal');
        sourcePrincipal = text(buf, r.bytes());
      }
    });

  fields(buf, [0, buf.length], (f, w, r) => {
    if (f !== 1) return;
    expectLen(w, 'attributes');
    fields(buf, r.bytes(), (af, aw, ar) => {
      if (af === 1) {
        expectLen(aw, 'source');
        peer(ar.bytes());
      } else if (af === 4) {
        expectLen(aw, 'request');
        // Request { time = 1, http = 2 }
        fields(buf, ar.bytes(), (rf, rw, rr) => {
          if (rf !== 2) return;
          expectLen(rw, 'http');
          httpRequest(rr.bytes());
        });
      } else if (af === 10) {
        expectLen(aw, 'context_extensions');
        const [k, v] = mapEntry(buf, ar.bytes());
        contextExtensions[k] = v;
      }
    });
  });
  return { sourceAddress, sourcePrincipal, method, path, host, headers, body, contextExtensions };
}

// ---- encoding ------------------------------------------------------------------------------------------

/**
 * A growable byte writer. Nested messages are written into their own writer and copied in with
 * their length (a CheckResponse is a few hundred bytes: one copy per level is cheaper than sizing).
 */
class Writer {
  private buf: Buffer = Buffer.allocUnsafe(256);
  private pos = 0;
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  private raw(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  varint(field: number, value: number): this {
    if (value === 0) return this;
    this.raw(field * 8);
    this.raw(value);
    return this;
  }
  string(field: number, value: string): this {
    if (value === '') return this;
    const len = Buffer.byteLength(value, 'utf8');
    this.raw(field * 8 + 2);
    this.raw(len);
    this.ensure(len);
    this.pos += this.buf.write(value, this.pos, 'utf8');
    return this;
  }
  message(field: number, content: Uint8Array): this {
    this.raw(field * 8 + 2);
    this.raw(content.length);
    this.ensure(content.length);
    this.buf.set(content, this.pos);
    this.pos += content.length;
    return this;
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** HeaderValueOption { header = 1: HeaderValue { key = 1, value = 2 }, append_action = 3 }. */
function headerOption(h: EnvoyHeader, overwrite: boolean): Uint8Array {
  const header = new Writer().string(1, h.key).string(2, h.value).finish();
  // append_action OVERWRITE_IF_EXISTS_OR_ADD (2): our figures replace any a client sent.
  return new Writer()
    .message(1, header)
    .varint(3, overwrite ? 2 : 0)
    .finish();
}

export function encodeCheckResponse(response: EnvoyCheckResponse): Uint8Array {
  const w = new Writer();
  if (response.kind === 'ok') {
    // status = 1 { code = 0 }: an empty message.
    w.message(1, new Uint8Array(0));
    const ok = new Writer();
    for (const h of response.headers) ok.message(2, headerOption(h, true));
    for (const h of response.responseHeaders) ok.message(6, headerOption(h, true));
    w.message(3, ok.finish());
    return w.finish();
  }
  w.message(1, new Writer().varint(1, response.rpcCode).string(2, response.message).finish());
  const denied = new Writer().message(1, new Writer().varint(1, response.httpStatus).finish());
  for (const h of response.headers) denied.message(2, headerOption(h, true));
  denied.string(3, response.body);
  w.message(2, denied.finish());
  return w.finish();
}

// ---- a request encoder, for tests and the benchmark's client ---------------------------------------------

export interface CheckRequestInput {
  readonly sourceAddress?: string;
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export function encodeCheckRequest(input: CheckRequestInput): Uint8Array {
  const http = new Writer()
    .string(2, input.method ?? '')
    .string(4, input.path ?? '')
    .string(5, input.host ?? '');
  for (const [k, v] of Object.entries(input.headers ?? {})) {
    http.message(3, new Writer().string(1, k).string(2, v).finish());
  }
  if (input.body !== undefined) http.string(11, input.body);
  const attributes = new Writer();
  if (input.sourceAddress !== undefined) {
    const socket = new Writer().string(2, input.sourceAddress).finish();
    const address = new Writer().message(1, socket).finish();
    attributes.message(1, new Writer().message(1, address).finish());
  }
  attributes.message(4, new Writer().message(2, http.finish()).finish());
  return new Writer().message(1, attributes.finish()).finish();
}
