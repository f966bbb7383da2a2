import type { AtprotoPublicKey } from '../atproto/keys.js';
import { VerificationError } from '../errors.js';
import { checkUrl } from '../net/guarded-fetch.js';

/**
 * The identity the proof chain takes from a DID, and the checks shared by both ways of getting it
 * (a did:plc operation log replayed in ./plc-audit-log.ts, a did:web document in ./did-document.ts).
 * No schema library here: the did:plc path, which builds the identity from the verified log
 * itself, loads neither @atproto/did nor zod.
 */

/** What the proof chain takes from a DID document: the only trusted source of key and PDS. */
export interface AtprotoIdentity {
  did: string;
  signingKey: AtprotoPublicKey;
  /** The signing key as a Multikey string (`z...`), for policies that pin keys. */
  signingKeyMultibase: string;
  pdsEndpoint: string;
  /** Handle claimed by `alsoKnownAs` (first `at://` entry); unverified until checked both ways. */
  claimedHandle: string | undefined;
}

/** A PDS endpoint as the proof chain uses it: a bare http(s) origin the fetch guard accepts. */
export function checkPdsEndpoint(endpoint: string, did: string, allowPrivateNetwork: boolean): string {
  let url: URL;
  try {
    url = checkUrl(endpoint, { allowPrivateNetwork }, `#atproto_pds of ${did}`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did}: PDS endpoint refused: ${message}`);
  }
  if (url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did}: PDS endpoint ${url.origin} must be a bare origin (no path, query or fragment)`);
  }
  return url.origin;
}

/** The handle an `alsoKnownAs` list claims: its first `at://` entry, lower-cased. */
export function firstHandle(aka: readonly string[] | undefined): string | undefined {
  const entry = (aka ?? []).find((a) => typeof a === 'string' && a.startsWith('at://'));
  return entry?.slice('at://'.length).toLowerCase();
}
