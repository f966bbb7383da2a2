import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyEcdsaSha256, type EcdsaCurve } from '../../src/atproto/ecdsa-verify.js';

// OpenSSL does the arithmetic, noble keeps the rules: the two must decide every signature alike,
// and every signature noble's strict verification refuses must be refused here too.

const CURVES = { k256: secp256k1, p256 } as const;

function bigToBytes(n: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
}

function compact(r: bigint, s: bigint): Uint8Array {
  const out = new Uint8Array(64);
  out.set(bigToBytes(r), 0);
  out.set(bigToBytes(s), 32);
  return out;
}

function signer(curve: EcdsaCurve, seed: Uint8Array) {
  const noble = CURVES[curve];
  const secret = noble.utils.randomSecretKey(seed);
  return { noble, secret, compressed: noble.getPublicKey(secret, true) };
}

function strictNoble(curve: EcdsaCurve, compressed: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  try {
    return CURVES[curve].verify(sig, message, compressed, { prehash: true, lowS: true, format: 'compact' });
  } catch {
    return false;
  }
}

const curveArb = fc.constantFrom<EcdsaCurve>('k256', 'p256');
const seedArb = fc.uint8Array({ minLength: 48, maxLength: 48 });

describe.each(['k256', 'p256'] as const)('verifyEcdsaSha256 on %s', (curve) => {
  const { noble, secret, compressed } = signer(curve, new Uint8Array(48).fill(7));
  const n = noble.Point.CURVE().n;
  const message = new TextEncoder().encode('commit bytes');
  const sig = noble.sign(message, secret, { prehash: true, lowS: true });
  const { r, s } = noble.Signature.fromBytes(sig, 'compact');

  it('accepts a low-S signature over SHA-256 of the message', () => {
    expect(verifyEcdsaSha256(curve, compressed, message, sig)).toBe(true);
  });

  it('refuses the high-S twin, which OpenSSL alone would accept', () => {
    const twin = compact(r, n - s);
    expect(verifyEcdsaSha256(curve, compressed, message, twin)).toBe(false);
    expect(noble.verify(twin, message, compressed, { prehash: true, lowS: false, format: 'compact' })).toBe(true);
  });

  it('refuses DER, truncated and padded encodings of a valid signature', () => {
    const der = noble.Signature.fromBytes(sig, 'compact').toBytes('der');
    expect(verifyEcdsaSha256(curve, compressed, message, der)).toBe(false);
    expect(verifyEcdsaSha256(curve, compressed, message, sig.subarray(0, 63))).toBe(false);
    expect(verifyEcdsaSha256(curve, compressed, message, Uint8Array.from([...sig, 0]))).toBe(false);
  });

  it('refuses r or s of zero, or at or above the group order', () => {
    for (const bad of [compact(0n, s), compact(r, 0n), compact(n, s), compact(r, n)]) {
      expect(verifyEcdsaSha256(curve, compressed, message, bad)).toBe(false);
    }
  });

  it('refuses another message, another key, and a key of the other curve', () => {
    expect(verifyEcdsaSha256(curve, compressed, new TextEncoder().encode('commit bytez'), sig)).toBe(false);
    const other = signer(curve, new Uint8Array(48).fill(9));
    expect(verifyEcdsaSha256(curve, other.compressed, message, sig)).toBe(false);
    expect(verifyEcdsaSha256(curve === 'k256' ? 'p256' : 'k256', compressed, message, sig)).toBe(false);
  });

  it('refuses a key that is not a 33-byte point, without throwing', () => {
    expect(verifyEcdsaSha256(curve, compressed.subarray(1), message, sig)).toBe(false);
    const offCurve = Uint8Array.from(compressed);
    offCurve[0] = 0x05;
    expect(verifyEcdsaSha256(curve, offCurve, message, sig)).toBe(false);
  });
});

describe('verifyEcdsaSha256 agrees with noble strict verification', () => {
  it('on valid signatures, bit flips and high-S twins, for random keys and messages', () => {
    fc.assert(
      fc.property(curveArb, seedArb, fc.uint8Array({ maxLength: 300 }), fc.nat(767), fc.boolean(), (curve, seed, message, flip, twin) => {
        const { noble, secret, compressed } = signer(curve, seed);
        let sig: Uint8Array = noble.sign(message, secret, { prehash: true, lowS: true });
        if (twin) {
          const parsed = noble.Signature.fromBytes(sig, 'compact');
          sig = compact(parsed.r, noble.Point.CURVE().n - parsed.s);
        } else if (flip < 512) {
          // a third of the cases keep the signature as signed
          sig = Uint8Array.from(sig);
          sig[flip >> 3]! ^= 1 << (flip & 7);
        }
        expect(verifyEcdsaSha256(curve, compressed, message, sig)).toBe(strictNoble(curve, compressed, message, sig));
      }),
      { numRuns: 150 },
    );
  });
});
