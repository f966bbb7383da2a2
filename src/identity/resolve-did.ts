import { VerificationError } from '../errors.js';
import { guardedFetch, parseJsonBody, type FetchPolicy } from '../net/guarded-fetch.js';
import type { AtprotoIdentity } from './atproto-identity.js';
import { plcAuditLogUrl, verifyPlcAuditLog } from './plc-audit-log.js';
import type { TtlCache } from './ttl-cache.js';

export interface DidResolverOptions {
  plcDirectory: string;
  timeoutMs: number;
  allowPrivateNetwork: boolean;
  /** Raw answers (did:web DID documents, did:plc audit logs) by URL; re-verified on every read. */
  cache?: TtlCache<unknown>;
  ca?: string;
  signal?: AbortSignal;
}

/** DID documents are small; anything larger is not one. */
const MAX_DID_DOCUMENT_BYTES = 64 * 1024;
/** A did:plc audit log of MAX_PLC_LOG_ENTRIES operations is ~200 KiB; a one-operation log under 1 KiB. */
const MAX_PLC_AUDIT_LOG_BYTES = 1024 * 1024;

/** A did:plc identifier (did-method-plc: `did:plc:` and 24 characters of lowercase base32). */
const DID_PLC = /^did:plc:[a-z2-7]{24}$/;

/** Resolves a DID to its atproto identity: signing key and PDS (SPEC section 3 step 2). */
export async function resolveDid(did: string, options: DidResolverOptions): Promise<AtprotoIdentity> {
  // did:plc (its whole syntax: the prefix and 24 base32 characters) goes straight to the log
  // replay. Anything else is judged by locateDid, and a did:web document by @atproto/did's schema:
  // both loaded only then, so a plugin run for a did:plc signer never initialises zod (~4 ms).
  if (DID_PLC.test(did)) return resolvePlcDid(did, options);
  const [{ didDocumentUrl, locateDid }, { parseDidDocument }] = await Promise.all([import('./did.js'), import('./did-document.js')]);
  const location = locateDid(did, options.allowPrivateNetwork);
  if (location.method === 'plc') return resolvePlcDid(did, options);
  const url = didDocumentUrl(location, options.plcDirectory);
  // A document fetched under a private-network allowance is not served to a verifier without one.
  const cacheKey = `${url} private=${options.allowPrivateNetwork === true}`;
  const cached = options.cache?.get(cacheKey);
  if (cached !== undefined) return parseDidDocument(cached, did, options.allowPrivateNetwork);

  const document = await fetchDidDocument(url, did, options);
  const identity = parseDidDocument(document, did, options.allowPrivateNetwork);
  options.cache?.set(cacheKey, document);
  return identity;
}

/**
 * Logs this process already replayed, by the very object the in-memory cache holds (never
 * mutated), so a memory hit skips the signature checks (2-4 ms each). A log read back from the
 * disk cache, or fetched, is a new object and is replayed in full.
 */
const replayed = new WeakMap<object, { did: string; allowPrivateNetwork: boolean; identity: AtprotoIdentity }>();

/**
 * did:plc: the identity is replayed from the directory's signed operation log, never read from
 * the DID document it renders, so a directory cannot substitute a key or PDS (plc-audit-log.ts).
 * Still one request per cold resolution; the raw log is what is cached.
 */
async function resolvePlcDid(did: string, options: DidResolverOptions): Promise<AtprotoIdentity> {
  const url = plcAuditLogUrl(did, options.plcDirectory);
  const cached = options.cache?.get(url);
  const known = typeof cached === 'object' && cached !== null ? replayed.get(cached) : undefined;
  if (known && known.did === did && known.allowPrivateNetwork === options.allowPrivateNetwork) return { ...known.identity };

  const log = cached ?? (await fetchDidDocument(url, did, options, MAX_PLC_AUDIT_LOG_BYTES, 'application/json'));
  const { signingKey, signingKeyMultibase, pdsEndpoint, claimedHandle } = verifyPlcAuditLog(did, log, options);
  const identity: AtprotoIdentity = { did, signingKey, signingKeyMultibase, pdsEndpoint, claimedHandle };
  if (cached === undefined) options.cache?.set(url, log);
  if (typeof log === 'object' && log !== null) replayed.set(log, { did, allowPrivateNetwork: options.allowPrivateNetwork, identity });
  return identity;
}

async function fetchDidDocument(
  url: string,
  did: string,
  options: DidResolverOptions,
  maxBytes = MAX_DID_DOCUMENT_BYTES,
  accept = 'application/did+ld+json, application/json',
): Promise<unknown> {
  const purpose = `resolving ${did}`;
  const policy: FetchPolicy = {
    allowPrivateNetwork: options.allowPrivateNetwork,
    timeoutMs: options.timeoutMs,
    maxBytes,
    ...(options.ca ? { ca: options.ca } : {}),
  };
  let res;
  try {
    res = await guardedFetch({ url, purpose, accept, ...(options.signal ? { signal: options.signal } : {}) }, policy);
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
