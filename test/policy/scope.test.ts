import { describe, expect, it } from 'vitest';
import { evaluateTrust, matchingPolicies } from '../../src/policy/evaluate.js';
import { scopeMatches, scopeProblem } from '../../src/policy/scope.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { checkManifestRecord } from '../../src/verify/manifest-record.js';
import { explainTrust } from '../../src/cli/policy-command.js';
import { errorOf } from '../harness/error-code.js';

// Issue 13: scopes are globs over canonical names; `**` is zero or more WHOLE segments; a scope
// that cannot meet a canonical name is refused at load with its file:line:col; every spelling of
// an image reaches one decision. Each regression case below failed before the fix.

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const SIGNED = new Date('2025-01-01T00:00:00Z');
const NOW = new Date('2025-06-01T00:00:00Z');

function policyWithScope(scope: string, defaultAction = 'allow') {
  return parseTrustPolicy(`version: "1.0"
defaultAction: ${defaultAction}
trustedDIDs:
  ${ALICE}: {name: Alice}
policies:
  - name: strict
    scope: "${scope}"
    trustedDIDs: [${ALICE}]
`, 'scopes.yaml');
}

describe('`**` matches zero or more whole segments, never part of one', () => {
  const cases: [scope: string, image: string, matches: boolean][] = [
    // Regression (issue 13, item 1): `/**/` used to close at any character, not only at `/`.
    ['ghcr.io/org/**/prod', 'ghcr.io/org/notprod', false],
    ['ghcr.io/org/**/prod', 'ghcr.io/org/x/nonprod', false],
    ['a.io/**/b', 'a.io/xb', false],
    ['a.io/**/b', 'a.io/x/yb', false],
    ['a.io/**/b', 'a.io/b', true],
    ['a.io/**/b', 'a.io/x/b', true],
    ['a.io/**/b', 'a.io/x/y/b', true],
    ['a.io/**/b', 'a.io/b/c', false],
    ['ghcr.io/org/**/prod', 'ghcr.io/org/prod', true],
    ['ghcr.io/org/**/prod', 'ghcr.io/org/team/prod', true],
    ['ghcr.io/org/**', 'ghcr.io/org/app', true],
    ['ghcr.io/org/**', 'ghcr.io/org/a/b/c', true],
    ['ghcr.io/org/**', 'ghcr.io/org', true], // zero segments
    ['ghcr.io/org/**', 'ghcr.io/orgx/app', false],
    ['ghcr.io/org/**', 'ghcr.io/organisation', false],
    ['**/prod', 'ghcr.io/org/prod', true],
    ['**/prod', 'ghcr.io/org/notprod', false],
    ['**', 'docker.io/library/nginx', true],
    ['a.io/**/**/b', 'a.io/b', true],
    ['a.io/**/x/**/b', 'a.io/q/x/r/b', true],
    ['a.io/**/x/**/b', 'a.io/q/xr/b', false],
    // `*` stays in its segment
    ['atcr.io/*/prod-*', 'atcr.io/alice.example/prod-api', true],
    ['atcr.io/*/prod-*', 'atcr.io/alice.example/team/prod-api', false],
    ['atcr.io/*/prod-*', 'atcr.io/alice.example/nonprod-api', false],
    ['localhost:*/app', 'localhost:5000/app', true],
    ['*.corp/app', 'mirror.corp/app', true],
    ['*.corp/app', 'a.b/c.corp/app', false],
    // A `**` inside a segment (refused at load) is read as `*`: it never crosses `/`.
    ['ghcr.io/prod-**', 'ghcr.io/prod-a/b', false],
    ['ghcr.io/prod-**', 'ghcr.io/prod-a', true],
    ['ghcr.io/**prod', 'ghcr.io/x/nonprod', false],
  ];
  it.each(cases)('%s covers %s: %s', (scope, image, matches) => {
    expect(scopeMatches(scope, image)).toBe(matches);
  });
});

describe('scopes are checked against the canonical form when the policy loads', () => {
  const refused: [scope: string, says: RegExp][] = [
    ['docker.io/nginx', /docker\.io\/library\/nginx/],
    ['docker.io/*', /docker\.io\/library\/\*/],
    ['index.docker.io/library/nginx', /another name of Docker Hub.*write docker\.io/],
    ['registry-1.docker.io/library/nginx', /another name of Docker Hub/],
    ['Registry-1.Docker.io/library/nginx', /another name of Docker Hub/],
    ['docker.io:443/library/nginx', /":443" is the default port.*write docker\.io/],
    ['registry.example.com:443/staging/**', /write registry\.example\.com$/],
    ['*.corp:443/**', /default port/],
    ['ATCR.IO/*/prod-*', /lower-cased: write atcr\.io/],
    ['*.CORP/**', /lower-cased/],
    ['ghcr.io/org/', /ends with "\/"/],
    ['ghcr.io//org/app', /empty segment/],
    ['/ghcr.io/org', /starts with "\/"/],
    ['ghcr.io/prod-**', /"\*\*" must be a whole segment/],
    ['ghcr.io/org/**prod', /whole segment/],
    ['ghcr.io/***', /whole segment/],
    ['ghcr.io/Org/app', /lower-case/],
    ['ghcr.io/org/App*', /lower-case/],
    ['ghcr.io/org/app:v1', /without a tag/],
    [`ghcr.io/org/app@sha256:${'a'.repeat(64)}`, /without a digest/],
    ['nginx', /docker\.io\/library\/nginx/],
    ['library/nginx', /docker\.io\/library\/nginx/],
    ['ghcr.io:0443/x', /leading zeros/],
    ['gh_cr.io/x', /not a valid registry host/],
    ['127.1:5000/**', /another spelling of 127\.0\.0\.1:5000/],
    ['[0:0:0:0:0:0:0:1]:5000/**', /another spelling of \[::1\]:5000/],
    ['registry.1/**', /not a host a URL can name/],
  ];
  it.each(refused)('refuses %s with file:line:col', (scope, says) => {
    expect(scopeProblem(scope)).toMatch(says);
    const err = errorOf(() => policyWithScope(scope));
    expect(err.code).toBe('POLICY_INVALID');
    // The scope sits on line 7, after `    scope: "` (column 12).
    expect(err.message).toContain('scopes.yaml:7:12: /policies/0/scope');
    // Upper case, `@` and the like are already refused by the schema's character class.
    expect(err.message).toMatch(new RegExp(`scope "|must be a non-empty lowercase image name glob`));
  });

  const accepted = ['**', 'docker.io/library/nginx', 'docker.io/**', 'docker.io/*/nginx', 'docker.io/library/*', 'atcr.io/*/prod-*', 'ghcr.io/org/**/prod', '**/prod', 'localhost:5000/**', '*.corp/**', '[::1]:5000/**', 'ghcr.io/a.b_c-d/x'];
  it.each(accepted)('accepts %s', (scope) => {
    expect(scopeProblem(scope)).toBeUndefined();
    expect(policyWithScope(scope).policies[0]?.scope).toBe(scope);
  });
});

