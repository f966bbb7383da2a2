/**
 * Rule: an audit policy's `require.signers: k` counts only the signers THAT policy trusts. A signer
 * only an enforce policy trusts must not make the audit dry run report a clean pass for an image the
 * audit policy would refuse once switched to enforce (found by an adversarial review).
 */
import { describe, expect, it } from 'vitest';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { evaluateTrust } from '../../src/policy/evaluate.js';
import { signerRequirement } from '../../src/policy/claims.js';
import { countSigners, decideWithQuorum } from '../../src/verify/signer-quorum.js';
import type { VerificationOutcome } from '../../src/verify/verifier.js';

const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const C = 'did:plc:cccccccccccccccccccccccc';
const policy = parseTrustPolicy(
  `version: "1.0"\ndefaultAction: deny\ntrustedDIDs:\n  ${A}: {}\n  ${B}: {}\n  ${C}: {}\npolicies:\n` +
    `  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${A}, ${B}, ${C}]}\n` +
    `  - {name: two-of-ab, scope: "ghcr.io/**", action: audit, trustedDIDs: [${A}, ${B}], require: {signers: 2}}\n`,
  'policy.yaml',
);
const image = 'ghcr.io/org/app@sha256:' + 'a'.repeat(64);
const outcomeFor = (did: string): VerificationOutcome => {
  const trust = evaluateTrust(policy, { image, did, signedAt: new Date(), now: new Date() });
  return { isSuccess: trust.allowed, audit: trust.audit, did, trust, message: `signed by ${did}`, steps: [] };
};

describe('an audit require.signers counts only the DIDs the audit policy trusts', () => {
  it('A (trusted by both) + C (trusted only by the enforce gate) is ONE signer for the audit 2-of-{A,B}', () => {
    const req = signerRequirement(policy, image);
    expect([req.required, req.auditRequired]).toEqual([1, 2]);
    const a = outcomeFor(A);
    const c = outcomeFor(C);
    expect([a.isSuccess, a.audit, c.isSuccess, c.audit]).toEqual([true, false, true, true]);
    const checks = [{ referrer: 'sha256:1', outcome: a }, { referrer: 'sha256:2', outcome: c }];
    const quorum = countSigners(req, checks);
    const decided = decideWithQuorum(a, quorum, checks);
    // Expected: the audit policy would refuse (only A of {A,B} signed): auditShort and audit reported.
    expect(quorum.auditShort).toBe(true);
    expect(decided.audit).toBe(true);
    expect(decided.message).toContain('would be refused [TOO_FEW_SIGNERS]');
  });

  it('A + B (both trusted by the audit policy) meet it: no audit report', () => {
    const req = signerRequirement(policy, image);
    const checks = [{ referrer: 'sha256:1', outcome: outcomeFor(A) }, { referrer: 'sha256:2', outcome: outcomeFor(B) }];
    const quorum = countSigners(req, checks);
    expect(quorum.auditShort).toBe(false);
    expect(decideWithQuorum(checks[0]!.outcome, quorum, checks).audit).toBe(false);
  });
});

describe('which signatures and rules the audit count reads', () => {
  const req = () => signerRequirement(policy, image);

  it("only each DID's counted signature: B's refused signature does not make B an audit signer", () => {
    // Two signers counted (A, and C whom only the gate trusts), so the count alone is not short; B passed the
    // audit rule but its signature was refused (at another step): it proves nothing for the audit 2-of-{A,B}.
    const checks = [
      { referrer: 'sha256:1', outcome: outcomeFor(A) },
      { referrer: 'sha256:2', outcome: outcomeFor(C) },
      { referrer: 'sha256:3', outcome: { ...outcomeFor(B), isSuccess: false } },
    ];
    const quorum = countSigners(req(), checks);
    expect([quorum.signers.length, quorum.auditShort]).toEqual([2, true]);
  });

  it('an audit rule asking for one signer is left to the signature\'s own outcome: it never makes the count short', () => {
    const single = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\n  ${B}: {}\npolicies:\n  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${A}]}\n  - {name: one-of-b, scope: "ghcr.io/**", action: audit, trustedDIDs: [${B}]}\n`,
      'policy.yaml',
    );
    const trust = evaluateTrust(single, { image, did: A, signedAt: new Date(), now: new Date() });
    const a: VerificationOutcome = { isSuccess: trust.allowed, audit: trust.audit, did: A, trust, message: 'audit: one-of-b refuses A', steps: [] };
    expect([a.isSuccess, a.audit]).toEqual([true, true]);
    const checks = [{ referrer: 'sha256:1', outcome: a }];
    const quorum = countSigners(signerRequirement(single, image), checks);
    expect(quorum.auditShort).toBe(false);
    expect(decideWithQuorum(a, quorum, checks).message).toBe('audit: one-of-b refuses A');
  });
});

describe("an enforce rule's k is the quorum's business, never the audit count's", () => {
  it('one of two signers for an enforce 2-of rule: not met, and not reported as audit-short', () => {
    const twoOf = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\n  ${B}: {}\npolicies:\n  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${A}, ${B}], require: {signers: 2}}\n`,
      'policy.yaml',
    );
    const trust = evaluateTrust(twoOf, { image, did: A, signedAt: new Date(), now: new Date() });
    const a: VerificationOutcome = { isSuccess: trust.allowed, audit: trust.audit, did: A, trust, message: 'ok', steps: [] };
    const quorum = countSigners(signerRequirement(twoOf, image), [{ referrer: 'sha256:1', outcome: a }]);
    expect([quorum.met, quorum.auditShort]).toEqual([false, false]);
  });
});
