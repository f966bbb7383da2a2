/**
 * Rules of src/atproto/keys.ts the mutation run found unpinned: the multicodec prefix is read as a
 * whole (a K-256 key is never read as P-256, nor a half-matching prefix as either), legacy key types
 * are looked up as own names only, the multibase length cap sits at 256, and each refusal names
 * the key, the curve and why.
 */
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { formatMultikey, keyFromVerificationMethod, parseDidKey, parseMultikey, verifyEcdsaSignature } from '../../src/atproto/keys.js';
import { errorOf } from '../harness/error-code.js';

const k256Point = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
const p256Point = p256.getPublicKey(p256.utils.randomSecretKey(), true);
const multikey = (prefix: number[], point: Uint8Array) => base58btc.encode(Uint8Array.of(...prefix, ...point));

describe('the multicodec prefix is matched as a whole, both bytes', () => {
  it.each([
    ['K-256 first byte, P-256 second', [0xe7, 0x24], k256Point, '[e7 24]'],
    ['P-256 first byte, K-256 second', [0x80, 0x01], p256Point, '[80 01]'],
    ['small bytes are shown with two digits', [0x01, 0x02], k256Point, '[01 02]'],
    ['secp256k1-priv', [0x81, 0x26], k256Point, '[81 26]'],
  ])('%s is KEY_UNSUPPORTED, the prefix shown', (_name, prefix, point, shown) => {
    const mb = multikey(prefix, point);
    const err = errorOf(() => parseMultikey(mb));
    expect(err.code).toBe('KEY_UNSUPPORTED');
    expect(err.message).toBe(
      `multikey ${mb} has multicodec prefix [${shown.slice(1, -1)}]; only secp256k1-pub (0xe7) and p256-pub (0x1200) are atproto signing keys`,
    );
  });

  it('a K-256 key is read as K-256 and a P-256 key as P-256, whatever point bytes they carry', () => {
    expect(parseMultikey(multikey([0xe7, 0x01], k256Point)).curve).toBe('k256');
    expect(parseMultikey(multikey([0x80, 0x24], p256Point)).curve).toBe('p256');
    expect(formatMultikey({ curve: 'p256', compressed: p256Point })).toBe(multikey([0x80, 0x24], p256Point));
    expect(formatMultikey({ curve: 'k256', compressed: k256Point })).toBe(multikey([0xe7, 0x01], k256Point));
  });

  it('a K-256 signature never verifies under the same point bytes read as P-256', () => {
    const secret = secp256k1.utils.randomSecretKey();
    const compressed = secp256k1.getPublicKey(secret, true);
    const message = new TextEncoder().encode('commit');
    const sig = secp256k1.sign(message, secret, { prehash: true, lowS: true, format: 'compact' });
    expect(verifyEcdsaSignature({ curve: 'k256', compressed }, message, sig)).toBe(true);
    expect(verifyEcdsaSignature({ curve: 'p256', compressed }, message, sig)).toBe(false);
    expect(verifyEcdsaSignature({ curve: 'ed25519' as 'k256', compressed }, message, sig)).toBe(false);
  });
});

describe('points: 33 or 65 bytes on the named curve', () => {
  it.each([
    ['K-256', [0xe7, 0x01], 32],
    ['K-256', [0xe7, 0x01], 64],
    ['K-256', [0xe7, 0x01], 34],
    ['P-256', [0x80, 0x24], 66],
    ['P-256', [0x80, 0x24], 0],
  ])('a %s point (prefix %j) of %i bytes is refused by its length', (name, prefix, length) => {
    const mb = multikey(prefix, new Uint8Array(length).fill(2));
    expect(errorOf(() => parseMultikey(mb)).message).toBe(`multikey ${mb}: a ${name} point is 33 (compressed) or 65 (uncompressed) bytes, got ${length}`);
  });

  it('a P-256 key whose bytes are no P-256 point says which curve it missed', () => {
    const mb = multikey([0x80, 0x24], Uint8Array.of(0x05, ...p256Point.subarray(1)));
    const err = errorOf(() => parseMultikey(mb));
    expect(err.message).toBe(`multikey ${mb} is not a point on the P-256 curve`);
    expect(err.cause).toBeInstanceOf(Error);
  });
});

