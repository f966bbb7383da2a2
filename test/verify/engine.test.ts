import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher, type WrittenRecord } from '../../src/devnet/atproto-network.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS, type VerifierSettings } from '../../src/verify/settings.js';
import { Verifier, type VerifierDependencies } from '../../src/verify/verifier.js';

// The engine against a real PDS + PLC on loopback (@atproto/dev-env): real accounts, real signed
// commits, real MST proofs from com.atproto.sync.getRecord.

const REGISTRY = 'registry.example';
const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

let net: AtprotoNetwork;
let alice: Publisher;
let bob: Publisher;
let settings: VerifierSettings;

beforeAll(async () => {
  net = await startAtprotoNetwork();
  [alice, bob] = await Promise.all([net.createPublisher('alice'), net.createPublisher('bob')]);
  settings = { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false };
});
afterAll(async () => {
  await net?.close();
});

function policyTrusting(did: string, extra = '', action = 'enforce'): ReturnType<typeof parseTrustPolicy> {
  return parseTrustPolicy(`
version: "1.0"
trustedDIDs:
  ${did}: {name: "Publisher", validFrom: "2024-01-01T00:00:00Z"${extra}}
policies:
  - name: all
    scope: "**"
    trustedDIDs: [${did}]
    action: ${action}
`);
}

function verifier(deps: VerifierDependencies = {}, overrides: Partial<VerifierSettings> = {}): Verifier {
  return new Verifier({ ...settings, ...overrides }, { handleResolver: net.handleResolver, ...deps });
}

async function signImage(publisher: Publisher, repository: string, digest: string): Promise<WrittenRecord> {
  return publisher.putManifestRecord({ repository: `${REGISTRY}/${repository}`, digest });
}

function payloadFor(publisher: Publisher, rec: WrittenRecord, digest: string, extra: Partial<Parameters<typeof buildSignaturePayload>[0]> = {}) {
  return buildSignaturePayload({ subjectDigest: digest, did: publisher.did, recordUri: rec.uri, recordCid: rec.cid, commitCid: rec.commitCid, ...extra });
}

