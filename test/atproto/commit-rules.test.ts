/**
 * Rules of src/atproto/commit.ts the mutation run found unpinned: the DID length cap and syntax
 * anchors, the exact commit fields, and a signature failure that tells the operator which commit,
 * which key and what shape of signature it saw.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { parseCommit, unsignedCommitBytes, verifyCommitSignature, type Commit } from '../../src/atproto/commit.js';
import { formatMultikey } from '../../src/atproto/keys.js';
import { errorOf } from '../harness/error-code.js';

const secret = secp256k1.utils.randomSecretKey();
const key = { curve: 'k256' as const, compressed: secp256k1.getPublicKey(secret, true) };
const data = cidForDagCbor(dagCbor.encode({ e: [], l: null }));
const unsigned = { did: 'did:plc:abcdefghijklmnopqrstuvwx', version: 3, data, rev: '3jzfcijpj2z2a', prev: null };
const sign = (fields: Record<string, unknown>) =>
  secp256k1.sign(dagCbor.encode(fields), secret, { prehash: true, lowS: true, format: 'compact' });
const commitBlock = (changes: Record<string, unknown> = {}) => {
  const fields = { ...unsigned, ...changes };
  return dagCbor.encode({ ...fields, sig: sign(fields) });
};
const reason = (bytes: Uint8Array) => {
  const err = errorOf(() => parseCommit(bytes));
  expect(err.code).toBe('COMMIT_INVALID');
  return err.message;
};

describe('the commit DID: atproto DID syntax, at most 2048 characters', () => {
  it.each([
    ['did:plc:abc', true],
    ['did:web:example.com', true],
    ['did:web:example.com%3A8080', true],
    ['did:x:a:b', true],
    [`did:plc:${'a'.repeat(2048 - 8)}`, true],
    [`did:plc:${'a'.repeat(2049 - 8)}`, false],
    ['did:plc:abc:', false], // may not end with a colon
    ['did:plc:abc%', false], // nor with a percent sign
    [' did:plc:abc', false],
    ['did:plc:abc ', false],
    ['xdid:plc:abc', false],
    ['did:plc:', false],
    ['did::abc', false],
    ['did:p1c:abc', false],
  ])('%s: %s', (did, accepted) => {
    const bytes = commitBlock({ did });
    if (accepted) expect(parseCommit(bytes).did).toBe(did);
    else expect(reason(bytes)).toBe(`commit: did ${JSON.stringify(did.slice(0, 80))} is not a DID`);
  });

  it('a DID that is not a string is shown by its value kind', () => {
    expect(reason(commitBlock({ did: 42 }))).toBe('commit: did 42 is not a DID');
    expect(reason(commitBlock({ did: null }))).toBe('commit: did null is not a DID');
  });
});

describe('exactly the v3 fields, each of its type', () => {
  it('a commit that is a list, not a map, is refused', () => {
    expect(reason(dagCbor.encode([unsigned]))).toBe('commit: block is not a map');
  });

  it.each(['did', 'version', 'data', 'rev', 'prev', 'sig'])('a commit without %s is refused, naming it', (field) => {
    const fields: Record<string, unknown> = { ...unsigned, sig: new Uint8Array(64) };
    delete fields[field];
    expect(reason(dagCbor.encode(fields))).toBe(`commit: required field ${field} is missing`);
  });

  it('an unknown field is refused, naming it and the fields a v3 commit has', () => {
    expect(reason(commitBlock({ extra: 1 }))).toBe('commit: unknown field "extra" (a v3 commit has did, version, data, rev, prev, sig)');
  });

  it.each([
    [2, 'commit: version 2 (legacy) commits are not accepted; version 3 is required'],
    [4, 'commit: version is 4, not 3'],
    [null, 'commit: version is null, not 3'],
  ])('version %j is refused', (version, message) => {
    expect(reason(commitBlock({ version }))).toBe(message);
  });

  it('a rev that is not a string, and a sig that is not bytes, are refused', () => {
    expect(reason(commitBlock({ rev: 5 }))).toBe('commit: rev is not a string');
    expect(reason(dagCbor.encode({ ...unsigned, sig: 'c2ln' }))).toBe('commit: sig is not a byte string');
  });

  it('the parsed commit carries every field as decoded', () => {
    const prev = cidForDagCbor(dagCbor.encode({ prev: true }));
    const commit = parseCommit(commitBlock({ prev }));
    expect(commit).toMatchObject({ did: unsigned.did, version: 3, rev: unsigned.rev });
    expect(commit.data.equals(data)).toBe(true);
    expect(commit.prev?.equals(prev)).toBe(true);
    expect(commit.sig).toHaveLength(64);
  });

  it('a prev that links a raw block is refused: commits link dag-cbor commits', () => {
    const raw = CID.createV1(0x55, data.multihash);
    expect(reason(commitBlock({ prev: raw }))).toBe(`commit prev ${raw} has codec raw (0x55); it must link a dag-cbor (0x71) node`);
  });

  it('a commit block that is not canonical is named as the commit block', () => {
    const bytes = Uint8Array.of(0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02);
    const err = errorOf(() => parseCommit(bytes));
    expect(err.code).toBe('CBOR_INVALID');
    expect(err.message).toMatch(/^commit block is not canonical DAG-CBOR/);
  });

  it('the prev and data links are named in their refusals', () => {
    expect(reason(commitBlock({ prev: 'x' }))).toBe('commit prev is not a CID link (got string)');
    expect(reason(commitBlock({ data: null }))).toBe('commit data (MST root) is not a CID link (got null)');
  });
});

describe('a signature failure names the commit, the key and the signature shape', () => {
  const commit = parseCommit(commitBlock());
  const commitCid = cidForDagCbor(dagCbor.encode(commit));

  it('the signed commit verifies; what was signed is the commit without sig', () => {
    expect(() => verifyCommitSignature(commit, key)).not.toThrow();
    expect(unsignedCommitBytes(commit)).toEqual(dagCbor.encode(unsigned));
  });

  it.each<[string, (c: Commit) => Uint8Array, string]>([
    ['a 64-byte signature by another key', () => secp256k1.sign(unsignedCommitBytes(commit), secp256k1.utils.randomSecretKey(), { prehash: true, lowS: true, format: 'compact' }), '64-byte signature'],
    ['a 63-byte signature', (c) => c.sig.subarray(0, 63), '63-byte signature (a compact r||s signature is 64 bytes)'],
    ['a 72-byte signature', () => new Uint8Array(72), '72-byte signature (a compact r||s signature is 64 bytes)'],
  ])('%s', (_name, makeSig, shape) => {
    const bad = { ...commit, sig: makeSig(commit) };
    const err = errorOf(() => verifyCommitSignature(bad, key));
    expect(err.code).toBe('SIGNATURE_INVALID');
    const badCid = cidForDagCbor(dagCbor.encode(bad));
    expect(err.message).toBe(
      `commit ${badCid} (rev ${commit.rev}, ${commit.did}): the ${shape} does not verify with key ${formatMultikey(key)} (k256; high-S, DER, tampered, or another key)`,
    );
    expect(badCid.equals(commitCid)).toBe(false);
  });
});
