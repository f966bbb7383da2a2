import { sha512 } from '@noble/hashes/sha2.js';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { asBlessedCid, cidForDagCbor, parseCid, verifyBlockCid } from '../../src/atproto/cid.js';
import { codeOf } from '../harness/error-code.js';


const RECORD_CID = 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454';
const BLOB_CID = 'bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity';

describe('parseCid: the blessed atproto CID format only', () => {
  it('accepts CIDv1 dag-cbor and raw with sha2-256, as string and bytes', () => {
    expect(parseCid(RECORD_CID).toString()).toBe(RECORD_CID);
    expect(parseCid(BLOB_CID).code).toBe(0x55);
    expect(parseCid(CID.parse(RECORD_CID).bytes).toString()).toBe(RECORD_CID);
  });

  it.each([
    ['CIDv0', 'QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR'],
    ['base58btc form of a v1 CID', base58btc.encode(CID.parse(RECORD_CID).bytes)],
    ['upper-case base32', 'B' + RECORD_CID.slice(1).toUpperCase()],
    ['surrounding whitespace', ` ${RECORD_CID}`],
    ['truncated', RECORD_CID.slice(0, -4)],
    ['empty', ''],
    ['not a CID', 'example.com'],
    ['dag-pb codec', CID.createV1(0x70, CID.parse(RECORD_CID).multihash).toString()],
    ['dag-json codec', CID.createV1(0x0129, CID.parse(RECORD_CID).multihash).toString()],
    ['sha2-512 hash', CID.createV1(0x71, Digest.create(0x13, sha512(new Uint8Array(1)))).toString()],
    ['identity hash', CID.createV1(0x71, Digest.create(0x00, new Uint8Array(4))).toString()],
  ])('rejects %s', (_name, input) => {
    expect(codeOf(() => parseCid(input))).toBe('CAR_INVALID');
  });

  it('rejects binary CIDs with trailing bytes or truncation, and CIDv0 bytes', () => {
    const bytes = CID.parse(RECORD_CID).bytes;
    expect(codeOf(() => parseCid(Uint8Array.of(...bytes, 0)))).toBe('CAR_INVALID');
    expect(codeOf(() => parseCid(bytes.subarray(0, bytes.length - 1)))).toBe('CAR_INVALID');
    expect(codeOf(() => parseCid(CID.parse('QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR').bytes))).toBe('CAR_INVALID');
  });

  it('raises the caller-chosen code and names the link', () => {
    expect(() => parseCid(BLOB_CID, { code: 'COMMIT_INVALID', what: 'commit data', dagCborOnly: true })).toThrow(/commit data .* raw/);
    expect(codeOf(() => parseCid(BLOB_CID, { code: 'COMMIT_INVALID', dagCborOnly: true }))).toBe('COMMIT_INVALID');
    expect(codeOf(() => asBlessedCid('not a cid', { code: 'MST_INVALID' }))).toBe('MST_INVALID');
  });
});

describe('verifyBlockCid', () => {
  const bytes = new TextEncoder().encode('some block');
  const cid = cidForDagCbor(bytes);

  it('accepts bytes that hash to the CID', () => {
    expect(() => verifyBlockCid(cid, bytes)).not.toThrow();
  });

  it('rejects any changed byte with CID_MISMATCH', () => {
    for (let i = 0; i < bytes.length; i++) {
      const changed = bytes.slice();
      changed[i]! ^= 0x01;
      expect(codeOf(() => verifyBlockCid(cid, changed))).toBe('CID_MISMATCH');
    }
    expect(codeOf(() => verifyBlockCid(cid, bytes.subarray(1)))).toBe('CID_MISMATCH');
  });
});
