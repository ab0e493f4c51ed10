// Owns realistic OTLP trace requests for benchmarks: GenAI spans as real instrumentations send them
// (current semconv, OpenLLMetry, OpenInference and OpenLIT styles), agent/tool/HTTP spans around
// them, Kubernetes resource attributes, about 0.5 KB per span. Deterministic for a seed. The same
// request is encoded as OTLP protobuf (a small writer from the public field numbers) and OTLP/JSON
// (as the OpenTelemetry JS exporter sends it: hex ids, intValue as a number).

type Scalar = string | number | boolean | readonly string[];

interface FixtureAttribute {
  readonly key: string;
  /** Integers are written as intValue when `int` is set, else numbers are doubleValue. */
  readonly value: Scalar;
  readonly int?: boolean;
}

interface FixtureEvent {
  readonly name: string;
  readonly timeUnixNano: bigint;
  readonly attributes: readonly FixtureAttribute[];
}

interface FixtureSpan {
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly parentSpanId: Uint8Array | undefined;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: readonly FixtureAttribute[];
  readonly events: readonly FixtureEvent[];
  readonly statusCode: number;
}

interface FixtureResourceSpans {
  readonly resource: readonly FixtureAttribute[];
  readonly scopeName: string;
  readonly scopeVersion: string;
  readonly spans: readonly FixtureSpan[];
}

export interface GenAiRequestOptions {
  /** Spans in the request (100..512 is what SDK exporters and Collectors send). */
  readonly spans: number;
  /** Distinct sending workloads (ResourceSpans) in the request; default 1 (an SDK exporter). */
  readonly workloads?: number;
  /** Seed of the generator; same seed, same bytes. */
  readonly seed?: number;
  /** Base time of the spans, ms epoch; default 2026-11-02T10:00:00Z. */
  readonly startMs?: number;
  /**
   * Share of GenAI chat spans (0..1); the rest keeps the default mix of embeddings, agent, tool and
   * HTTP spans in its proportions. Default 0.6 (the mix below).
   */
  readonly chatFraction?: number;
}

export interface GenAiRequest {
  readonly protobuf: Uint8Array;
  readonly json: string;
  readonly spans: number;
  /** Spans that are charged model calls (inference with provider/model). */
  readonly chargedSpans: number;
  /** GenAI chat spans among them. */
  readonly chatSpans: number;
  readonly workloads: number;
}

