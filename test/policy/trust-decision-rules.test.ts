/**
 * The whole decision evaluateTrust returns (src/policy/evaluate.ts), field by field, for what the
 * unit tests had left loose: each defaultAction, pinned keys compared canonically, the action when
 * enforce and audit policies both match, and messages that name the signer, the policy and the image.
 */
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { formatMultikey } from '../../src/atproto/keys.js';
import { evaluateTrust, matchingPolicies, pinnedKeys } from '../../src/policy/evaluate.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const SIGNED = new Date('2025-06-01T00:00:00Z');
const NOW = new Date('2025-06-02T00:00:00Z');
const k256 = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
const KEY = formatMultikey({ curve: 'k256', compressed: k256 });
const UNCOMPRESSED = formatMultikey({ curve: 'k256', compressed: secp256k1.Point.fromBytes(k256).toBytes(false) });
const OTHER = formatMultikey({ curve: 'p256', compressed: p256.getPublicKey(p256.utils.randomSecretKey(), true) });

const policyOf = (body: string, defaultAction = 'deny') =>
  parseTrustPolicy(`version: "1.0"\ndefaultAction: ${defaultAction}\ntrustedDIDs:\n  ${ALICE}: {name: Alice, keys: [${KEY}]}\n  ${BOB}: {}\npolicies:\n${body}`, 'policy.yaml');
/** `signingKey` null: the verifier reported no key. */
const judge = (policy: ReturnType<typeof policyOf>, image: string, did = ALICE, signingKey: string | null = KEY) =>
  evaluateTrust(policy, { image, did, signedAt: SIGNED, now: NOW, ...(signingKey !== null ? { signingKey } : {}) });

describe('no policy covers the image: defaultAction decides', () => {
  const none = (action: string) => judge(policyOf('  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [' + ALICE + ']}\n', action), 'quay.io/a/b');
  const noPolicy = (action: string) =>
    `no policy in trust policy policy.yaml has a scope covering quay.io/a/b (signed by ${ALICE}); defaultAction is ${action}; name mapping: `;

  it('allow admits, reports nothing, and is no audit', () => {
    const d = none('allow');
    expect({ ...d, mapping: undefined }).toEqual({ allowed: true, image: 'quay.io/a/b', results: [], action: 'default-allow', policies: [], failures: [], audit: false, mapping: undefined });
  });

  it('audit admits, reports NO_POLICY, and is an audit', () => {
    const d = none('audit');
    expect([d.allowed, d.action, d.audit, d.results, d.policies]).toEqual([true, 'audit', true, [], []]);
    expect(d.failures.map((f) => f.code)).toEqual(['NO_POLICY']);
    expect(d.failures[0]!.message.startsWith(noPolicy('audit'))).toBe(true);
  });

  it('deny refuses with NO_POLICY, and is no audit', () => {
    const d = none('deny');
    expect([d.allowed, d.action, d.audit, d.results, d.policies]).toEqual([false, 'default-deny', false, [], []]);
    expect(d.failures.map((f) => f.code)).toEqual(['NO_POLICY']);
    expect(d.failures[0]!.message.startsWith(noPolicy('deny'))).toBe(true);
  });

  it('without an image reference the message says so', () => {
    const d = evaluateTrust(policyOf('  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [' + ALICE + ']}\n'), { image: '', did: ALICE, signedAt: SIGNED, now: NOW });
    expect(d.failures[0]!.message).toBe(`no policy in trust policy policy.yaml has a scope covering (no image reference) (signed by ${ALICE}); defaultAction is deny`);
    expect(d.mapping).toBeUndefined();
  });
});

