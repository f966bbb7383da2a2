/**
 * Record proofs exactly as a real PDS serves them (com.atproto.sync.getRecord), with the key from
 * the DID document the real PLC directory serves. Loopback only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFromVerificationMethod, type AtprotoPublicKey } from '../../src/atproto/keys.js';
import { verifyRecordProof } from '../../src/atproto/record-proof.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { codeOf } from '../harness/error-code.js';

const COLLECTION = 'io.atcr.manifest';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

let net: AtprotoNetwork;
let alice: Publisher;

beforeAll(async () => {
  net = await startAtprotoNetwork();
  alice = await net.createPublisher('alice');
});

afterAll(async () => {
  await net?.close();
});

async function didDocumentKey(did: string): Promise<AtprotoPublicKey> {
  const res = await fetch(`${net.plcUrl}/${encodeURIComponent(did)}`);
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { verificationMethod: { id: string; type: string; publicKeyMultibase?: string }[] };
  const methods = doc.verificationMethod.filter((vm) => vm.id === '#atproto' || vm.id === `${did}#atproto`);
  expect(methods).toHaveLength(1);
  return keyFromVerificationMethod(methods[0]!);
}

async function getRecord(did: string, rkey: string): Promise<{ status: number; body: Uint8Array }> {
  const query = new URLSearchParams({ did, collection: COLLECTION, rkey });
  const res = await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getRecord?${query}`);
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}


describe('verifyRecordProof against a real PDS and PLC', () => {
  it('verifies a freshly written manifest record with the DID document key', async () => {
    const written = await alice.putManifestRecord({ repository: 'myapp', digest: DIGEST });
    const key = await didDocumentKey(alice.did);
    const { status, body } = await getRecord(alice.did, written.rkey);
    expect(status).toBe(200);
    const proof = verifyRecordProof(body, { did: alice.did, collection: COLLECTION, rkey: written.rkey, key });
    expect(proof.recordCid.toString()).toBe(written.cid);
    expect(proof.commit.rev).toBe(written.rev);
    expect(proof.commitCid.toString()).toBe(written.commitCid);
    expect(proof.record).toMatchObject({ $type: COLLECTION, repository: 'myapp', digest: DIGEST });
    expect(Math.abs(proof.signedAt.getTime() - Date.now())).toBeLessThan(120_000);
  });

  it('a deleted record is proven absent by the newer signed commit (RECORD_NOT_IN_COMMIT), or not served', async () => {
    const written = await alice.putManifestRecord({ repository: 'doomed', digest: DIGEST });
    await alice.deleteRecord(written.rkey);
    const key = await didDocumentKey(alice.did);
    const { status, body } = await getRecord(alice.did, written.rkey);
    if (status === 200) {
      expect(codeOf(() => verifyRecordProof(body, { did: alice.did, collection: COLLECTION, rkey: written.rkey, key }))).toBe(
        'RECORD_NOT_IN_COMMIT',
      );
    } else {
      expect(status).toBeGreaterThanOrEqual(400);
    }
  });

  it('after the DID document key is rotated away from the PDS key, its proofs are SIGNATURE_INVALID', async () => {
    const bob = await net.createPublisher('bob');
    const written = await bob.putManifestRecord({ repository: 'myapp', digest: DIGEST });
    const before = await didDocumentKey(bob.did);
    const { body } = await getRecord(bob.did, written.rkey);
    const expected = { did: bob.did, collection: COLLECTION, rkey: written.rkey };
    expect(() => verifyRecordProof(body, { ...expected, key: before })).not.toThrow();
    await net.rotateSigningKeyAway(bob.did);
    const after = await didDocumentKey(bob.did);
    expect(codeOf(() => verifyRecordProof(body, { ...expected, key: after }))).toBe('SIGNATURE_INVALID');
  });

  it("one account's proof does not pass as another's (COMMIT_DID_MISMATCH)", async () => {
    const written = await alice.putManifestRecord({ repository: 'myapp', digest: DIGEST });
    const carol = await net.createPublisher('carol');
    const { body } = await getRecord(alice.did, written.rkey);
    const key = await didDocumentKey(carol.did);
    expect(codeOf(() => verifyRecordProof(body, { did: carol.did, collection: COLLECTION, rkey: written.rkey, key }))).toBe(
      'COMMIT_DID_MISMATCH',
    );
  });
});
