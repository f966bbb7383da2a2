import { resolveTxt } from 'node:dns/promises';
import { guardedFetch, type FetchPolicy } from '../net/guarded-fetch.js';
import type { TtlCache } from './ttl-cache.js';

/**
 * Bidirectional handle verification (SPEC section 3 step 7): a handle is reported only when the
 * DID document claims it AND the handle resolves back to the same DID. The artifact's `handle`
 * field plays no part: it is attacker-chosen text.
 */
export type HandleStatus = { handle: string; verified: true } | { handle: string | undefined; verified: false; reason: string };

/** Resolves a handle to the DID it names, or undefined. Swappable so tests can use the PDS's own resolver. */
export type HandleResolver = (handle: string, signal?: AbortSignal) => Promise<string | undefined>;

// atproto handle syntax: DNS name, 2+ labels, alphabetic TLD, 253 chars max.
const HANDLE_RE = /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

export function isValidHandle(handle: string): boolean {
  return handle.length <= 253 && HANDLE_RE.test(handle);
}

export interface HandleOptions {
  resolver: HandleResolver;
  cache?: TtlCache<string>;
  /**
   * Who answers and under which network allowance (e.g. `xrpc https://pds.example private=false`),
   * part of every cache key: verifiers with another resolver or allowance sharing one cache
   * directory must not answer for each other.
   */
  cacheScope?: string;
  signal?: AbortSignal;
}

/** The cache scope of a resolver configuration: the resolver's identity and the network allowance. */
export function handleCacheScope(resolver: { handleResolverUrl?: string | undefined; custom?: boolean }, allowPrivateNetwork: boolean): string {
  const who = resolver.custom ? 'custom' : resolver.handleResolverUrl ? `xrpc ${resolver.handleResolverUrl}` : 'dns+well-known';
  return `${who} private=${allowPrivateNetwork}`;
}

export async function verifyHandle(claimed: string | undefined, did: string, options: HandleOptions): Promise<HandleStatus> {
  if (!claimed) return { handle: undefined, verified: false, reason: 'DID document claims no handle (alsoKnownAs)' };
  if (!isValidHandle(claimed)) return { handle: undefined, verified: false, reason: `claimed handle "${claimed.slice(0, 64)}" is not valid syntax` };
  const cacheKey = `${options.cacheScope ?? ''}\n${claimed}`;
  let resolved = options.cache?.get(cacheKey);
  if (resolved === undefined) {
    try {
      resolved = (await options.resolver(claimed, options.signal)) ?? '';
    } catch (err) {
      return { handle: claimed, verified: false, reason: `handle ${claimed} did not resolve: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (resolved) options.cache?.set(cacheKey, resolved);
  }
  if (resolved !== did) {
    // The DID a handle host answered is its own text: not named (issue 15).
    return {
      handle: claimed,
      verified: false,
      reason: resolved ? `handle ${claimed} resolves to another DID, not ${did}` : `handle ${claimed} does not resolve to a DID`,
    };
  }
  return { handle: claimed, verified: true };
}

/** The standard resolver: DNS TXT `_atproto.<handle>`, then `https://<handle>/.well-known/atproto-did`. */
export function standardHandleResolver(policy: Omit<FetchPolicy, 'maxBytes'>): HandleResolver {
  return async (handle, signal) => {
    const fromDns = await resolveByDns(handle, policy.timeoutMs);
    if (fromDns) return fromDns;
    const res = await guardedFetch(
      { url: `https://${handle}/.well-known/atproto-did`, purpose: `handle ${handle}`, accept: 'text/plain', ...(signal ? { signal } : {}) },
      { ...policy, maxBytes: 2048 },
    );
    if (res.status !== 200) return undefined;
    const text = new TextDecoder().decode(res.body).trim();
    return text.startsWith('did:') ? text : undefined;
  };
}

async function resolveByDns(handle: string, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const records = await Promise.race([
      resolveTxt(`_atproto.${handle}`),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('DNS timeout')), timeoutMs);
      }),
    ]);
    // Exactly one did= record: several conflicting answers verify nothing.
    const dids = records.map((chunks) => chunks.join('')).filter((t) => t.startsWith('did=')).map((t) => t.slice(4));
    return dids.length === 1 ? dids[0] : undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves through an XRPC service's `com.atproto.identity.resolveHandle` (a PDS or an AppView). */
export function xrpcHandleResolver(serviceUrl: string, policy: Omit<FetchPolicy, 'maxBytes'>): HandleResolver {
  return async (handle, signal) => {
    const url = new URL('/xrpc/com.atproto.identity.resolveHandle', serviceUrl);
    url.searchParams.set('handle', handle);
    const res = await guardedFetch(
      { url: url.toString(), purpose: `handle ${handle} via ${url.origin}`, accept: 'application/json', ...(signal ? { signal } : {}) },
      { ...policy, maxBytes: 4096 },
    );
    if (res.status !== 200) return undefined;
    try {
      const did = (JSON.parse(new TextDecoder().decode(res.body)) as { did?: unknown }).did;
      return typeof did === 'string' && did.startsWith('did:') ? did : undefined;
    } catch {
      return undefined;
    }
  };
}