describe('pinned keys: the key that verified the commit must be one, compared canonically', () => {
  const gate = policyOf(`  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${ALICE}, ${BOB}]}\n`);
  it('the pinned key, in any Multikey spelling, passes', () => {
    expect(judge(gate, 'ghcr.io/a/b', ALICE, KEY).failures).toEqual([]);
    expect(judge(gate, 'ghcr.io/a/b', ALICE, UNCOMPRESSED).failures).toEqual([]);
  });

  it('another key is KEY_NOT_PINNED, naming the key and the pinned ones', () => {
    const d = judge(gate, 'ghcr.io/a/b', ALICE, OTHER);
    expect(d.allowed).toBe(false);
    expect(d.failures.map((f) => f.message)).toEqual([
      `${ALICE} ("Alice") signed with ${OTHER}, which is not among its 1 pinned key(s) ${KEY} (policy "gate" for ghcr.io/a/b)`,
    ]);
  });

  it('no reported key is KEY_NOT_PINNED when keys are pinned', () => {
    expect(judge(gate, 'ghcr.io/a/b', ALICE, null).failures.map((f) => f.message)).toEqual([
      `${ALICE} ("Alice") signed with an unknown key, which is not among its 1 pinned key(s) ${KEY} (policy "gate" for ghcr.io/a/b)`,
    ]);
  });

  it('a DID without pinned keys passes with any key, or none', () => {
    expect(judge(gate, 'ghcr.io/a/b', BOB, OTHER).failures).toEqual([]);
    expect(judge(gate, 'ghcr.io/a/b', BOB, null).failures).toEqual([]);
    expect(judge(gate, 'ghcr.io/a/b', BOB, 'not a key').failures).toEqual([]);
  });

  it('pinnedKeys: the keys of a DID that pins some, undefined otherwise', () => {
    expect(pinnedKeys(gate, ALICE)).toEqual([KEY]);
    expect(pinnedKeys(gate, BOB)).toBeUndefined();
    expect(pinnedKeys(gate, 'did:plc:nobody')).toBeUndefined();
  });
});

