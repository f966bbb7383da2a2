import { didDocumentValidator } from '@atproto/did';
import { keyFromVerificationMethod, formatMultikey, type AtprotoPublicKey } from '../atproto/keys.js';
import { VerificationError } from '../errors.js';
import { checkUrl } from '../net/guarded-fetch.js';

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

const MAX_ENTRIES = 64;

function isFragment(id: unknown, did: string, fragment: string): boolean {
  return id === `#${fragment}` || id === `${did}#${fragment}`;
}

/**
 * Extracts the `#atproto` verification method and `#atproto_pds` service (SPEC section 3 step 2).
 * Ambiguity is an error: two `#atproto` keys, or a document for another DID, prove nothing.
 */
export function parseDidDocument(raw: unknown, did: string, allowPrivateNetwork: boolean): AtprotoIdentity {
  const parsed = didDocumentValidator.safeParse(raw);
  if (!parsed.success) {
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did} is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  const doc = parsed.data;
  if (doc.id !== did) {
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document is for ${doc.id}, not the requested ${did}`);
  }
  const methods = (doc.verificationMethod ?? []).filter((m) => typeof m === 'object' && isFragment(m.id, did, 'atproto'));
  const services = (doc.service ?? []).filter((s) => isFragment(s.id, did, 'atproto_pds'));
  if ((doc.verificationMethod?.length ?? 0) > MAX_ENTRIES || (doc.service?.length ?? 0) > MAX_ENTRIES) {
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did} has too many entries`);
  }
  if (methods.length !== 1) {
    throw new VerificationError(
      'DID_DOCUMENT_INVALID',
      `DID document for ${did} has ${methods.length} #atproto verification methods; exactly one is required`,
    );
  }
  if (services.length !== 1) {
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did} has ${services.length} #atproto_pds services; exactly one is required`);
  }
  const service = services[0]!;
  if (service.type !== 'AtprotoPersonalDataServer' || typeof service.serviceEndpoint !== 'string') {
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did}: #atproto_pds is not an AtprotoPersonalDataServer with a URL endpoint`);
  }
  const pds = checkPdsEndpoint(service.serviceEndpoint, did, allowPrivateNetwork);
  const signingKey = keyFromVerificationMethod(methods[0] as { type: string; publicKeyMultibase?: string });
  return {
    did,
    signingKey,
    signingKeyMultibase: formatMultikey(signingKey),
    pdsEndpoint: pds,
    claimedHandle: firstHandle(doc.alsoKnownAs),
  };
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
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did}: PDS endpoint ${endpoint} must be a bare origin`);
  }
  return url.origin;
}

/** The handle an `alsoKnownAs` list claims: its first `at://` entry, lower-cased. */
export function firstHandle(aka: readonly string[] | undefined): string | undefined {
  const entry = (aka ?? []).find((a) => typeof a === 'string' && a.startsWith('at://'));
  return entry?.slice('at://'.length).toLowerCase();
}
