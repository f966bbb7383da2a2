import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher, type WrittenRecord } from '../../src/devnet/atproto-network.js';
import { parseTrustPolicy, type TrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier, type VerificationOutcome } from '../../src/verify/verifier.js';

// Issue 14, item 3: every field of the signature payload is written by whoever pushes the
// referrer. Each one is either VERIFIED against signed data (a lie is refused with a named code)
// or IGNORED (a lie changes nothing: same decision, same evidence, same steps in the same words).
// No field may choose a code path; in particular an embedded proof never makes verification
// offline unless the operator said so. Against a real PDS and PLC.

const REGISTRY = 'registry.example';
const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

let net: AtprotoNetwork;
let alice: Publisher;
let bob: Publisher;
let digest: string;
let rec: WrittenRecord;
let other: WrittenRecord;
let bobRec: WrittenRecord;
let otherCar: Uint8Array;
let baseline: VerificationOutcome;
let policy: TrustPolicy;
let aliceKey: string;

async function fetchProof(did: string, rkey: string): Promise<Uint8Array> {
  const res = await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getRecord?did=${did}&collection=io.atcr.manifest&rkey=${rkey}`);
  return new Uint8Array(await res.arrayBuffer());
}

function verifier(overrides: { offline?: boolean } = {}): Verifier {
  return new Verifier(
    { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false, ...overrides },
    { policy, handleResolver: net.handleResolver },
  );
}

/** The full payload `sign` writes, every optional field set truthfully. */
function fullPayload(): Record<string, any> {
  return JSON.parse(
    JSON.stringify(
      buildSignaturePayload({
        subjectDigest: digest,
        did: alice.did,
        handle: alice.handle,
        pdsEndpoint: net.pdsUrl,
        recordUri: rec.uri,
        recordCid: rec.cid,
        commitCid: rec.commitCid,
        commitRev: rec.rev,
        signedAt: new Date().toISOString(),
        publicKeyMultibase: aliceKey,
      }),
    ),
  );
}

/** What a lie must not change when the field is ignored: the decision and all its evidence. */
function evidence(o: VerificationOutcome): unknown {
  return {
    isSuccess: o.isSuccess,
    error: o.error?.code,
    did: o.did,
    handle: o.handle,
    signedAt: o.signedAt,
    commitCid: o.commitCid,
    commitRev: o.commitRev,
    recordUri: o.recordUri,
    recordCid: o.recordCid,
    pdsEndpoint: o.pdsEndpoint,
    signingKey: o.signingKey,
    offline: o.offline,
    steps: o.steps,
  };
}

beforeAll(async () => {
  net = await startAtprotoNetwork();
  [alice, bob] = await Promise.all([net.createPublisher('alice'), net.createPublisher('bob')]);
  digest = digestOf('audited image');
  other = await alice.putManifestRecord({ repository: `${REGISTRY}/alice/app`, digest: digestOf('another image') });
  bobRec = await bob.putManifestRecord({ repository: `${REGISTRY}/alice/app`, digest });
  rec = await alice.putManifestRecord({ repository: `${REGISTRY}/alice/app`, digest });
  otherCar = await fetchProof(alice.did, other.rkey);
  const probe = await new Verifier(
    { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false },
    { handleResolver: net.handleResolver },
  ).verify({ subjectDigest: digest, payload: buildSignaturePayload({ subjectDigest: digest, did: alice.did, recordUri: rec.uri }) });
  aliceKey = probe.signingKey!;
  // Keys pinned and offline allowed for alice: only the operator's offline SETTING is missing,
  // so an embedded proof would be the artifact's choice alone.
  policy = parseTrustPolicy(`
version: "1.0"
trustedDIDs:
  ${alice.did}: {name: "Alice", keys: ["${aliceKey}"], offline: allowed}
  ${bob.did}: {name: "Bob"}
policies:
  - {name: all, scope: "**", trustedDIDs: [${alice.did}, ${bob.did}], action: enforce}
`);
  baseline = await verifier().verify({ subjectDigest: digest, reference: `${REGISTRY}/alice/app@${digest}`, payload: fullPayload() });
  expect(baseline.error).toBeUndefined();
  expect(baseline.isSuccess).toBe(true);
}, 60_000);
afterAll(async () => {
  await net?.close();
});

type Row = [field: string, lie: (p: Record<string, any>) => void, rule: 'ignored' | { refused: string }];

const rows = (): Row[] => [
  ['proof (a real CAR of another record)', (p) => (p.proof = { car: Buffer.from(otherCar).toString('base64') }), 'ignored'],
  ['proof (bytes that are no CAR)', (p) => (p.proof = { car: Buffer.from('not a car at all').toString('base64') }), 'ignored'],
  ['atproto.pdsEndpoint', (p) => (p.atproto.pdsEndpoint = 'https://evil.example'), 'ignored'],
  ['atproto.pdsEndpoint (absent)', (p) => delete p.atproto.pdsEndpoint, 'ignored'],
  ['atproto.handle', (p) => (p.atproto.handle = 'admin.example'), 'ignored'],
  ['signature.algorithm', (p) => (p.signature.algorithm = 'ECDSA-P256-SHA256'), 'ignored'],
  ['signature.keyId', (p) => (p.signature.keyId = `${bob.did}#atproto`), 'ignored'],
  ['signature.publicKeyMultibase', (p) => (p.signature.publicKeyMultibase = 'zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N'), 'ignored'],
  ['signature (absent)', (p) => delete p.signature, 'ignored'],
  ['atproto.commitCid', (p) => (p.atproto.commitCid = other.commitCid), 'ignored'],
  ['atproto.commitRev', (p) => (p.atproto.commitRev = '2222222222222'), 'ignored'],
  ['atproto.signedAt', (p) => (p.atproto.signedAt = '2000-01-01T00:00:00Z'), 'ignored'],
  ['subject.mediaType', (p) => (p.subject.mediaType = 'application/vnd.docker.distribution.manifest.v2+json'), 'ignored'],
  ['version', (p) => (p.version = '9.9'), 'ignored'],
  ['unknown top-level field', (p) => (p.offline = true), 'ignored'],
  ['unknown atproto field', (p) => (p.atproto.offline = 'allowed'), 'ignored'],
  ['unknown signature field', (p) => (p.signature.pinned = true), 'ignored'],
  ['atproto.recordCid', (p) => (p.atproto.recordCid = other.cid), { refused: 'RECORD_CID_MISMATCH' }],
  ['atproto.recordUri (another record of the signer)', (p) => (p.atproto.recordUri = other.uri), { refused: 'RECORD_CID_MISMATCH' }],
  ['atproto.recordUri (and no recordCid)', (p) => ((p.atproto.recordUri = other.uri), delete p.atproto.recordCid), { refused: 'DIGEST_MISMATCH' }],
  ['atproto.did (not the record owner)', (p) => (p.atproto.did = bob.did), { refused: 'ARTIFACT_INVALID' }],
  ['atproto.did + recordUri (another signer)', (p) => ((p.atproto.did = bob.did), (p.atproto.recordUri = bobRec.uri)), { refused: 'RECORD_CID_MISMATCH' }],
  ['subject.digest', (p) => (p.subject.digest = digestOf('some other image')), { refused: 'SUBJECT_MISMATCH' }],
  ['$type', (p) => (p.$type = 'io.example.other'), { refused: 'ARTIFACT_INVALID' }],
];

