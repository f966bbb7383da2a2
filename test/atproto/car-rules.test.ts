/**
 * Rules of src/atproto/car.ts the mutation run found unpinned: the size and block caps are
 * inclusive, section lengths are minimal varints of at most 7 bytes, and each refusal names the
 * section, the byte offset and why (what an operator needs to tell a truncated download from a forgery).
 */
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { BlockStore, DEFAULT_MAX_CAR_BLOCKS, DEFAULT_MAX_CAR_BYTES, readCarProof } from '../../src/atproto/car.js';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { errorOf } from '../harness/error-code.js';
import { cborBlock, concat, joinCar, type CarBlock } from './car-surgery.js';

const root = cborBlock({ did: 'did:plc:x', version: 3 });
const leaf = cborBlock({ text: 'record' });
const car = joinCar({ roots: [root.cid], blocks: [root, leaf] });
const headerLength = dagCbor.encode({ version: 1, roots: [root.cid] }).length;
const refusal = (bytes: Uint8Array, limits = {}) => {
  const err = errorOf(() => readCarProof(bytes, limits));
  expect(err.code).toBe('CAR_INVALID');
  return err.message;
};

describe('caps: a CAR of exactly the limit is read, one more is refused', () => {
  it('bytes', () => {
    expect(readCarProof(car, { maxBytes: car.length }).blocks.size).toBe(2);
    expect(refusal(car, { maxBytes: car.length - 1 })).toBe(`CAR proof is ${car.length} bytes, above the ${car.length - 1}-byte limit`);
  });

  it('blocks', () => {
    expect(readCarProof(car, { maxBlocks: 2 }).blocks.size).toBe(2);
    expect(refusal(car, { maxBlocks: 1 })).toBe('CAR proof has more than 1 blocks');
  });

  it('the defaults are 2 MiB and 1000 blocks', () => {
    expect([DEFAULT_MAX_CAR_BYTES, DEFAULT_MAX_CAR_BLOCKS]).toEqual([2 * 1024 * 1024, 1000]);
    const many: CarBlock[] = Array.from({ length: DEFAULT_MAX_CAR_BLOCKS }, (_, i) => cborBlock(i));
    expect(readCarProof(joinCar({ roots: [many[0]!.cid], blocks: many })).blocks.size).toBe(DEFAULT_MAX_CAR_BLOCKS);
    const tooMany = [...many, cborBlock('one more')];
    expect(refusal(joinCar({ roots: [many[0]!.cid], blocks: tooMany }))).toBe(`CAR proof has more than ${DEFAULT_MAX_CAR_BLOCKS} blocks`);
    const big = new Uint8Array(DEFAULT_MAX_CAR_BYTES + 1);
    expect(refusal(big)).toBe(`CAR proof is ${DEFAULT_MAX_CAR_BYTES + 1} bytes, above the ${DEFAULT_MAX_CAR_BYTES}-byte limit`);
  });
});

describe('sections: minimal LEB128 lengths, at most 49 bits, never zero, never past the end', () => {
  const blockStart = 1 + headerLength + (1 + root.cid.bytes.length + root.bytes.length) + (1 + leaf.cid.bytes.length + leaf.bytes.length);
  it.each<[string, Uint8Array, string]>([
    ['a zero-length block section', concat(car, Uint8Array.of(0)), `CAR block 3 at byte ${blockStart} has zero length`],
    ['a non-minimal length', concat(car, Uint8Array.of(0x81, 0x00)), `CAR block 3 length at byte ${blockStart} is not minimally encoded`],
    ['a length cut off', concat(car, Uint8Array.of(0x81)), `CAR block 3 length at byte ${blockStart} is truncated`],
    ['a length of 8 varint bytes', concat(car, Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), `CAR block 3 length at byte ${blockStart} is too large`],
    ['a length claiming more than remains', concat(car, Uint8Array.of(5, 1, 2)), `CAR block 3 at byte ${blockStart} claims 5 bytes but only 2 remain (truncated)`],
    ['an empty input', new Uint8Array(0), 'CAR header length at byte 0 is truncated'],
    ['a zero-length header', Uint8Array.of(0), 'CAR header at byte 0 has zero length'],
  ])('%s', (_name, bytes, message) => {
    expect(refusal(bytes)).toBe(message);
  });

  it('a 7-byte varint length (49 bits) is read, and then found to run past the end', () => {
    expect(refusal(concat(car, Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)))).toBe(
      `CAR block 3 at byte ${blockStart} claims ${2 ** 42} bytes but only 0 remain (truncated)`,
    );
  });

  it('a two-byte length is read as low bits first', () => {
    const body = concat(leaf.cid.bytes, leaf.bytes);
    const padded = cborBlock({ text: 'x'.repeat(200) });
    const section = concat(padded.cid.bytes, padded.bytes);
    expect(section.length).toBeGreaterThan(127);
    const withLong = concat(car, Uint8Array.of((section.length & 0x7f) | 0x80, section.length >> 7), section);
    expect(readCarProof(withLong).blocks.has(padded.cid)).toBe(true);
    expect(body.length).toBeLessThan(128);
  });
});

