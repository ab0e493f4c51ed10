import { describe, expect, it } from 'vitest';
import { comparableBytes, createStringInterner, decodeUtf8, equalsAt, sampleHash } from './bytes.ts';
import { createKeyTable } from './key-table.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('UTF-8 decoding', () => {
  it('matches TextDecoder on random bytes, valid or not, short or long', () => {
    const td = new TextDecoder();
    let seed = 42;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let i = 0; i < 5000; i++) {
      const len = random(40);
      const bytes = new Uint8Array(len);
      // Mostly ASCII with some multi-byte lead and continuation bytes.
      for (let j = 0; j < len; j++) bytes[j] = random(4) === 0 ? 0x80 + random(128) : random(128);
      expect(decodeUtf8(bytes, 0, len)).toBe(td.decode(bytes));
    }
    const text = 'modèle-日本-🚀';
    const bytes = enc(`xx${text}yy`);
    expect(decodeUtf8(bytes, 2, bytes.length - 2)).toBe(text);
  });
});

describe('byte comparison and hashing', () => {
  it('compares by words and tail bytes at any offset', () => {
    const key = comparableBytes(enc('gen_ai.usage.input_tokens'));
    const buf = enc('...gen_ai.usage.input_tokens...');
    const view = new DataView(buf.buffer);
    expect(equalsAt(buf, view, 3, key)).toBe(true);
    expect(equalsAt(buf, view, 2, key)).toBe(false);
    const other = enc('...gen_ai.usage.input_tokenZ...');
    expect(equalsAt(other, new DataView(other.buffer), 3, key)).toBe(false);
  });

  it('hashes equal bytes equally wherever they sit', () => {
    const a = enc('abgen_ai.request.model');
    const b = enc('gen_ai.request.model');
    expect(sampleHash(a, 2, a.length)).toBe(sampleHash(b, 0, b.length));
    expect(sampleHash(b, 0, 0)).toBe(sampleHash(a, 1, 1));
  });
});

describe('key table', () => {
  const names = [
    'k',
    'gen_ai.request.model',
    'gen_ai.response.model',
    'gen_ai.usage.input_tokens',
    'llm.token_count.prompt',
    'ключ',
  ];
  const table = createKeyTable(names);

  it('finds every key by bytes and by string, and nothing else', () => {
    names.forEach((name, id) => {
      const bytes = enc(`"${name}"`);
      expect(table.matchBytes(bytes, new DataView(bytes.buffer), 1, bytes.length - 1)).toBe(id);
      expect(table.matchString(name)).toBe(id);
    });
    for (const miss of [
      '',
      'K',
      'gen_ai.request.mode',
      'gen_ai.request.models',
      'http.route',
      'llm.token_count.prompT',
    ]) {
      const bytes = enc(miss);
      expect(table.matchBytes(bytes, new DataView(bytes.buffer), 0, bytes.length), miss).toBe(-1);
      expect(table.matchString(miss)).toBe(-1);
    }
    expect(() => createKeyTable(['a', 'a'])).toThrow(/duplicate/);
  });
});

describe('string interner', () => {
  it('returns the same string object for the same bytes and survives collisions', () => {
    const interner = createStringInterner(16);
    const a = enc('xx gpt-4o-mini xx gpt-4o-mini');
    const view = new DataView(a.buffer);
    const first = interner.decode(a, view, 3, 14);
    expect(first).toBe('gpt-4o-mini');
    expect(interner.decode(a, view, 18, 29)).toBe(first);
    // Many distinct strings in a tiny table: always the right text.
    for (let i = 0; i < 200; i++) {
      const s = `model-${i}`;
      const b = enc(s);
      expect(interner.decode(b, new DataView(b.buffer), 0, b.length)).toBe(s);
    }
    const long = 'x'.repeat(200);
    const lb = enc(long);
    expect(interner.decode(lb, new DataView(lb.buffer), 0, lb.length)).toBe(long);
  });
});