describe('multibase strings', () => {
  it('a multibase string longer than 256 characters is refused before decoding; 256 is decoded', () => {
    const long = `z${'2'.repeat(256)}`;
    expect(errorOf(() => parseMultikey(long)).message).toBe(`public key ${JSON.stringify(long.slice(0, 80))} is not a "z" (base58btc) multibase string`);
    const atLimit = `z${'2'.repeat(255)}`;
    expect(errorOf(() => parseMultikey(atLimit)).message).toMatch(/^multikey z2+ has multicodec prefix/);
  });

  it('invalid base58 says so, with the decoder\'s reason', () => {
    const err = errorOf(() => parseMultikey('zQ3sh0OIl'));
    expect(err.message).toMatch(/^public key zQ3sh0OIl is not valid base58btc: .+/);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it.each([
    [42, 'number'],
    [null, 'object'],
    [['did:key:zQ3sh'], 'object'],
  ])('parseDidKey(%j) is KEY_UNSUPPORTED, shown by type', (value, shown) => {
    const err = errorOf(() => parseDidKey(value as unknown as string));
    expect(err.code).toBe('KEY_UNSUPPORTED');
    expect(err.message).toBe(`${shown} is not a did:key`);
  });

  it('a did:key string that is something else is shown, cut to 80 characters', () => {
    const did = `did:web:${'x'.repeat(100)}`;
    expect(errorOf(() => parseDidKey(did)).message).toBe(`${JSON.stringify(did.slice(0, 80))} is not a did:key`);
  });

  it.each(['f0102', 'mAQI', 'Z123'])('a multibase %j in another base than z (base58btc) is refused as such', (mb) => {
    expect(errorOf(() => parseMultikey(mb)).message).toBe(`public key ${JSON.stringify(mb)} is not a "z" (base58btc) multibase string`);
  });

  it('a legacy key that is not base58 is DID_DOCUMENT_INVALID: the document is wrong', () => {
    const err = errorOf(() => keyFromVerificationMethod({ type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: 'z0OIl' }));
    expect(err.code).toBe('DID_DOCUMENT_INVALID');
    expect(err.message).toMatch(/^public key z0OIl is not valid base58btc: /);
  });

  it('a compact signature with r or s outside [1, n-1] is false, never a throw', () => {
    const compressed = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
    const message = new TextEncoder().encode('abc');
    expect(verifyEcdsaSignature({ curve: 'k256', compressed }, message, new Uint8Array(64))).toBe(false);
    expect(verifyEcdsaSignature({ curve: 'k256', compressed }, message, new Uint8Array(64).fill(0xff))).toBe(false);
  });

  it('keys are held as 33-byte compressed points: the same key uncompressed verifies nothing', () => {
    const secret = secp256k1.utils.randomSecretKey();
    const message = new TextEncoder().encode('abc');
    const sig = secp256k1.sign(message, secret, { prehash: true, lowS: true, format: 'compact' });
    expect(verifyEcdsaSignature({ curve: 'k256', compressed: secp256k1.getPublicKey(secret, true) }, message, sig)).toBe(true);
    expect(verifyEcdsaSignature({ curve: 'k256', compressed: secp256k1.getPublicKey(secret, false) }, message, sig)).toBe(false);
    expect(verifyEcdsaSignature(null as unknown as { curve: 'k256'; compressed: Uint8Array }, message, sig)).toBe(false);
    expect(verifyEcdsaSignature({ curve: 'toString' as 'k256', compressed: secp256k1.getPublicKey(secret, true) }, message, sig)).toBe(false);
  });

  it('parseMultikey of a non-string is KEY_UNSUPPORTED, shown by type', () => {
    expect(errorOf(() => parseMultikey(7 as unknown as string)).message).toBe('public key number is not a "z" (base58btc) multibase string');
  });
});

describe('verification methods', () => {
  const good = multikey([0xe7, 0x01], k256Point);

  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])('type %j, a name every object inherits, is KEY_UNSUPPORTED', (type) => {
    const err = errorOf(() => keyFromVerificationMethod({ type, publicKeyMultibase: good }));
    expect(err.code).toBe('KEY_UNSUPPORTED');
    expect(err.message).toBe(
      `verification method type ${JSON.stringify(type)} is not supported (Multikey, EcdsaSecp256k1VerificationKey2019 or EcdsaSecp256r1VerificationKey2019)`,
    );
  });

  it('a method without a key names its type; a non-string type is shown by its type', () => {
    expect(errorOf(() => keyFromVerificationMethod({ type: 'Multikey' })).message).toBe('verification method of type "Multikey" has no publicKeyMultibase');
    expect(errorOf(() => keyFromVerificationMethod({ type: 5 as unknown as string })).message).toBe('verification method of type number has no publicKeyMultibase');
    expect(errorOf(() => keyFromVerificationMethod({ type: 5 as unknown as string, publicKeyMultibase: good })).code).toBe('KEY_UNSUPPORTED');
    expect(errorOf(() => keyFromVerificationMethod(null as unknown as { type: string })).code).toBe('DID_DOCUMENT_INVALID');
  });

  it('a legacy key names its type and key when it is not a point', () => {
    const raw = base58btc.encode(new Uint8Array(33).fill(9));
    expect(errorOf(() => keyFromVerificationMethod({ type: 'EcdsaSecp256r1VerificationKey2019', publicKeyMultibase: raw })).message).toBe(
      `EcdsaSecp256r1VerificationKey2019 key ${raw} is not a point on the P-256 curve`,
    );
    expect(keyFromVerificationMethod({ type: 'EcdsaSecp256r1VerificationKey2019', publicKeyMultibase: base58btc.encode(p256Point) })).toEqual({
      curve: 'p256',
      compressed: p256Point,
    });
  });

  it('a Multikey method with a malformed key is DID_DOCUMENT_INVALID (the document is wrong), an unknown curve KEY_UNSUPPORTED', () => {
    expect(errorOf(() => keyFromVerificationMethod({ type: 'Multikey', publicKeyMultibase: multikey([0xe7, 0x01], new Uint8Array(3)) })).code).toBe(
      'DID_DOCUMENT_INVALID',
    );
    expect(errorOf(() => keyFromVerificationMethod({ type: 'Multikey', publicKeyMultibase: multikey([0xed, 0x01], new Uint8Array(32)) })).code).toBe(
      'KEY_UNSUPPORTED',
    );
  });
});
