// Owns "one provider call is charged once, however many spans describe it". A framework span
// (pydantic-ai `chat`, LangChain, LiteLLM, the Vercel AI SDK's doGenerate) and, nested under it, the
// provider SDK's own span of the same call (anthropic's com.anthropic.sdk.python `chat`, an OpenAI
// instrumentation) both look like a model call; dedupe by trace + span id cannot see it. The stage
// sits on the main thread between the workers' partial aggregates and the usage windows.
//
// Rule: an inference span with an inference child in the same trace is not charged; the innermost
// span is. Why the inner one: it is the provider SDK's, closest to the wire: it reads the provider's
// own usage object (cache and reasoning details, the exact response model), and a framework span
// that retried covers several billed calls, each with its own child. Recognised when:
// - parent and child arrive in one export request (the usual case: children end first and the
//   BatchSpanProcessor exports in end order);
// - the child arrives first, in an earlier request: its claim on the parent id is remembered for
//   rememberMs (default 60 s), bounded (KeyRing);
// - a child that reported no usage at all under a parent that did: the parent is charged (it has
//   the call's figures) and the child is not; a child without usage claims nothing;
// - the parent arrives first (out of order, e.g. through several collectors): spans of a
//   `framework` profile with no claim are held for holdMs (default 1 s) before they are charged;
//   a child arriving in that time drops the parent. A child arriving after its held parent was
//   released is dropped instead (the call is charged once, with the parent's figures).
// Only framework spans are held (provider-SDK and unknown instrumentations are charged at once),
// so the hold delays nothing but framework-only setups, by holdMs. More than maxHeld spans held:
// the newest are charged at once (bounded memory; double charging then possible, never loss).
// Also flags inference spans without any usage: metric per instrumentation and one warning per
// workload and instrumentation (issue 18 item 5). Rules: pipeline/charge-once/README.md.

import type { Clock } from '../../kernel/clock.ts';
import { systemClock } from '../../kernel/clock.ts';
import type { Component } from '../../kernel/lifecycle.ts';
import type { Logger } from '../../kernel/logger.ts';
import { silentLogger } from '../../kernel/logger.ts';
import type { PartialAggregate, SenderIdentity, UsageGroup } from '../partial.ts';
import { LINK_FRAMEWORK, LINK_HAS_PARENT, LINK_NO_USAGE, LINK_WIDTH, SPAN_RECORD_WIDTH } from '../partial.ts';
import type { ApplyMeta } from '../windows/windows.ts';
import { KeyRing } from './key-ring.ts';

export interface ChargeOnceMetrics {
  /** Inference spans not charged because another span of the same call is (nested spans). */
  spansNested(count: number, instrumentation: string): void;
  /** Inference spans charged that reported no token counts at all. */
  spansWithoutUsage(count: number, instrumentation: string): void;
}

export const noopChargeOnceMetrics: ChargeOnceMetrics = {
  spansNested: () => undefined,
  spansWithoutUsage: () => undefined,
};

export interface ChargeOnceOptions {
  /** Where charged spans go (the usage windows). */
  readonly apply: (partial: PartialAggregate, meta: ApplyMeta) => void;
  readonly clock?: Clock;
  /** How long a framework span with no inference child seen yet waits; default 1000 ms. */
  readonly holdMs?: number;
  /** How long claims and released parents are remembered; default 60 s. */
  readonly rememberMs?: number;
  /**
   * Slots of each key set (rounded up to a power of two); default 262144 (4 MiB each, three sets):
   * the last 262144 claims are remembered (26 s at 10 000 inference spans/s, less under more load).
   */
  readonly capacity?: number;
  /** Most spans held at once; default 50_000. */
  readonly maxHeld?: number;
  /** Release timer period; default 100 ms. */
  readonly tickMs?: number;
  readonly metrics?: ChargeOnceMetrics;
  readonly logger?: Logger;
}

export interface ChargeOnce extends Component {
  /** Charges what the partial describes once: applies it (minus nested spans) or holds parts of it. */
  submit(partial: PartialAggregate, meta: ApplyMeta): void;
  /** Releases held spans whose hold is over. Called by a timer once started. */
  tick(): void;
  /** Spans held now. */
  heldCount(): number;
}

interface Held {
  readonly hi: number;
  readonly lo: number;
  readonly identity: SenderIdentity;
  readonly group: UsageGroup;
  readonly record: Float64Array;
  readonly link: Float64Array;
  readonly instrumentation: string;
  readonly meta: ApplyMeta;
  readonly until: number;
  dropped: boolean;
}

