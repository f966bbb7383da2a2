/**
 * Review (review2) of the verified-commit cache (src/atproto/record-proof.ts): attacks that must
 * fail with a cached commit as they fail without one. These held; kept as regression tests.
 */
import { Secp256k1Keypair } from '@atproto/crypto';
import { WriteOpAction } from '@atproto/repo';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDidKey } from '../../src/atproto/keys.js';
import { verifyRecordProof, type ExpectedRecord } from '../../src/atproto/record-proof.js';
import { cborBlock, decodeBlock, joinCar, splitCar } from './car-surgery.js';
import { buildRepo, COLLECTION, recordProof, signedCommit, type BuiltRepo } from './repo-fixtures.js';
import { codeOf } from '../harness/error-code.js';

let built: BuiltRepo;
const expectedFor = (rkey: string): ExpectedRecord => ({ did: built.did, collection: COLLECTION, rkey, key: built.key });

beforeAll(async () => {
  built = await buildRepo({ records: 4 });
});

describe('a cached commit proves nothing it did not prove', () => {
  it('a CAR naming the cached root CID with other commit bytes is refused (every block is hashed before the cache is asked)', async () => {
    const car = await recordProof(built, built.rkeys[0]!);
    expect(codeOf(() => verifyRecordProof(car, expectedFor(built.rkeys[0]!)))).toBe('no error');
    const parts = splitCar(car);
    const root = parts.roots[0]!;
    // Another commit (another rev, signed by the same key), its bytes put under the cached CID.
    const commit = decodeBlock(parts, root);
    const { sig: _sig, ...unsigned } = commit;
    const forged = cborBlock(await signedCommit({ ...unsigned, rev: '3zzzzzzzzzzzz' }, built.keypair));
    const swapped = joinCar({ roots: [root], blocks: parts.blocks.map((b) => (b.cid.equals(root) ? { cid: root, bytes: forged.bytes } : b)) });
    expect(codeOf(() => verifyRecordProof(swapped, expectedFor(built.rkeys[0]!)))).toBe('CID_MISMATCH');
  });

  it('a record deleted since: the new head commit (exclusion proof) is refused though the old head is cached', async () => {
    const own = await buildRepo({ records: 3, did: 'did:plc:deletiondeletiondeletion' });
    const exp = (rkey: string): ExpectedRecord => ({ did: own.did, collection: COLLECTION, rkey, key: own.key });
    const rkey = own.rkeys[1]!;
    const before = await recordProof(own, rkey);
    expect(codeOf(() => verifyRecordProof(before, exp(rkey)))).toBe('no error');
    const after = await own.repo.applyWrites([{ action: WriteOpAction.Delete, collection: COLLECTION, rkey }], own.keypair);
    const deleted = { ...own, repo: after };
    const exclusion = await recordProof(deleted, rkey);
    expect(codeOf(() => verifyRecordProof(exclusion, exp(rkey)))).toBe('RECORD_NOT_IN_COMMIT');
    // The other records are proven against the new head, as before.
    const other = await recordProof(deleted, own.rkeys[2]!);
    expect(codeOf(() => verifyRecordProof(other, exp(own.rkeys[2]!)))).toBe('no error');
  });

  it('a key rotation: the commit cached under the old key does not pass under the new one, and the failure is not remembered', async () => {
    const rkey = built.rkeys[3]!;
    const car = await recordProof(built, rkey);
    expect(codeOf(() => verifyRecordProof(car, expectedFor(rkey)))).toBe('no error');
    const rotated = parseDidKey((await Secp256k1Keypair.create()).did());
    for (let i = 0; i < 2; i++) expect(codeOf(() => verifyRecordProof(car, { ...expectedFor(rkey), key: rotated }))).toBe('SIGNATURE_INVALID');
    expect(codeOf(() => verifyRecordProof(car, expectedFor(rkey)))).toBe('no error');
  });

  it('the shared commit is frozen: a caller cannot change what the next proof reads', async () => {
    const car = await recordProof(built, built.rkeys[2]!);
    const first = verifyRecordProof(car, expectedFor(built.rkeys[2]!));
    expect(() => {
      (first.commit as { did: string }).did = 'did:plc:mallorymallorymallory';
    }).toThrow(TypeError);
    expect(verifyRecordProof(car, expectedFor(built.rkeys[2]!)).commit.did).toBe(built.did);
  });
});
