// Owns the gRPC load client's connection in bench/authz.ts: unary calls over one h2c connection from
// pre-encoded bytes, as cheap as a client can be, so the benchmark measures the server and not Node's
// http2 client (which costs about as much per call as the server, and under load sends a call's DATA
// frame milliseconds after its HEADERS). Each call is one write of a HEADERS frame (a fixed HPACK block
// of literals, no dynamic table) and its DATA frame with END_STREAM, as Envoy writes them. The answer is
// read as frames only: a call is done at END_STREAM (trailers) or RST_STREAM; its grpc-status is not
// decoded (HPACK with the server's dynamic table), the server's metrics count errors instead.
// Flow control: the receive windows are opened to the maximum once; sending follows the server's windows.

import { createConnection, type Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;
const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_WINDOW = 65_535;

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream & 0x7fffffff, 5);
  payload.copy(out, 9);
  return out;
}

/** HPACK string literal, no Huffman; values here are shorter than 127 bytes. */
function literal(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  if (b.length >= 127) throw new RangeError('header too long for the fixed block');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** The header block of every call: static-table names, literal values, never indexed. */
export function grpcHeaderBlock(path: string, authority: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83]), // :method POST (static 3)
    Buffer.from([0x86]), // :scheme http (static 6)
    Buffer.from([0x04]), // :path (static 4), literal value without indexing
    literal(path),
    Buffer.from([0x01]), // :authority (static 1)
    literal(authority),
    Buffer.from([0x0f, 0x10]), // content-type (static 31)
    literal('application/grpc'),
    Buffer.from([0x00]), // a new name
    literal('te'),
    literal('trailers'),
  ]);
}

export interface RawH2Connection {
  /** Sends one call (the gRPC-framed message); false when the server's stream limit is reached. */
  call(block: Buffer, message: Buffer, done: (ok: boolean) => void): boolean;
  inFlight(): number;
  close(): void;
}

export function rawH2Connection(port: number): RawH2Connection {
  const socket: Socket = createConnection({ host: '127.0.0.1', port, noDelay: true });
  const waiting = new Map<number, (ok: boolean) => void>();
  // Calls the connection's send window cannot take yet, in order.
  const queued: { id: number; data: Buffer; size: number }[] = [];
  let nextId = 1;
  let maxStreams = 100; // until the server's SETTINGS say
  let sendWindow = DEFAULT_WINDOW;
  let pending: Buffer = Buffer.alloc(0);
  let dead = false;

  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(MAX_WINDOW, 2);
  const grow = Buffer.alloc(4);
  grow.writeUInt32BE(MAX_WINDOW - DEFAULT_WINDOW, 0);
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, settings), frame(WINDOW_UPDATE, 0, 0, grow)]));

  const finish = (id: number, ok: boolean) => {
    const done = waiting.get(id);
    if (!done) return;
    waiting.delete(id);
    done(ok);
  };
  const failAll = () => {
    dead = true;
    for (const id of [...waiting.keys()]) finish(id, false);
    queued.length = 0;
  };
  const flushQueued = () => {
    const out: Buffer[] = [];
    while (queued.length > 0 && queued[0]!.size <= sendWindow) {
      const q = queued.shift()!;
      sendWindow -= q.size;
      out.push(q.data);
    }
    if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  };

  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (pending.length - at >= 9) {
      const length = pending.readUIntBE(at, 3);
      if (pending.length - at < 9 + length) break;
      const type = pending[at + 3]!;
      const flags = pending[at + 4]!;
      const id = pending.readUInt32BE(at + 5) & 0x7fffffff;
      const payload = pending.subarray(at + 9, at + 9 + length);
      at += 9 + length;
      if (type === DATA || type === HEADERS) {
        if (flags & END_STREAM) finish(id, true);
      } else if (type === RST_STREAM) {
        finish(id, false);
      } else if (type === SETTINGS && !(flags & ACK)) {
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          if (payload.readUInt16BE(i) === 0x3) maxStreams = payload.readUInt32BE(i + 2);
        }
        socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
      } else if (type === PING && !(flags & ACK)) {
        socket.write(frame(PING, ACK, 0, Buffer.from(payload)));
      } else if (type === WINDOW_UPDATE && id === 0) {
        sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
        flushQueued();
      } else if (type === GOAWAY) {
        failAll();
      }
    }
    pending = at === pending.length ? Buffer.alloc(0) : pending.subarray(at);
  });
  socket.on('error', failAll);
  socket.on('close', failAll);

  return {
    call(block, message, done) {
      if (dead) {
        done(false);
        return true;
      }
      if (waiting.size >= maxStreams) return false;
      const id = nextId;
      nextId += 2;
      waiting.set(id, done);
      const data = Buffer.concat([
        frame(HEADERS, END_HEADERS, id, block),
        frame(DATA, END_STREAM, id, message),
      ]);
      if (queued.length === 0 && message.length <= sendWindow) {
        sendWindow -= message.length;
        socket.write(data);
      } else {
        queued.push({ id, data, size: message.length });
      }
      return true;
    },
    inFlight: () => waiting.size,
    close: () => {
      if (!socket.destroyed) socket.write(frame(GOAWAY, 0, 0, Buffer.alloc(8)));
      socket.destroy();
    },
  };
}
