/**
 * Rules of src/policy/policy-schema.ts: every schema failure is reported once per place and
 * reason (never twice, never merged with another reason at the same place), in the schema's own
 * words when it has them and ajv's otherwise; an unknown key is refused with a guess only when an
 * allowed key is within two edits (the first closest one).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemaViolations } from '../../src/policy/policy-schema.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { errorOf } from '../harness/error-code.js';

const A = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const DID_RULE = 'must be a did:plc DID (did:plc: then 24 characters a-z, 2-7) or a did:web DID naming a lowercase host (did:web:example.com, port as %3A)';
const TOP_LEVEL = ['version', 'defaultAction', 'trustedDIDs', 'policies', 'registries'];

describe('each failure once per place and reason', () => {
  const LONG = `did:web:${'X'.repeat(300)}`; // too long AND off the pattern: two ajv errors, one reason

  it.each<[string, unknown, { pointer: string; key?: true; message: string }[]]>([
    ['a map key failing two keywords of one rule', { version: '1.0', trustedDIDs: { [LONG]: {} }, policies: [] }, [{ pointer: `/trustedDIDs/${LONG}`, key: true, message: `key "${LONG}" ${DID_RULE}` }]],
    ['a list item failing two keywords of one rule', { version: '1.0', trustedDIDs: { [A]: {} }, policies: [{ name: 'p', scope: 'x/y', trustedDIDs: [LONG] }] }, [{ pointer: '/policies/0/trustedDIDs/0', message: DID_RULE }]],
    ['two missing keys of one object: both named', { version: '1.0', trustedDIDs: {}, policies: [{ name: 'p' }] }, [
      { pointer: '/policies/0', message: 'missing required key "scope"' },
      { pointer: '/policies/0', message: 'missing required key "trustedDIDs"' },
    ]],
    ['a wrong type where the schema has no description: ajv\'s words', { version: '1.0', trustedDIDs: {}, policies: [{ name: 'p', scope: 'x/y', trustedDIDs: [A], require: 5 }] }, [{ pointer: '/policies/0/require', message: 'must be object' }]],
    ['a list too short, no description: ajv\'s words', { version: '1.0', trustedDIDs: { [A]: { keys: [] } }, policies: [] }, [{ pointer: `/trustedDIDs/${A}/keys`, message: 'must NOT have fewer than 1 items' }]],
    ['a value against a described rule: the description', { version: '1.0', defaultAction: 'maybe', trustedDIDs: {}, policies: [] }, [{ pointer: '/defaultAction', message: 'must be deny, allow or audit (what happens to an image no policy scope covers)' }]],
    ['a list repeating an item', { version: '1.0', trustedDIDs: {}, policies: [{ name: 'p', scope: 'x/y', trustedDIDs: [A, A] }] }, [{ pointer: '/policies/0/trustedDIDs/1', message: 'repeats item 0 of the list' }]],
    ['a valid document', { version: '1.0', trustedDIDs: {}, policies: [] }, []],
  ])('%s', (_name, document, violations) => {
    expect(schemaViolations(document)).toStrictEqual(violations);
  });

  it('a missing key is reported at the object that lacks it, a wrong value at the value', () => {
    expect(errorOf(() => parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - name: p\n    require: 5\n`, 'p.yaml')).message).toBe(
      'trust policy p.yaml:5:5: /policies/0: missing required key "scope"; p.yaml:5:5: /policies/0: missing required key "trustedDIDs"; p.yaml:6:14: /policies/0/require: must be object',
    );
  });
});

/** Levenshtein distance, by its recursive definition. */
function levenshtein(a: string, b: string): number {
  const memo = new Map<string, number>();
  const d = (i: number, j: number): number => {
    if (i === 0) return j;
    if (j === 0) return i;
    const key = `${i},${j}`;
    let v = memo.get(key);
    if (v === undefined) {
      v = Math.min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      memo.set(key, v);
    }
    return v;
  };
  return d(a.length, b.length);
}

/** The guess the message should carry: the first allowed key at the smallest distance, if within two edits. */
function expectedGuess(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const allowed of TOP_LEVEL) {
    const distance = levenshtein(key.toLowerCase(), allowed.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [allowed, distance];
  }
  return best;
}

