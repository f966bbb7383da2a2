import { Secp256k1Keypair } from '@atproto/crypto';
import { WriteOpAction } from '@atproto/repo';
import * as dagCbor from '@ipld/dag-cbor';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import { beforeAll, describe, expect, it } from 'vitest';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { parseDidKey } from '../../src/atproto/keys.js';
import { commonPrefixLength } from '../../src/atproto/mst.js';
import { verifyRecordProof, type ExpectedRecord, type RecordProof } from '../../src/atproto/record-proof.js';
import { VerificationError, type ErrorCode } from '../../src/errors.js';
import { cborBlock, concat, decodeBlock, encodeMapInOrder, joinCar, rawBlock, splitCar, withCommitBlock, type CarBlock, type CarParts } from './car-surgery.js';
import { COLLECTION, buildRepo, manifestRecord, recordProof, signedCommit, signedCommitBlock, type BuiltRepo } from './repo-fixtures.js';

/** Runs the verifier and returns the error code; a raw exception or a pass fails the test. */
function codeOf(car: Uint8Array, expected: ExpectedRecord): ErrorCode | 'passed' {
  try {
    verifyRecordProof(car, expected);
  } catch (err) {
    if (!(err instanceof VerificationError)) throw new Error(`raw exception escaped: ${String(err)}`, { cause: err });
    return err.code;
  }
  return 'passed';
}

let built: BuiltRepo;
let rkey: string;
let car: Uint8Array;
let parts: CarParts;
let expected: ExpectedRecord;
let unsigned: Record<string, unknown>;

beforeAll(async () => {
  // 300 records give an MST several layers deep, so the proof holds a real path of nodes.
  built = await buildRepo({ records: 300 });
  rkey = built.rkeys[137]!;
  car = await recordProof(built, rkey);
  parts = splitCar(car);
  expected = { did: built.did, collection: COLLECTION, rkey, key: built.key };
  const { sig: _sig, ...rest } = decodeBlock(parts, parts.roots[0]!);
  unsigned = rest;
});

const commitOf = (p: CarParts) => p.blocks.find((b) => b.cid.equals(p.roots[0]!))!;
const mstNodesOf = (p: CarParts) => {
  const record = cidForDagCbor(dagCbor.encode(manifestRecord(137)));
  return p.blocks.filter((b) => !b.cid.equals(p.roots[0]!) && !b.cid.equals(record));
};

describe('verifyRecordProof: genuine proofs', () => {
  it('verifies a reference getRecord proof and returns the commit, record and signed time', () => {
    const proof: RecordProof = verifyRecordProof(car, expected);
    expect(proof.commitCid.equals(built.repo.cid)).toBe(true);
    expect(proof.commit.rev).toBe(built.repo.commit.rev);
    expect(proof.record).toEqual(manifestRecord(137));
    expect(proof.recordCid.toString()).toBe(cidForDagCbor(dagCbor.encode(manifestRecord(137))).toString());
    expect(Math.abs(proof.signedAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(mstNodesOf(parts).length).toBeGreaterThan(1);
  });

  it('verifies a P-256 repository', async () => {
    const p = await buildRepo({ curve: 'p256', records: 5 });
    const proof = verifyRecordProof(await recordProof(p, p.rkeys[2]!), { did: p.did, collection: COLLECTION, rkey: p.rkeys[2]!, key: p.key });
    expect(proof.record).toEqual(manifestRecord(2));
  });

  it('verifies every record of a repository from its own proof', async () => {
    const small = await buildRepo({ records: 40 });
    for (const [i, k] of small.rkeys.entries()) {
      const proof = verifyRecordProof(await recordProof(small, k), { did: small.did, collection: COLLECTION, rkey: k, key: small.key });
      expect(proof.record).toEqual(manifestRecord(i));
    }
  });

  it('ignores duplicate and unrelated extra blocks', () => {
    const padded = { roots: parts.roots, blocks: [...parts.blocks, ...parts.blocks, cborBlock({ noise: 1 })] };
    expect(verifyRecordProof(joinCar(padded), expected).record).toEqual(manifestRecord(137));
  });
});

describe('verifyRecordProof: byte-level tampering', () => {
  it('a flipped byte in each CAR block is CID_MISMATCH', () => {
    for (const [i, block] of parts.blocks.entries()) {
      for (const at of [0, block.bytes.length >> 1, block.bytes.length - 1]) {
        const bytes = block.bytes.slice();
        bytes[at]! ^= 0x01;
        const tampered = { roots: parts.roots, blocks: parts.blocks.map((b, j) => (j === i ? { cid: b.cid, bytes } : b)) };
        expect(codeOf(joinCar(tampered), expected)).toBe('CID_MISMATCH');
      }
    }
  });

  it('every single-bit flip anywhere in the CAR fails with a VerificationError', () => {
    for (let at = 0; at < car.length; at++) {
      for (const bit of [0x01, 0x80]) {
        const bytes = car.slice();
        bytes[at]! ^= bit;
        expect(codeOf(bytes, expected)).not.toBe('passed');
      }
    }
  });

  it('every truncation of the CAR fails with a VerificationError', () => {
    const codes = new Set<string>();
    for (let cut = 0; cut < car.length; cut++) {
      const code = codeOf(car.subarray(0, cut), expected);
      expect(code).not.toBe('passed');
      codes.add(code);
    }
    expect(codes.has('CAR_INVALID')).toBe(true);
  });

  it('random multi-byte edits never pass and never escape as raw exceptions', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const bytes = car.slice();
        for (const [at, xor] of edits) bytes[at % bytes.length]! ^= xor;
        expect(codeOf(bytes, expected)).not.toBe('passed');
      }),
      { numRuns: 1000 },
    );
  });
});

