import { readFileSync, statSync } from 'node:fs';
import { TtlCache } from '../src/identity/ttl-cache.js';
import { policyCacheKey, trustPolicyFromCache, type TrustPolicy } from '../src/policy/policy-model.js';

/**
 * The trust policy for a plugin run. Ratify starts a process per signature, and parsing the YAML
 * costs more than the rest of a warm policy load, so the plugin keeps the policy module's cache
 * entry (policyCacheKey and trustPolicyFromCache in src/policy/policy-model.ts,
 * parseTrustPolicyForCache in src/policy/trust-policy.ts). A hit loads no YAML code: the YAML
 * parser and its position code are imported only on a miss. The entry is the author's document as plain data, never a built
 * policy: the policy module checks it against the text read now (sha256) and the verifier
 * version, then runs the schema, build and every semantic check on it, as for a fresh parse.
 * This file knows no policy field: the policy module owns the entry's format.
 *
 * The policy text is read on every run; a miss, a stale or an odd entry means a fresh parse.
 */

/** Entries are bound to the text and version, so they never go stale; the TTL only bounds their lifetime on disk. */
const POLICY_CACHE_TTL_MS = 24 * 60 * 60 * 1000;
/** Larger files are left to loadTrustPolicy, which refuses them with its own message (its cap is 1 MiB). */
const MAX_CACHED_POLICY_BYTES = 1024 * 1024;

export async function loadTrustPolicyCached(path: string, cacheDir: string | undefined): Promise<TrustPolicy> {
  const text = cacheDir ? readSmallFile(path) : undefined;
  if (cacheDir === undefined || text === undefined) return (await import('../src/policy/trust-policy.js')).loadTrustPolicy(path);
  const cache = new TtlCache<unknown>('policy', { enabled: true, ttlMs: POLICY_CACHE_TTL_MS, dir: cacheDir });
  const key = policyCacheKey(text);
  const cached = trustPolicyFromCache(cache.get(key), text, path);
  if (cached) return cached;
  const { policy, entry } = (await import('../src/policy/trust-policy.js')).parseTrustPolicyForCache(text, path);
  if (entry) cache.set(key, entry);
  return policy;
}

/**
 * The file's text when it is a regular file of a plausible size; anything else goes the slow,
 * well-explained way. Synchronous: the plugin waits for its policy anyway, and node:fs/promises
 * would be one more module to load.
 */
function readSmallFile(path: string): string | undefined {
  try {
    const info = statSync(path);
    if (!info.isFile() || info.size > MAX_CACHED_POLICY_BYTES) return undefined;
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
