import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { boundedCache } from '../bounded-memo.js';

/**
 * ECDSA verification of atproto signatures (cryptography spec) through OpenSSL (node:crypto).
 * The rules stay with @noble/curves: the compact signature is parsed by noble (64 bytes, r and s
 * in [1, n-1]) and its low-S check refuses the malleable twin; OpenSSL only does the arithmetic.
 * Why: a cold ECDSA verification in JavaScript costs the plugin, which starts afresh for every
 * referrer, 10-20 ms of CPU and about 8 MB of memory per process (more with every key of a PLC
 * operation log), where OpenSSL, already loaded for hashing, costs well under a millisecond.
 *
 * `compressed` is a 33-byte SEC1 point already checked to lie on the curve (keys.ts).
 */
export type EcdsaCurve = 'k256' | 'p256';

const NOBLE = { k256: secp256k1, p256 } as const;

/**
 * SubjectPublicKeyInfo DER up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey, named curve },
 * BIT STRING (34 bytes: no unused bits, then the 33-byte compressed point) }. Named curves:
 * secp256k1 1.3.132.0.10, prime256v1 1.2.840.10045.3.1.7 (RFC 5480).
 */
const SPKI_PREFIX: Record<EcdsaCurve, Buffer> = {
  k256: Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex'),
  p256: Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
};

/**
 * OpenSSL key objects by curve and point: a PLC operation log is signed by few keys, many times.
 * Bounded: a long-running provider sees keys of many signers.
 */
const keyObjects = boundedCache<KeyObject>(1024);

function keyObject(curve: EcdsaCurve, compressed: Uint8Array): KeyObject {
  const id = `${curve}:${Buffer.from(compressed.buffer, compressed.byteOffset, compressed.byteLength).toString('hex')}`;
  return keyObjects.get(id) ?? keyObjects.remember(id, createPublicKey({ key: Buffer.concat([SPKI_PREFIX[curve], compressed]), format: 'der', type: 'spki' }));
}

/**
 * True when `sig` (64-byte compact r||s) is a low-S ECDSA signature by the key over SHA-256 of
 * `message`. False for anything else (DER, wrong length, r or s out of range, high S, another key
 * or message); never throws.
 */
export function verifyEcdsaSha256(curve: EcdsaCurve, compressed: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  try {
    if (!(sig instanceof Uint8Array) || sig.length !== 64 || compressed.length !== 33) return false;
    const noble = NOBLE[curve];
    if (!noble) return false;
    // Throws on r or s outside [1, n-1]; high S is the malleable twin of a valid signature.
    if (noble.Signature.fromBytes(sig, 'compact').hasHighS()) return false;
    return verify('sha256', message, { key: keyObject(curve, compressed), dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}
