/**
 * Claims (issue 12, src/policy/claims.ts): what the trust policy says about the signer an artifact
 * merely claims, before any DID, handle or PDS request, and how many signers an image needs.
 * One table per rule, over every combination of matching policies and each defaultAction.
 */
import { describe, expect, it } from 'vitest';
import { claimDecision, refuseClaimedSigner, signerRequirement } from '../../src/policy/claims.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const EVE = 'did:plc:eveeeeeeeeeeeeeeeeeeeeee';
const CAROL = 'did:plc:carolccccccccccccccccccc';

const policyOf = (body: string, defaultAction = 'deny', registries = '') =>
  parseTrustPolicy(
    `version: "1.0"\ndefaultAction: ${defaultAction}\ntrustedDIDs:\n  ${ALICE}: {}\n  ${BOB}: {}\n  ${CAROL}: {}\n${registries}policies:\n${body}`,
    'policy.yaml',
  );
const enforce = (name: string, dids: string[], signers = 1) =>
  `  - {name: ${name}, scope: "ghcr.io/**", trustedDIDs: [${dids.join(', ')}], require: {signers: ${signers}}}\n`;
const audit = (name: string, dids: string[], signers = 1) =>
  `  - {name: ${name}, scope: "ghcr.io/**", action: audit, trustedDIDs: [${dids.join(', ')}], require: {signers: ${signers}}}\n`;
const elsewhere = `  - {name: other, scope: "quay.io/**", trustedDIDs: [${ALICE}]}\n`;

describe('a claimed DID is refused before network exactly when some matching enforce policy does not trust it', () => {
  // [rule, policies, claimed DID, refused codes (undefined: worth verifying)]
  const table: [string, string, string, string[] | undefined][] = [
    ['enforce only, trusted: verify', enforce('e', [ALICE]), ALICE, undefined],
    ['enforce only, untrusted: refused UNTRUSTED_DID', enforce('e', [ALICE]), EVE, ['UNTRUSTED_DID']],
    ['audit only, untrusted: verify (audit keeps its evidence)', audit('a', [ALICE]), EVE, undefined],
    ['audit only, trusted: verify', audit('a', [ALICE]), ALICE, undefined],
    ['enforce and audit, untrusted by both: refused, enforce failure first', enforce('e', [ALICE]) + audit('a', [BOB]), EVE, ['UNTRUSTED_DID', 'UNTRUSTED_DID']],
    ['enforce trusts, audit does not: verify', enforce('e', [ALICE]) + audit('a', [BOB]), ALICE, undefined],
    ['audit trusts, enforce does not: refused, only the enforce failure', enforce('e', [ALICE]) + audit('a', [BOB]), BOB, ['UNTRUSTED_DID']],
    ['two enforce, trusted by one only: refused', enforce('e1', [ALICE]) + enforce('e2', [ALICE, BOB]), BOB, ['UNTRUSTED_DID']],
    ['two enforce, trusted by both: verify', enforce('e1', [ALICE, BOB]) + enforce('e2', [BOB]), BOB, undefined],
  ];
  it.each(table)('%s', (_rule, body, did, codes) => {
    const policy = policyOf(body + elsewhere);
    const d = claimDecision(policy, 'ghcr.io/a/b:1', did);
    expect(d?.failures.map((f) => f.code)).toEqual(codes);
    expect(refuseClaimedSigner(policy, 'ghcr.io/a/b:1', did)?.code).toBe(codes?.[0]);
    if (d) {
      expect([d.allowed, d.action, d.audit, d.image]).toEqual([false, 'enforce', false, 'ghcr.io/a/b']);
      // Every matching policy is reported (not the quay.io one), each with its own verdict on the claim.
      expect(d.policies).toEqual(d.results.map((r) => r.rule.name));
      expect(d.policies).not.toContain('other');
      for (const r of d.results) expect(r.failures.length).toBe(r.rule.trustedDIDs.includes(did) ? 0 : 1);
    }
  });

  it('the enforce failure comes first even when the audit policy is listed first', () => {
    const d = claimDecision(policyOf(audit('a', [BOB]) + enforce('e', [ALICE])), 'ghcr.io/a/b', EVE)!;
    expect(d.failures.map((f) => f.message.includes('(audit)'))).toEqual([false, true]);
    expect(d.failures[0]!.message).toBe(
      `the artifact claims signer ${EVE} (claimed, not verified), which policy "e" for ghcr.io/a/b does not trust (${ALICE}); refused before any DID, handle or PDS request`,
    );
    expect(d.failures[1]!.message).toBe(
      `the artifact claims signer ${EVE} (claimed, not verified), which policy "a" (audit) for ghcr.io/a/b does not trust (${BOB}); refused before any DID, handle or PDS request`,
    );
  });
});