describe('every spelling of one image gets one decision (regressions of issue 13, items 2-5)', () => {
  it('an untrusted signer of nginx:1.25 is refused under a strict docker.io/library/nginx policy with defaultAction allow', () => {
    const policy = policyWithScope('docker.io/library/nginx');
    for (const image of ['nginx:1.25', 'docker.io/nginx', 'index.docker.io/nginx', 'Registry-1.Docker.io/library/nginx', 'docker.io:443/library/nginx', 'REGISTRY-1.DOCKER.IO:443/library/nginx:1']) {
      const d = evaluateTrust(policy, { image, did: BOB, signedAt: SIGNED, now: NOW });
      expect(d, image).toMatchObject({ allowed: false, image: 'docker.io/library/nginx', policies: ['strict'] });
      expect(d.failures[0]?.code).toBe('UNTRUSTED_DID');
    }
  });

  it('registry.example.com:443 is registry.example.com', () => {
    const policy = policyWithScope('registry.example.com/staging/**');
    const d = evaluateTrust(policy, { image: 'registry.example.com:443/staging/app:1', did: BOB, signedAt: SIGNED, now: NOW });
    expect(d).toMatchObject({ allowed: false, policies: ['strict'] });
    expect(evaluateTrust(policy, { image: 'registry.example.com:5000/staging/app', did: BOB, signedAt: SIGNED, now: NOW }).action).toBe('default-allow');
  });

  it('an upper-case ATCR host is an ATCR host: the identity check runs (REPOSITORY_MISMATCH)', () => {
    const base = { subjectDigest: `sha256:${'d'.repeat(64)}`, did: BOB, atcrRegistries: ['atcr.io'], verifiedHandle: 'bob.example' };
    const record = (repository: string) => ({ repository, digest: base.subjectDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', schemaVersion: 2, createdAt: '2025-01-01T00:00:00Z' });
    for (const reference of ['ATCR.IO/alice.example/prod-api', 'atcr.io:443/alice.example/prod-api', 'atcr.io/alice.example/prod-api']) {
      // The record names the image as the reference spells it: before the fix, the upper-case
      // spelling was checked as a non-ATCR name and passed.
      for (const repository of [reference, 'prod-api', 'alice.example/prod-api']) {
        const err = errorOf(() => checkManifestRecord(record(repository), { ...base, reference }));
        expect(err.code, `${reference} / ${repository}`).toBe('REPOSITORY_MISMATCH');
      }
    }
    // Alice, whose handle the path names, passes under any spelling; so does an ATCR host configured in upper case.
    for (const reference of ['ATCR.IO/alice.example/prod-api', 'atcr.io/alice.example/prod-api']) {
      expect(checkManifestRecord(record('prod-api'), { ...base, did: ALICE, verifiedHandle: 'alice.example', reference }).repository).toBe('prod-api');
      expect(checkManifestRecord(record('prod-api'), { ...base, did: ALICE, verifiedHandle: 'alice.example', atcrRegistries: ['ATCR.io:443'], reference }).repository).toBe('prod-api');
    }
  });

  it('matchingPolicies refuses what is not a reference rather than matching a guessed name', () => {
    const policy = policyWithScope('**');
    expect(errorOf(() => matchingPolicies(policy, 'ghcr.io//x')).code).toBe('INPUT_INVALID');
    expect(matchingPolicies(policy, '').rules.map((r) => r.name)).toEqual(['strict']);
  });

  it('policy explain judges the canonical name, as verify does', () => {
    const policy = policyWithScope('docker.io/library/nginx');
    const explained = explainTrust(policy, 'Registry-1.Docker.io:443/nginx:1.25', BOB, SIGNED, NOW);
    expect(explained.allowed).toBe(false);
    expect(explained.text).toContain('matched as docker.io/library/nginx');
    expect(explained.text).toContain('its canonical name');
    expect(explained.text).toContain('[UNTRUSTED_DID]');
  });
});