/** Mulberry32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX = '0123456789abcdef';

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b >> 4]! + HEX[b & 15]!;
  return s;
}

interface ModelChoice {
  readonly style: 'semconv' | 'openllmetry' | 'openinference' | 'openlit';
  readonly provider: string;
  readonly requestModel: string;
  readonly responseModel: string;
  readonly server: string;
}

const MODELS: readonly ModelChoice[] = [
  {
    style: 'semconv',
    provider: 'openai',
    requestModel: 'gpt-4o-mini',
    responseModel: 'gpt-4o-mini-2024-07-18',
    server: 'api.openai.com',
  },
  {
    style: 'semconv',
    provider: 'openai',
    requestModel: 'gpt-4o',
    responseModel: 'gpt-4o-2024-08-06',
    server: 'api.openai.com',
  },
  {
    style: 'semconv',
    provider: 'anthropic',
    requestModel: 'claude-sonnet-4-20250514',
    responseModel: 'claude-sonnet-4-20250514',
    server: 'api.anthropic.com',
  },
  {
    style: 'openllmetry',
    provider: 'Anthropic',
    requestModel: 'claude-3-5-haiku-20241022',
    responseModel: 'claude-3-5-haiku-20241022',
    server: 'api.anthropic.com',
  },
  {
    style: 'openinference',
    provider: 'openai',
    requestModel: 'gpt-4o-mini',
    responseModel: 'gpt-4o-mini-2024-07-18',
    server: 'api.openai.com',
  },
  {
    style: 'openlit',
    provider: 'aws.bedrock',
    requestModel: 'anthropic.claude-3-5-sonnet-20240620-v1:0',
    responseModel: 'anthropic.claude-3-5-sonnet-20240620-v1:0',
    server: 'bedrock-runtime.us-east-1.amazonaws.com',
  },
  {
    style: 'semconv',
    provider: 'gcp.vertex_ai',
    requestModel: 'gemini-2.5-pro',
    responseModel: 'gemini-2.5-pro',
    server: 'us-central1-aiplatform.googleapis.com',
  },
  {
    style: 'semconv',
    provider: 'mistral_ai',
    requestModel: 'mistral-large-latest',
    responseModel: 'mistral-large-2411',
    server: 'api.mistral.ai',
  },
];

const TEAMS = ['search', 'support', 'recsys', 'fraud', 'growth', 'platform'];

function str(key: string, value: string): FixtureAttribute {
  return { key, value };
}
function int(key: string, value: number): FixtureAttribute {
  return { key, value, int: true };
}
function dbl(key: string, value: number): FixtureAttribute {
  return { key, value };
}

function resourceFor(w: number, seed: number): FixtureAttribute[] {
  const team = TEAMS[w % TEAMS.length]!;
  const app = `${team}-assistant-${w}`;
  const hash = ((seed * 7919 + w * 104729) >>> 0).toString(16).padStart(8, '0').slice(0, 8);
  const podSuffix = ((seed * 31 + w * 131) >>> 0).toString(36).padStart(5, '0').slice(0, 5);
  return [
    str('service.name', app),
    str('service.version', '1.14.2'),
    str('service.instance.id', `${app}-${hash}-${podSuffix}`),
    str('telemetry.sdk.language', 'python'),
    str('telemetry.sdk.name', 'opentelemetry'),
    str('telemetry.sdk.version', '1.38.0'),
    str('k8s.namespace.name', `team-${team}`),
    str('k8s.pod.name', `${app}-${hash}-${podSuffix}`),
    str('k8s.pod.uid', `${hash}-4b1c-4e2a-9f0d-${hash}${podSuffix.slice(0, 4)}`),
    str('k8s.pod.ip', `10.42.${w % 250}.${(w * 7) % 250}`),
    str('k8s.deployment.name', app),
    str('k8s.replicaset.name', `${app}-${hash}`),
    str('k8s.node.name', `ip-10-0-${w % 8}-17.ec2.internal`),
    str('k8s.container.name', 'app'),
    str('k8s.pod.label.app', app),
    str('k8s.pod.label.team', team),
    str('cloud.provider', 'aws'),
    str('cloud.region', 'us-east-1'),
  ];
}

function inferenceAttributes(m: ModelChoice, r: () => number, embeddings: boolean): FixtureAttribute[] {
  const input = 200 + Math.floor(r() * 4000);
  const output = embeddings ? 0 : 20 + Math.floor(r() * 800);
  const cached = r() < 0.3 ? Math.floor(input * 0.5) : 0;
  const respId = `chatcmpl-${Math.floor(r() * 1e15).toString(36)}${Math.floor(r() * 1e15).toString(36)}`;
  const op = embeddings ? 'embeddings' : 'chat';
  const common = [str('server.address', m.server), int('server.port', 443)];
  switch (m.style) {
    case 'semconv':
      return [
        str('gen_ai.operation.name', op),
        str('gen_ai.provider.name', m.provider),
        str('gen_ai.request.model', m.requestModel),
        str('gen_ai.response.model', m.responseModel),
        str('gen_ai.response.id', respId),
        { key: 'gen_ai.response.finish_reasons', value: ['stop'] },
        dbl('gen_ai.request.temperature', 0.7),
        int('gen_ai.request.max_tokens', 1024),
        int('gen_ai.usage.input_tokens', input),
        int('gen_ai.usage.output_tokens', output),
        ...(cached > 0 ? [int('gen_ai.usage.cache_read.input_tokens', cached)] : []),
        ...common,
      ];
    case 'openllmetry':
      return [
        str('llm.request.type', embeddings ? 'embedding' : 'chat'),
        str('gen_ai.system', m.provider),
        str('gen_ai.request.model', m.requestModel),
        str('gen_ai.response.model', m.responseModel),
        str('gen_ai.response.id', respId),
        dbl('gen_ai.request.temperature', 0.7),
        int('gen_ai.request.max_tokens', 1024),
        int('gen_ai.usage.prompt_tokens', input),
        int('gen_ai.usage.completion_tokens', output),
        int('llm.usage.total_tokens', input + output),
        ...(cached > 0 ? [int('gen_ai.usage.cache_read_input_tokens', cached)] : []),
        str('llm.is_streaming', 'false'),
        ...common,
      ];
    case 'openinference':
      return [
        str('openinference.span.kind', embeddings ? 'EMBEDDING' : 'LLM'),
        str('llm.provider', m.provider),
        str('llm.system', m.provider),
        str('llm.model_name', m.responseModel),
        str('llm.invocation_parameters', '{"temperature": 0.7, "max_tokens": 1024}'),
        int('llm.token_count.prompt', input),
        int('llm.token_count.completion', output),
        int('llm.token_count.total', input + output),
        ...(cached > 0 ? [int('llm.token_count.prompt_details.cache_read', cached)] : []),
        str('output.mime_type', 'application/json'),
      ];
    case 'openlit':
      return [
        str('gen_ai.operation.name', op),
        str('gen_ai.system', m.provider),
        str('gen_ai.request.model', m.requestModel),
        str('gen_ai.response.model', m.responseModel),
        str('gen_ai.environment', 'production'),
        str('gen_ai.application_name', 'assistant'),
        dbl('gen_ai.request.temperature', 0.7),
        int('gen_ai.usage.input_tokens', input),
        int('gen_ai.usage.output_tokens', output),
        int('gen_ai.usage.total_tokens', input + output),
        dbl('gen_ai.usage.cost', 0.0012),
        ...common,
      ];
  }
}

/** The default mix: chat below 0.6, then embeddings, agent, tool and HTTP spans up to 1. */
const DEFAULT_CHAT = 0.6;

