/**
 * Rules of src/atproto/cid.ts that the mutation run (npm run mutation) found unpinned: the digest
 * length of a blessed CID, a block check that refuses a hash it cannot recompute, byte equality,
 * and refusals that tell the operator which link broke and why.
 */
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { describe, expect, it } from 'vitest';
import { asBlessedCid, cidForDagCbor, equalBytes, parseCid, verifyBlockCid } from '../../src/atproto/cid.js';
import { errorOf } from '../harness/error-code.js';

const RECORD_CID = 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454';
const digest32 = CID.parse(RECORD_CID).multihash.digest;

describe('a blessed CID carries a full 32-byte sha2-256 digest', () => {
  it.each([
    ['a 20-byte sha2-256 digest', Digest.create(0x12, digest32.subarray(0, 20))],
    ['a 33-byte sha2-256 digest', Digest.create(0x12, Uint8Array.of(...digest32, 0))],
    ['an empty sha2-256 digest', Digest.create(0x12, new Uint8Array(0))],
  ])('%s is refused, naming the hash and its size', (_name, multihash) => {
    const cid = CID.createV1(0x71, multihash);
    const err = errorOf(() => asBlessedCid(cid, { code: 'MST_INVALID', what: 'MST node left link' }));
    expect(err.code).toBe('MST_INVALID');
    expect(err.message).toBe(
      `MST node left link ${cid} uses hash 0x12 of ${multihash.size} bytes; only sha2-256 (0x12, 32 bytes) is allowed`,
    );
    // The binary form reaches the same rule.
    expect(errorOf(() => parseCid(cid.bytes)).code).toBe('CAR_INVALID');
  });

  it('a different hash of 32 bytes is refused too (sha2-256 by code, not by length)', () => {
    const cid = CID.createV1(0x71, Digest.create(0x1e, digest32)); // blake3, 32 bytes
    expect(errorOf(() => asBlessedCid(cid)).message).toMatch(/uses hash 0x1e of 32 bytes/);
  });
});

describe('verifyBlockCid checks only what it can recompute', () => {
  it('a block named by a sha2-512 CID is CID_MISMATCH: it cannot be verified, so it is not trusted', () => {
    const bytes = new TextEncoder().encode('block');
    const cid = CID.createV1(0x71, Digest.create(0x13, sha512(bytes)));
    const err = errorOf(() => verifyBlockCid(cid, bytes));
    expect(err.code).toBe('CID_MISMATCH');
    expect(err.message).toBe(`block ${cid}: hash 0x13 is not sha2-256, cannot verify`);
  });

  it('a mismatch names both digests, so the operator sees which bytes were served', () => {
    const bytes = new TextEncoder().encode('served');
    const cid = cidForDagCbor(new TextEncoder().encode('expected'));
    const served = Buffer.from(sha256(bytes)).toString('hex');
    const named = Buffer.from(cid.multihash.digest).toString('hex');
    expect(errorOf(() => verifyBlockCid(cid, bytes)).message).toBe(
      `block ${cid} does not hash to its CID: its 6 bytes have sha2-256 ${served}, the CID names ${named}`,
    );
  });

  it('the hex of a digest that is a view into a larger buffer is of the view only', () => {
    const backing = new Uint8Array(64).fill(0xaa);
    const bytes = backing.subarray(10, 20);
    const err = errorOf(() => verifyBlockCid(cidForDagCbor(new Uint8Array(1)), bytes));
    expect(err.message).toContain(`its 10 bytes have sha2-256 ${Buffer.from(sha256(bytes)).toString('hex')},`);
  });
});

describe('equalBytes: equal length and every byte', () => {
  it.each([
    [[], [], true],
    [[1, 2, 3], [1, 2, 3], true],
    [[1, 2, 3], [1, 2], false], // a prefix is not equal
    [[1, 2], [1, 2, 3], false],
    [[1, 2, 3], [1, 2, 4], false], // the last byte counts
    [[0, 2, 3], [1, 2, 3], false], // the first byte counts
    [[], [0], false],
  ])('%j vs %j: %s', (a, b, equal) => {
    expect(equalBytes(Uint8Array.from(a), Uint8Array.from(b))).toBe(equal);
  });
});

describe('a refused CID says what it was and why', () => {
  it.each([
    ['a CIDv0 string', 'QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR', /^commit data "QmbWqx.*" is not a valid CID: not base32 \(a "b" multibase prefix is required\)$/],
    ['an upper-case base32 string', 'B' + RECORD_CID.slice(1).toUpperCase(), /^commit data "BAFY.*" is not a valid CID: not base32/],
    ['the empty string', '', /^commit data "" is not a valid CID: not base32/],
  ])('%s: not base32', (_name, input, message) => {
    expect(errorOf(() => parseCid(input, { what: 'commit data' })).message).toMatch(message);
  });

  it('a long string is shown cut to 120 characters', () => {
    const long = `b${'a'.repeat(300)}`;
    const err = errorOf(() => parseCid(long));
    expect(err.message.startsWith(`CID ${JSON.stringify(long.slice(0, 120))} is not a valid CID: `)).toBe(true);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('binary input is shown by its length, not its bytes', () => {
    expect(errorOf(() => parseCid(Uint8Array.of(1, 0x71, 0x12))).message).toMatch(/^CID 3 bytes is not a valid CID: /);
  });

  it.each([
    [null, 'null'],
    [new Uint8Array(7), '7 bytes'],
    [[1, 2], 'an array'],
    [{ '/': RECORD_CID }, 'object'],
    ['bafy...', 'string'],
    [42, 'number'],
    [undefined, 'undefined'],
  ])('a link that is %j is "not a CID link (got %s)"', (value, shown) => {
    expect(errorOf(() => asBlessedCid(value, { what: 'commit prev' })).message).toBe(`commit prev is not a CID link (got ${shown})`);
  });

  it('CIDv0 bytes, a foreign codec and a raw link where dag-cbor is required each say so', () => {
    const v0 = CID.parse('QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR');
    expect(errorOf(() => asBlessedCid(v0)).message).toBe(`CID ${v0} is CIDv0; atproto requires CIDv1`);
    const dagPb = CID.createV1(0x70, CID.parse(RECORD_CID).multihash);
    expect(errorOf(() => asBlessedCid(dagPb)).message).toBe(`CID ${dagPb} has codec 0x70; only dag-cbor (0x71) and raw (0x55) are allowed`);
    const raw = CID.createV1(0x55, CID.parse(RECORD_CID).multihash);
    expect(errorOf(() => asBlessedCid(raw, { dagCborOnly: true })).message).toBe(`CID ${raw} has codec raw (0x55); it must link a dag-cbor (0x71) node`);
    expect(asBlessedCid(raw).equals(raw)).toBe(true);
  });
});