describe('several matching policies', () => {
  const both = policyOf(`  - {name: watch, scope: "ghcr.io/**", trustedDIDs: [${BOB}], action: audit}\n  - {name: gate, scope: "ghcr.io/a/**", trustedDIDs: [${ALICE}]}\n`);

  it('one enforce policy among audit ones makes the action enforce', () => {
    const d = judge(both, 'ghcr.io/a/b');
    expect(d.action).toBe('enforce');
    expect(d.allowed).toBe(true);
    expect(d.audit).toBe(true);
    expect(d.trustedAs).toBe('Alice');
    expect(d.failures.map((f) => f.message)).toEqual([`${ALICE} is not among the DIDs policy "watch" (audit) for ghcr.io/a/b trusts (${BOB})`]);
  });

  it('a signer no policy trusted has no trustedAs key at all', () => {
    const d = judge(both, 'ghcr.io/a/b', 'did:plc:eveeeeeeeeeeeeeeeeeeeeee');
    expect('trustedAs' in d).toBe(false);
    expect(d.failures.map((f) => f.message)).toEqual([
      `did:plc:eveeeeeeeeeeeeeeeeeeeeee is not among the DIDs policy "gate" for ghcr.io/a/b trusts (${ALICE})`,
      `did:plc:eveeeeeeeeeeeeeeeeeeeeee is not among the DIDs policy "watch" (audit) for ghcr.io/a/b trusts (${BOB})`,
    ]);
  });

  it('a named DID that fails every matching policy gets no trustedAs', () => {
    const expired = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {name: Alice, expiresAt: "2025-01-01T00:00:00Z"}\npolicies:\n  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${ALICE}]}\n`,
    );
    const d = evaluateTrust(expired, { image: 'ghcr.io/a/b', did: ALICE, signedAt: SIGNED, now: NOW });
    expect(d.allowed).toBe(false);
    expect('trustedAs' in d).toBe(false);
  });

  it('the lists in messages are comma separated', () => {
    const two = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {keys: [${KEY}, ${OTHER}]}\n  ${BOB}: {}\npolicies:\n  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${ALICE}, ${BOB}]}\n`,
    );
    const stranger = 'did:plc:eveeeeeeeeeeeeeeeeeeeeee';
    expect(evaluateTrust(two, { image: 'ghcr.io/a/b', did: stranger, signedAt: SIGNED, now: NOW }).failures[0]!.message).toBe(
      `${stranger} is not among the DIDs policy "gate" for ghcr.io/a/b trusts (${ALICE}, ${BOB})`,
    );
    const third = formatMultikey({ curve: 'k256', compressed: secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true) });
    expect(evaluateTrust(two, { image: 'ghcr.io/a/b', did: ALICE, signedAt: SIGNED, now: NOW, signingKey: third }).failures[0]!.message).toBe(
      `${ALICE} signed with ${third}, which is not among its 2 pinned key(s) ${KEY}, ${OTHER} (policy "gate" for ghcr.io/a/b)`,
    );
  });

  it('matchingPolicies through a mirror names the origin and the mapping', () => {
    const mirrored = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\npolicies:\n  - {name: origin, scope: "atcr.io/**", trustedDIDs: [${ALICE}]}\nregistries:\n  - {host: mirror.corp, mirrorOf: atcr.io}\n`,
    );
    const m = matchingPolicies(mirrored, 'mirror.corp/a/b');
    expect(m.origin).toBe('atcr.io/a/b');
    expect(m.mapping?.applied).toBe(true);
    expect(m.rules.map((r) => r.name)).toEqual(['origin']);
  });

  it('a trusted DID without a name: trustedAs is absent and messages show the DID alone', () => {
    const bobOnly = policyOf(`  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${BOB}]}\n`);
    const d = judge(bobOnly, 'ghcr.io/a/b', BOB);
    expect(d.allowed).toBe(true);
    expect('trustedAs' in d).toBe(false);
  });

  it('matchingPolicies reports the origin and mapping only when there is one', () => {
    const m = matchingPolicies(both, 'ghcr.io/a/b:1');
    expect(m.image).toBe('ghcr.io/a/b');
    expect('origin' in m).toBe(false);
    expect(m.mapping?.applied).toBe(false);
    expect(m.rules.map((r) => r.name)).toEqual(['watch', 'gate']);
    expect('mapping' in matchingPolicies(both, '')).toBe(false);
  });
});

describe('window failures name the signer and the instants', () => {
  const windowed = parseTrustPolicy(
    `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {name: Alice, validFrom: "2025-07-01T00:00:00Z", expiresAt: "2025-08-01T00:00:00Z"}\npolicies:\n  - {name: gate, scope: "ghcr.io/**", trustedDIDs: [${ALICE}]}\n`,
  );
  const at = (signedAt: string, now: string) => evaluateTrust(windowed, { image: 'ghcr.io/a/b', did: ALICE, signedAt: new Date(signedAt), now: new Date(now) }).failures.map((f) => f.message);
  it.each([
    ['2025-06-01T00:00:00Z', '2025-07-02T00:00:00Z', `${ALICE} ("Alice") signed at 2025-06-01T00:00:00.000Z, before its validFrom 2025-07-01T00:00:00.000Z (policy "gate" for ghcr.io/a/b)`],
    ['2025-08-01T00:00:00Z', '2025-08-02T00:00:00Z', `${ALICE} ("Alice") signed at 2025-08-01T00:00:00.000Z, at or after its expiresAt 2025-08-01T00:00:00.000Z (policy "gate" for ghcr.io/a/b)`],
    ['2025-07-15T00:00:00Z', '2025-08-01T00:00:00Z', `trust in ${ALICE} ("Alice") ended at 2025-08-01T00:00:00.000Z (now 2025-08-01T00:00:00.000Z; signed at 2025-07-15T00:00:00.000Z) (policy "gate" for ghcr.io/a/b)`],
  ])('signed %s, judged %s', (signedAt, now, message) => {
    expect(at(signedAt, now)).toEqual([message]);
  });

  it('an invalid clock names the signer', () => {
    expect(() => evaluateTrust(windowed, { image: 'ghcr.io/a/b', did: ALICE, signedAt: new Date('x') })).toThrow(`trust evaluation of ${ALICE} needs a valid signing time and clock`);
  });
});