/** Maps a uniform roll onto the default mix's scale so that `chat` of the spans are chat spans. */
function mixRoll(roll: number, chat: number | undefined): number {
  if (chat === undefined || chat === DEFAULT_CHAT) return roll;
  if (roll < chat) return (roll / chat) * DEFAULT_CHAT;
  return DEFAULT_CHAT + ((roll - chat) / (1 - chat)) * (1 - DEFAULT_CHAT);
}

/** Builds the request model (deterministic) and counts the charged spans. */
function buildRequest(options: GenAiRequestOptions): {
  resourceSpans: FixtureResourceSpans[];
  charged: number;
  chat: number;
} {
  const seed = options.seed ?? 1;
  const r = rng(seed);
  const workloads = Math.max(1, options.workloads ?? 1);
  const startNs = BigInt(options.startMs ?? Date.UTC(2026, 10, 2, 10, 0, 0)) * 1_000_000n;
  const randomBytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
    b[0]! |= 1; // never all zeros
    return b;
  };
  const perWorkload: FixtureSpan[][] = Array.from({ length: workloads }, () => []);
  let charged = 0;
  let chat = 0;
  let traceId = randomBytes(16);
  let agentSpanId: Uint8Array | undefined;
  for (let i = 0; i < options.spans; i++) {
    const w = Math.floor(r() * workloads);
    if (i % 8 === 0) {
      traceId = randomBytes(16);
      agentSpanId = undefined;
    }
    const spanId = randomBytes(8);
    const t0 = startNs + BigInt(i) * 1_000_000n + BigInt(Math.floor(r() * 1000));
    const durationNs = BigInt(50_000_000 + Math.floor(r() * 2_000_000_000));
    const m = MODELS[Math.floor(r() * MODELS.length)]!;
    const kindRoll = mixRoll(r(), options.chatFraction);
    let name: string;
    let kind = 3;
    let attributes: FixtureAttribute[];
    const events: FixtureEvent[] = [];
    if (kindRoll < 0.6) {
      attributes = inferenceAttributes(m, r, false);
      name = `chat ${m.requestModel}`;
      charged++;
      chat++;
      if (r() < 0.1) {
        events.push({
          name: 'gen_ai.evaluation.result',
          timeUnixNano: t0 + durationNs,
          attributes: [
            str('gen_ai.evaluation.name', 'toxicity'),
            dbl('gen_ai.evaluation.score.value', Math.round(r() * 20) / 100),
            str('gen_ai.evaluation.score.label', 'non_toxic'),
          ],
        });
      }
    } else if (kindRoll < 0.7) {
      attributes = inferenceAttributes(m, r, true);
      name = `embeddings ${m.requestModel}`;
      charged++;
    } else if (kindRoll < 0.8) {
      // An agent span repeating its children's usage: never charged.
      kind = 1;
      name = 'invoke_agent support_agent';
      agentSpanId = spanId;
      attributes = [
        str('gen_ai.operation.name', 'invoke_agent'),
        str('gen_ai.provider.name', m.provider),
        str('gen_ai.agent.name', 'support_agent'),
        str('gen_ai.agent.id', 'asst_5j66UpCpwteGg4YSxUnt7lPY'),
        str('gen_ai.request.model', m.requestModel),
        int('gen_ai.usage.input_tokens', 5000),
        int('gen_ai.usage.output_tokens', 900),
        str('gen_ai.conversation.id', `conv_${Math.floor(r() * 1e12).toString(36)}`),
      ];
    } else if (kindRoll < 0.88) {
      kind = 1;
      name = 'execute_tool search_knowledge_base';
      attributes = [
        str('gen_ai.operation.name', 'execute_tool'),
        str('gen_ai.tool.name', 'search_knowledge_base'),
        str('gen_ai.tool.type', 'function'),
        str('gen_ai.tool.call.id', `call_${Math.floor(r() * 1e15).toString(36)}`),
        str('gen_ai.tool.description', 'Searches the support knowledge base for relevant articles'),
      ];
    } else {
      kind = 2;
      name = 'POST /v1/assist';
      attributes = [
        str('http.request.method', 'POST'),
        str('url.path', '/v1/assist'),
        str('url.scheme', 'https'),
        str('http.route', '/v1/assist'),
        int('http.response.status_code', 200),
        str('network.protocol.version', '1.1'),
        str('server.address', 'assistant.internal'),
        int('server.port', 8080),
        str('client.address', `10.42.${Math.floor(r() * 250)}.${Math.floor(r() * 250)}`),
        str('user_agent.original', 'python-httpx/0.27.0'),
      ];
    }
    perWorkload[w]!.push({
      traceId,
      spanId,
      parentSpanId: agentSpanId !== spanId ? agentSpanId : undefined,
      name,
      kind,
      startTimeUnixNano: t0,
      endTimeUnixNano: t0 + durationNs,
      attributes,
      events,
      statusCode: r() < 0.02 ? 2 : 0,
    });
  }
  const resourceSpans: FixtureResourceSpans[] = [];
  perWorkload.forEach((spans, w) => {
    if (spans.length === 0) return;
    resourceSpans.push({
      resource: resourceFor(w, seed),
      scopeName: 'opentelemetry.instrumentation.openai_v2',
      scopeVersion: '2.1b0',
      spans,
    });
  });
  return { resourceSpans, charged, chat };
}

