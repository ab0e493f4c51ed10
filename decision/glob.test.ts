import { describe, expect, it } from 'vitest';
import { matchesAnyGlob } from './glob.ts';

describe('model globs', () => {
  it('supports * and ? and treats everything else literally, ignoring case', () => {
    expect(matchesAnyGlob(['gpt-4*'], 'gpt-4o-2024-08-06')).toBe(true);
    expect(matchesAnyGlob(['gpt-4*'], 'gpt-3.5-turbo')).toBe(false);
    expect(matchesAnyGlob(['claude-3-?aiku'], 'CLAUDE-3-HAIKU')).toBe(true);
    expect(matchesAnyGlob(['claude-3-?aiku'], 'claude-3-haiku-2024')).toBe(false);
    expect(matchesAnyGlob(['gpt-3.5*'], 'gpt-3x5-turbo')).toBe(false);
    expect(matchesAnyGlob(['a+b(c)[d]'], 'a+b(c)[d]')).toBe(true);
    expect(matchesAnyGlob(['*'], '')).toBe(true);
    expect(matchesAnyGlob([], 'anything')).toBe(false);
  });
});
