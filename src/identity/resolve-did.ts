import { VerificationError } from '../errors.js';
import { guardedFetch, parseJsonBody, type FetchPolicy } from '../net/guarded-fetch.js';
import { didDocumentUrl, locateDid } from './did.js';
import { parseDidDocument, type AtprotoIdentity } from './did-document.js';
import type { TtlCache } from './ttl-cache.js';

export interface DidResolverOptions {
  plcDirectory: string;
  timeoutMs: number;
  allowPrivateNetwork: boolean;
  /** Raw DID documents by DID; re-validated on every read. */
  cache?: TtlCache<unknown>;
  ca?: string;
  signal?: AbortSignal;
}

/** DID documents are small; anything larger is not one. */
const MAX_DID_DOCUMENT_BYTES = 64 * 1024;

/** Resolves a DID to its atproto identity: signing key and PDS (SPEC section 3 step 2). */
export async function resolveDid(did: string, options: DidResolverOptions): Promise<AtprotoIdentity> {
  const location = locateDid(did, options.allowPrivateNetwork);
  const url = didDocumentUrl(location, options.plcDirectory);
  const cacheKey = `${url}`;
  const cached = options.cache?.get(cacheKey);
  if (cached !== undefined) return parseDidDocument(cached, did, options.allowPrivateNetwork);

  const document = await fetchDidDocument(url, did, options);
  const identity = parseDidDocument(document, did, options.allowPrivateNetwork);
  options.cache?.set(cacheKey, document);
  return identity;
}

async function fetchDidDocument(url: string, did: string, options: DidResolverOptions): Promise<unknown> {
  const purpose = `resolving ${did}`;
  const policy: FetchPolicy = {
    allowPrivateNetwork: options.allowPrivateNetwork,
    timeoutMs: options.timeoutMs,
    maxBytes: MAX_DID_DOCUMENT_BYTES,
    ...(options.ca ? { ca: options.ca } : {}),
  };
  let res;
  try {
    res = await guardedFetch({ url, purpose, accept: 'application/did+ld+json, application/json', ...(options.signal ? { signal: options.signal } : {}) }, policy);
  } catch (err) {
    if (err instanceof VerificationError && (err.code === 'NETWORK_ERROR' || err.code === 'NETWORK_TIMEOUT')) {
      throw new VerificationError('DID_RESOLUTION_FAILED', `${err.message} (${url})`, { cause: err });
    }
    throw err;
  }
  if (res.status === 404) throw new VerificationError('DID_RESOLUTION_FAILED', `${did} is not registered (${url} answered 404)`);
  if (res.status === 410) throw new VerificationError('DID_RESOLUTION_FAILED', `${did} has been deactivated (tombstoned at ${url})`);
  if (res.status !== 200) throw new VerificationError('DID_RESOLUTION_FAILED', `${url} answered HTTP ${res.status} for ${did}`);
  return parseJsonBody(res, purpose, 'DID_RESOLUTION_FAILED');
}
