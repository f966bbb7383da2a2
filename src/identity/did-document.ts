import { didDocumentValidator } from '@atproto/did';
import { keyFromVerificationMethod, formatMultikey } from '../atproto/keys.js';
import { VerificationError } from '../errors.js';
import { checkPdsEndpoint, firstHandle, type AtprotoIdentity } from './atproto-identity.js';

/**
 * did:web DID documents, validated with @atproto/did (zod). This module is imported only where a
 * did:web document is read (resolve-did.ts loads it lazily), so a did:plc resolution, the plugin's
 * usual case, never initialises zod's schemas.
 */
export { checkPdsEndpoint, firstHandle, type AtprotoIdentity };

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
    // Named by the schema path only: a validator's message may quote the document's own text.
    const path = (parsed.error.issues[0]?.path ?? []).filter((k) => typeof k === 'number' || /^[A-Za-z@]{1,32}$/.test(String(k))).join('.');
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document for ${did} is malformed${path ? ` at ${path}` : ''} (not a valid DID document)`);
  }
  const doc = parsed.data;
  if (doc.id !== did) {
    throw new VerificationError('DID_DOCUMENT_INVALID', `DID document names another DID, not the requested ${did}`);
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

