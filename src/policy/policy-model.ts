import { createHash } from 'node:crypto';
import { schemaViolations, type SchemaViolation } from './policy-schema.js';
import { VERIFIER_VERSION } from '../version.js';
import { canonicalRegistryHost, registryHostProblem } from '../registry/reference.js';
import { canonicalPinnedKey } from './pinned-keys.js';
import { pointerOf } from './json-pointer.js';
import { trimPrefix } from './registries.js';
import { scopeMatches, scopeProblem } from './scope.js';

/**
 * The trust policy (SPEC section 4) as a model: its types, and the one path from the author's
 * document as plain data to a TrustPolicy (schemas/trust-policy.schema.json, then what a schema
 * cannot say). The YAML text is parsed in ./trust-policy.ts, which re-exports all of this; this
 * module loads no YAML code, so the plugin's policy cache hit (plugin/policy-cache.ts) does not
 * pay for the YAML library. Evaluated by evaluateTrust() in ./evaluate.ts.
 */

/** What to do with an image no policy scope covers. */
export type DefaultAction = 'deny' | 'allow' | 'audit';
/** enforce: failures deny. audit: failures are reported but do not deny. */
export type PolicyAction = 'enforce' | 'audit';

/** One trusted identity and the window in which its signatures are trusted. */
export interface TrustedDid {
  did: string;
  name?: string;
  /** Signatures (commit rev time) before this are not trusted. */
  validFrom?: Date;
  /** Signatures at or after this are not trusted, and nothing is admitted after it. */
  expiresAt?: Date;
  /**
   * Pinned atproto signing keys, in canonical Multikey form (compressed point; see
   * ./pinned-keys.ts): the commit must verify with one.
   */
  keys?: string[];
  /**
   * `allowed`: the operator accepts an embedded (offline) proof for this DID when verification
   * runs offline. Never chosen by the artifact (issue 14).
   */
  offline?: 'allowed';
}

/** A rule for the images its scope covers. */
export interface PolicyRule {
  name: string;
  /** Image name glob: see ./scope.ts. */
  scope: string;
  /**
   * Every policy requires a verified ATProto signature; `signers` (default 1) is how many
   * distinct trusted DIDs must have signed the image (k-of-n).
   */
  require: { signature: true; signers: number };
  /** DIDs trusted by this rule, each declared in the top-level trustedDIDs. */
  trustedDIDs: string[];
  action: PolicyAction;
}

/**
 * How the policy treats one registry host (or host glob): a mirror of an origin, ATCR path
 * layout, and which network rules it may bend. Matched against the canonical host.
 */
export interface RegistryRule {
  /** Canonical host glob (`mirror.corp`, `*.corp:5000`). */
  host: string;
  /** This host mirrors `mirrorOf` (a canonical origin host). */
  mirrorOf?: string;
  /** Path prefix of the mirror removed to get the origin path (`atcr-proxy/`). */
  stripPrefix?: string;
  /** Path prefix added on the origin side after stripping. */
  addPrefix?: string;
  /** Where signature referrers are read: the registry itself (default) or the origin. */
  referrersFrom?: 'self' | 'origin';
  /** Paths are `<handle-or-did>/<repository>` (ATCR layout), whoever the signer is. */
  atcr?: boolean;
  /** The registry (and its token realm) may be on private/loopback addresses. */
  allowPrivateNetwork?: boolean;
  /** The registry may be spoken to over plain http (and its token realm be http). */
  allowHttp?: boolean;
}

export interface TrustPolicy {
  version: '1.0';
  defaultAction: DefaultAction;
  trustedDIDs: ReadonlyMap<string, TrustedDid>;
  policies: PolicyRule[];
  /** Registry rules (mirrors, layouts, network exceptions), in file order; first match wins. */
  registries: RegistryRule[];
  /** Where the policy came from (a path, or a label such as `<policy>`), for messages. */
  source: string;
  /** sha256 hex of the policy text (policyDigest), so caches can key on the policy. */
  digest: string;
}

/** A trust policy is a small hand-written file; anything larger is a mistake or an attack. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** sha256 hex of the policy text, for cache keys: a changed policy must not reuse decisions. */
export function policyDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex'); // a string is hashed as its UTF-8 bytes
}

/**
 * Every check and the building of a TrustPolicy from the YAML document as plain data: the one
 * path from data to policy, for a fresh parse and for a cached document alike.
 */
