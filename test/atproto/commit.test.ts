import { Secp256k1Keypair, P256Keypair } from '@atproto/crypto';
import * as dagCbor from '@ipld/dag-cbor';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CID } from 'multiformats/cid';
import { beforeAll, describe, expect, it } from 'vitest';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { parseCommit, verifyCommitSignature, type Commit } from '../../src/atproto/commit.js';
import { formatMultikey, parseDidKey } from '../../src/atproto/keys.js';
import { encodeMapInOrder } from './car-surgery.js';
import { buildRepo, signedCommit, type BuiltRepo } from './repo-fixtures.js';
import { codeOf } from '../harness/error-code.js';


let built: BuiltRepo;
let commitBytes: Uint8Array;
let unsigned: Record<string, unknown>;

beforeAll(async () => {
  built = await buildRepo({ records: 3 });
  commitBytes = (await built.storage.getBytes(built.repo.cid))!;
  const { sig: _sig, ...rest } = dagCbor.decode(commitBytes) as Record<string, unknown>;
  unsigned = rest;
});

/** Re-signs `changes` applied to the real commit with the real key: only the change can fail. */
async function resigned(changes: Record<string, unknown>, drop: string[] = []): Promise<Uint8Array> {
  const fields = { ...unsigned, ...changes };
  for (const f of drop) delete fields[f];
  return dagCbor.encode(await signedCommit(fields, built.keypair));
}

describe('parseCommit', () => {
  it('reads a reference v3 commit', () => {
    const commit = parseCommit(commitBytes);
    expect(commit).toMatchObject({ did: built.did, version: 3, prev: null, rev: built.repo.commit.rev });
    expect(commit.data.equals(built.repo.commit.data)).toBe(true);
    expect(commit.sig).toHaveLength(64);
  });

  it('accepts a prev link (v2 compatibility field)', async () => {
    const prev = cidForDagCbor(dagCbor.encode({ earlier: 1 }));
    expect(parseCommit(await resigned({ prev })).prev?.equals(prev)).toBe(true);
  });

  it.each([
    ['version 2', { version: 2 }, [], /version 2 \(legacy\)/],
    ['version 4', { version: 4 }, [], /version is 4/],
    ['version as a string', { version: '3' }, [], /version is "3", not 3/],
    ['a missing prev (required in v3 even when null)', {}, ['prev'], /prev is missing/],
    ['a missing rev', {}, ['rev'], /rev is missing/],
    ['an unknown field', { extra: 'x' }, [], /unknown field "extra"/],
    ['a malformed did', { did: 'not a did' }, [], /is not a DID/],
    ['an upper-case DID method', { did: 'did:PLC:abc' }, [], /is not a DID/],
    ['a rev that is not a TID', { rev: '2024-01-01' }, [], /not a TID/],
    ['data that is a string, not a link', { data: 'bafyrei' }, [], /not a CID link/],
    ['data that links a raw blob', { data: CID.createV1(0x55, cidForDagCbor(new Uint8Array(1)).multihash) }, [], /codec raw/],
    ['prev that is not a link', { prev: 'bafy' }, [], /prev/],
  ] as const)('rejects %s with COMMIT_INVALID', async (_name, changes, drop, reason) => {
    const bytes = await resigned(changes, [...drop]);
    expect(codeOf(() => parseCommit(bytes))).toBe('COMMIT_INVALID');
    expect(() => parseCommit(bytes)).toThrow(reason);
  });

  it('rejects a sig that is not a byte string, and a block that is not a map', () => {
    expect(codeOf(() => parseCommit(dagCbor.encode({ ...unsigned, sig: 'c2ln' })))).toBe('COMMIT_INVALID');
    expect(codeOf(() => parseCommit(dagCbor.encode([unsigned])))).toBe('COMMIT_INVALID');
  });

  it('rejects a commit block that is not canonical DAG-CBOR (unsorted keys) with CBOR_INVALID', async () => {
    const signed = dagCbor.decode(await resigned({})) as Record<string, unknown>;
    const reversed = encodeMapInOrder(Object.entries(signed).reverse());
    expect(codeOf(() => parseCommit(reversed))).toBe('CBOR_INVALID');
  });
});

