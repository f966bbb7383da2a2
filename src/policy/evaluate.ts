import { VerificationError } from '../errors.js';
import { canonicalKeyOrSelf } from './pinned-keys.js';
import { mapToOrigin, nameOf, type RegistryMapping } from './registries.js';
import { imageScopeName, scopeMatches } from './scope.js';
import type { PolicyRule, TrustPolicy, TrustedDid } from './trust-policy.js';

/**
 * Trust evaluation (SPEC section 3 step 8), run after the proof chain has verified:
 *
 * - The image is matched under its canonical name (imageScopeName: canonicalImageName, tag and
 *   digest stripped), through matchingPolicies(), the one place a reference meets the scopes.
 *   When the policy's registries map the image to an origin (./registries.ts), the origin name
 *   is matched too: every policy whose scope covers either name applies, not only the first.
 * - A policy passes when all of these hold for the signer's DID:
 *     it is in the policy's trustedDIDs                               else UNTRUSTED_DID
 *     signedAt >= validFrom, and so is the record's claimed creation   else DID_NOT_YET_VALID
 *     signedAt <  expiresAt (the signature was made inside the window) else DID_EXPIRED
 *     now      <  expiresAt (trust that has ended admits nothing new)  else DID_EXPIRED
 *     with keys pinned, the key that verified the commit is one of them else KEY_NOT_PINNED
 *   signedAt is the commit rev's TID time: signed data, never the artifact's signedAt hint.
 * - Allowed iff every matching `enforce` policy passes. Failures of `audit` policies are
 *   reported, and mark the decision `audit`, but never deny.
 * - No policy matches: defaultAction. deny (the default) refuses with NO_POLICY; allow admits;
 *   audit admits and reports NO_POLICY.
 * - `require: {signature: true}` needs no check here: the verified commit is the signature.
 */

export interface TrustInput {
  /** Image reference; tag and digest are ignored (see imageScopeName). */
  image: string;
  /** The signer: the DID of the commit that holds the record. */
  did: string;
  /** Signing time from signed data (the commit rev). */
  signedAt: Date;
  /**
   * When the record claims it was created (signed, but chosen by the signer). validFrom is
   * checked against the earlier of this and signedAt: a record stamped before validFrom is not
   * trusted even if a later commit re-signed it.
   */
  createdAt?: Date;
  /** Multibase of the key that verified the commit signature (any Multikey form; compared canonically). */
  signingKey?: string;
  now?: Date;
}

/** One matching policy's verdict on the signer. */
export interface RuleResult {
  rule: PolicyRule;
  /** Its failing checks; empty when it passes. */
  failures: VerificationError[];
}

export interface TrustDecision {
  allowed: boolean;
  /** The canonical image name the scopes were matched against ('' when no reference was known). */
  image: string;
  /** Each matching policy with its verdict, in file order (what `policy explain` prints). */
  results: RuleResult[];
  /** enforce/audit: the strongest matching policy action; default-*: no policy matched. */
  action: 'enforce' | 'audit' | 'default-allow' | 'default-deny';
  /** Names of the policies whose scope matched (the admitted name or the origin name). */
  policies: string[];
  /** The registries mapping the scopes were matched through (absent without an image reference). */
  mapping?: RegistryMapping;
  /** The signer's display name, when a matching policy trusted it. */
  trustedAs?: string;
  /** Each failing check (enforce failures first), audit ones included. */
  failures: VerificationError[];
  /** Allowed only because the failing checks belong to audit-mode policies (or defaultAction audit). */
  audit: boolean;
}

export function evaluateTrust(policy: TrustPolicy, input: TrustInput): TrustDecision {
  const now = input.now ?? new Date();
  if (Number.isNaN(input.signedAt.getTime()) || Number.isNaN(now.getTime())) {
    throw new VerificationError('INPUT_INVALID', `trust evaluation of ${input.did} needs a valid signing time and clock`);
  }
  const { image, rules: matching, mapping } = matchingPolicies(policy, input.image);
  const named = mapping?.applied ? `${image} (read as ${nameOf(mapping.origin)})` : image;
  const withMapping = (decision: TrustDecision): TrustDecision => (mapping ? { ...decision, mapping } : decision);

  if (matching.length === 0) return withMapping(defaultDecision(policy, input.did, image, named, mapping));

  const enforceFailures: VerificationError[] = [];
  const auditFailures: VerificationError[] = [];
  const results: RuleResult[] = [];
  let trustedAs: string | undefined;
  for (const rule of matching) {
    const failures = checkRule(policy, rule, input, named, now);
    results.push({ rule, failures });
    // A rule passes only for a DID checkRule found in trustedDIDs.
    if (failures.length === 0) trustedAs ??= policy.trustedDIDs.get(input.did)!.name;
    (rule.action === 'audit' ? auditFailures : enforceFailures).push(...failures);
  }
  const allowed = enforceFailures.length === 0;
  return withMapping({
    allowed,
    image,
    results,
    action: matching.some((rule) => rule.action === 'enforce') ? 'enforce' : 'audit',
    policies: matching.map((rule) => rule.name),
    ...(trustedAs !== undefined ? { trustedAs } : {}),
    failures: [...enforceFailures, ...auditFailures],
    audit: allowed && auditFailures.length > 0,
  });
}

