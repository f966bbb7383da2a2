import { describe, expect, it } from 'vitest';
import { evaluateTrust, pinnedKeys } from '../../src/policy/evaluate.js';
import { imageScopeName, scopeMatches } from '../../src/policy/scope.js';
import { parseTrustPolicy, policyDigest } from '../../src/policy/trust-policy.js';
import { parseDuration } from '../../src/policy/duration.js';
import { errorOf } from '../harness/error-code.js';

// The trust policy of SPEC section 4: parsing with positions, scopes, and the decision rules.

// SPEC's example uses short placeholders (did:plc:alice123), which are not valid did:plc identifiers.
const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const EVE = 'did:plc:eveeeeeeeeeeeeeeeeeeeeee';
const SPEC_EXAMPLE = `
version: 1.0
trustedDIDs:
  ${ALICE}: {name: "Alice (DevOps)", validFrom: "2024-01-01T00:00:00Z", expiresAt: null}
  ${BOB}: {name: "Bob (Security)", validFrom: "2024-06-01T00:00:00Z", expiresAt: "2025-12-31T23:59:59Z"}
policies:
  - name: production
    scope: "atcr.io/*/prod-*"
    require: {signature: true}
    trustedDIDs: [${ALICE}, ${BOB}]
    action: enforce      # or audit
`;


describe('parseTrustPolicy', () => {
  it('reads the SPEC example (unquoted version 1.0, null expiry)', () => {
    const policy = parseTrustPolicy(SPEC_EXAMPLE, 'spec.yaml');
    expect(policy.policies[0]).toMatchObject({ name: 'production', scope: 'atcr.io/*/prod-*', action: 'enforce' });
    expect(policy.trustedDIDs.get(ALICE)?.expiresAt).toBeUndefined();
    expect(policy.trustedDIDs.get(BOB)?.expiresAt?.toISOString()).toBe('2025-12-31T23:59:59.000Z');
    expect(policy.defaultAction).toBe('deny');
    expect(policy.digest).toBe(policyDigest(SPEC_EXAMPLE));
  });

  it('points at the line and column of a mistake', () => {
    const bad = SPEC_EXAMPLE.replace('action: enforce', 'action: enforced');
    const err = errorOf(() => parseTrustPolicy(bad, 'p.yaml'));
    expect(err.code).toBe('POLICY_INVALID');
    expect(err.message).toMatch(/p\.yaml:11:\d+/);
    expect(err.message).toContain('action');
  });

  it('refuses a policy naming a DID it does not declare, bad DIDs, bad dates and bad YAML', () => {
    expect(errorOf(() => parseTrustPolicy(SPEC_EXAMPLE.replace(`[${ALICE}, ${BOB}]`, `[${ALICE}, ${EVE}]`))).message).toContain(EVE);
    expect(errorOf(() => parseTrustPolicy(SPEC_EXAMPLE.replace(`${BOB}:`, 'not-a-did:'))).code).toBe('POLICY_INVALID');
    expect(errorOf(() => parseTrustPolicy(SPEC_EXAMPLE.replace('2024-06-01T00:00:00Z', 'last tuesday'))).code).toBe('POLICY_INVALID');
    expect(errorOf(() => parseTrustPolicy('version: "1.0"\npolicies: [\n')).message).toContain('not valid YAML');
    expect(errorOf(() => parseTrustPolicy('')).code).toBe('POLICY_INVALID');
  });
});