describe('every payload field is verified against signed data or ignored, never choosing a code path', () => {
  it.each(rows().map((r) => [r[0], r] as const))('%s', async (_name, [, lie, rule]) => {
    const payload = fullPayload();
    lie(payload);
    const out = await verifier().verify({ subjectDigest: digest, reference: `${REGISTRY}/alice/app@${digest}`, payload });
    if (rule === 'ignored') {
      expect(evidence(out)).toEqual(evidence(baseline));
    } else {
      expect(out.isSuccess).toBe(false);
      expect(out.error?.code).toBe(rule.refused);
    }
  });

  it('an embedded proof of a DELETED record is ignored online: the live answer (deleted) decides', async () => {
    const d = digestOf('revoked image');
    const revoked = await alice.putManifestRecord({ repository: `${REGISTRY}/alice/app`, digest: d });
    const car = await fetchProof(alice.did, revoked.rkey);
    await alice.deleteRecord(revoked.rkey);
    const payload = buildSignaturePayload({ subjectDigest: d, did: alice.did, recordUri: revoked.uri, proofCar: car });
    const online = await verifier().verify({ subjectDigest: d, payload });
    expect(online.isSuccess).toBe(false);
    expect(['RECORD_NOT_FOUND', 'RECORD_NOT_IN_COMMIT']).toContain(online.error?.code);
    expect(online.offline).toBeUndefined();
    // Only the operator's setting (with the DID's offline: allowed and its pinned key) admits it.
    const offline = await verifier({ offline: true }).verify({ subjectDigest: d, payload });
    expect(offline.isSuccess).toBe(true);
    expect(offline.offline).toBe(true);
    expect(offline.message).toContain('offline: revocation not checked');
  });
});