export function policyFromDocument(raw: unknown, source: string, digest: string, report: (violations: SchemaViolation[]) => never): TrustPolicy {
  const violations = schemaViolations(raw);
  if (violations.length > 0) report(violations);
  const policy = build(raw as PolicyDocument, source, digest);
  const semantic = semanticViolations(policy, raw as PolicyDocument);
  if (semantic.length > 0) report(semantic);
  return policy;
}

/**
 * The trust policy's cache entry (for the plugin, which starts a process per signature and would
 * otherwise parse the YAML every time). It holds the author's document as plain data, never a
 * built policy: reading it back runs the schema, build() and every semantic check again, exactly
 * as a fresh parse does, so a cached policy decides as a fresh one and gains every new field and
 * check for free. It is bound to the policy text (its sha256, compared with the text read now)
 * and to the verifier version (an upgraded parser never reads an older one's entry).
 */
export interface PolicyCacheEntry {
  format: 'trust-policy-document';
  verifierVersion: string;
  /** sha256 hex of the policy text the document was parsed from. */
  digest: string;
  document: unknown;
}

/** The cache key for a policy text: its digest and the verifier version. */
export function policyCacheKey(text: string): string {
  return `${VERIFIER_VERSION}\n${policyDigest(text)}`;
}

/**
 * The cache entry for `document`, parsed from a text whose digest is `digest`; none when JSON would
 * not carry the document unchanged (YAML's .inf or .nan would come back as null), so a cached
 * policy can never decide otherwise than the text.
 */
export function policyCacheEntry(document: unknown, digest: string): PolicyCacheEntry | undefined {
  if (!isJsonData(document)) return undefined;
  return { format: 'trust-policy-document', verifierVersion: VERIFIER_VERSION, digest, document };
}

/** Plain JSON data (null, strings, booleans, finite numbers other than -0, arrays, plain objects), at most 64 levels deep. */
export function isJsonData(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0);
  // Spread, so a hole is read as undefined (refused): every() would skip it, and JSON writes null there.
  if (Array.isArray(value)) return [...value].every((v) => isJsonData(v, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.entries(value as object).every(([k, v]) => k !== '__proto__' && isJsonData(v, depth + 1));
  }
  return false;
}

/**
 * The policy of a cache entry, if the entry was made from exactly `text` by this verifier version
 * and its document still passes every check; otherwise undefined (the caller parses the text,
 * which reports any error with its line and column).
 */
export function trustPolicyFromCache(entry: unknown, text: string, source = '<policy>'): TrustPolicy | undefined {
  const e = entry as Partial<PolicyCacheEntry> | null | undefined;
  if (!e || typeof e !== 'object' || e.format !== 'trust-policy-document' || e.verifierVersion !== VERIFIER_VERSION) return undefined;
  const digest = policyDigest(text);
  if (e.digest !== digest || !('document' in e)) return undefined;
  try {
    return policyFromDocument(e.document, source, digest, () => {
      throw new Error('cached policy document fails its checks');
    });
  } catch {
    return undefined;
  }
}

/** The document's shape once the schema has passed. */
interface PolicyDocument {
  version: string | number;
  defaultAction?: DefaultAction;
  trustedDIDs: Record<string, { name?: string; validFrom?: string | null; expiresAt?: string | null; keys?: string[]; offline?: 'allowed' }>;
  policies: { name: string; scope: string; require?: { signature?: true; signers?: number }; trustedDIDs: string[]; action?: PolicyAction }[];
  registries?: RegistryRule[];
}

function build(raw: PolicyDocument, source: string, digest: string): TrustPolicy {
  const trustedDIDs = new Map<string, TrustedDid>();
  for (const [did, entry] of Object.entries(raw.trustedDIDs)) {
    const trusted: TrustedDid = { did };
    if (entry.name !== undefined) trusted.name = entry.name;
    if (typeof entry.validFrom === 'string') trusted.validFrom = new Date(entry.validFrom);
    if (typeof entry.expiresAt === 'string') trusted.expiresAt = new Date(entry.expiresAt);
    // Canonical form, so they compare equal to the key the verifier reports; a key that does not
    // parse is kept as written only until semanticViolations refuses the policy.
    if (entry.keys) trusted.keys = entry.keys.map((text) => {
      const parsed = canonicalPinnedKey(text);
      return 'key' in parsed ? parsed.key : text;
    });
    if (entry.offline === 'allowed') trusted.offline = 'allowed';
    trustedDIDs.set(did, trusted);
  }
  return {
    version: '1.0',
    defaultAction: raw.defaultAction ?? 'deny',
    trustedDIDs,
    registries: (raw.registries ?? []).map(buildRegistryRule),
    policies: raw.policies.map((p) => ({
      name: p.name,
      scope: p.scope,
      require: { signature: true, signers: p.require?.signers ?? 1 },
      trustedDIDs: [...p.trustedDIDs],
      action: p.action ?? 'enforce',
    })),
    source,
    digest,
  };
}

