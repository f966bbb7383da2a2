/**
 * Engine order and the offline rule (issues 12 and 14, src/verify/verifier.ts), without any server:
 * - the claim is judged right after the artifact is read, before identity (a refused claim ends
 *   the run with steps artifact, claim and nothing else);
 * - verification is offline only with all four: the `offline` setting, `offline: allowed` on the
 *   DID, keys pinned for it, and a proof embedded in the payload. Missing any one, the DID is
 *   resolved online: here the PLC directory is a loopback address private networks are not allowed
 *   to reach, so the online path fails at the identity step without opening a socket.
 */
import { createHash } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { formatMultikey } from '../../src/atproto/keys.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { OFFLINE_NOTE, Verifier } from '../../src/verify/verifier.js';

const DIGEST = `sha256:${createHash('sha256').update('verifier rules').digest('hex')}`;
const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const EVE = 'did:plc:eveeeeeeeeeeeeeeeeeeeeee';
const KEY = formatMultikey({ curve: 'k256', compressed: secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true) });
const REFERENCE = `ghcr.io/a/b@${DIGEST}`;
/** Not a CAR: the offline path accepts the identity step and then fails at the proof step. */
const JUNK_PROOF = new Uint8Array([1, 2, 3, 4]);

const payloadBy = (did: string, proof?: Uint8Array) =>
  buildSignaturePayload({ subjectDigest: DIGEST, did, recordUri: `at://${did}/io.atcr.manifest/3kabcdefghijk`, ...(proof ? { proofCar: proof } : {}) });

function verifierWith(opts: { offlineSetting: boolean; aliceEntry: string; action?: string; policy?: boolean }) {
  const policy = parseTrustPolicy(
    `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: ${opts.aliceEntry}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${ALICE}], action: ${opts.action ?? 'enforce'}}\n`,
    'policy.yaml',
  );
  return new Verifier(
    { ...DEFAULT_SETTINGS, offline: opts.offlineSetting, plcDirectory: 'http://127.0.0.1:9', allowPrivateNetwork: false, cacheEnabled: false, didResolverTimeoutMs: 2000, pdsTimeoutMs: 2000 },
    opts.policy === false ? {} : { policy },
  );
}
const stepsOf = (out: { steps: { step: string; ok: boolean }[] }) => out.steps.map((s) => `${s.step}:${s.ok ? 'ok' : 'failed'}`);

describe('offline only with all four conditions', () => {
  // [rule, offline setting, DID entry, embedded proof, offline?]
  const table: [string, boolean, string, boolean, boolean][] = [
    ['setting on, offline: allowed, keys pinned, proof embedded: offline', true, `{keys: ["${KEY}"], offline: allowed}`, true, true],
    ['setting off: online', false, `{keys: ["${KEY}"], offline: allowed}`, true, false],
    ['DID not marked offline: allowed: online', true, `{keys: ["${KEY}"]}`, true, false],
    ['no embedded proof: online', true, `{keys: ["${KEY}"], offline: allowed}`, false, false],
    ['nothing: online', false, '{}', false, false],
  ];
  it.each(table)('%s', async (_rule, offlineSetting, aliceEntry, embedded, offline) => {
    const out = await verifierWith({ offlineSetting, aliceEntry }).verify({ subjectDigest: DIGEST, reference: REFERENCE, payload: payloadBy(ALICE, embedded ? JUNK_PROOF : undefined) });
    expect(out.isSuccess).toBe(false);
    if (offline) {
      expect(stepsOf(out)).toEqual(['artifact:ok', 'claim:ok', 'identity:ok', 'proof:failed']);
      expect(out.steps[2]!.detail.startsWith(`${OFFLINE_NOTE}: embedded proof checked against the 1 key(s) pinned for ${ALICE}`)).toBe(true);
    } else {
      expect(stepsOf(out)).toEqual(['artifact:ok', 'claim:ok', 'identity:failed']);
      expect(out.offline).toBeUndefined();
    }
  });

  it('offline: allowed without pinned keys is refused when the policy is read', () => {
    expect(() => verifierWith({ offlineSetting: true, aliceEntry: '{offline: allowed}' })).toThrow();
  });
});

describe('the claim step: right after the artifact, before any identity request', () => {
  it('an untrusted claim under an enforce policy ends the run at the claim step, refusedOnClaim', async () => {
    const out = await verifierWith({ offlineSetting: false, aliceEntry: '{}' }).verify({ subjectDigest: DIGEST, reference: REFERENCE, payload: payloadBy(EVE) });
    expect(stepsOf(out)).toEqual(['artifact:ok', 'claim:failed']);
    expect([out.error?.code, out.refusedOnClaim, out.trust?.allowed, out.trust?.action]).toEqual(['UNTRUSTED_DID', true, false, 'enforce']);
    expect(out.message).toContain('claimed, not verified');
  });

  it('an image no scope covers, defaultAction deny: NO_POLICY at the claim step', async () => {
    const out = await verifierWith({ offlineSetting: false, aliceEntry: '{}' }).verify({ subjectDigest: DIGEST, reference: `quay.io/a/b@${DIGEST}`, payload: payloadBy(ALICE) });
    expect(stepsOf(out)).toEqual(['artifact:ok', 'claim:failed']);
    expect([out.error?.code, out.refusedOnClaim]).toEqual(['NO_POLICY', true]);
  });

  it.each([
    ['a trusted claim goes on to identity', { offlineSetting: false, aliceEntry: '{}' }, ALICE, 'may be trusted for this image'],
    ['an untrusted claim under an audit policy goes on (audit keeps its evidence)', { offlineSetting: false, aliceEntry: '{}', action: 'audit' }, EVE, 'may be trusted for this image'],
    ['without a trust policy the claim is not judged', { offlineSetting: false, aliceEntry: '{}', policy: false }, EVE, 'no trust policy, not judged'],
  ] as [string, Parameters<typeof verifierWith>[0], string, string][])('%s', async (_rule, opts, did, detail) => {
    const out = await verifierWith(opts).verify({ subjectDigest: DIGEST, reference: REFERENCE, payload: payloadBy(did) });
    expect(stepsOf(out)).toEqual(['artifact:ok', 'claim:ok', 'identity:failed']);
    expect(out.steps[1]!.detail).toContain(detail);
    expect(out.refusedOnClaim).toBeUndefined();
  });

  it('a payload for another subject fails at the artifact step, before the claim', async () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const out = await verifierWith({ offlineSetting: false, aliceEntry: '{}' }).verify({ subjectDigest: other, reference: REFERENCE, payload: payloadBy(EVE) });
    expect(stepsOf(out)).toEqual(['artifact:failed']);
    expect([out.error?.code, out.refusedOnClaim]).toEqual(['SUBJECT_MISMATCH', undefined]);
  });
});
