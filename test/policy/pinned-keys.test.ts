import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { evaluateTrust, pinnedKeys } from '../../src/policy/evaluate.js';
import { canonicalPinnedKey } from '../../src/policy/pinned-keys.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { errorOf } from '../harness/error-code.js';

// Issue 14, item 2: a pinned key is the same key however it is spelt. Keys are put in canonical
// Multikey form when the policy loads (the form the verifier reports the key that verified a
// commit in, from the DID document or the pinned list), and a key that is no key is refused there.

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const SIGNED = new Date('2025-01-01T00:00:00Z');
const NOW = new Date('2025-06-01T00:00:00Z');

const z = (...parts: Uint8Array[]) => base58btc.encode(Uint8Array.from(parts.flatMap((p) => [...p])));
const K256 = Uint8Array.of(0xe7, 0x01);
const P256 = Uint8Array.of(0x80, 0x24);

/** Every spelling of one key: Multikey compressed (canonical), Multikey uncompressed, legacy raw uncompressed. */
function spellings(curve: typeof secp256k1 | typeof p256, prefix: Uint8Array, seed: number) {
  const secret = new Uint8Array(32).fill(seed);
  const compressed = curve.getPublicKey(secret, true);
  const uncompressed = curve.getPublicKey(secret, false);
  return { canonical: z(prefix, compressed), multikeyUncompressed: z(prefix, uncompressed), legacyUncompressed: z(uncompressed) };
}

function policyPinning(keys: string[]) {
  return parseTrustPolicy(`version: "1.0"
trustedDIDs:
  ${ALICE}:
    name: Alice
    keys:
${keys.map((k) => `      - ${k}`).join('\n')}
policies:
  - {name: all, scope: "**", trustedDIDs: [${ALICE}]}
`, 'keys.yaml');
}

describe('pinned keys are canonical Multikeys from the moment the policy loads', () => {
  for (const [name, curve, prefix] of [['K-256', secp256k1, K256], ['P-256', p256, P256]] as const) {
    const key = spellings(curve, prefix, 7);
    it(`${name}: the uncompressed Multikey and the legacy raw point load as the compressed Multikey`, () => {
      for (const spelling of [key.canonical, key.multikeyUncompressed, key.legacyUncompressed]) {
        expect(canonicalPinnedKey(spelling)).toEqual({ key: key.canonical });
        expect(pinnedKeys(policyPinning([spelling]), ALICE)).toEqual([key.canonical]);
      }
    });

    it(`${name}: a key pinned in another form admits the commit verified with it (it used to fail online)`, () => {
      for (const pinned of [key.multikeyUncompressed, key.legacyUncompressed]) {
        const policy = policyPinning([pinned]);
        // The verifier reports the canonical form (DID document) or the pinned one: both admit.
        for (const signingKey of [key.canonical, key.multikeyUncompressed, key.legacyUncompressed]) {
          expect(evaluateTrust(policy, { image: 'ghcr.io/a/b', did: ALICE, signedAt: SIGNED, signingKey, now: NOW }).allowed).toBe(true);
        }
        const other = spellings(curve, prefix, 9);
        const refused = evaluateTrust(policy, { image: 'ghcr.io/a/b', did: ALICE, signedAt: SIGNED, signingKey: other.canonical, now: NOW });
        expect(refused.failures.map((f) => f.code)).toEqual(['KEY_NOT_PINNED']);
      }
    });
  }

  it('refuses a key that is no atproto key, with its file:line:col', () => {
    const k = spellings(secp256k1, K256, 7);
    const ed25519 = z(Uint8Array.of(0xed, 0x01), new Uint8Array(32).fill(3));
    const offCurve = z(K256, Uint8Array.of(0x04, ...new Uint8Array(64).fill(1)));
    const wrongLength = z(K256, new Uint8Array(40).fill(2));
    for (const bad of [ed25519, offCurve, wrongLength]) {
      const err = errorOf(() => policyPinning([k.canonical, bad]));
      expect(err.code).toBe('POLICY_INVALID');
      // Line 7 holds the second key, after `      - ` (column 9).
      expect(err.message).toContain(`keys.yaml:7:9: /trustedDIDs/${ALICE}/keys/1: pinned key`);
    }
  });

  it('refuses the same key pinned twice in two forms', () => {
    const k = spellings(p256, P256, 5);
    const err = errorOf(() => policyPinning([k.canonical, k.legacyUncompressed]));
    expect(err.message).toContain('keys.yaml:7:9');
    expect(err.message).toContain('is key 0 again');
  });

  it('refuses a raw compressed point that lies on both curves (its curve is unknown), and takes one that lies on one', () => {
    let both: string | undefined;
    let one: { text: string; canonical: string } | undefined;
    for (let i = 1; i < 200 && !(both && one); i++) {
      const point = Uint8Array.of(0x02, ...new Uint8Array(32).fill(i));
      const on = [secp256k1, p256].map((c) => {
        try {
          c.Point.fromBytes(point);
          return true;
        } catch {
          return false;
        }
      });
      if (on[0] && on[1]) both ??= z(point);
      else if (on[0]) one ??= { text: z(point), canonical: z(K256, point) };
    }
    expect(canonicalPinnedKey(both!)).toMatchObject({ problem: expect.stringContaining('both K-256 and P-256') });
    expect(canonicalPinnedKey(one!.text)).toEqual({ key: one!.canonical });
  });
});