describe('verifyRecordProof: forged or altered commits', () => {
  const withCommit = (commit: CarBlock) => joinCar(withCommitBlock(parts, commit));

  it('a commit whose data was changed (signature not redone) is SIGNATURE_INVALID', () => {
    const signed = decodeBlock(parts, parts.roots[0]!);
    const otherData = cidForDagCbor(dagCbor.encode({ l: null, e: [] }));
    expect(codeOf(withCommit(cborBlock({ ...signed, data: otherData })), expected)).toBe('SIGNATURE_INVALID');
  });

  it('a commit whose rev was changed to backdate it is SIGNATURE_INVALID', () => {
    const signed = decodeBlock(parts, parts.roots[0]!);
    expect(codeOf(withCommit(cborBlock({ ...signed, rev: '2222222222222' })), expected)).toBe('SIGNATURE_INVALID');
  });

  it('the high-S twin of the real signature is SIGNATURE_INVALID', () => {
    const signed = decodeBlock(parts, parts.roots[0]!);
    const sig = secp256k1.Signature.fromBytes(signed.sig as Uint8Array, 'compact');
    const highS = new secp256k1.Signature(sig.r, secp256k1.Point.CURVE().n - sig.s).toBytes('compact');
    expect(secp256k1.verify(highS, dagCbor.encode(unsigned), built.key.compressed, { prehash: true, lowS: false })).toBe(true);
    expect(codeOf(withCommit(cborBlock({ ...signed, sig: highS })), expected)).toBe('SIGNATURE_INVALID');
  });

  it('the real signature DER-encoded is SIGNATURE_INVALID', () => {
    const signed = decodeBlock(parts, parts.roots[0]!);
    const der = secp256k1.Signature.fromBytes(signed.sig as Uint8Array, 'compact').toBytes('der');
    expect(codeOf(withCommit(cborBlock({ ...signed, sig: der })), expected)).toBe('SIGNATURE_INVALID');
  });

  it.each([0, 32, 63, 65, 128])('a %i-byte signature is SIGNATURE_INVALID', (length) => {
    const signed = decodeBlock(parts, parts.roots[0]!);
    const sig = new Uint8Array(length);
    sig.set((signed.sig as Uint8Array).subarray(0, Math.min(64, length)));
    expect(codeOf(withCommit(cborBlock({ ...signed, sig })), expected)).toBe('SIGNATURE_INVALID');
  });

  it('a commit signed by another key is SIGNATURE_INVALID; so is the genuine proof checked with another key', async () => {
    const attacker = await Secp256k1Keypair.create();
    expect(codeOf(withCommit(await signedCommitBlock(unsigned, attacker)), expected)).toBe('SIGNATURE_INVALID');
    expect(codeOf(car, { ...expected, key: parseDidKey(attacker.did()) })).toBe('SIGNATURE_INVALID');
    expect(codeOf(car, { ...expected, key: { curve: 'p256', compressed: built.key.compressed } })).toBe('SIGNATURE_INVALID');
  });

  it('a version 2 commit, validly signed, is COMMIT_INVALID', async () => {
    expect(codeOf(withCommit(await signedCommitBlock({ ...unsigned, version: 2 }, built.keypair)), expected)).toBe('COMMIT_INVALID');
  });

  it('a commit without prev, validly signed, is COMMIT_INVALID', async () => {
    const { prev: _prev, ...noPrev } = unsigned;
    expect(codeOf(withCommit(await signedCommitBlock(noPrev, built.keypair)), expected)).toBe('COMMIT_INVALID');
  });

  it('a commit with an extra field, validly signed, is COMMIT_INVALID', async () => {
    expect(codeOf(withCommit(await signedCommitBlock({ ...unsigned, note: 'x' }, built.keypair)), expected)).toBe('COMMIT_INVALID');
  });

  it('a commit block in non-canonical CBOR (unsorted keys), validly signed, is CBOR_INVALID', async () => {
    const signed = await signedCommit(unsigned, built.keypair);
    const bytes = encodeMapInOrder(Object.entries(signed).reverse());
    expect(codeOf(withCommit(rawBlock(bytes)), expected)).toBe('CBOR_INVALID');
  });

  it('a commit for another repository is COMMIT_DID_MISMATCH', async () => {
    expect(codeOf(car, { ...expected, did: 'did:plc:someoneelse000000000' })).toBe('COMMIT_DID_MISMATCH');
    // Even when that other repository's own key signed it.
    const other = await buildRepo({ records: 1, did: 'did:plc:otherrepo0000000000000' });
    const otherCar = await recordProof(other, other.rkeys[0]!);
    expect(codeOf(otherCar, { did: built.did, collection: COLLECTION, rkey: other.rkeys[0]!, key: other.key })).toBe('COMMIT_DID_MISMATCH');
  });

  it('a CAR whose root is not the commit is COMMIT_INVALID', () => {
    const mstRoot = mstNodesOf(parts).find((b) => b.cid.equals(built.repo.commit.data))!;
    expect(codeOf(joinCar({ roots: [mstRoot.cid], blocks: parts.blocks }), expected)).toBe('COMMIT_INVALID');
  });

  it('a CAR with two roots is CAR_INVALID', () => {
    expect(codeOf(joinCar(parts, { version: 1, roots: [parts.roots[0], parts.roots[0]] }), expected)).toBe('CAR_INVALID');
  });
});