describe('the header: a canonical map, version 1, exactly one dag-cbor root that is in the CAR', () => {
  const withHeader = (header: unknown) => joinCar({ roots: [root.cid], blocks: [root] }, header);
  it.each<[string, unknown, string]>([
    ['version 2', { version: 2, roots: [root.cid] }, 'CAR header version is 2; only CAR v1 is accepted'],
    ['version "1"', { version: '1', roots: [root.cid] }, 'CAR header version is "1"; only CAR v1 is accepted'],
    ['no roots', { version: 1, roots: [] }, 'CAR header must name exactly one root (the commit), found 0'],
    ['two roots', { version: 1, roots: [root.cid, root.cid] }, 'CAR header must name exactly one root (the commit), found 2'],
    ['roots that are not an array', { version: 1, roots: root.cid }, 'CAR header must name exactly one root (the commit), found no roots array'],
    ['a list', [1, [root.cid]], 'CAR header is not a map'],
    ['a raw root', { version: 1, roots: [CID.createV1(0x55, root.cid.multihash)] }, `CAR root ${CID.createV1(0x55, root.cid.multihash)} has codec raw (0x55); it must link a dag-cbor (0x71) node`],
  ])('%s is refused', (_name, header, message) => {
    expect(refusal(withHeader(header))).toBe(message);
  });

  it('a header nested deeper than 4 levels is refused with the decoder\'s reason', () => {
    expect(refusal(withHeader({ version: 1, roots: [root.cid], x: [[[[1]]]] }))).toMatch(/^CAR header: nesting deeper than 4 levels at byte \d+$/);
    expect(readCarProof(withHeader({ version: 1, roots: [root.cid], x: [[1]] })).root.equals(root.cid)).toBe(true);
  });

  it('a header that is not canonical keeps the decoder\'s error as its cause', () => {
    const header = Uint8Array.of(0xa2, 0x67, ...new TextEncoder().encode('version'), 0x01, 0x65, ...new TextEncoder().encode('roots'), 0x80);
    const err = errorOf(() => readCarProof(concat(Uint8Array.of(header.length), header)));
    expect(err.code).toBe('CAR_INVALID');
    expect(err.message).toMatch(/^CAR header is not canonical DAG-CBOR/);
    expect((err.cause as { code?: string }).code).toBe('CBOR_INVALID');
  });

  it('a root absent from the blocks is refused, naming it', () => {
    expect(refusal(joinCar({ roots: [root.cid], blocks: [leaf] }))).toBe(`CAR proof does not contain its root block ${root.cid} (the commit)`);
  });
});

describe('blocks', () => {
  it('a block that does not start with a CID says which block', () => {
    const bytes = concat(car, Uint8Array.of(3, 0x01, 0x71, 0x12));
    const err = errorOf(() => readCarProof(bytes));
    expect(err.cause).toBeInstanceOf(Error);
    expect(err.message).toBe(`CAR block 3 does not start with a valid CID: ${(err.cause as Error).message}`);
  });

  it('a block whose CID is not blessed names the block', () => {
    const v0 = CID.createV0(cidForDagCbor(leaf.bytes).multihash as Parameters<typeof CID.createV0>[0]);
    const bytes = concat(car, Uint8Array.of(v0.bytes.length + leaf.bytes.length), v0.bytes, leaf.bytes);
    expect(refusal(bytes)).toBe(`CAR block 3 CID ${v0} is CIDv0; atproto requires CIDv1`);
  });

  it('the block store keys blocks by CID string: an equal CID built apart finds the block', () => {
    const store = new BlockStore();
    store.put(leaf.cid, leaf.bytes);
    const again = CID.decode(leaf.cid.bytes);
    expect(store.has(again)).toBe(true);
    expect(store.get(again)).toBe(leaf.bytes);
    expect(store.size).toBe(1);
    expect(store.has(root.cid)).toBe(false);
  });
});
