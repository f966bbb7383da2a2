import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base58btc } from 'multiformats/bases/base58';
import { VerificationError, type ErrorCode } from '../errors.js';
import { verifyEcdsaSha256 } from './ecdsa-verify.js';

/** The two atproto signing curves (cryptography spec): K-256 (secp256k1) and P-256 (secp256r1). */
export type AtprotoCurve = 'k256' | 'p256';

/** A public signing key, always held as a validated 33-byte compressed point. */
export interface AtprotoPublicKey {
  curve: AtprotoCurve;
  compressed: Uint8Array;
}

const CURVES = { k256: secp256k1, p256 } as const;

/** Varint multicodec prefixes: secp256k1-pub 0xe7 -> [0xe7, 0x01]; p256-pub 0x1200 -> [0x80, 0x24]. */
const MULTICODEC: Record<AtprotoCurve, readonly [number, number]> = { k256: [0xe7, 0x01], p256: [0x80, 0x24] };

/** Legacy DID document key types (did spec, "Legacy Representation"): no multicodec, raw point. */
const LEGACY_TYPES: Record<string, AtprotoCurve> = {
  EcdsaSecp256k1VerificationKey2019: 'k256',
  EcdsaSecp256r1VerificationKey2019: 'p256',
};

const DID_KEY_PREFIX = 'did:key:';
/** Multikey strings are ~50 characters; the legacy uncompressed form ~90. Longer is not a key. */
const MAX_MULTIBASE_LENGTH = 256;

/**
 * Parses a Multikey (`z` + base58btc of varint multicodec + point), as in `did:key` and
 * `Multikey` verification methods. The point may be compressed (33 bytes, the spec's form) or
 * uncompressed (65 bytes); either way it must lie on the curve and is normalised to compressed.
 */
export function parseMultikey(multibase: string): AtprotoPublicKey {
  return decodeMultikey(multibase, 'KEY_UNSUPPORTED');
}

/** Parses `did:key:z...` into its public key. */
export function parseDidKey(did: string): AtprotoPublicKey {
  if (typeof did !== 'string' || !did.startsWith(DID_KEY_PREFIX)) {
    throw new VerificationError('KEY_UNSUPPORTED', `${showInput(did)} is not a did:key`);
  }
  return parseMultikey(did.slice(DID_KEY_PREFIX.length));
}

/**
 * Reads the key of a DID document verification method: `Multikey`, or the legacy
 * `EcdsaSecp256k1VerificationKey2019` / `EcdsaSecp256r1VerificationKey2019` types whose
 * `publicKeyMultibase` is `z` + base58btc of the raw point with no multicodec (the did spec says
 * uncompressed; older did:web documents and the interop fixtures also carry compressed points).
 * A malformed key is DID_DOCUMENT_INVALID; a type or curve atproto does not use is KEY_UNSUPPORTED.
 */
export function keyFromVerificationMethod(vm: { type: string; publicKeyMultibase?: string }): AtprotoPublicKey {
  const type = vm?.type;
  if (typeof vm?.publicKeyMultibase !== 'string') {
    throw new VerificationError('DID_DOCUMENT_INVALID', `verification method of type ${showInput(type)} has no publicKeyMultibase`);
  }
  if (type === 'Multikey') return decodeMultikey(vm.publicKeyMultibase, 'DID_DOCUMENT_INVALID');
  const curve = typeof type === 'string' && Object.hasOwn(LEGACY_TYPES, type) ? LEGACY_TYPES[type] : undefined;
  if (curve === undefined) {
    throw new VerificationError(
      'KEY_UNSUPPORTED',
      `verification method type ${showInput(type)} is not supported (Multikey, EcdsaSecp256k1VerificationKey2019 or EcdsaSecp256r1VerificationKey2019)`,
    );
  }
  const raw = decodeBase58btc(vm.publicKeyMultibase, 'DID_DOCUMENT_INVALID');
  return pointToKey(curve, raw, 'DID_DOCUMENT_INVALID', `${type} key ${vm.publicKeyMultibase}`);
}

/** The canonical Multikey string of a key (compressed point), e.g. for pinning and reports. */
export function formatMultikey(key: AtprotoPublicKey): string {
  const prefix = MULTICODEC[key.curve];
  const bytes = new Uint8Array(prefix.length + key.compressed.length);
  bytes.set(prefix, 0);
  bytes.set(key.compressed, prefix.length);
  return base58btc.encode(bytes);
}

export function formatDidKey(key: AtprotoPublicKey): string {
  return DID_KEY_PREFIX + formatMultikey(key);
}

/**
 * Verifies an atproto ECDSA signature (cryptography spec): SHA-256 of `message`, 64-byte compact
 * r||s only (DER refused), low-S only (malleable twins refused). The arithmetic runs in OpenSSL
 * (ecdsa-verify.ts). Returns false for anything invalid, never throws.
 */
export function verifyEcdsaSignature(key: AtprotoPublicKey, message: Uint8Array, sig: Uint8Array): boolean {
  if (!key || !Object.hasOwn(CURVES, key.curve)) return false;
  return verifyEcdsaSha256(key.curve, key.compressed, message, sig);
}

function decodeMultikey(multibase: string, malformed: ErrorCode): AtprotoPublicKey {
  const bytes = decodeBase58btc(multibase, malformed);
  const curve = (Object.keys(MULTICODEC) as AtprotoCurve[]).find((c) => bytes[0] === MULTICODEC[c][0] && bytes[1] === MULTICODEC[c][1]);
  if (curve === undefined) {
    const prefix = Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new VerificationError(
      'KEY_UNSUPPORTED',
      `multikey ${multibase} has multicodec prefix [${prefix}]; only secp256k1-pub (0xe7) and p256-pub (0x1200) are atproto signing keys`,
    );
  }
  return pointToKey(curve, bytes.subarray(2), malformed, `multikey ${multibase}`);
}

function decodeBase58btc(multibase: string, code: ErrorCode): Uint8Array {
  if (typeof multibase !== 'string' || !multibase.startsWith('z') || multibase.length > MAX_MULTIBASE_LENGTH) {
    throw new VerificationError(code, `public key ${showInput(multibase)} is not a "z" (base58btc) multibase string`);
  }
  try {
    return base58btc.decode(multibase);
  } catch (err) {
    throw new VerificationError(code, `public key ${multibase} is not valid base58btc: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Accepts a 33-byte compressed or 65-byte uncompressed SEC1 point that lies on the curve. */
function pointToKey(curve: AtprotoCurve, point: Uint8Array, code: ErrorCode, what: string): AtprotoPublicKey {
  const name = curve === 'k256' ? 'K-256' : 'P-256';
  if (point.length !== 33 && point.length !== 65) {
    throw new VerificationError(code, `${what}: a ${name} point is 33 (compressed) or 65 (uncompressed) bytes, got ${point.length}`);
  }
  try {
    const compressed = CURVES[curve].Point.fromBytes(point).toBytes(true);
    return { curve, compressed };
  } catch (err) {
    throw new VerificationError(code, `${what} is not a point on the ${name} curve`, { cause: err });
  }
}

/** Inputs come from untrusted JSON: render without calling their toString. */
function showInput(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
}