/** A registries entry as written, prefixes without their trailing `/` (see ./registries.ts). */
function buildRegistryRule(raw: RegistryRule): RegistryRule {
  const rule: RegistryRule = { host: raw.host };
  if (raw.mirrorOf !== undefined) rule.mirrorOf = raw.mirrorOf;
  const strip = trimPrefix(raw.stripPrefix);
  if (strip !== undefined) rule.stripPrefix = strip;
  const add = trimPrefix(raw.addPrefix);
  if (add !== undefined) rule.addPrefix = add;
  if (raw.referrersFrom !== undefined) rule.referrersFrom = raw.referrersFrom;
  if (raw.atcr !== undefined) rule.atcr = raw.atcr;
  if (raw.allowPrivateNetwork !== undefined) rule.allowPrivateNetwork = raw.allowPrivateNetwork;
  if (raw.allowHttp !== undefined) rule.allowHttp = raw.allowHttp;
  return rule;
}

/** Why a host written in the policy is not in the canonical form images are compared in, or undefined. */
function nonCanonicalHost(host: string): string | undefined {
  const canonical = canonicalRegistryHost(host);
  if (canonical === host) return undefined;
  if (host !== host.toLowerCase()) return `hosts are compared lowercase: write "${canonical}"`;
  if (host.endsWith(':443')) return `:443 is the default https port, which image names leave out: write "${canonical}"`;
  if (canonical === 'docker.io') return `${host} is Docker Hub, which image names call docker.io: write "${canonical}"`;
  return `image names spell this host "${canonical}" (the form a connection uses): write that`;
}

/** The registries entries' own consistency: canonical hosts, fields that need mirrorOf, one-hop mirrors. */
function registryViolations(policy: TrustPolicy): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  const at = (i: number, field: string, message: string) => out.push({ pointer: pointerOf(['registries', i, field]), message });
  const firstByHost = new Map<string, number>();
  for (const [i, rule] of policy.registries.entries()) {
    const hostProblem = nonCanonicalHost(rule.host);
    if (hostProblem) at(i, 'host', hostProblem);
    const earlier = firstByHost.get(rule.host);
    if (earlier !== undefined) at(i, 'host', `host ${rule.host} is already listed at registries[${earlier}]; the first matching entry applies, so this one never would: merge them`);
    else firstByHost.set(rule.host, i);
    if (rule.mirrorOf === undefined) {
      for (const field of ['stripPrefix', 'addPrefix'] as const) {
        if (rule[field] !== undefined) at(i, field, `${field} maps a mirror's paths to its origin's, and this entry has no mirrorOf: add mirrorOf: <origin host>`);
      }
      if (rule.referrersFrom === 'origin') at(i, 'referrersFrom', 'referrersFrom: origin reads referrers from the mirrorOf registry, and this entry has no mirrorOf: add mirrorOf: <origin host>');
      continue;
    }
    const originProblem = registryHostProblem(rule.mirrorOf) ?? nonCanonicalHost(rule.mirrorOf);
    if (originProblem) at(i, 'mirrorOf', originProblem);
    const origin = canonicalRegistryHost(rule.mirrorOf);
    if (scopeMatches(rule.host, origin)) at(i, 'mirrorOf', `${rule.mirrorOf} is matched by this entry's own host ${rule.host}: a registry cannot be its own mirror`);
    const originRule = policy.registries.find((r) => scopeMatches(r.host, origin));
    if (originRule?.mirrorOf !== undefined && originRule !== rule) {
      at(i, 'mirrorOf', `${rule.mirrorOf} is itself a mirror (of ${originRule.mirrorOf}, registries[${policy.registries.indexOf(originRule)}]); mirrors are followed one hop only: point mirrorOf at the origin`);
    }
  }
  return out;
}