describe('an unknown key gets a guess only within two edits', () => {
  const message = (key: string) => errorOf(() => parseTrustPolicy(`version: "1.0"\ntrustedDIDs: {}\npolicies: []\n${key}: 1\n`, 'p.yaml')).message;
  const expected = (key: string, guess: string | undefined) =>
    `trust policy p.yaml:4:1: /${key}: unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; allowed keys: ${TOP_LEVEL.join(', ')}`;

  it.each<[string, string | undefined]>([
    ['pxlicixsz', undefined], // three edits, two of them before the last character
    ['policiex', 'policies'],
    ['xolicies', 'policies'],
    ['registriesab', 'registries'],
    ['registriesabc', undefined],
    ['versi', 'version'],
    ['ver', undefined],
  ])('%j: %s', (key, guess) => {
    expect(message(key)).toBe(expected(key, guess));
  });

  /** A key a few random edits away from an allowed one. */
  const nearKeys = fc
    .tuple(fc.constantFrom(...TOP_LEVEL), fc.array(fc.tuple(fc.constantFrom('insert', 'delete', 'replace'), fc.nat(), fc.constantFrom(...'aeiorstxzAP')), { maxLength: 4 }))
    .map(([start, edits]) => {
      let key = start;
      for (const [kind, at, char] of edits) {
        const i = at % (key.length + 1);
        if (kind === 'insert') key = key.slice(0, i) + char + key.slice(i);
        else if (kind === 'delete') key = key.slice(0, i) + key.slice(i + 1);
        else key = key.slice(0, i) + char + key.slice(i + 1);
      }
      return key;
    })
    .filter((key) => /^[a-zA-Z]+$/.test(key) && !TOP_LEVEL.includes(key) && !['true', 'false', 'null'].includes(key.toLowerCase()));

  it('property: the guess is the first allowed key at the least edit distance, when that is at most 2', () => {
    fc.assert(
      fc.property(nearKeys, (key) => {
        expect(message(key)).toBe(expected(key, expectedGuess(key)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('an unknown key is refused in every closed object, at the key', () => {
  /** `»` marks where the refusal must point; it is removed from the text. */
  const refusal = (source: string) => {
    const index = source.indexOf('»');
    const before = source.slice(0, index).split('\n');
    const err = errorOf(() => parseTrustPolicy(source.replace('»', ''), 'p.yaml'));
    expect(err.code).toBe('POLICY_INVALID');
    return { message: err.message, at: `${before.length}:${before.at(-1)!.length + 1}` };
  };
  const doc = (did: string, policy: string, registry: string) =>
    `version: "1.0"\ntrustedDIDs:\n  ${A}:\n${did}policies:\n  - name: p\n    scope: "ghcr.io/**"\n    trustedDIDs: [${A}]\n${policy}registries:\n  - host: mirror.corp\n${registry}`;

  it.each<[string, string, string, string]>([
    ['a trusted DID', doc('    »expires: null\n', '', ''), `/trustedDIDs/${A}/expires`, 'unknown key "expires" (did you mean "expiresAt"?); allowed keys: name, validFrom, expiresAt, keys, offline'],
    ['a policy', doc('    name: A\n', '    »actions: audit\n', ''), '/policies/0/actions', 'unknown key "actions" (did you mean "action"?); allowed keys: name, scope, require, trustedDIDs, action'],
    ['a policy\'s require', doc('    name: A\n', '    require: {»signer: 1}\n', ''), '/policies/0/require/signer', 'unknown key "signer" (did you mean "signers"?); allowed keys: signature, signers'],
    ['a registries entry', doc('    name: A\n', '', '    »mirror: registry.corp\n'), '/registries/0/mirror', 'unknown key "mirror" (did you mean "mirrorOf"?); allowed keys: host, mirrorOf, stripPrefix, addPrefix, referrersFrom, atcr, allowPrivateNetwork, allowHttp'],
  ])('%s', (_name, source, pointer, message) => {
    const { message: got, at } = refusal(source);
    expect(got).toBe(`trust policy p.yaml:${at}: ${pointer}: ${message}`);
  });
});
