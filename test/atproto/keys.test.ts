import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import {
  formatDidKey,
  formatMultikey,
  keyFromVerificationMethod,
  parseDidKey,
  parseMultikey,
  verifyEcdsaSignature,
  type AtprotoPublicKey,
} from '../../src/atproto/keys.js';
import { fromBase64, interopJson } from './vectors.js';
import { codeOf } from '../harness/error-code.js';


interface SignatureFixture {
  comment: string;
  messageBase64: string;
  algorithm: 'ES256' | 'ES256K';
  didDocSuite: string;
  publicKeyDid: string;
  publicKeyMultibase: string;
  signatureBase64: string;
  validSignature: boolean;
  tags: string[];
}

describe('interop crypto/signature-fixtures.json', () => {
  const fixtures = interopJson<SignatureFixture[]>('crypto/signature-fixtures.json');

  it('covers high-S and DER cases', () => {
    expect(fixtures.filter((f) => f.tags.includes('high-s')).length).toBeGreaterThanOrEqual(2);
    expect(fixtures.filter((f) => f.tags.includes('der-encoded')).length).toBeGreaterThanOrEqual(2);
  });

  it.each(fixtures.map((f) => [f.comment, f] as const))('%s', (_comment, f) => {
    const key = parseDidKey(f.publicKeyDid);
    expect(key.curve).toBe(f.algorithm === 'ES256K' ? 'k256' : 'p256');
    // The fixture's legacy publicKeyMultibase (no multicodec) names the same key.
    const legacy = keyFromVerificationMethod({ type: f.didDocSuite, publicKeyMultibase: f.publicKeyMultibase });
    expect(legacy).toEqual(key);
    const message = fromBase64(f.messageBase64);
    const sig = fromBase64(f.signatureBase64);
    expect(verifyEcdsaSignature(key, message, sig)).toBe(f.validSignature);
  });

  it('the high-S fixtures are the malleable twins of the valid ones (so only low-S rejects them)', () => {
    for (const f of fixtures.filter((x) => x.tags.includes('high-s'))) {
      const curve = f.algorithm === 'ES256K' ? secp256k1 : p256;
      const key = parseDidKey(f.publicKeyDid);
      const ok = curve.verify(fromBase64(f.signatureBase64), fromBase64(f.messageBase64), key.compressed, {
        prehash: true,
        lowS: false,
        format: 'compact',
      });
      expect(ok).toBe(true);
    }
  });
});

describe('interop crypto/w3c_didkey_*.json', () => {
  it.each(interopJson<{ privateKeyBytesHex: string; publicDidKey: string }[]>('crypto/w3c_didkey_K256.json'))(
    'K-256 $publicDidKey',
    ({ privateKeyBytesHex, publicDidKey }) => {
      const pub = secp256k1.getPublicKey(Buffer.from(privateKeyBytesHex, 'hex'), true);
      expect(formatDidKey({ curve: 'k256', compressed: pub })).toBe(publicDidKey);
      expect(parseDidKey(publicDidKey)).toEqual({ curve: 'k256', compressed: pub });
    },
  );
  it.each(interopJson<{ privateKeyBytesBase58: string; publicDidKey: string }[]>('crypto/w3c_didkey_P256.json'))(
    'P-256 $publicDidKey',
    ({ privateKeyBytesBase58, publicDidKey }) => {
      const pub = p256.getPublicKey(base58btc.baseDecode(privateKeyBytesBase58), true);
      expect(formatDidKey({ curve: 'p256', compressed: pub })).toBe(publicDidKey);
      expect(parseDidKey(publicDidKey)).toEqual({ curve: 'p256', compressed: pub });
    },
  );
});