describe('verification engine against a real PDS and PLC', () => {
  it('verifies a signed image end to end, with a handle verified both ways', async () => {
    const digest = digestOf('app v1');
    const rec = await signImage(alice, 'alice/app', digest);
    const out = await verifier({ policy: policyTrusting(alice.did) }).verify({
      subjectDigest: digest,
      reference: `${REGISTRY}/alice/app@${digest}`,
      payload: new TextEncoder().encode(JSON.stringify(payloadFor(alice, rec, digest))),
    });
    expect(out.error).toBeUndefined();
    expect(out.isSuccess).toBe(true);
    expect(out.did).toBe(alice.did);
    expect(out.handle).toBe(alice.handle);
    expect(out.recordCid).toBe(rec.cid);
    expect(out.pdsEndpoint).toBe(new URL(net.pdsUrl).origin);
    expect(out.steps.map((s) => s.step)).toEqual(['artifact', 'claim', 'identity', 'proof', 'handle', 'record', 'policy']);
    expect(Date.parse(out.signedAt!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('refuses a record signed for another digest', async () => {
    const signed = digestOf('signed');
    const other = digestOf('other');
    const rec = await signImage(alice, 'alice/app', signed);
    const out = await verifier({ policy: policyTrusting(alice.did) }).verify({
      subjectDigest: other,
      reference: `${REGISTRY}/alice/app@${other}`,
      payload: payloadFor(alice, rec, other),
    });
    expect(out.isSuccess).toBe(false);
    expect(out.error?.code).toBe('DIGEST_MISMATCH');
  });

  it("refuses another account's record claimed as yours", async () => {
    const digest = digestOf('bob claims');
    const rec = await signImage(alice, 'alice/app', digest);
    const rkey = rec.rkey;
    const claimed = buildSignaturePayload({ subjectDigest: digest, did: bob.did, recordUri: `at://${bob.did}/io.atcr.manifest/${rkey}` });
    const out = await verifier({ policy: policyTrusting(bob.did) }).verify({ subjectDigest: digest, payload: claimed });
    expect(out.isSuccess).toBe(false);
    expect(['RECORD_NOT_FOUND', 'RECORD_NOT_IN_COMMIT']).toContain(out.error?.code);

    const mixed = buildSignaturePayload({ subjectDigest: digest, did: bob.did, recordUri: rec.uri });
    const out2 = await verifier({ policy: policyTrusting(bob.did) }).verify({ subjectDigest: digest, payload: mixed });
    expect(out2.error?.code).toBe('ARTIFACT_INVALID');
  });

  it('refuses a deleted record (the PDS proves its absence)', async () => {
    const digest = digestOf('deleted');
    const rec = await signImage(alice, 'alice/app', digest);
    await alice.deleteRecord(rec.rkey);
    const out = await verifier({ policy: policyTrusting(alice.did) }).verify({ subjectDigest: digest, payload: payloadFor(alice, rec, digest) });
    expect(out.isSuccess).toBe(false);
    expect(['RECORD_NOT_IN_COMMIT', 'RECORD_NOT_FOUND']).toContain(out.error?.code);
  });

  it('refuses an untrusted signer, an expired one, and one not yet valid', async () => {
    const digest = digestOf('trust');
    const rec = await signImage(bob, 'bob/app', digest);
    const payload = payloadFor(bob, rec, digest);
    const untrusted = await verifier({ policy: policyTrusting(alice.did) }).verify({ subjectDigest: digest, payload });
    expect(untrusted.error?.code).toBe('UNTRUSTED_DID');
    const expired = await verifier({ policy: policyTrusting(bob.did, ', expiresAt: "2025-01-01T00:00:00Z"') }).verify({ subjectDigest: digest, payload });
    expect(expired.error?.code).toBe('DID_EXPIRED');
    const future = parseTrustPolicy(`
version: "1.0"
trustedDIDs:
  ${bob.did}: {name: "Bob", validFrom: "2099-01-01T00:00:00Z"}
policies:
  - {name: all, scope: "**", trustedDIDs: [${bob.did}], action: enforce}
`);
    const early = await verifier({ policy: future }).verify({ subjectDigest: digest, payload });
    expect(early.error?.code).toBe('DID_NOT_YET_VALID');
  });

  it('passes an untrusted signer in audit mode, and says so', async () => {
    const digest = digestOf('audit');
    const rec = await signImage(bob, 'bob/app', digest);
    const out = await verifier({ policy: policyTrusting(alice.did, '', 'audit') }).verify({ subjectDigest: digest, payload: payloadFor(bob, rec, digest) });
    expect(out.isSuccess).toBe(true);
    expect(out.audit).toBe(true);
    expect(out.message).toMatch(/^audit: would be refused \[UNTRUSTED_DID\]/);
    // Audit mode is not refused on the claim: the whole chain was verified and reported.
    expect(out.refusedOnClaim).toBeUndefined();
    expect(out.steps.map((s) => [s.step, s.ok])).toEqual(['artifact', 'claim', 'identity', 'proof', 'handle', 'record', 'policy'].map((s) => [s, true]));
    expect(out.commitCid).toBe(rec.commitCid);
    expect(out.handle).toBe(bob.handle);
  });

  it('refuses a subject other than the one the artifact covers', async () => {
    const digest = digestOf('subject');
    const rec = await signImage(alice, 'alice/app', digest);
    const out = await verifier({ policy: policyTrusting(alice.did) }).verify({ subjectDigest: digestOf('another image'), payload: payloadFor(alice, rec, digest) });
    expect(out.error?.code).toBe('SUBJECT_MISMATCH');
  });

  it('refuses a record of another repository, and checks ATCR-style paths against the signer', async () => {
    const digest = digestOf('repo');
    const rec = await signImage(alice, 'alice/app', digest);
    const policy = policyTrusting(alice.did);
    const wrongRepo = await verifier({ policy }).verify({ subjectDigest: digest, reference: `${REGISTRY}/alice/prod-app@${digest}`, payload: payloadFor(alice, rec, digest) });
    expect(wrongRepo.error?.code).toBe('REPOSITORY_MISMATCH');

    const atcr = await alice.putManifestRecord({ repository: 'myapp', digest });
    const asAtcr = { atcrRegistries: ['atcr.io'] };
    const byHandle = await verifier({ policy }, asAtcr).verify({ subjectDigest: digest, reference: `atcr.io/${alice.handle}/myapp@${digest}`, payload: payloadFor(alice, atcr, digest) });
    expect(byHandle.error).toBeUndefined();
    const byDid = await verifier({ policy }, asAtcr).verify({ subjectDigest: digest, reference: `atcr.io/${alice.did}/myapp@${digest}`, payload: payloadFor(alice, atcr, digest) });
    // A DID has colons, which no OCI reference may contain: such a path is refused, not guessed at.
    expect(byDid.error?.code).toBe('INPUT_INVALID');
    const impostor = await verifier({ policy }, asAtcr).verify({ subjectDigest: digest, reference: `atcr.io/${bob.handle}/myapp@${digest}`, payload: payloadFor(alice, atcr, digest) });
    expect(impostor.error?.code).toBe('REPOSITORY_MISMATCH');
  });

  it('ignores the payload hints: a lying recordCid fails, a lying pdsEndpoint and key are never used', async () => {
    const digest = digestOf('hints');
    const rec = await signImage(alice, 'alice/app', digest);
    const other = await signImage(alice, 'alice/app', digestOf('unrelated'));
    const lyingCid = await verifier({ policy: policyTrusting(alice.did) }).verify({ subjectDigest: digest, payload: payloadFor(alice, rec, digest, { recordCid: other.cid }) });
    expect(lyingCid.error?.code).toBe('RECORD_CID_MISMATCH');
    const lyingHints = await verifier({ policy: policyTrusting(alice.did) }).verify({
      subjectDigest: digest,
      payload: payloadFor(alice, rec, digest, { pdsEndpoint: 'https://evil.example', publicKeyMultibase: 'zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N', handle: 'admin.example' }),
    });
    expect(lyingHints.isSuccess).toBe(true);
    expect(lyingHints.pdsEndpoint).toBe(new URL(net.pdsUrl).origin);
    expect(lyingHints.handle).toBe(alice.handle);
  });

  it('verifies offline only when the operator allows it for the DID, and says revocation was not checked', async () => {
    const digest = digestOf('offline');
    const rec = await signImage(alice, 'alice/app', digest);
    const car = await fetchProof(alice.did, rec.rkey);
    const online = verifier({ policy: policyTrusting(alice.did) });
    const live = await online.verify({ subjectDigest: digest, payload: payloadFor(alice, rec, digest) });
    expect(live.isSuccess).toBe(true);
    const key = live.signingKey!;

    // Nothing listens on the PLC directory or PDS used here: any network use would fail the test.
    const unreachable = { plcDirectory: 'http://127.0.0.1:9', allowPrivateNetwork: true, offline: true };
    const payload = payloadFor(alice, rec, digest, { proofCar: car });
    const pinnedOffline = policyTrusting(alice.did, `, keys: ["${key}"], offline: allowed`);
    const offline = await verifier({ policy: pinnedOffline }, unreachable).verify({ subjectDigest: digest, payload });
    expect(offline.error).toBeUndefined();
    expect(offline.offline).toBe(true);
    expect(offline.message).toMatch(/^offline: revocation not checked; verified/);
    const wrongKey = 'zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N';
    const refused = await verifier({ policy: policyTrusting(alice.did, `, keys: ["${wrongKey}"], offline: allowed`) }, unreachable).verify({ subjectDigest: digest, payload });
    expect(refused.error?.code).toBe('SIGNATURE_INVALID');

    // Either half of the operator's consent missing: online (the unreachable PLC is consulted and fails).
    const settingOff = await verifier({ policy: pinnedOffline }, { ...unreachable, offline: false }).verify({ subjectDigest: digest, payload });
    expect(settingOff.offline).toBeUndefined();
    expect(settingOff.error?.code).toBe('DID_RESOLUTION_FAILED');
    const notAllowed = await verifier({ policy: policyTrusting(alice.did, `, keys: ["${key}"]`) }, unreachable).verify({ subjectDigest: digest, payload });
    expect(notAllowed.offline).toBeUndefined();
    expect(notAllowed.error?.code).toBe('DID_RESOLUTION_FAILED');

    // Embedded proof, online: the proof is fetched live from the PDS and the embedded one ignored.
    const live2 = await verifier({ policy: policyTrusting(alice.did, `, keys: ["${key}"]`) }).verify({ subjectDigest: digest, payload });
    expect(live2.isSuccess).toBe(true);
    expect(live2.offline).toBeUndefined();
  });

  it('refuses private and plain-http endpoints unless allowPrivateNetwork is set', async () => {
    const digest = digestOf('ssrf');
    const rec = await signImage(alice, 'alice/app', digest);
    const out = await verifier({ policy: policyTrusting(alice.did) }, { allowPrivateNetwork: false }).verify({ subjectDigest: digest, payload: payloadFor(alice, rec, digest) });
    expect(out.error?.code).toBe('NETWORK_DENIED');
  });

  it('refuses a commit signed by a key the DID document no longer lists (rotation)', async () => {
    const carol = await net.createPublisher('carol');
    const digest = digestOf('rotated');
    const rec = await signImage(carol, 'carol/app', digest);
    await net.rotateSigningKeyAway(carol.did);
    const out = await verifier({ policy: policyTrusting(carol.did) }).verify({ subjectDigest: digest, payload: payloadFor(carol, rec, digest) });
    expect(out.error?.code).toBe('SIGNATURE_INVALID');
  });
});

async function fetchProof(did: string, rkey: string): Promise<Uint8Array> {
  const res = await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getRecord?did=${did}&collection=io.atcr.manifest&rkey=${rkey}`);
  return new Uint8Array(await res.arrayBuffer());
}
