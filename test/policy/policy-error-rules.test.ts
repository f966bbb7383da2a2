/**
 * A policy error names the file, line and column, the JSON pointer and what is wrong
 * (src/policy/policy-schema.ts, yaml-position.ts): the operator fixes the file from the message
 * alone. One row per kind of schema failure, with the position the message must point at.
 */
import { describe, expect, it } from 'vitest';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { pointerOf, pointerSegments } from '../../src/policy/json-pointer.js';
import { errorOf } from '../harness/error-code.js';

const A = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const DID_RULE = 'must be a did:plc DID (did:plc: then 24 characters a-z, 2-7) or a did:web DID naming a lowercase host (did:web:example.com, port as %3A)';

describe('schema failures, each at its line and column', () => {
  it.each<[string, string, string]>([
    ['a misspelt top-level key', `version: "1.0"\ntrustedDid:\n  ${A}: {}\npolicies: []\n`,
      'trust policy p.yaml:1:1: /: missing required key "trustedDIDs"; p.yaml:2:1: /trustedDid: unknown key "trustedDid" (did you mean "trustedDIDs"?); allowed keys: version, defaultAction, trustedDIDs, policies, registries'],
    ['a missing section', `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\n`, 'trust policy p.yaml:1:1: /: missing required key "policies"'],
    ['a DID listed twice', `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${A}, ${A}]}\n`,
      'trust policy p.yaml:5:84: /policies/0/trustedDIDs/1: repeats item 0 of the list'],
    ['a map key that is no DID', `version: "1.0"\ntrustedDIDs:\n  notadid: {}\npolicies: []\n`, `trust policy p.yaml:3:3: /trustedDIDs/notadid: key "notadid" ${DID_RULE}`],
    ['a value of the wrong type', `version: "1.0"\ntrustedDIDs:\n  ${A}: {name: 5}\npolicies: []\n`,
      `trust policy p.yaml:3:44: /trustedDIDs/${A}/name: must be a non-empty display name of at most 256 characters`],
    ['a misspelt policy key', `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: p, scopee: "x", trustedDIDs: [${A}]}\n`,
      'trust policy p.yaml:5:5: /policies/0: missing required key "scope"; p.yaml:5:15: /policies/0/scopee: unknown key "scopee" (did you mean "scope"?); allowed keys: name, scope, require, trustedDIDs, action'],
    ['an unknown key too far from any to guess', `version: "1.0"\ntrustedDIDs:\n  ${A}: {zzzzzzzz: 1}\npolicies: []\n`,
      `trust policy p.yaml:3:38: /trustedDIDs/${A}/zzzzzzzz: unknown key "zzzzzzzz"; allowed keys: name, validFrom, expiresAt, keys, offline`],
    ['a list item that is no DID', `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [did:plc:x]}\n`,
      `trust policy p.yaml:5:50: /policies/0/trustedDIDs/0: ${DID_RULE}`],
    ['a key with / and ~ in it', `version: "1.0"\ntrustedDIDs:\n  ${A}: {"a/b~c": 1}\npolicies: []\n`,
      `trust policy p.yaml:3:38: /trustedDIDs/${A}/a~1b~0c: unknown key "a/b~c"; allowed keys: name, validFrom, expiresAt, keys, offline`],
    ['a value reached through a YAML alias', `version: "1.0"\ntrustedDIDs:\n  ${A}: &a {name: 5}\n  did:plc:bobbbbbbbbbbbbbbbbbbbbbb: *a\npolicies: []\n`,
      `trust policy p.yaml:3:47: /trustedDIDs/${A}/name: must be a non-empty display name of at most 256 characters; p.yaml:3:47: /trustedDIDs/did:plc:bobbbbbbbbbbbbbbbbbbbbbb/name: must be a non-empty display name of at most 256 characters`],
  ])('%s', (_name, text, message) => {
    const err = errorOf(() => parseTrustPolicy(text, 'p.yaml'));
    expect(err.code).toBe('POLICY_INVALID');
    expect(err.message).toBe(message);
  });
});