describe('keyFromVerificationMethod', () => {
  it('reads the did spec legacy (uncompressed, no multicodec) and Multikey examples as one key', () => {
    const legacy = keyFromVerificationMethod({
      type: 'EcdsaSecp256k1VerificationKey2019',
      publicKeyMultibase: 'zQYEBzXeuTM9UR3rfvNag6L3RNAs5pQZyYPsomTsgQhsxLdEgCrPTLgFna8yqCnxPpNT7DBk6Ym3dgPKNu86vt9GR',
    });
    const multikey = keyFromVerificationMethod({ type: 'Multikey', publicKeyMultibase: 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF' });
    expect(legacy).toEqual(multikey);
    expect(formatMultikey(legacy)).toBe('zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF');
  });

  it('takes the curve of a legacy key from its type', () => {
    const secret = p256.utils.randomSecretKey();
    const raw = base58btc.encode(p256.getPublicKey(secret, false));
    expect(keyFromVerificationMethod({ type: 'EcdsaSecp256r1VerificationKey2019', publicKeyMultibase: raw }).curve).toBe('p256');
    // The same bytes under the K-256 type are (almost surely) not a K-256 point.
    expect(codeOf(() => keyFromVerificationMethod({ type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: raw }))).toBe(
      'DID_DOCUMENT_INVALID',
    );
  });

  it('refuses unsupported types with KEY_UNSUPPORTED and malformed keys with DID_DOCUMENT_INVALID', () => {
    const good = 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF';
    expect(codeOf(() => keyFromVerificationMethod({ type: 'JsonWebKey2020', publicKeyMultibase: good }))).toBe('KEY_UNSUPPORTED');
    expect(codeOf(() => keyFromVerificationMethod({ type: 'Ed25519VerificationKey2020', publicKeyMultibase: good }))).toBe('KEY_UNSUPPORTED');
    expect(codeOf(() => keyFromVerificationMethod({ type: 'Multikey' }))).toBe('DID_DOCUMENT_INVALID');
    expect(codeOf(() => keyFromVerificationMethod({ type: 'Multikey', publicKeyMultibase: 'z0OIl' }))).toBe('DID_DOCUMENT_INVALID');
    // Legacy types carry no multicodec: a Multikey string under a legacy type is 35 bytes, not a point.
    expect(codeOf(() => keyFromVerificationMethod({ type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: good }))).toBe(
      'DID_DOCUMENT_INVALID',
    );
  });
});

describe('parseMultikey / parseDidKey', () => {
  const secret = secp256k1.utils.randomSecretKey();
  const compressed = secp256k1.getPublicKey(secret, true);
  const uncompressed = secp256k1.getPublicKey(secret, false);
  const withPrefix = (prefix: number[], point: Uint8Array) => base58btc.encode(Uint8Array.of(...prefix, ...point));

  it('normalises an uncompressed point to compressed and round-trips', () => {
    const key = parseMultikey(withPrefix([0xe7, 0x01], uncompressed));
    expect(key).toEqual({ curve: 'k256', compressed });
    expect(parseMultikey(formatMultikey(key))).toEqual(key);
    expect(parseDidKey(formatDidKey(key))).toEqual(key);
  });

  it.each([
    ['ed25519 multicodec', withPrefix([0xed, 0x01], new Uint8Array(32).fill(7)), 'KEY_UNSUPPORTED'],
    ['bls12-381 multicodec', withPrefix([0xeb, 0x01], new Uint8Array(48).fill(7)), 'KEY_UNSUPPORTED'],
    ['no multicodec', base58btc.encode(compressed), 'KEY_UNSUPPORTED'],
    ['a point off the curve', withPrefix([0xe7, 0x01], Uint8Array.of(...uncompressed.subarray(0, 64), uncompressed[64]! ^ 1)), 'KEY_UNSUPPORTED'],
    ['a truncated point', withPrefix([0xe7, 0x01], compressed.subarray(0, 32)), 'KEY_UNSUPPORTED'],
    ['a 64-byte raw point', withPrefix([0xe7, 0x01], uncompressed.subarray(1)), 'KEY_UNSUPPORTED'],
    ['the point at infinity', withPrefix([0xe7, 0x01], Uint8Array.of(0)), 'KEY_UNSUPPORTED'],
    ['a non-z multibase', 'f' + Buffer.from(compressed).toString('hex'), 'KEY_UNSUPPORTED'],
    ['invalid base58 characters', 'zQ3sh0OIl', 'KEY_UNSUPPORTED'],
    ['an empty string', '', 'KEY_UNSUPPORTED'],
  ])('rejects %s', (_name, multibase, code) => {
    expect(codeOf(() => parseMultikey(multibase))).toBe(code);
  });

  it('rejects compressed encodings that name no point: bad prefix byte, x with no curve point', () => {
    expect(codeOf(() => parseMultikey(withPrefix([0xe7, 0x01], Uint8Array.of(0x05, ...compressed.subarray(1)))))).toBe('KEY_UNSUPPORTED');
    // Find an x for which x^3 + 7 has no square root: its "compressed point" decodes to nothing.
    let offCurve: Uint8Array | undefined;
    for (let x = 1; !offCurve; x++) {
      const candidate = new Uint8Array(33);
      candidate[0] = 0x02;
      candidate[32] = x;
      try {
        secp256k1.Point.fromBytes(candidate);
      } catch {
        offCurve = candidate;
      }
    }
    expect(codeOf(() => parseMultikey(withPrefix([0xe7, 0x01], offCurve!)))).toBe('KEY_UNSUPPORTED');
    expect(codeOf(() => keyFromVerificationMethod({ type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: base58btc.encode(offCurve!) }))).toBe(
      'DID_DOCUMENT_INVALID',
    );
  });

  it('rejects a did:key with another prefix', () => {
    expect(codeOf(() => parseDidKey('did:web:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF'))).toBe('KEY_UNSUPPORTED');
  });
});

describe('verifyEcdsaSignature', () => {
  const secret = secp256k1.utils.randomSecretKey();
  const key: AtprotoPublicKey = { curve: 'k256', compressed: secp256k1.getPublicKey(secret, true) };
  const message = new TextEncoder().encode('unsigned commit bytes');
  const sig = secp256k1.sign(message, secret, { prehash: true, lowS: true });

  it('accepts a compact low-S signature over the message (prehashed by the verifier)', () => {
    expect(verifyEcdsaSignature(key, message, sig)).toBe(true);
  });

  it('rejects a signature made over the hash instead of the message', async () => {
    const { sha256 } = await import('@noble/hashes/sha2.js');
    expect(verifyEcdsaSignature(key, sha256(message), sig)).toBe(false);
  });

  it('returns false, never throws, for high-S, DER, wrong lengths, zero values and junk', () => {
    const parsed = secp256k1.Signature.fromBytes(sig, 'compact');
    const highS = new secp256k1.Signature(parsed.r, secp256k1.Point.CURVE().n - parsed.s).toBytes('compact');
    expect(verifyEcdsaSignature(key, message, highS)).toBe(false);
    expect(verifyEcdsaSignature(key, message, parsed.toBytes('der'))).toBe(false);
    expect(verifyEcdsaSignature(key, message, sig.subarray(0, 63))).toBe(false);
    expect(verifyEcdsaSignature(key, message, Uint8Array.of(...sig, 0))).toBe(false);
    expect(verifyEcdsaSignature(key, message, new Uint8Array(64))).toBe(false);
    expect(verifyEcdsaSignature(key, message, new Uint8Array(64).fill(0xff))).toBe(false);
    expect(verifyEcdsaSignature(key, message, new Uint8Array(0))).toBe(false);
    expect(verifyEcdsaSignature({ curve: 'k256', compressed: new Uint8Array(33) }, message, sig)).toBe(false);
    expect(verifyEcdsaSignature({ curve: 'ed25519' as 'k256', compressed: key.compressed }, message, sig)).toBe(false);
  });

  it('rejects the same signature checked against the other curve', () => {
    const p = p256.utils.randomSecretKey();
    const pKey: AtprotoPublicKey = { curve: 'p256', compressed: p256.getPublicKey(p, true) };
    const pSig = p256.sign(message, p, { prehash: true, lowS: true });
    expect(verifyEcdsaSignature(pKey, message, pSig)).toBe(true);
    expect(verifyEcdsaSignature({ curve: 'k256', compressed: key.compressed }, message, pSig)).toBe(false);
  });
});

describe('hostile inputs from untrusted JSON never escape as raw exceptions', () => {
  it.each([
    ['a type named like an Object.prototype member', { type: 'toString', publicKeyMultibase: 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF' }, 'KEY_UNSUPPORTED'],
    ['a type that is an object with a toString key', { type: { toString: 1 }, publicKeyMultibase: 'z' }, 'KEY_UNSUPPORTED'],
    ['a publicKeyMultibase that is an object', { type: 'Multikey', publicKeyMultibase: { toString: 1 } }, 'DID_DOCUMENT_INVALID'],
    ['a null method', null, 'DID_DOCUMENT_INVALID'],
  ])('%s', (_name, vm, code) => {
    expect(codeOf(() => keyFromVerificationMethod(vm as never))).toBe(code);
  });

  it('parseMultikey and parseDidKey with non-strings', () => {
    expect(codeOf(() => parseMultikey({ toString: 1 } as never))).toBe('KEY_UNSUPPORTED');
    expect(codeOf(() => parseDidKey(42 as never))).toBe('KEY_UNSUPPORTED');
  });
});