// --- protobuf writer (opentelemetry-proto field numbers) ---

class Writer {
  private buf = new Uint8Array(1024);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(v: number | bigint): this {
    let n = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (n >= 0x80n) {
      this.buf[this.len++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.len++] = Number(n);
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint((field << 3) | wireType);
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  fixed64(field: number, v: bigint): this {
    this.tag(field, 1);
    this.ensure(8);
    new DataView(this.buf.buffer).setBigUint64(this.len, v, true);
    this.len += 8;
    return this;
  }

  fixed32(field: number, v: number): this {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
    return this;
  }

  double(field: number, v: number): this {
    this.tag(field, 1);
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.len, v, true);
    this.len += 8;
    return this;
  }

  message(field: number, inner: Writer): this {
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function anyValuePb(a: FixtureAttribute): Writer {
  const w = new Writer();
  const v = a.value;
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.tag(2, 0).varint(v ? 1 : 0);
  else if (typeof v === 'number') {
    if (a.int) w.tag(3, 0).varint(BigInt(v));
    else w.double(4, v);
  } else {
    const arr = new Writer();
    for (const s of v) arr.message(1, new Writer().string(1, s));
    w.message(5, arr);
  }
  return w;
}

function keyValuePb(a: FixtureAttribute): Writer {
  return new Writer().string(1, a.key).message(2, anyValuePb(a));
}

function encodeProtobuf(resourceSpans: readonly FixtureResourceSpans[]): Uint8Array {
  const req = new Writer();
  for (const rs of resourceSpans) {
    const rsw = new Writer();
    const res = new Writer();
    for (const a of rs.resource) res.message(1, keyValuePb(a));
    rsw.message(1, res);
    const ss = new Writer();
    ss.message(1, new Writer().string(1, rs.scopeName).string(2, rs.scopeVersion));
    for (const s of rs.spans) {
      const sw = new Writer().bytes(1, s.traceId).bytes(2, s.spanId);
      if (s.parentSpanId) sw.bytes(4, s.parentSpanId);
      sw.string(5, s.name)
        .tag(6, 0)
        .varint(s.kind)
        .fixed64(7, s.startTimeUnixNano)
        .fixed64(8, s.endTimeUnixNano);
      for (const a of s.attributes) sw.message(9, keyValuePb(a));
      for (const e of s.events) {
        const ew = new Writer().fixed64(1, e.timeUnixNano).string(2, e.name);
        for (const a of e.attributes) ew.message(3, keyValuePb(a));
        sw.message(11, ew);
      }
      const st = new Writer();
      if (s.statusCode !== 0) st.tag(3, 0).varint(s.statusCode);
      sw.message(15, st);
      sw.fixed32(16, 257); // flags: sampled, remote-parent known
      ss.message(2, sw);
    }
    rsw.message(2, ss);
    rsw.string(3, 'https://opentelemetry.io/schemas/1.37.0');
    req.message(1, rsw);
  }
  return req.finish();
}

// --- OTLP/JSON, as the JS exporter writes it ---

function anyValueJson(a: FixtureAttribute): unknown {
  const v = a.value;
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return a.int ? { intValue: v } : { doubleValue: v };
  return { arrayValue: { values: v.map((s) => ({ stringValue: s })) } };
}

function attributesJson(list: readonly FixtureAttribute[]): unknown[] {
  return list.map((a) => ({ key: a.key, value: anyValueJson(a) }));
}

function encodeJson(resourceSpans: readonly FixtureResourceSpans[]): string {
  return JSON.stringify({
    resourceSpans: resourceSpans.map((rs) => ({
      resource: { attributes: attributesJson(rs.resource), droppedAttributesCount: 0 },
      scopeSpans: [
        {
          scope: { name: rs.scopeName, version: rs.scopeVersion },
          spans: rs.spans.map((s) => ({
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            ...(s.parentSpanId ? { parentSpanId: hex(s.parentSpanId) } : {}),
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: s.startTimeUnixNano.toString(),
            endTimeUnixNano: s.endTimeUnixNano.toString(),
            attributes: attributesJson(s.attributes),
            droppedAttributesCount: 0,
            events: s.events.map((e) => ({
              timeUnixNano: e.timeUnixNano.toString(),
              name: e.name,
              attributes: attributesJson(e.attributes),
              droppedAttributesCount: 0,
            })),
            droppedEventsCount: 0,
            status: { code: s.statusCode },
            links: [],
            droppedLinksCount: 0,
            flags: 257,
          })),
        },
      ],
      schemaUrl: 'https://opentelemetry.io/schemas/1.37.0',
    })),
  });
}

/** One realistic export request in both encodings. */
export function makeGenAiRequest(options: GenAiRequestOptions): GenAiRequest {
  const { resourceSpans, charged, chat } = buildRequest(options);
  return {
    protobuf: encodeProtobuf(resourceSpans),
    json: encodeJson(resourceSpans),
    spans: options.spans,
    chargedSpans: charged,
    chatSpans: chat,
    workloads: resourceSpans.length,
  };
}

// Where the load generators patch fresh trace ids into pre-encoded requests (bench/load.ts, bench/wire-load.ts).

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let shift = 1;
  for (;;) {
    const b = buf[pos++]!;
    result += (b & 0x7f) * shift;
    if (b < 0x80) return [result, pos];
    shift *= 128;
  }
}

/** Offsets of Span.trace_id (field 1, first byte) inside request.resource_spans(1).scope_spans(2).spans(2). */
export function protobufTraceIdOffsets(buf: Uint8Array): Uint32Array {
  const out: number[] = [];
  const walk = (start: number, end: number, path: readonly number[], depth: number): void => {
    let pos = start;
    while (pos < end) {
      const [tag, p1] = readVarint(buf, pos);
      pos = p1;
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) pos = readVarint(buf, pos)[1];
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const [len, p2] = readVarint(buf, pos);
        pos = p2;
        if (depth < path.length && field === path[depth]) walk(pos, pos + len, path, depth + 1);
        else if (depth === path.length && field === 1 && len === 16) out.push(pos);
        pos += len;
      } else throw new Error(`unexpected wire type ${wire}`);
    }
  };
  walk(0, buf.length, [1, 2, 2], 0);
  return Uint32Array.from(out);
}

/** Offsets of every span's trace id (first hex digit) in an OTLP/JSON request. */
export function jsonTraceIdOffsets(buf: Uint8Array): Uint32Array {
  const needle = Buffer.from('"traceId":"');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: number[] = [];
  for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + 1)) out.push(at + needle.length);
  return Uint32Array.from(out);
}
