import { boundedMemo } from '../bounded-memo.js';
import { formatMultikey, keyFromVerificationMethod, parseMultikey, type AtprotoPublicKey } from '../atproto/keys.js';

/**
 * Pinned keys (`trustedDIDs.<did>.keys`) in one form: the canonical Multikey (multicodec prefix,
 * compressed point), the form the verifier reports the key that verified a commit in. Without it,
 * one key spelt two ways would pass one path and fail another (issue 14, item 2).
 *
 * Accepted: a Multikey with a compressed or uncompressed point, and the legacy publicKeyMultibase
 * of `EcdsaSecp256k1VerificationKey2019` / `EcdsaSecp256r1VerificationKey2019` (a raw point with no
 * multicodec), whose curve is the one the point lies on. A raw point that lies on both curves
 * names no key: refused.
 */
export function canonicalPinnedKey(text: string): { key: string } | { problem: string } {
  let multikeyError: unknown;
  try {
    return { key: formatMultikey(parseMultikey(text)) };
  } catch (err) {
    multikeyError = err;
  }
  const legacy: AtprotoPublicKey[] = [];
  for (const type of ['EcdsaSecp256k1VerificationKey2019', 'EcdsaSecp256r1VerificationKey2019']) {
    try {
      legacy.push(keyFromVerificationMethod({ type, publicKeyMultibase: text }));
    } catch {
      // Not a raw point on this curve.
    }
  }
  if (legacy.length === 1) return { key: formatMultikey(legacy[0]!) };
  if (legacy.length === 2) {
    return { problem: `${text} is a raw point (no multicodec) that lies on both K-256 and P-256, so its curve is unknown: pin the Multikey form, as the DID document's publicKeyMultibase (zQ3sh... for K-256, zDn... for P-256)` };
  }
  const why = multikeyError instanceof Error ? multikeyError.message : String(multikeyError);
  return { problem: `not an atproto signing key: ${why}; pin the Multikey publicKeyMultibase of the DID document's #atproto method` };
}

/**
 * The canonical form of a key reported by the verifier, or the text itself when it is no key (it
 * then matches nothing). Remembered: a publisher signs every image with the same key, and parsing
 * one decompresses a curve point.
 */
export const canonicalKeyOrSelf = boundedMemo((text: string): string => {
  const parsed = canonicalPinnedKey(text);
  return 'key' in parsed ? parsed.key : text;
});
