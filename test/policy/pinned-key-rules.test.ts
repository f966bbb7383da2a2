/** canonicalPinnedKey (src/policy/pinned-keys.ts): what is not a key says why, in the parser's words. */
import { describe, expect, it } from 'vitest';
import { canonicalKeyOrSelf, canonicalPinnedKey } from '../../src/policy/pinned-keys.js';

describe('a pinned key that is no key', () => {
  it.each([
    ['zQ3sh0OIl', /^not an atproto signing key: public key zQ3sh0OIl is not valid base58btc: .+; pin the Multikey publicKeyMultibase of the DID document's #atproto method$/],
    ['did:key:zQ3sh', /^not an atproto signing key: public key "did:key:zQ3sh" is not a "z" \(base58btc\) multibase string; pin the Multikey/],
    ['z2', /^not an atproto signing key: multikey z2 has multicodec prefix \[01\]; only secp256k1-pub/],
  ])('%j: the problem quotes the Multikey parser', (text, problem) => {
    const result = canonicalPinnedKey(text);
    expect('problem' in result && result.problem).toMatch(problem);
    expect(canonicalKeyOrSelf(text)).toBe(text);
  });
});
