import { describe, expect, it } from 'vitest';
import { evaluateTrust, pinnedKeys } from '../../src/policy/evaluate.js';
import { scopeMatches, scopeProblem } from '../../src/policy/scope.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { errorOf } from '../harness/error-code.js';

// One test per rule of evaluateTrust and the scope checks, at its boundary, so that changing a
// comparison or dropping a branch fails a test named for the rule it breaks.

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const FROM = '2025-01-01T00:00:00Z';
const UNTIL = '2026-01-01T00:00:00Z';
const at = (iso: string) => new Date(iso);

const windowed = parseTrustPolicy(`version: "1.0"
trustedDIDs:
  ${ALICE}: {name: Alice, validFrom: "${FROM}", expiresAt: "${UNTIL}"}
  ${BOB}: {name: Bob}
policies:
  - {name: main, scope: "ghcr.io/**", trustedDIDs: [${ALICE}, ${BOB}]}
`);
const decide = (signedAt: string, now: string, createdAt?: string, did = ALICE) =>
  evaluateTrust(windowed, { image: 'ghcr.io/a/b', did, signedAt: at(signedAt), now: at(now), ...(createdAt ? { createdAt: at(createdAt) } : {}) });
const codes = (d: ReturnType<typeof evaluateTrust>) => d.failures.map((f) => f.code);

describe('trust window boundaries', () => {
  it('validFrom is inclusive: a signature made exactly at validFrom is trusted', () => {
    expect(decide(FROM, '2025-06-01T00:00:00Z').allowed).toBe(true);
  });
  it('a signature one millisecond before validFrom is DID_NOT_YET_VALID', () => {
    expect(codes(decide('2024-12-31T23:59:59.999Z', '2025-06-01T00:00:00Z'))).toEqual(['DID_NOT_YET_VALID']);
  });
  it('a record claiming creation exactly at validFrom is trusted; one millisecond earlier is DID_NOT_YET_VALID', () => {
    expect(decide('2025-03-01T00:00:00Z', '2025-06-01T00:00:00Z', FROM).allowed).toBe(true);
    expect(codes(decide('2025-03-01T00:00:00Z', '2025-06-01T00:00:00Z', '2024-12-31T23:59:59.999Z'))).toEqual(['DID_NOT_YET_VALID']);
  });
  it('expiresAt is exclusive: a signature made exactly at expiresAt is DID_EXPIRED', () => {
    expect(codes(decide(UNTIL, '2025-06-01T00:00:00Z'))).toEqual(['DID_EXPIRED']);
    expect(decide('2025-12-31T23:59:59.999Z', '2025-12-31T23:59:59.999Z').allowed).toBe(true);
  });
  it('trust ends at expiresAt: at that instant nothing signed earlier is admitted (DID_EXPIRED)', () => {
    expect(codes(decide('2025-06-01T00:00:00Z', UNTIL))).toEqual(['DID_EXPIRED']);
  });
  it('a DID with no window is trusted at any time', () => {
    expect(decide('1999-01-01T00:00:00Z', '2099-01-01T00:00:00Z', '1999-01-01T00:00:00Z', BOB).allowed).toBe(true);
  });
  it('refuses to judge with an invalid signing time or clock (INPUT_INVALID)', () => {
    expect(errorOf(() => evaluateTrust(windowed, { image: 'ghcr.io/a/b', did: ALICE, signedAt: new Date(NaN) })).code).toBe('INPUT_INVALID');
    expect(errorOf(() => evaluateTrust(windowed, { image: 'ghcr.io/a/b', did: ALICE, signedAt: at(FROM), now: new Date(NaN) })).code).toBe('INPUT_INVALID');
  });
});