describe('a misspelt key gets a guess within two edits', () => {
  const ALLOWED = 'allowed keys: version, defaultAction, trustedDIDs, policies, registries';
  it.each<[string, string | undefined]>([
    ['polices', 'policies'],
    ['Policies', 'policies'],
    ['policiesxx', 'policies'],
    ['registry', undefined], // three edits from registries
    ['defaultActon', 'defaultAction'],
    ['versio', 'version'],
    ['policiesxxx', undefined],
    ['pol', undefined],
    ['xyz', undefined],
  ])('%j: %s', (key, guess) => {
    const err = errorOf(() => parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies: []\n${key}: 1\n`, 'p.yaml'));
    expect(err.message).toBe(`trust policy p.yaml:5:1: /${key}: unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; ${ALLOWED}`);
  });
});

describe('the message as a whole', () => {
  const refusal = (text: string) => {
    const err = errorOf(() => parseTrustPolicy(text, 'p.yaml'));
    expect(err.code).toBe('POLICY_INVALID');
    return err.message;
  };

  it('YAML that does not parse names the line and column and the parser\'s reason', () => {
    const err = errorOf(() => parseTrustPolicy(`version: "1.0"\ntrustedDIDs: {\npolicies: []\n`, 'p.yaml'));
    expect(err.message).toBe('trust policy p.yaml:3:1: not valid YAML: Flow map in block collection must be sufficiently indented and end with a }');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('a policy name used twice points at the second', () => {
    expect(refusal(`version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${A}]}\n  - {name: p, scope: "quay.io/**", trustedDIDs: [${A}]}\n`)).toBe(
      'trust policy p.yaml:6:12: /policies/1/name: policy name "p" is already used by policy 0; names must be unique',
    );
  });

  it('at most five problems are spelt out, then how many more', () => {
    const undeclared = Array.from({ length: 7 }, (_, i) => `did:plc:${String.fromCharCode(98 + i).repeat(24)}`);
    const message = refusal(`version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${undeclared.join(', ')}]}\n`);
    expect(message.split('; p.yaml:')).toHaveLength(5);
    expect(message.startsWith(`trust policy p.yaml:5:50: /policies/0/trustedDIDs/0: policy "p" trusts ${undeclared[0]}, which is not declared in the top-level trustedDIDs; p.yaml:5:84: /policies/0/trustedDIDs/1:`)).toBe(true);
    expect(message.endsWith(`/policies/0/trustedDIDs/4: policy "p" trusts ${undeclared[4]}, which is not declared in the top-level trustedDIDs; and 2 more`)).toBe(true);
  });

  it('five problems are all spelt out, with no "more"', () => {
    const undeclared = Array.from({ length: 5 }, (_, i) => `did:plc:${String.fromCharCode(98 + i).repeat(24)}`);
    const message = refusal(`version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${undeclared.join(', ')}]}\n`);
    expect(message).not.toContain('more');
    expect(message.split('; p.yaml:')).toHaveLength(5);
  });

  it('problems are listed in file order, whichever check found them first', () => {
    const message = refusal(`version: "1.0"\npolicies:\n  - {name: p, scope: "nope", trustedDIDs: [${A}]}\ntrustedDIDs:\n  ${A}: {validFrom: "2025-02-30T00:00:00Z"}\n`);
    expect(message).toBe(
      'trust policy p.yaml:3:22: /policies/0/scope: scope "nope" can never match a canonical image name: image names are registry/repository and "nope" has no "/": write docker.io/library/nope; ' +
        `p.yaml:5:49: /trustedDIDs/${A}/validFrom: 2025-02-30T00:00:00Z is not a real date and time (check the day, hour and offset)`,
    );
  });

  it('a text over 1 MiB is refused before it is parsed', () => {
    expect(refusal('#'.repeat(1024 * 1024 + 1))).toBe('trust policy p.yaml is 1048577 characters, above the 1048576 cap');
  });
});

describe('JSON pointers (RFC 6901)', () => {
  it.each<[(string | number)[], string]>([
    [[], ''],
    [['a'], '/a'],
    [['a/b', 'c~d', 0], '/a~1b/c~0d/0'],
    [['~1'], '/~01'],
    [[''], '/'],
  ])('%j <-> %j', (segments, pointer) => {
    expect(pointerOf(segments)).toBe(pointer);
    expect(pointerSegments(pointer)).toEqual(segments.map(String));
  });
});