/**
 * The policies whose scope covers `reference`, and the canonical name they were matched under.
 * Every caller that asks "which policies apply to this image" (evaluation, prefetching, explain)
 * comes here, so a reference is never matched under a second spelling. Throws INPUT_INVALID for
 * a string that is not an image reference.
 */
export function matchingPolicies(policy: TrustPolicy, reference: string): { image: string; origin?: string; mapping?: RegistryMapping; rules: PolicyRule[] } {
  const image = imageScopeName(reference);
  const mapping = image === '' ? undefined : mapToOrigin(policy, reference);
  // Both names, explicitly: a mapping adds the origin's policies, never removes the admitted name's.
  const origin = mapping?.applied ? nameOf(mapping.origin) : undefined;
  const rules = policy.policies.filter((rule) => scopeMatches(rule.scope, image) || (origin !== undefined && scopeMatches(rule.scope, origin)));
  return { image, ...(origin !== undefined ? { origin } : {}), ...(mapping ? { mapping } : {}), rules };
}

/** The keys pinned for a DID (used for offline verification), or undefined if none are. */
export function pinnedKeys(policy: TrustPolicy, did: string): string[] | undefined {
  const keys = policy.trustedDIDs.get(did)?.keys;
  return keys && keys.length > 0 ? [...keys] : undefined;
}

function defaultDecision(policy: TrustPolicy, did: string, image: string, named: string, mapping: RegistryMapping | undefined): TrustDecision {
  // The mapping is named, since a missing registries entry is a common reason no scope covers a mirror's name.
  const how = mapping ? `; name mapping: ${mapping.description}` : '';
  const noPolicy = () =>
    new VerificationError('NO_POLICY', `no policy in trust policy ${policy.source} has a scope covering ${named || '(no image reference)'} (signed by ${did}); defaultAction is ${policy.defaultAction}${how}`);
  switch (policy.defaultAction) {
    case 'allow':
      return { allowed: true, image, results: [], action: 'default-allow', policies: [], failures: [], audit: false };
    case 'audit':
      return { allowed: true, image, results: [], action: 'audit', policies: [], failures: [noPolicy()], audit: true };
    case 'deny':
      return { allowed: false, image, results: [], action: 'default-deny', policies: [], failures: [noPolicy()], audit: false };
  }
}

/** Every failing check of one policy for this signer (empty when the policy passes). */
function checkRule(policy: TrustPolicy, rule: PolicyRule, input: TrustInput, image: string, now: Date): VerificationError[] {
  const where = `policy "${rule.name}"${rule.action === 'audit' ? ' (audit)' : ''} for ${image || '(no image reference)'}`;
  const trusted: TrustedDid | undefined = rule.trustedDIDs.includes(input.did) ? policy.trustedDIDs.get(input.did) : undefined;
  if (!trusted) {
    return [new VerificationError('UNTRUSTED_DID', `${input.did} is not among the DIDs ${where} trusts (${rule.trustedDIDs.join(', ')})`)];
  }
  const who = trusted.name ? `${input.did} ("${trusted.name}")` : input.did;
  const signed = input.signedAt.toISOString();
  const failures: VerificationError[] = [];
  if (trusted.validFrom && input.signedAt.getTime() < trusted.validFrom.getTime()) {
    failures.push(new VerificationError('DID_NOT_YET_VALID', `${who} signed at ${signed}, before its validFrom ${trusted.validFrom.toISOString()} (${where})`));
  } else if (trusted.validFrom && input.createdAt && input.createdAt.getTime() < trusted.validFrom.getTime()) {
    failures.push(
      new VerificationError(
        'DID_NOT_YET_VALID',
        `${who}'s record says it was created at ${input.createdAt.toISOString()}, before its validFrom ${trusted.validFrom.toISOString()} (re-signed at ${signed}) (${where})`,
      ),
    );
  }
  if (trusted.expiresAt && input.signedAt.getTime() >= trusted.expiresAt.getTime()) {
    failures.push(new VerificationError('DID_EXPIRED', `${who} signed at ${signed}, at or after its expiresAt ${trusted.expiresAt.toISOString()} (${where})`));
  } else if (trusted.expiresAt && now.getTime() >= trusted.expiresAt.getTime()) {
    failures.push(
      new VerificationError('DID_EXPIRED', `trust in ${who} ended at ${trusted.expiresAt.toISOString()} (now ${now.toISOString()}; signed at ${signed}) (${where})`),
    );
  }
  // Pinned keys are canonical (parsed at load); the reported key is put in the same form.
  const signingKey = input.signingKey === undefined ? undefined : canonicalKeyOrSelf(input.signingKey);
  if (trusted.keys && trusted.keys.length > 0 && !(signingKey !== undefined && trusted.keys.includes(signingKey))) {
    failures.push(
      new VerificationError(
        'KEY_NOT_PINNED',
        `${who} signed with ${input.signingKey ?? 'an unknown key'}, which is not among its ${trusted.keys.length} pinned key(s) ${trusted.keys.join(', ')} (${where})`,
      ),
    );
  }
  return failures;
}