describe('verifyRecordProof: the MST does not prove the record', () => {
  it('a missing MST node on the path is MST_INVALID (each node in turn)', () => {
    const nodes = mstNodesOf(parts);
    for (const node of nodes) {
      const partial = { roots: parts.roots, blocks: parts.blocks.filter((b) => !b.cid.equals(node.cid)) };
      expect(codeOf(joinCar(partial), expected)).toBe('MST_INVALID');
    }
  });

  it('the record block missing from the proof is CAR_INVALID', () => {
    const recordCid = cidForDagCbor(dagCbor.encode(manifestRecord(137)));
    const partial = { roots: parts.roots, blocks: parts.blocks.filter((b) => !b.cid.equals(recordCid)) };
    expect(codeOf(joinCar(partial), expected)).toBe('CAR_INVALID');
  });

  it('an exclusion proof for a key the MST omits is RECORD_NOT_IN_COMMIT, saying the commit proves absence', async () => {
    const absent = '3zzzzzzzzzzzz';
    const exclusion = await recordProof(built, absent);
    const wanted = { ...expected, rkey: absent };
    expect(codeOf(exclusion, wanted)).toBe('RECORD_NOT_IN_COMMIT');
    expect(() => verifyRecordProof(exclusion, wanted)).toThrow(/proves io\.atcr\.manifest\/3zzzzzzzzzzzz is absent/);
  });

  it('a deleted record: the newer signed commit proves it absent (RECORD_NOT_IN_COMMIT)', async () => {
    const repo = await buildRepo({ records: 20 });
    const gone = repo.rkeys[7]!;
    const before = await recordProof(repo, gone);
    repo.repo = await repo.repo.applyWrites({ action: WriteOpAction.Delete, collection: COLLECTION, rkey: gone }, repo.keypair);
    const after = await recordProof(repo, gone);
    const wanted = { did: repo.did, collection: COLLECTION, rkey: gone, key: repo.key };
    expect(verifyRecordProof(before, wanted).record).toEqual(manifestRecord(7));
    expect(codeOf(after, wanted)).toBe('RECORD_NOT_IN_COMMIT');
  });

  it('a re-signed commit pointing at an MST that omits the key is RECORD_NOT_IN_COMMIT', async () => {
    const emptyTree = cborBlock({ l: null, e: [] });
    const commit = await signedCommitBlock({ ...unsigned, data: emptyTree.cid }, built.keypair);
    const swapped = { roots: [commit.cid], blocks: [commit, emptyTree, ...parts.blocks.slice(1)] };
    expect(codeOf(joinCar(swapped), expected)).toBe('RECORD_NOT_IN_COMMIT');
  });

  it("another record's proof offered for this rkey does not prove it", async () => {
    const otherRkey = built.rkeys[250]!;
    const otherCar = await recordProof(built, otherRkey);
    // When both keys share an MST leaf, the walk finds this key's entry and the record block is missing: CAR_INVALID.
    expect(['RECORD_NOT_IN_COMMIT', 'MST_INVALID', 'CAR_INVALID']).toContain(codeOf(otherCar, expected));
  });

  it('a collection or rkey that is not a repo path segment is INPUT_INVALID', () => {
    expect(codeOf(car, { ...expected, rkey: '..' })).toBe('INPUT_INVALID');
    expect(codeOf(car, { ...expected, rkey: `${rkey}/x` })).toBe('INPUT_INVALID');
    expect(codeOf(car, { ...expected, collection: '' })).toBe('INPUT_INVALID');
  });
});

