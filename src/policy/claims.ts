import { VerificationError } from '../errors.js';
import { matchingPolicies, type TrustDecision } from './evaluate.js';
import type { TrustPolicy } from './trust-policy.js';

/**
 * What the trust policy says about a signer an artifact merely CLAIMS, before anything is
 * verified (issue 12: spend nothing on strangers), and how many signers an image needs (issue 17).
 * The same rules as evaluateTrust() in ./evaluate.ts, read ahead of the proof chain:
 *
 * - A claimed DID that some matching `enforce` policy does not list can never get the image
 *   admitted (evaluateTrust would refuse it with UNTRUSTED_DID), nor count towards any
 *   `require.signers`: it is refused before any DID, handle or PDS request.
 * - No policy matches and defaultAction is deny: refused too (NO_POLICY), whoever is claimed.
 * - Only `audit` policies match, or defaultAction is allow/audit: the full chain is verified,
 *   so audit mode keeps its evidence.
 */

/**
 * The trust decision on a claimed signer when it is refused before verification, or undefined
 * when it is worth verifying. The decision has evaluateTrust's shape (every matching policy with
 * its verdict on the claim), so every face reports it the same way. Throws INPUT_INVALID when
 * `image` is not an image reference (as evaluateTrust would).
 */
export function claimDecision(policy: TrustPolicy, image: string, did: string): TrustDecision | undefined {
  const found = matchingPolicies(policy, image);
  const name = found.image || '(no image reference)';
  const matching = found.rules;
  if (matching.length === 0) {
    if (policy.defaultAction !== 'deny') return undefined;
    const error = new VerificationError(
      'NO_POLICY',
      `no policy in trust policy ${policy.source} has a scope covering ${name}; defaultAction is deny, so the signer the artifact claims (${did}, not verified) was not checked`,
    );
    return { allowed: false, image: found.image, results: [], action: 'default-deny', policies: [], failures: [error], audit: false };
  }
  if (!matching.some((rule) => rule.action === 'enforce' && !rule.trustedDIDs.includes(did))) return undefined;
  const results = matching.map((rule) => ({
    rule,
    failures: rule.trustedDIDs.includes(did)
      ? []
      : [
          new VerificationError(
            'UNTRUSTED_DID',
            `the artifact claims signer ${did} (claimed, not verified), which policy "${rule.name}"${rule.action === 'audit' ? ' (audit)' : ''} for ${name} does not trust (${rule.trustedDIDs.join(', ')}); refused before any DID, handle or PDS request`,
          ),
        ],
  }));
  const enforce = results.filter((r) => r.rule.action === 'enforce').flatMap((r) => r.failures);
  const audit = results.filter((r) => r.rule.action === 'audit').flatMap((r) => r.failures);
  return { allowed: false, image: found.image, results, action: 'enforce', policies: matching.map((rule) => rule.name), failures: [...enforce, ...audit], audit: false };
}

/** Why a claimed signer is refused before verification, or undefined when it is worth verifying. */
export function refuseClaimedSigner(policy: TrustPolicy, image: string, did: string): VerificationError | undefined {
  return claimDecision(policy, image, did)?.failures[0];
}

/** How many distinct trusted signers an image needs, and who could be one. */
export interface SignerRequirement {
  /** Distinct DIDs needed: the largest require.signers of the matching enforce policies (at least 1). */
  required: number;
  /** Largest require.signers of the matching audit policies (0 if none): below it, admitted as audit. */
  auditRequired: number;
  /** DIDs every matching enforce policy trusts (undefined: any DID, as no enforce policy matches). */
  eligible?: string[];
  /** Names of the matching policies. */
  policies: string[];
}

export function signerRequirement(policy: TrustPolicy | undefined, image: string): SignerRequirement {
  if (!policy) return { required: 1, auditRequired: 0, policies: [] };
  const matching = matchingPolicies(policy, image).rules;
  const enforce = matching.filter((rule) => rule.action === 'enforce');
  const audit = matching.filter((rule) => rule.action === 'audit');
  const required = Math.max(1, ...enforce.map((rule) => rule.require.signers));
  const auditRequired = Math.max(0, ...audit.map((rule) => rule.require.signers));
  const eligible = enforce.length === 0 ? undefined : enforce[0]!.trustedDIDs.filter((did) => enforce.every((rule) => rule.trustedDIDs.includes(did)));
  return { required, auditRequired, ...(eligible ? { eligible } : {}), policies: matching.map((rule) => rule.name) };
}
