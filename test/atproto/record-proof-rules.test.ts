/**
 * Rules of src/atproto/record-proof.ts, on hand-built one-node repositories signed here: the repo
 * path segments a caller may ask for, the commit DID that must match, the signed time a proof
 * returns, and refusals that say which commit proved what.
 */
import { TID } from '@atproto/common-web';
import * as dagCbor from '@ipld/dag-cbor';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { verifyRecordProof } from '../../src/atproto/record-proof.js';
import { errorOf } from '../harness/error-code.js';
import { cborBlock, joinCar, type CarBlock } from './car-surgery.js';

const secret = secp256k1.utils.randomSecretKey();
const key = { curve: 'k256' as const, compressed: secp256k1.getPublicKey(secret, true) };
const DID = 'did:plc:abcdefghijklmnopqrstuvwx';
const COLLECTION = 'io.atcr.manifest';
const RKEY = '3jzfcijpj2z2a';
const REV = '3kbhvxk2lfk2a';
const record = cborBlock({ $type: COLLECTION, digest: 'sha256:00' });

function signedCommit(data: CID, did = DID): CarBlock {
  const unsigned = { did, version: 3, data, rev: REV, prev: null };
  const sig = secp256k1.sign(dagCbor.encode(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
  return cborBlock({ ...unsigned, sig });
}

/** A repository of one MST node holding `path` -> `link`; the CAR holds `blocks` after commit and node. */
function proof(options: { path?: string; link?: CID; did?: string; blocks?: CarBlock[] } = {}) {
  const path = options.path ?? `${COLLECTION}/${RKEY}`;
  const node = cborBlock({ e: [{ k: new TextEncoder().encode(path), p: 0, t: null, v: options.link ?? record.cid }], l: null });
  const commit = signedCommit(node.cid, options.did);
  return { car: joinCar({ roots: [commit.cid], blocks: [commit, node, ...(options.blocks ?? [record])] }), commit };
}
const expected = { did: DID, collection: COLLECTION, rkey: RKEY, key };

describe('a verified proof returns the commit, the record and the signed time', () => {
  it('the signed time is the commit rev, to the millisecond', () => {
    const { car, commit } = proof();
    const result = verifyRecordProof(car, expected);
    expect(result.commitCid.equals(commit.cid)).toBe(true);
    expect(result.recordCid.equals(record.cid)).toBe(true);
    expect(result.record).toEqual({ $type: COLLECTION, digest: 'sha256:00' });
    expect(result.commit.rev).toBe(REV);
    // The reference TID implementation reads the same microseconds.
    expect(result.signedAt.getTime()).toBe(Math.floor(TID.fromStr(REV).timestamp() / 1000));
  });

  it('the CAR limits reach the reader', () => {
    const { car } = proof();
    expect(errorOf(() => verifyRecordProof(car, expected, { maxBlocks: 2 })).message).toBe('CAR proof has more than 2 blocks');
  });
});

describe('the commit must be of the expected repository, and prove the path', () => {
  it('a commit of another DID is COMMIT_DID_MISMATCH, naming both', () => {
    const { car, commit } = proof({ did: 'did:plc:someoneelse' });
    const err = errorOf(() => verifyRecordProof(car, expected));
    expect(err.code).toBe('COMMIT_DID_MISMATCH');
    expect(err.message).toBe(`commit ${commit.cid} is for repository did:plc:someoneelse, not ${DID}`);
  });

  it('a path the MST proves absent is RECORD_NOT_IN_COMMIT, naming the commit and its rev', () => {
    const { car, commit } = proof({ path: `${COLLECTION}/3jzfcijpj2z2b` });
    const err = errorOf(() => verifyRecordProof(car, expected));
    expect(err.code).toBe('RECORD_NOT_IN_COMMIT');
    expect(err.message).toBe(`signed commit ${commit.cid} (rev ${REV}) proves ${COLLECTION}/${RKEY} is absent from ${DID}'s repository (deleted, or never written)`);
  });

  it('a record linked with the raw codec is MST_INVALID, naming the link', () => {
    const raw = CID.createV1(0x55, record.cid.multihash);
    const { car } = proof({ link: raw, blocks: [{ cid: raw, bytes: record.bytes }] });
    const err = errorOf(() => verifyRecordProof(car, expected));
    expect(err.code).toBe('MST_INVALID');
    expect(err.message).toBe(`MST maps ${COLLECTION}/${RKEY} to ${raw}, which is not a dag-cbor record link`);
  });

  it('a record block missing from the CAR is CAR_INVALID, naming the commit and the record', () => {
    const { car, commit } = proof({ blocks: [] });
    const err = errorOf(() => verifyRecordProof(car, expected));
    expect(err.code).toBe('CAR_INVALID');
    expect(err.message).toBe(`commit ${commit.cid} includes ${COLLECTION}/${RKEY} as ${record.cid}, but the proof lacks that record block`);
  });

  it('a record that is not canonical DAG-CBOR names its block', () => {
    const unsorted = Uint8Array.of(0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02);
    const block = { cid: cidForDagCbor(unsorted), bytes: unsorted };
    const { car } = proof({ link: block.cid, blocks: [block] });
    const err = errorOf(() => verifyRecordProof(car, expected));
    expect(err.code).toBe('CBOR_INVALID');
    expect(err.message).toMatch(new RegExp(`^record block ${block.cid} is not canonical DAG-CBOR`));
  });

  it('a record block whose bytes are not those its CID names fails the block check first', () => {
    const nonCanonical = cborBlock(1);
    const { car } = proof({ link: nonCanonical.cid, blocks: [{ cid: nonCanonical.cid, bytes: Uint8Array.of(0x18, 0x01) }] });
    // The CID is of the canonical bytes; the served bytes differ, so the block check fails first.
    expect(errorOf(() => verifyRecordProof(car, expected)).code).toBe('CID_MISMATCH');
  });
});

describe('repo path segments: NSID and record key characters, never "." or ".."', () => {
  it.each([
    ['collection', ''],
    ['collection', '.'],
    ['collection', '..'],
    ['collection', 'a/b'],
    ['collection', 'a b'],
    ['rkey', '.'],
    ['rkey', '..'],
    ['rkey', `${RKEY}/x`],
    ['rkey', 'a?b'],
    ['rkey', 'x'.repeat(100)],
  ] as const)('%s %j is INPUT_INVALID, named and shown (cut to 80)', (name, segment) => {
    const asked = { ...expected, [name]: segment };
    const err = errorOf(() => verifyRecordProof(proof().car, asked));
    if (segment.length === 100) {
      // 100 valid characters are a valid segment: the path is simply absent.
      expect(err.code).toBe('RECORD_NOT_IN_COMMIT');
      return;
    }
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.message).toBe(`${name} ${JSON.stringify(segment.slice(0, 80))} is not a valid repo path segment`);
  });

  it('an invalid segment is shown cut to 80 characters', () => {
    const rkey = '?'.repeat(100);
    expect(errorOf(() => verifyRecordProof(proof().car, { ...expected, rkey })).message).toBe(`rkey ${JSON.stringify('?'.repeat(80))} is not a valid repo path segment`);
  });

  it('a segment that is not a string is shown by its type', () => {
    expect(errorOf(() => verifyRecordProof(proof().car, { ...expected, rkey: 7 as unknown as string })).message).toBe('rkey number is not a valid repo path segment');
  });

  it.each(['...', 'a.b', 'A-Z_0~9:x'])('%j is a valid segment', (rkey) => {
    const { car } = proof({ path: `${COLLECTION}/${rkey}` });
    expect(verifyRecordProof(car, { ...expected, rkey }).recordCid.equals(record.cid)).toBe(true);
  });
});
