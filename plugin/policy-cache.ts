import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { TtlCache } from '../src/identity/ttl-cache.js';
import type { DefaultAction, PolicyAction, PolicyRule, TrustedDid, TrustPolicy } from '../src/policy/trust-policy.js';

/**
 * The trust policy for a plugin run, parsed once per policy version rather than once per process:
 * Ratify starts a process per signature, and YAML parsing plus schema compilation cost more than
 * the rest of a warm verification. The parsed form is cached in `cacheDir`, keyed by the sha256 of
 * the policy text, so an edited policy is never answered by a stale entry.
 *
 * The YAML parser and the schema validator are only loaded (dynamic import) on a miss. The cache
 * directory is trusted as the DID document cache already is (0700, owned by this user; see
 * TtlCache); an entry that does not have exactly the expected shape is ignored and the policy
 * parsed again.
 */

/** Entries are content-addressed, so they never go stale; the TTL only bounds their lifetime on disk. */
const POLICY_CACHE_TTL_MS = 24 * 60 * 60 * 1000;
/** Larger files are left to loadTrustPolicy, which refuses them with its own message (its cap is 1 MiB). */
const MAX_CACHED_POLICY_BYTES = 1024 * 1024;
const FORMAT = 1;

interface CachedPolicy {
  format: typeof FORMAT;
  defaultAction: DefaultAction;
  trustedDIDs: { did: string; name?: string; validFrom?: string; expiresAt?: string; keys?: string[] }[];
  policies: { name: string; scope: string; trustedDIDs: string[]; action: PolicyAction }[];
}

export async function loadTrustPolicyCached(path: string, cacheDir: string | undefined): Promise<TrustPolicy> {
  const text = cacheDir ? readSmallFile(path) : undefined;
  if (cacheDir === undefined || text === undefined) {
    const { loadTrustPolicy } = await import('../src/policy/trust-policy.js');
    return loadTrustPolicy(path);
  }
  const digest = createHash('sha256').update(text, 'utf8').digest('hex');
  const cache = new TtlCache<unknown>('policy', { enabled: true, ttlMs: POLICY_CACHE_TTL_MS, dir: cacheDir });
  const cached = fromCache(cache.get(digest), path, digest);
  if (cached) return cached;
  const { parseTrustPolicy } = await import('../src/policy/trust-policy.js');
  const policy = parseTrustPolicy(text, path);
  const entry = toCache(policy);
  if (entry) cache.set(digest, entry);
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

function toCache(policy: TrustPolicy): CachedPolicy | undefined {
  try {
    return {
      format: FORMAT,
      defaultAction: policy.defaultAction,
      trustedDIDs: [...policy.trustedDIDs.values()].map((t) => ({
        did: t.did,
        ...(t.name !== undefined ? { name: t.name } : {}),
        ...(t.validFrom ? { validFrom: t.validFrom.toISOString() } : {}),
        ...(t.expiresAt ? { expiresAt: t.expiresAt.toISOString() } : {}),
        ...(t.keys ? { keys: [...t.keys] } : {}),
      })),
      policies: policy.policies.map((p) => ({ name: p.name, scope: p.scope, trustedDIDs: [...p.trustedDIDs], action: p.action })),
    };
  } catch {
    return undefined; // an unrepresentable date: just do not cache
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

function date(v: unknown): Date | undefined | null {
  if (v === undefined) return undefined;
  if (!isString(v)) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Rebuilds the policy from a cache entry, or undefined when the entry is not exactly what toCache writes. */
function fromCache(value: unknown, source: string, digest: string): TrustPolicy | undefined {
  const entry = value as Partial<CachedPolicy> | undefined;
  if (!entry || entry.format !== FORMAT || !['deny', 'allow', 'audit'].includes(entry.defaultAction as string)) return undefined;
  if (!Array.isArray(entry.trustedDIDs) || !Array.isArray(entry.policies)) return undefined;
  const trustedDIDs = new Map<string, TrustedDid>();
  for (const t of entry.trustedDIDs) {
    if (!t || !isString(t.did) || (t.name !== undefined && !isString(t.name)) || (t.keys !== undefined && !isStringList(t.keys))) return undefined;
    const validFrom = date(t.validFrom);
    const expiresAt = date(t.expiresAt);
    if (validFrom === null || expiresAt === null || trustedDIDs.has(t.did)) return undefined;
    trustedDIDs.set(t.did, {
      did: t.did,
      ...(t.name !== undefined ? { name: t.name } : {}),
      ...(validFrom ? { validFrom } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      ...(t.keys ? { keys: [...t.keys] } : {}),
    });
  }
  const policies: PolicyRule[] = [];
  for (const p of entry.policies) {
    if (!p || !isString(p.name) || !isString(p.scope) || !isStringList(p.trustedDIDs) || (p.action !== 'enforce' && p.action !== 'audit')) return undefined;
    // Every trusted DID of a rule is declared: parseTrustPolicy guarantees it, so must the cache.
    if (!p.trustedDIDs.every((did) => trustedDIDs.has(did))) return undefined;
    policies.push({ name: p.name, scope: p.scope, require: { signature: true, signers: 1 }, trustedDIDs: [...p.trustedDIDs], action: p.action });
  }
  return { version: '1.0', defaultAction: entry.defaultAction as DefaultAction, trustedDIDs, policies, registries: [], source, digest };
}
