import * as dagCbor from '@ipld/dag-cbor';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCarProof } from '../../src/atproto/car.js';
import { cborBlock, concat, joinCar, splitCar, type CarParts } from './car-surgery.js';
import { buildRepo, recordProof } from './repo-fixtures.js';
import { codeOf } from '../harness/error-code.js';


let car: Uint8Array;
let parts: CarParts;

beforeAll(async () => {
  const built = await buildRepo({ records: 50 });
  car = await recordProof(built, built.rkeys[20]!);
  parts = splitCar(car);
});

describe('readCarProof: a real getRecord CAR', () => {
  it('returns the commit root and every block', () => {
    const { root, blocks } = readCarProof(car);
    expect(root.equals(parts.roots[0]!)).toBe(true);
    expect(blocks.size).toBe(parts.blocks.length);
    for (const b of parts.blocks) expect(blocks.get(b.cid)).toEqual(b.bytes);
  });

  it('tolerates duplicate, extra and reordered blocks (repository spec)', () => {
    const extra = cborBlock({ unrelated: true });
    const shuffled = { roots: parts.roots, blocks: [extra, ...[...parts.blocks].reverse(), parts.blocks[0]!] };
    expect(readCarProof(joinCar(shuffled)).blocks.size).toBe(parts.blocks.length + 1);
  });
});

describe('readCarProof: malformed CARs are CAR_INVALID or CID_MISMATCH, never a raw exception', () => {
  it('a flipped byte in any block is CID_MISMATCH', () => {
    for (const [i, block] of parts.blocks.entries()) {
      const bytes = block.bytes.slice();
      bytes[bytes.length >> 1]! ^= 0x01;
      const tampered = { roots: parts.roots, blocks: parts.blocks.map((b, j) => (j === i ? { cid: b.cid, bytes } : b)) };
      expect(codeOf(() => readCarProof(joinCar(tampered)))).toBe('CID_MISMATCH');
    }
  });

  it('a cut inside any section is CAR_INVALID (truncation)', () => {
    const boundaries = new Set<number>();
    let offset = 0;
    const sections = [dagCbor.encode({ version: 1, roots: parts.roots }), ...parts.blocks.map((b) => concat(b.cid.bytes, b.bytes))];
    for (const s of sections) {
      offset += varintLength(s.length) + s.length;
      boundaries.add(offset);
    }
    expect(offset).toBe(car.length);
    for (let cut = 0; cut < car.length; cut++) {
      if (boundaries.has(cut)) continue;
      expect(codeOf(() => readCarProof(car.subarray(0, cut)))).toBe('CAR_INVALID');
    }
  });

  it.each([
    ['CAR version 2', () => joinCar(parts, { version: 2, roots: parts.roots })],
    ['a CARv2 pragma', () => joinCar({ roots: [], blocks: [] }, { version: 2 })],
    ['no roots', () => joinCar(parts, { version: 1, roots: [] })],
    ['two roots', () => joinCar(parts, { version: 1, roots: [parts.roots[0], parts.roots[0]] })],
    ['no roots field', () => joinCar(parts, { version: 1 })],
    ['a header that is not a map', () => joinCar(parts, [1, parts.roots])],
    ['a root that is not a CID', () => joinCar(parts, { version: 1, roots: ['bafy'] })],
    ['a raw-codec root', () => joinCar(parts, { version: 1, roots: [CID.createV1(0x55, parts.roots[0]!.multihash)] })],
    ['a root block absent from the CAR', () => joinCar({ roots: parts.roots, blocks: parts.blocks.slice(1) })],
    ['a zero-length section', () => concat(car, Uint8Array.of(0))],
    ['a non-minimal section length', () => concat(car, Uint8Array.of(0x81, 0x00))],
    ['a section length beyond any CAR', () => concat(car, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))],
    ['an empty input', () => new Uint8Array(0)],
  ])('%s', (_name, make) => {
    expect(codeOf(() => readCarProof(make()))).toBe('CAR_INVALID');
  });

  it('a non-canonical header is CAR_INVALID', () => {
    const header = dagCbor.encode({ version: 1, roots: parts.roots });
    const nonMinimal = concat(Uint8Array.of(0xb8, 0x02), header.subarray(1)); // map length in an extra byte
    expect(codeOf(() => readCarProof(concat(Uint8Array.of(nonMinimal.length), nonMinimal, car.subarray(1 + header.length))))).toBe(
      'CAR_INVALID',
    );
  });

  it('a block named by a CIDv0, a sha2-512 CID or a dag-pb CID is CAR_INVALID', () => {
    const body = dagCbor.encode({ a: 1 });
    const v0 = CID.createV0(Digest.create(0x12, new Uint8Array(32)));
    const sha512Cid = CID.createV1(0x71, Digest.create(0x13, sha512(body)));
    const dagPb = CID.createV1(0x70, parts.roots[0]!.multihash);
    for (const cid of [v0, sha512Cid, dagPb]) {
      const bad = { roots: parts.roots, blocks: [...parts.blocks, { cid: cid as CID, bytes: body }] };
      expect(codeOf(() => readCarProof(joinCar(bad)))).toBe('CAR_INVALID');
    }
  });

  it('a block section holding only a CID prefix is CAR_INVALID', () => {
    expect(codeOf(() => readCarProof(concat(car, Uint8Array.of(3, 0x01, 0x71, 0x12))))).toBe('CAR_INVALID');
  });

  it('enforces the byte and block caps', () => {
    expect(codeOf(() => readCarProof(car, { maxBytes: car.length - 1 }))).toBe('CAR_INVALID');
    expect(() => readCarProof(car, { maxBytes: car.length })).not.toThrow();
    expect(codeOf(() => readCarProof(car, { maxBlocks: parts.blocks.length - 1 }))).toBe('CAR_INVALID');
    expect(() => readCarProof(car, { maxBlocks: parts.blocks.length })).not.toThrow();
  });

  it('arbitrary bytes never escape as a raw exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        codeOf(() => readCarProof(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('random edits of a real CAR never escape as a raw exception', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
        const bytes = car.slice();
        for (const [at, xor] of edits) bytes[at % bytes.length]! ^= xor;
        codeOf(() => readCarProof(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}