const KEEP = 0;
const DROP = 1;
const HOLD = 2;

/** A Map key from the two halves; rare float collisions are resolved by comparing the halves. */
function mapKey(hi: number, lo: number): number {
  return hi * 4294967296 + lo;
}

type MutableGroup = { -readonly [K in keyof UsageGroup]: UsageGroup[K] };

export function createChargeOnce(options: ChargeOnceOptions): ChargeOnce {
  const apply = options.apply;
  const clock = options.clock ?? systemClock;
  const holdMs = options.holdMs ?? 1000;
  const rememberMs = options.rememberMs ?? 60_000;
  const capacity = options.capacity ?? 262_144;
  const maxHeld = options.maxHeld ?? 50_000;
  const tickMs = options.tickMs ?? 100;
  const metrics = options.metrics ?? noopChargeOnceMetrics;
  const logger = options.logger ?? silentLogger;
  /** Parents with an inference child seen (their span key = the child's parent key). */
  const claims = new KeyRing(capacity);
  /** Framework spans charged after their hold: a late child of theirs is not charged. */
  const released = new KeyRing(capacity);
  /** Spans that reported usage (charged or held): a child of theirs without usage is not charged. */
  const withUsage = new KeyRing(capacity);
  /** Latest expiry in `released`: until then a child may find its parent there. */
  let releasedUntil = 0;
  const heldByKey = new Map<number, Held>();
  const queue: Held[] = [];
  let queueHead = 0;
  const warned = new Set<string>();
  let timer: NodeJS.Timeout | undefined;

  function heldAt(hi: number, lo: number): Held | undefined {
    const h = heldByKey.get(mapKey(hi, lo));
    return h !== undefined && h.hi === hi && h.lo === lo && !h.dropped ? h : undefined;
  }

  function instrumentationOf(partial: PartialAggregate, links: Float64Array, i: number): string {
    return partial.instrumentations?.[links[i * LINK_WIDTH + 3]!] ?? 'default';
  }

  function workloadOf(id: SenderIdentity | undefined): string {
    if (id === undefined) return 'unknown';
    const ns = id.namespace ?? '';
    if (id.workloadName !== undefined) return `${ns}/${id.workloadKind ?? 'Workload'}/${id.workloadName}`;
    if (id.podName !== undefined) return `${ns}/Pod/${id.podName}`;
    return id.serviceName !== undefined ? `service ${id.serviceName}` : 'unknown';
  }

  /** Metric and one warning per (workload, instrumentation) for charged spans without usage. */
  function flagWithoutUsage(partial: PartialAggregate): void {
    const links = partial.links;
    if (links === undefined) return;
    let counts: Map<string, number> | undefined;
    for (let i = 0; i < partial.spansCharged; i++) {
      if ((links[i * LINK_WIDTH + 2]! & LINK_NO_USAGE) === 0) continue;
      const instrumentation = instrumentationOf(partial, links, i);
      counts ??= new Map();
      counts.set(instrumentation, (counts.get(instrumentation) ?? 0) + 1);
      const group = partial.groups[partial.spans[i * SPAN_RECORD_WIDTH + 2]!];
      const workload = workloadOf(group === undefined ? undefined : partial.identities[group.identity]);
      const key = `${workload}\u0000${instrumentation}`;
      if (!warned.has(key)) {
        if (warned.size >= 10_000) warned.clear();
        warned.add(key);
        logger.warn('inference spans without token usage: counted as requests at cost 0', {
          workload,
          instrumentation,
          provider: group?.provider,
          model: group?.model,
          hint: 'see docs/compatibility.md for what this instrumentation does not send (e.g. stream usage)',
        });
      }
    }
    if (counts) for (const [instrumentation, n] of counts) metrics.spansWithoutUsage(n, instrumentation);
  }

  function forward(partial: PartialAggregate, meta: ApplyMeta): void {
    flagWithoutUsage(partial);
    apply(partial, meta);
  }

  /** The partial without the records not decided KEEP; groups reduced by exactly their figures. */
  function keptPart(partial: PartialAggregate, links: Float64Array, decisions: Uint8Array): PartialAggregate {
    const n = partial.spansCharged;
    const recs = partial.spans;
    let kept = 0;
    for (let i = 0; i < n; i++) if (decisions[i] === KEEP) kept++;
    const spans = new Float64Array(kept * SPAN_RECORD_WIDTH);
    const keptLinks = new Float64Array(kept * LINK_WIDTH);
    const touched = new Map<number, MutableGroup>();
    let k = 0;
    for (let i = 0; i < n; i++) {
      const o = i * SPAN_RECORD_WIDTH;
      if (decisions[i] === KEEP) {
        spans.set(recs.subarray(o, o + SPAN_RECORD_WIDTH), k * SPAN_RECORD_WIDTH);
        keptLinks.set(links.subarray(i * LINK_WIDTH, (i + 1) * LINK_WIDTH), k * LINK_WIDTH);
        k++;
        continue;
      }
      const gi = recs[o + 2]!;
      let g = touched.get(gi);
      if (g === undefined) {
        g = { ...partial.groups[gi]!, maxRequestCostMicros: 0 };
        touched.set(gi, g);
      }
      const cacheRead = links[i * LINK_WIDTH + 4]!;
      g.requests -= 1;
      g.costMicros -= recs[o + 3]!;
      g.inputTokens -= recs[o + 4]!;
      g.outputTokens -= recs[o + 5]!;
      g.cacheReadTokens -= cacheRead;
      g.cacheWriteTokens -= recs[o + 6]! - cacheRead;
      g.reasoningTokens -= recs[o + 7]!;
    }
    // The most expensive request of a reduced group, from what is left of it.
    for (let i = 0; i < kept; i++) {
      const o = i * SPAN_RECORD_WIDTH;
      const g = touched.get(spans[o + 2]!);
      if (g !== undefined && spans[o + 3]! > g.maxRequestCostMicros) g.maxRequestCostMicros = spans[o + 3]!;
    }
    const groups = partial.groups.map((g, i) => touched.get(i) ?? g);
    return { ...partial, groups, spans, links: keptLinks, spansCharged: kept };
  }

  function hold(
    partial: PartialAggregate,
    links: Float64Array,
    i: number,
    meta: ApplyMeta,
    now: number,
  ): void {
    const o = i * SPAN_RECORD_WIDTH;
    const group = partial.groups[partial.spans[o + 2]!]!;
    const h: Held = {
      hi: partial.spans[o]!,
      lo: partial.spans[o + 1]!,
      identity: partial.identities[group.identity]!,
      group,
      record: partial.spans.slice(o, o + SPAN_RECORD_WIDTH),
      link: links.slice(i * LINK_WIDTH, (i + 1) * LINK_WIDTH),
      instrumentation: instrumentationOf(partial, links, i),
      meta,
      until: now + holdMs,
      dropped: false,
    };
    heldByKey.set(mapKey(h.hi, h.lo), h);
    queue.push(h);
  }

  /** One partial for consecutive held spans of one request (same meta). */
  function releaseBatch(batch: Held[]): void {
    const identities: SenderIdentity[] = [];
    const groups: UsageGroup[] = [];
    const spans = new Float64Array(batch.length * SPAN_RECORD_WIDTH);
    const links = new Float64Array(batch.length * LINK_WIDTH);
    const instrumentations: string[] = [];
    const now = clock.now();
    batch.forEach((h, i) => {
      let id = identities.indexOf(h.identity);
      if (id < 0) id = identities.push(h.identity) - 1;
      const r = h.record;
      const cacheRead = h.link[4]!;
      groups.push({
        identity: id,
        provider: h.group.provider,
        model: h.group.model,
        classification: h.group.classification,
        requests: 1,
        inputTokens: r[4]!,
        outputTokens: r[5]!,
        cacheReadTokens: cacheRead,
        cacheWriteTokens: r[6]! - cacheRead,
        reasoningTokens: r[7]!,
        costMicros: r[3]!,
        unpriced: h.group.unpriced,
        maxRequestCostMicros: r[3]!,
      });
      spans.set(r, i * SPAN_RECORD_WIDTH);
      spans[i * SPAN_RECORD_WIDTH + 2] = i;
      links.set(h.link, i * LINK_WIDTH);
      let ii = instrumentations.indexOf(h.instrumentation);
      if (ii < 0) ii = instrumentations.push(h.instrumentation) - 1;
      links[i * LINK_WIDTH + 3] = ii;
      released.add(h.hi, h.lo, now + rememberMs, now);
      releasedUntil = now + rememberMs;
    });
    forward(
      {
        identities,
        groups,
        safety: [],
        spans,
        spansTotal: 0,
        spansCharged: batch.length,
        spansRejected: 0,
        rejectMessage: '',
        links,
        instrumentations,
      },
      batch[0]!.meta,
    );
  }

  function release(all: boolean): void {
    const now = clock.now();
    let batch: Held[] = [];
    while (queueHead < queue.length && (all || queue[queueHead]!.until <= now)) {
      const h = queue[queueHead++]!;
      const key = mapKey(h.hi, h.lo);
      if (heldByKey.get(key) === h) heldByKey.delete(key);
      if (h.dropped) continue;
      if (batch.length > 0 && batch[0]!.meta !== h.meta) {
        releaseBatch(batch);
        batch = [];
      }
      batch.push(h);
    }
    if (batch.length > 0) releaseBatch(batch);
    if (queueHead > 1024 && queueHead * 2 > queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
  }

  return {
    submit(partial, meta) {
      const links = partial.links;
      const n = partial.spansCharged;
      if (links === undefined || n === 0) {
        apply(partial, meta);
        return;
      }
      const now = clock.now();
      const recs = partial.spans;
      let nested: Map<string, number> | undefined;
      const countNested = (instrumentation: string): void => {
        nested ??= new Map();
        nested.set(instrumentation, (nested.get(instrumentation) ?? 0) + 1);
      };
      // Pass 1: every span with usage claims its parent, in this request, held, or yet to come,
      // and is remembered as a span with usage (a child without usage then leaves the call to it).
      for (let i = 0; i < n; i++) {
        const l = i * LINK_WIDTH;
        const flags = links[l + 2]!;
        if ((flags & LINK_NO_USAGE) !== 0) continue;
        const o = i * SPAN_RECORD_WIDTH;
        withUsage.add(recs[o]!, recs[o + 1]!, now + rememberMs, now);
        if ((flags & LINK_HAS_PARENT) === 0) continue;
        claims.add(links[l]!, links[l + 1]!, now + rememberMs, now);
        if (heldByKey.size > 0) {
          const h = heldAt(links[l]!, links[l + 1]!);
          if (h !== undefined) {
            h.dropped = true;
            countNested(h.instrumentation);
          }
        }
      }
      // Pass 2: what to do with each span.
      let decisions: Uint8Array | undefined;
      for (let i = 0; i < n; i++) {
        const o = i * SPAN_RECORD_WIDTH;
        const l = i * LINK_WIDTH;
        const flags = links[l + 2]!;
        let d = KEEP;
        if (claims.has(recs[o]!, recs[o + 1]!, now)) d = DROP;
        else if (
          (flags & (LINK_NO_USAGE | LINK_HAS_PARENT)) === (LINK_NO_USAGE | LINK_HAS_PARENT) &&
          withUsage.has(links[l]!, links[l + 1]!, now)
        )
          d = DROP; // its parent reported the usage of the call: the parent is charged
        else if (
          (flags & LINK_HAS_PARENT) !== 0 &&
          now < releasedUntil &&
          released.has(links[l]!, links[l + 1]!, now)
        )
          d = DROP;
        else if ((flags & LINK_FRAMEWORK) !== 0) {
          if (heldAt(recs[o]!, recs[o + 1]!) !== undefined)
            d = DROP; // a retry of a held span
          else if (heldByKey.size < maxHeld) d = HOLD;
          else {
            released.add(recs[o]!, recs[o + 1]!, now + rememberMs, now);
            releasedUntil = now + rememberMs;
          }
        }
        if (d === KEEP) continue;
        decisions ??= new Uint8Array(n);
        decisions[i] = d;
        if (d === DROP) countNested(instrumentationOf(partial, links, i));
        else hold(partial, links, i, meta, now);
      }
      if (nested) for (const [instrumentation, c] of nested) metrics.spansNested(c, instrumentation);
      forward(decisions === undefined ? partial : keptPart(partial, links, decisions), meta);
    },

    tick() {
      if (queueHead < queue.length) release(false);
    },

    heldCount() {
      let c = 0;
      for (let i = queueHead; i < queue.length; i++) if (!queue[i]!.dropped) c++;
      return c;
    },

    start() {
      if (timer === undefined) {
        timer = setInterval(() => release(false), tickMs);
        timer.unref();
      }
      return Promise.resolve();
    },

    shutdown() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      // Nothing held is lost: charged now.
      release(true);
      return Promise.resolve();
    },
  };
}