describe('no policy matches: only defaultAction deny refuses, whoever is claimed', () => {
  const table: [string, string, boolean][] = [
    ['deny refuses with NO_POLICY', 'deny', true],
    ['allow verifies', 'allow', false],
    ['audit verifies', 'audit', false],
  ];
  it.each(table)('%s', (_rule, action, refused) => {
    for (const did of [ALICE, EVE]) {
      const d = claimDecision(policyOf(elsewhere, action), 'ghcr.io/a/b', did);
      if (!refused) {
        expect(d).toBeUndefined();
        continue;
      }
      expect(d).toEqual({ allowed: false, image: 'ghcr.io/a/b', results: [], action: 'default-deny', policies: [], failures: [expect.anything()], audit: false });
      expect(d!.failures[0]!.code).toBe('NO_POLICY');
      expect(d!.failures[0]!.message).toBe(
        `no policy in trust policy policy.yaml has a scope covering ghcr.io/a/b; defaultAction is deny, so the signer the artifact claims (${did}, not verified) was not checked`,
      );
    }
  });

  it('an empty image reference is named as such', () => {
    expect(claimDecision(policyOf(elsewhere), '', EVE)!.failures[0]!.message).toBe(
      `no policy in trust policy policy.yaml has a scope covering (no image reference); defaultAction is deny, so the signer the artifact claims (${EVE}, not verified) was not checked`,
    );
  });
});

describe('a mirror name is matched through its origin, so the origin scope decides the claim (the admitted name is reported)', () => {
  const registries = 'registries:\n  - {host: mirror.corp, mirrorOf: ghcr.io}\n';
  it.each([
    ['an untrusted claim on the mirror is refused by the origin policy', EVE, ['UNTRUSTED_DID']],
    ['a trusted claim on the mirror is verified', ALICE, undefined],
  ] as [string, string, string[] | undefined][])('%s', (_rule, did, codes) => {
    const policy = policyOf(enforce('e', [ALICE]), 'deny', registries);
    const d = claimDecision(policy, 'mirror.corp/a/b', did);
    expect(d?.failures.map((f) => f.code)).toEqual(codes);
    if (d) expect([d.image, d.policies]).toEqual(['mirror.corp/a/b', ['e']]);
  });
});

describe('signerRequirement: the largest enforce k, the largest audit k, and who is eligible', () => {
  const table: [string, string | undefined, { required: number; auditRequired: number; eligible?: string[]; policies: string[] }][] = [
    ['no policy at all: one signer, anyone', undefined, { required: 1, auditRequired: 0, policies: [] }],
    ['no matching policy: one signer, anyone', elsewhere, { required: 1, auditRequired: 0, policies: [] }],
    ['one enforce k=2', enforce('e', [ALICE, BOB], 2), { required: 2, auditRequired: 0, eligible: [ALICE, BOB], policies: ['e'] }],
    ['the largest enforce k wins; eligible is who every enforce policy trusts',
      enforce('e1', [ALICE, BOB], 1) + enforce('e2', [BOB, CAROL], 2), { required: 2, auditRequired: 0, eligible: [BOB], policies: ['e1', 'e2'] }],
    ['audit only: enforce needs one, audit k reported, anyone eligible', audit('a', [ALICE, BOB, CAROL], 3), { required: 1, auditRequired: 3, policies: ['a'] }],
    ['enforce and audit: each its own largest k; audit does not narrow eligibility',
      enforce('e', [ALICE, BOB], 1) + audit('a1', [ALICE, CAROL], 2) + audit('a2', [ALICE, BOB, CAROL], 3), { required: 1, auditRequired: 3, eligible: [ALICE, BOB], policies: ['e', 'a1', 'a2'] }],
  ];
  it.each(table)('%s', (_rule, body, expected) => {
    expect(signerRequirement(body === undefined ? undefined : policyOf(body), 'ghcr.io/a/b')).toEqual(expected);
  });
});

describe('a refused claim names every DID the policy trusts', () => {
  it('the trusted DIDs are listed, comma-separated, in the policy\'s order', () => {
    const d = claimDecision(policyOf(enforce('e', [BOB, ALICE])), 'ghcr.io/a/b', EVE)!;
    expect(d.failures[0]!.message).toBe(
      `the artifact claims signer ${EVE} (claimed, not verified), which policy "e" for ghcr.io/a/b does not trust (${BOB}, ${ALICE}); refused before any DID, handle or PDS request`,
    );
  });
});