describe('scopes', () => {
  it('matches * inside one segment and ** across segments', () => {
    expect(scopeMatches('atcr.io/*/prod-*', 'atcr.io/alice.example/prod-api')).toBe(true);
    expect(scopeMatches('atcr.io/*/prod-*', 'atcr.io/alice.example/team/prod-api')).toBe(false);
    expect(scopeMatches('atcr.io/**', 'atcr.io/a/b/c')).toBe(true);
    expect(scopeMatches('**', 'docker.io/library/alpine')).toBe(true);
    expect(scopeMatches('ghcr.io/org/**/api', 'ghcr.io/org/api')).toBe(true);
    expect(scopeMatches('ghcr.io/org/app', 'ghcr.io/org/app-evil')).toBe(false);
    expect(scopeMatches('ghcr.io/org/ap?', 'ghcr.io/org/apx')).toBe(false);
  });

  it('names images without tag or digest, normalising Docker Hub', () => {
    expect(imageScopeName(`ghcr.io/org/app:v1@sha256:${'a'.repeat(64)}`)).toBe('ghcr.io/org/app');
    expect(imageScopeName('alpine')).toBe('docker.io/library/alpine');
  });

  it('stays fast on a hostile scope and name', () => {
    const started = performance.now();
    expect(scopeMatches('*a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('evaluateTrust', () => {
  const policy = parseTrustPolicy(SPEC_EXAMPLE);
  const at = (iso: string) => new Date(iso);
  const now = at('2025-06-01T00:00:00Z');
  const decide = (did: string, image: string, signedAt: string, when = now) => evaluateTrust(policy, { did, image, signedAt: at(signedAt), now: when });

  it('allows a trusted signer inside its window', () => {
    const d = decide(ALICE, 'atcr.io/alice.example/prod-api:v1', '2025-01-01T00:00:00Z');
    expect(d).toMatchObject({ allowed: true, action: 'enforce', policies: ['production'], trustedAs: 'Alice (DevOps)', audit: false });
  });

  it('refuses the untrusted, the not-yet-valid and the expired, with the code saying which', () => {
    expect(decide(EVE, 'atcr.io/x/prod-api', '2025-01-01T00:00:00Z').failures[0]?.code).toBe('UNTRUSTED_DID');
    expect(decide(BOB, 'atcr.io/x/prod-api', '2024-05-01T00:00:00Z').failures[0]?.code).toBe('DID_NOT_YET_VALID');
    expect(decide(BOB, 'atcr.io/x/prod-api', '2026-01-01T00:00:00Z', at('2026-02-01T00:00:00Z')).failures[0]?.code).toBe('DID_EXPIRED');
    // Signed inside the window, but trust has since ended: nothing new is admitted.
    const ended = decide(BOB, 'atcr.io/x/prod-api', '2025-01-01T00:00:00Z', at('2026-02-01T00:00:00Z'));
    expect(ended.allowed).toBe(false);
    expect(ended.failures[0]?.code).toBe('DID_EXPIRED');
  });

  it('checks validFrom against the record\'s claimed creation too: a later commit re-signing it does not launder it', () => {
    const relaundered = evaluateTrust(policy, { did: BOB, image: 'atcr.io/x/prod-api', signedAt: at('2025-01-01T00:00:00Z'), createdAt: at('2024-05-01T00:00:00Z'), now });
    expect(relaundered.allowed).toBe(false);
    expect(relaundered.failures[0]?.code).toBe('DID_NOT_YET_VALID');
    expect(relaundered.failures[0]?.message).toContain('created at 2024-05-01');
    const fresh = evaluateTrust(policy, { did: BOB, image: 'atcr.io/x/prod-api', signedAt: at('2025-01-01T00:00:00Z'), createdAt: at('2024-07-01T00:00:00Z'), now });
    expect(fresh.allowed).toBe(true);
  });

  it('denies images no scope covers by default (NO_POLICY), or follows defaultAction', () => {
    expect(decide(ALICE, 'ghcr.io/other/app', '2025-01-01T00:00:00Z')).toMatchObject({ allowed: false, action: 'default-deny' });
    const open = parseTrustPolicy(`${SPEC_EXAMPLE}\ndefaultAction: audit\n`);
    const d = evaluateTrust(open, { did: ALICE, image: 'ghcr.io/other/app', signedAt: at('2025-01-01T00:00:00Z'), now });
    expect(d).toMatchObject({ allowed: true, audit: true });
    expect(d.failures[0]?.code).toBe('NO_POLICY');
  });

  it('applies every matching policy: an enforce failure denies even when another passes', () => {
    const two = parseTrustPolicy(`
version: "1.0"
trustedDIDs:
  ${ALICE}: {name: A}
  ${BOB}: {name: B}
policies:
  - {name: wide, scope: "**", trustedDIDs: [${ALICE}, ${BOB}], action: enforce}
  - {name: narrow, scope: "ghcr.io/core/**", trustedDIDs: [${ALICE}], action: enforce}
  - {name: watch, scope: "ghcr.io/**", trustedDIDs: [${ALICE}], action: audit}
`);
    const bob = evaluateTrust(two, { did: BOB, image: 'ghcr.io/core/db', signedAt: at('2025-01-01T00:00:00Z'), now });
    expect(bob.allowed).toBe(false);
    expect(bob.failures.map((f) => f.code)).toEqual(['UNTRUSTED_DID', 'UNTRUSTED_DID']);
    const audited = evaluateTrust(two, { did: BOB, image: 'ghcr.io/other/db', signedAt: at('2025-01-01T00:00:00Z'), now });
    expect(audited).toMatchObject({ allowed: true, audit: true, policies: ['wide', 'watch'] });
  });

  it('checks pinned keys', () => {
    const key = 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF';
    const pinned = parseTrustPolicy(`
version: "1.0"
trustedDIDs:
  ${ALICE}: {name: A, keys: [${key}]}
policies:
  - {name: all, scope: "**", trustedDIDs: [${ALICE}], action: enforce}
`);
    expect(pinnedKeys(pinned, ALICE)).toEqual([key]);
    expect(pinnedKeys(pinned, BOB)).toBeUndefined();
    const ok = evaluateTrust(pinned, { did: ALICE, image: 'x.io/a/b', signedAt: at('2025-01-01T00:00:00Z'), signingKey: key, now });
    expect(ok.allowed).toBe(true);
    const other = evaluateTrust(pinned, { did: ALICE, image: 'x.io/a/b', signedAt: at('2025-01-01T00:00:00Z'), signingKey: 'zQ3shOther', now });
    expect(other.failures[0]?.code).toBe('KEY_NOT_PINNED');
  });
});

describe('parseDuration', () => {
  it('reads Go-style durations and numbers of seconds, and refuses nonsense', () => {
    expect(parseDuration('2s', 'x')).toBe(2000);
    expect(parseDuration('5m', 'x')).toBe(300_000);
    expect(parseDuration('1h30m', 'x')).toBe(5_400_000);
    expect(parseDuration(1.5, 'x')).toBe(1500); // a bare number is seconds
    expect(() => parseDuration('soon', 'x')).toThrow(/x/);
    expect(() => parseDuration(-1, 'x')).toThrow();
  });
});