/**
 * Hand-built single-node repositories, signed with the repository key, for what the reference
 * implementation cannot produce: a record block that is not canonical, a raw record link.
 */
describe('verifyRecordProof: signed proofs with bad records', () => {
  async function singleRecordProof(recordBlock: CarBlock, link: CID = recordBlock.cid): Promise<Uint8Array> {
    const key = `${COLLECTION}/${rkey}`;
    expect(commonPrefixLength(new Uint8Array(), new TextEncoder().encode(key))).toBe(0);
    const node = cborBlock({ l: null, e: [{ p: 0, k: new TextEncoder().encode(key), v: link, t: null }] });
    const commit = await signedCommitBlock({ ...unsigned, data: node.cid }, built.keypair);
    return joinCar({ roots: [commit.cid], blocks: [commit, node, recordBlock] });
  }

  it('control: a well-formed hand-built proof verifies', async () => {
    expect(verifyRecordProof(await singleRecordProof(cborBlock(manifestRecord(1))), expected).record).toEqual(manifestRecord(1));
  });

  it('a record block with unsorted keys is CBOR_INVALID', async () => {
    const record = rawBlock(encodeMapInOrder(Object.entries(manifestRecord(1)).reverse()));
    expect(codeOf(await singleRecordProof(record), expected)).toBe('CBOR_INVALID');
  });

  it('a record holding a float is CBOR_INVALID', async () => {
    const record = rawBlock(concat(Uint8Array.of(0xa1), dagCbor.encode('n'), Uint8Array.of(0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)));
    expect(codeOf(await singleRecordProof(record), expected)).toBe('CBOR_INVALID');
  });

  it('a record nested deeper than the cap is CBOR_INVALID', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(codeOf(await singleRecordProof(cborBlock(deep)), expected)).toBe('CBOR_INVALID');
  });

  it('an MST leaf that links the record with the raw codec is MST_INVALID', async () => {
    const record = cborBlock(manifestRecord(1));
    const rawLink = CID.createV1(0x55, record.cid.multihash);
    const car = await singleRecordProof({ cid: rawLink, bytes: record.bytes }, rawLink);
    expect(codeOf(car, expected)).toBe('MST_INVALID');
  });
});
