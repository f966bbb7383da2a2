import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedCache, boundedMemo, forgetBoundedMemos } from '../../src/bounded-memo.js';
import { canonicalKeyOrSelf, canonicalPinnedKey } from '../../src/policy/pinned-keys.js';
import { canonicalImageName, parseImageReference } from '../../src/registry/reference.js';

// Issue 12, item 3: the long-running verifier parses a registry host or a signer's key once, not
// once per image. A memo must never change an answer, and must stay bounded whatever the inputs.

describe('boundedMemo', () => {
  it('answers what the function answers, calling it once per remembered input', () => {
    let calls = 0;
    const upper = boundedMemo((s: string) => {
      calls++;
      return s.toUpperCase();
    }, 3);
    expect([upper('a'), upper('a'), upper('b')]).toEqual(['A', 'A', 'B']);
    expect(calls).toBe(2);
  });

  it('holds at most `max` inputs: past it, everything is computed afresh (bounded, never stale)', () => {
    const seen: string[] = [];
    const id = boundedMemo((s: string) => {
      seen.push(s);
      return s;
    }, 2);
    for (const s of ['a', 'b', 'c', 'a']) id(s);
    // 'c' started a fresh memory, so 'a' was computed again.
    expect(seen).toEqual(['a', 'b', 'c', 'a']);
    id('a');
    expect(seen).toHaveLength(4);
  });

  it('remembers an exception as nothing: a throwing input throws every time', () => {
    let calls = 0;
    const f = boundedMemo((s: string) => {
      calls++;
      if (s === 'bad') throw new Error('bad');
      return s;
    });
    expect(() => f('bad')).toThrow('bad');
    expect(() => f('bad')).toThrow('bad');
    expect(calls).toBe(2);
  });
});

describe('boundedCache', () => {
  it('returns what it remembers, and nothing for a key it was never given', () => {
    const cache = boundedCache<number>(2);
    expect(cache.remember('a', 1)).toBe(1);
    expect(cache.get('a')).toBe(1);
    expect(cache.get('b')).toBeUndefined();
  });

  it('holds at most `max` entries, the oldest going first', () => {
    const cache = boundedCache<number>(2);
    cache.remember('a', 1);
    cache.remember('b', 2);
    cache.remember('c', 3);
    expect(cache.size).toBe(2);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, 2, 3]);
  });

  it('replacing a key it holds evicts nothing', () => {
    const cache = boundedCache<number>(2);
    cache.remember('a', 1);
    cache.remember('b', 2);
    cache.remember('b', 20);
    expect([cache.get('a'), cache.get('b'), cache.size]).toEqual([1, 20, 2]);
  });

  it('is emptied by forgetBoundedMemos, like the memos', () => {
    const cache = boundedCache<number>(2);
    cache.remember('a', 1);
    forgetBoundedMemos();
    expect([cache.get('a'), cache.size]).toEqual([undefined, 0]);
  });
});

describe('memoised parsers answer as fresh ones', () => {
  it('canonicalKeyOrSelf gives what canonicalPinnedKey gives, on first and later calls', () => {
    const keys = ['zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme', 'zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo', 'not a key'];
    for (let round = 0; round < 2; round++) {
      for (const k of keys) {
        const fresh = canonicalPinnedKey(k);
        expect(canonicalKeyOrSelf(k)).toBe('key' in fresh ? fresh.key : k);
      }
    }
  });

  it('parseImageReference gives the same name and the same refusal for a host seen before', () => {
    fc.assert(
      fc.property(fc.constantFrom('Registry.Example.COM', 'registry.example.com:443', 'index.docker.io', '[::ffff:a00:5]:5000', 'bad_host.com', '127.1'), (host) => {
        const read = () => {
          try {
            return canonicalImageName(`${host}/team/app:v1`);
          } catch (err) {
            return `refused: ${(err as Error).message}`;
          }
        };
        const first = read();
        expect(read()).toBe(first);
        if (!first.startsWith('refused')) expect(parseImageReference(`${host}/team/app@sha256:${'a'.repeat(64)}`).registry).toBe(first.split('/')[0]);
      }),
    );
  });
});

describe('forgetBoundedMemos', () => {
  it('empties every memo, so the next call computes afresh', () => {
    let calls = 0;
    const f = boundedMemo((s: string) => ++calls + s.length);
    f('x');
    forgetBoundedMemos();
    f('x');
    expect(calls).toBe(2);
  });
});
