// Test helper: a visitor that copies what a decoder produced into plain objects, so tests can
// compare decoders and assert on fields.

import type { KeyTable } from '../key-table.ts';
import type { AttrValue, TraceDecoder } from '../span-view.ts';

export interface CollectedSpan {
  readonly resource: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly traceIdLength: number;
  readonly spanIdLength: number;
  readonly hasParent: boolean;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: number;
  readonly endTimeUnixNano: number;
  readonly statusCode: number;
  readonly attributes: Record<string, AttrValue>;
  readonly events: { name: string; timeUnixNano: number; attributes: Record<string, AttrValue> }[];
}

export interface Collected {
  readonly resources: Record<string, AttrValue>[];
  readonly spans: CollectedSpan[];
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function collect(
  decoder: TraceDecoder,
  body: Uint8Array,
  keys: KeyTable,
  eventNames: KeyTable,
): Collected {
  const resources: Record<string, AttrValue>[] = [];
  const spans: CollectedSpan[] = [];
  decoder.decode(body, {
    resource(attributes) {
      resources.push(Object.fromEntries(attributes));
    },
    span(s) {
      const attributes: Record<string, AttrValue> = {};
      keys.names.forEach((name, id) => {
        const v = s.attributes.get(id);
        if (v !== undefined) attributes[name] = v;
      });
      const events = s.events.slice(0, s.eventCount).map((e) => {
        const ea: Record<string, AttrValue> = {};
        keys.names.forEach((name, id) => {
          const v = e.attributes.get(id);
          if (v !== undefined) ea[name] = v;
        });
        return { name: eventNames.names[e.nameId]!, timeUnixNano: e.timeUnixNano, attributes: ea };
      });
      spans.push({
        resource: resources.length - 1,
        traceId: s.traceIdLength === 16 ? hex(s.ids.subarray(0, 16)) : '',
        spanId: s.spanIdLength === 8 ? hex(s.ids.subarray(16, 24)) : '',
        traceIdLength: s.traceIdLength,
        spanIdLength: s.spanIdLength,
        hasParent: s.hasParent,
        name: s.name,
        kind: s.kind,
        startTimeUnixNano: s.startTimeUnixNano,
        endTimeUnixNano: s.endTimeUnixNano,
        statusCode: s.statusCode,
        attributes,
        events,
      });
    },
  });
  return { resources, spans };
}