/** What JSON Schema cannot express: calendar-valid dates, windows, declared DIDs, unique names, scopes. */
function semanticViolations(policy: TrustPolicy, raw: PolicyDocument): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  for (const [did, entry] of Object.entries(raw.trustedDIDs)) {
    for (const field of ['validFrom', 'expiresAt'] as const) {
      const value = entry[field];
      if (typeof value === 'string' && !isCalendarValid(value)) {
        out.push({ pointer: pointerOf(['trustedDIDs', did, field]), message: `${value} is not a real date and time (check the day, hour and offset)` });
      }
    }
    const trusted = policy.trustedDIDs.get(did)!;
    out.push(...pinnedKeyViolations(did, entry.keys ?? []));
    if (trusted.offline === 'allowed' && !trusted.keys?.length) {
      out.push({
        pointer: pointerOf(['trustedDIDs', did, 'offline']),
        message: `offline: allowed needs keys: an embedded proof can only be checked against keys pinned here (add keys: [...] for ${did})`,
      });
    }
    const from = trusted.validFrom?.getTime();
    const until = trusted.expiresAt?.getTime();
    if (from !== undefined && until !== undefined && !Number.isNaN(from) && !Number.isNaN(until) && !(from < until)) {
      out.push({
        pointer: pointerOf(['trustedDIDs', did, 'expiresAt']),
        message: `expiresAt ${entry.expiresAt} must be after validFrom ${entry.validFrom}: the trust window of ${did} is empty`,
      });
    }
  }
  out.push(...registryViolations(policy));
  const seen = new Map<string, number>();
  for (const [i, rule] of policy.policies.entries()) {
    const first = seen.get(rule.name);
    if (first !== undefined) {
      out.push({ pointer: pointerOf(['policies', i, 'name']), message: `policy name "${rule.name}" is already used by policy ${first}; names must be unique` });
    } else seen.set(rule.name, i);
    // Scopes are judged against the canonical image name (canonicalImageName): one that cannot
    // meet it as written is an error, never fixed silently.
    const problem = scopeProblem(rule.scope);
    if (problem) {
      out.push({ pointer: pointerOf(['policies', i, 'scope']), message: `scope "${rule.scope}" can never match a canonical image name: ${problem}` });
    }
    if (rule.require.signers > rule.trustedDIDs.length) {
      out.push({
        pointer: pointerOf(['policies', i, 'require', 'signers']),
        message: `policy "${rule.name}" requires ${rule.require.signers} distinct signers but trusts only ${rule.trustedDIDs.length} DID(s): no image could ever pass`,
      });
    }
    for (const [j, did] of rule.trustedDIDs.entries()) {
      if (!policy.trustedDIDs.has(did)) {
        out.push({
          pointer: pointerOf(['policies', i, 'trustedDIDs', j]),
          message: `policy "${rule.name}" trusts ${did}, which is not declared in the top-level trustedDIDs`,
        });
      }
    }
  }
  return out;
}

/** Pinned keys that are no atproto key, or the same key twice in two spellings. */
function pinnedKeyViolations(did: string, keys: string[]): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  const seen = new Map<string, number>();
  for (const [j, text] of keys.entries()) {
    const pointer = pointerOf(['trustedDIDs', did, 'keys', j]);
    const parsed = canonicalPinnedKey(text);
    if ('problem' in parsed) {
      out.push({ pointer, message: `pinned key ${parsed.problem}` });
      continue;
    }
    const first = seen.get(parsed.key);
    if (first !== undefined) out.push({ pointer, message: `pinned key ${text} is key ${first} again, in another form (${parsed.key})` });
    else seen.set(parsed.key, j);
  }
  return out;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 beyond its syntax (which the schema checks): the day exists, the clock is in range. */
function isCalendarValid(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second, offsetHour = 0, offsetMinute = 0] = m.slice(1).map((n) => (n === undefined ? undefined : Number(n))) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return (
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= daysInMonth &&
    hour! <= 23 &&
    minute! <= 59 &&
    // A leap second (60) is valid RFC 3339 but no JavaScript Date can hold it.
    second! <= 59 &&
    offsetHour <= 23 &&
    offsetMinute <= 59 &&
    !Number.isNaN(Date.parse(value))
  );
}