describe('verifyCommitSignature', () => {
  let commit: Commit;
  beforeAll(() => {
    commit = parseCommit(commitBytes);
  });

  it('accepts the reference commit with the repository key (K-256)', () => {
    expect(() => verifyCommitSignature(commit, built.key)).not.toThrow();
  });

  it('accepts a P-256 signed commit', async () => {
    const p = await P256Keypair.create();
    const bytes = dagCbor.encode(await signedCommit(unsigned, p));
    expect(() => verifyCommitSignature(parseCommit(bytes), parseDidKey(p.did()))).not.toThrow();
  });

  const parsed = () => secp256k1.Signature.fromBytes(commit.sig, 'compact');

  it.each([
    ['the high-S twin of the real signature', () => new secp256k1.Signature(parsed().r, secp256k1.Point.CURVE().n - parsed().s).toBytes('compact')],
    ['the real signature DER-encoded', () => parsed().toBytes('der')],
    ['a 63-byte signature', () => commit.sig.subarray(0, 63)],
    ['a 65-byte signature', () => Uint8Array.of(...commit.sig, 1)],
    ['an empty signature', () => new Uint8Array(0)],
    ['r and s swapped', () => Uint8Array.of(...commit.sig.subarray(32), ...commit.sig.subarray(0, 32))],
  ])('rejects %s with SIGNATURE_INVALID', (_name, makeSig) => {
    expect(codeOf(() => verifyCommitSignature({ ...commit, sig: makeSig() }, built.key))).toBe('SIGNATURE_INVALID');
  });

  it('the high-S twin verifies when malleability is allowed: the rejection is the low-S rule', async () => {
    const { unsignedCommitBytes } = await import('../../src/atproto/commit.js');
    const highS = new secp256k1.Signature(parsed().r, secp256k1.Point.CURVE().n - parsed().s).toBytes('compact');
    expect(secp256k1.verify(highS, unsignedCommitBytes(commit), built.key.compressed, { prehash: true, lowS: false })).toBe(true);
  });

  it('rejects a changed field under the original signature', () => {
    const otherData = cidForDagCbor(dagCbor.encode({ l: null, e: [] }));
    expect(codeOf(() => verifyCommitSignature({ ...commit, data: otherData }, built.key))).toBe('SIGNATURE_INVALID');
    expect(codeOf(() => verifyCommitSignature({ ...commit, rev: '2222222222222' }, built.key))).toBe('SIGNATURE_INVALID');
    expect(codeOf(() => verifyCommitSignature({ ...commit, did: 'did:plc:someoneelse' }, built.key))).toBe('SIGNATURE_INVALID');
  });

  it('rejects a signature by another key, and the right signature checked with another key', async () => {
    const attacker = await Secp256k1Keypair.create();
    const forged = parseCommit(dagCbor.encode(await signedCommit(unsigned, attacker)));
    expect(codeOf(() => verifyCommitSignature(forged, built.key))).toBe('SIGNATURE_INVALID');
    expect(codeOf(() => verifyCommitSignature(commit, parseDidKey(attacker.did())))).toBe('SIGNATURE_INVALID');
    // Same point bytes read as a P-256 key: the curve is part of the key.
    expect(codeOf(() => verifyCommitSignature(commit, { curve: 'p256', compressed: built.key.compressed }))).toBe('SIGNATURE_INVALID');
  });

  it('names the commit CID and the key in the message', () => {
    const otherKey = parseDidKey('did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme');
    expect(() => verifyCommitSignature(commit, otherKey)).toThrow(built.repo.cid.toString());
    expect(() => verifyCommitSignature(commit, otherKey)).toThrow(formatMultikey(otherKey));
  });
});
