import { VerificationError } from '../errors.js';
import type { SignerRequirement } from '../policy/claims.js';
import type { VerificationOutcome } from './verifier.js';

/**
 * Counting signers (issue 17, `require.signers: k`): an image is admitted when k DISTINCT DIDs
 * each have a signature that passes on its own (a fully verified chain, a signer every matching
 * enforce policy trusts, inside its window). Two records by one DID count once. Every face
 * decides through here: verifyImage for the CLI and the provider, the plugin for Ratify.
 */

/** A signature referrer found for an image, and what verifying it gave. */
export interface SignatureCheck {
  referrer: string;
  outcome: VerificationOutcome;
}

/** A signer that counted, and the signature that proved it. */
export interface CountedSigner {
  did: string;
  handle?: string;
  commitCid?: string;
  referrer: string;
}

export interface SignerQuorum {
  required: number;
  /** Every distinct signer that counted, in the order proven. */
  signers: CountedSigner[];
  /** DIDs that would count but have not been proven (every matching enforce policy trusts them). */
  missing: string[];
  met: boolean;
  /** Fewer signers than an audit policy asks for: admitted, but reported. */
  auditShort: boolean;
  auditRequired: number;
}

export function countSigners(requirement: SignerRequirement, checks: readonly SignatureCheck[]): SignerQuorum {
  const byDid = new Map<string, CountedSigner>();
  for (const { referrer, outcome } of checks) {
    if (!outcome.isSuccess || !outcome.did || byDid.has(outcome.did)) continue;
    byDid.set(outcome.did, {
      did: outcome.did,
      ...(outcome.handle ? { handle: outcome.handle } : {}),
      ...(outcome.commitCid ? { commitCid: outcome.commitCid } : {}),
      referrer,
    });
  }
  const signers = [...byDid.values()];
  return {
    required: requirement.required,
    signers,
    missing: (requirement.eligible ?? []).filter((did) => !byDid.has(did)),
    met: signers.length >= requirement.required,
    auditShort: signers.length < requirement.auditRequired || auditRuleShort(checks, byDid),
    auditRequired: requirement.auditRequired,
  };
}

/**
 * An audit policy asking for k > 1 signers counts only the signers IT trusts: a signer that only an
 * enforce policy trusts (or one outside the audit policy's window) must not hide what enforcing
 * that audit policy would refuse. (k = 1 audit failures already mark the signature's own outcome.)
 */
function auditRuleShort(checks: readonly SignatureCheck[], counted: ReadonlyMap<string, CountedSigner>): boolean {
  const perRule = new Map<string, { needed: number; passed: Set<string> }>();
  for (const { referrer, outcome } of checks) {
    const did = outcome.did;
    if (!did || counted.get(did)?.referrer !== referrer) continue;
    for (const { rule, failures } of outcome.trust?.results ?? []) {
      if (rule.action !== 'audit' || rule.require.signers <= 1) continue;
      const entry = perRule.get(rule.name) ?? { needed: rule.require.signers, passed: new Set<string>() };
      if (failures.length === 0) entry.passed.add(did);
      perRule.set(rule.name, entry);
    }
  }
  return [...perRule.values()].some((entry) => entry.passed.size < entry.needed);
}

/** Enough signers proven: no more signatures need verifying. */
export function quorumSettled(quorum: SignerQuorum): boolean {
  return quorum.met && !quorum.auditShort;
}

function who(s: CountedSigner): string {
  return s.handle ? `${s.handle} (${s.did})` : s.did;
}

/**
 * The image's decision, told through one signature's outcome: `base` (the referrer Ratify asked
 * about, or the first that counted) passes only if the quorum is met. With one signer required
 * the outcome is unchanged apart from the signer list.
 */
export function decideWithQuorum(base: VerificationOutcome, quorum: SignerQuorum, checks: readonly SignatureCheck[], unread = 0): VerificationOutcome {
  const out: VerificationOutcome = { ...base, quorum };
  if (!base.isSuccess) return out;
  const proven = quorum.signers.map(who).join(', ') || 'none';
  if (!quorum.met) {
    const others = checks
      .filter((c) => c.outcome.did && !c.outcome.isSuccess && !quorum.signers.some((s) => s.did === c.outcome.did))
      .slice(0, 5)
      .map((c) => `${c.outcome.did} ${c.outcome.error?.code ?? 'refused'}`);
    const error = new VerificationError(
      'TOO_FEW_SIGNERS',
      `the image needs ${quorum.required} distinct trusted signers, ${quorum.signers.length} proven: ${proven}; missing ${quorum.required - quorum.signers.length} more` +
        (quorum.missing.length > 0 ? ` from ${quorum.missing.join(', ')}` : '') +
        (others.length > 0 ? `; other signatures refused: ${others.join(', ')}` : '') +
        (unread > 0 ? `; ${unread} signature referrer(s) beyond the read limit were not read` : ''),
    );
    return {
      ...out,
      isSuccess: false,
      audit: false,
      error,
      message: `${error.step} step failed [${error.code}]: ${error.message}`,
      steps: [...base.steps, { step: 'policy', ok: false, detail: error.message }],
    };
  }
  if (quorum.auditShort) {
    return {
      ...out,
      audit: true,
      message: `audit: would be refused [TOO_FEW_SIGNERS]: an audit policy needs ${quorum.auditRequired} distinct trusted signers, ${quorum.signers.length} proven (${proven}); allowed because that policy is in audit mode`,
    };
  }
  if (quorum.required > 1) {
    const head = base.offline ? 'offline: revocation not checked; ' : '';
    const tail = base.audit ? ` (${base.message})` : '';
    return { ...out, message: `${head}verified: ${quorum.signers.length} distinct trusted signers (${quorum.required} required): ${proven}${tail}` };
  }
  return out;
}