describe('how matching policies combine', () => {
  const mixed = parseTrustPolicy(`version: "1.0"
trustedDIDs:
  ${ALICE}: {name: Alice}
  ${BOB}: {name: Bob}
policies:
  - {name: watch-a, scope: "ghcr.io/**", trustedDIDs: [${ALICE}], action: audit}
  - {name: watch-b, scope: "ghcr.io/team/**", trustedDIDs: [${BOB}], action: audit}
  - {name: gate, scope: "quay.io/**", trustedDIDs: [${ALICE}]}
  - {name: gate-b, scope: "quay.io/**", trustedDIDs: [${ALICE}, ${BOB}]}
`);
  const judge = (image: string, did: string) => evaluateTrust(mixed, { image, did, signedAt: at(FROM), now: at('2025-06-01T00:00:00Z') });

  it('only audit policies match: the action is audit, and failures admit with audit set', () => {
    expect(judge('ghcr.io/team/x', BOB)).toMatchObject({ allowed: true, action: 'audit', audit: true, policies: ['watch-a', 'watch-b'], trustedAs: 'Bob' });
    expect(codes(judge('ghcr.io/team/x', BOB))).toEqual(['UNTRUSTED_DID']);
  });
  it('audit is false when every matching policy passes', () => {
    expect(judge('ghcr.io/other/x', ALICE)).toMatchObject({ allowed: true, action: 'audit', audit: false, failures: [] });
  });
  it('an enforce failure denies even when another enforce policy passes, and is not an audit', () => {
    const d = judge('quay.io/x/y', BOB);
    expect(d).toMatchObject({ allowed: false, action: 'enforce', audit: false, policies: ['gate', 'gate-b'], trustedAs: 'Bob' });
    expect(d.results.map((r) => [r.rule.name, r.failures.map((f) => f.code)])).toEqual([
      ['gate', ['UNTRUSTED_DID']],
      ['gate-b', []],
    ]);
  });
  it('trustedAs names the signer only when some matching policy passed', () => {
    expect(judge('quay.io/x/y', 'did:plc:eveeeeeeeeeeeeeeeeeeeeee').trustedAs).toBeUndefined();
  });
  it('no matching policy: the decision reports the canonical name and no results', () => {
    expect(judge('Docker.io:443/nginx', ALICE)).toMatchObject({ allowed: false, action: 'default-deny', image: 'docker.io/library/nginx', results: [], policies: [] });
  });
  it('pinnedKeys hands out a copy: the policy cannot be changed through it', () => {
    const key = 'zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme';
    const pinned = parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {keys: [${key}]}\npolicies: []\n`);
    pinnedKeys(pinned, ALICE)!.push('zQ3shOther');
    expect(pinnedKeys(pinned, ALICE)).toEqual([key]);
  });
});

describe('scope rules at their edges', () => {
  it('a host alone is no image name: the hint adds /**', () => {
    expect(scopeProblem('ghcr.io')).toMatch(/write ghcr\.io\/\*\*/);
    expect(scopeProblem('localhost')).toMatch(/write localhost\/\*\*/);
  });
  it('a repository segment must be a distribution path component', () => {
    expect(scopeProblem('ghcr.io/a..b')).toMatch(/can never be a repository path segment/);
    expect(scopeProblem('ghcr.io/-a')).toMatch(/can never be a repository path segment/);
    expect(scopeProblem('ghcr.io/a-*')).toBeUndefined();
  });
  it('`*` matches the empty run too, and nothing across `/`', () => {
    expect(scopeMatches('ghcr.io/app*', 'ghcr.io/app')).toBe(true);
    expect(scopeMatches('ghcr.io/*app', 'ghcr.io/app')).toBe(true);
    expect(scopeMatches('ghcr.io/*', 'ghcr.io/a/b')).toBe(false);
    expect(scopeMatches('ghcr.io/a*b*c', 'ghcr.io/abbc')).toBe(true);
    expect(scopeMatches('ghcr.io/a*b*c', 'ghcr.io/acb')).toBe(false);
  });
  it('a scope is matched whole: no prefix or suffix match', () => {
    expect(scopeMatches('ghcr.io/org/app', 'ghcr.io/org/app/x')).toBe(false);
    expect(scopeMatches('ghcr.io/org/app', 'x.io/ghcr.io/org/app')).toBe(false);
    expect(scopeMatches('ghcr.io/org', 'ghcr.io/org')).toBe(true);
  });
  it('the empty name (no reference known) is covered only by scopes of `**` alone', () => {
    expect(scopeMatches('**', '')).toBe(true);
    expect(scopeMatches('**/**', '')).toBe(true);
    expect(scopeMatches('ghcr.io/**', '')).toBe(false);
  });
});

describe('a decision without an image reference says so', () => {
  it('a policy matching every name (**) judges a signer with no image: the refusal says "(no image reference)"', () => {
    const all = parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\npolicies:\n  - {name: all, scope: "**", trustedDIDs: [${ALICE}], action: audit}\n`);
    const d = evaluateTrust(all, { did: BOB, image: '', signedAt: at(FROM), now: at(FROM) });
    expect(d.failures.map((f) => f.message)).toEqual([`${BOB} is not among the DIDs policy "all" (audit) for (no image reference) trusts (${ALICE})`]);
  });
});
