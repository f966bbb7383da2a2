/**
 * Rules of src/atproto/cbor.ts the mutation run found unpinned: the boundaries of the structural
 * scan (simple values 20-22 only, reserved additional information from 28, the depth cap
 * inclusive, an item header that exactly fits), and refusals that say what and where.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_DEPTH, decodeCanonicalCbor, isCborMap, showValue } from '../../src/atproto/cbor.js';
import { errorOf } from '../harness/error-code.js';

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));
const refusal = (bytes: Uint8Array, options = {}) => {
  const err = errorOf(() => decodeCanonicalCbor(bytes, { what: 'record', ...options }));
  expect(err.code).toBe('CBOR_INVALID');
  return err.message;
};

describe('simple values: false, true and null only', () => {
  it.each([
    ['f3', 'simple value 19'],
    ['f7', 'simple value 23'],
    ['f8 ff', 'simple value 255'],
    ['f8 20', 'simple value 32'],
    ['e0', 'simple value 0'],
  ])('%s is refused as %s', (bytes, shown) => {
    expect(refusal(hex(bytes))).toBe(`record: ${shown} (only false, true and null are allowed) at byte 0`);
  });

  it.each([
    ['f4', false],
    ['f5', true],
    ['f6', null],
  ])('%s decodes to %s', (bytes, value) => {
    expect(decodeCanonicalCbor(hex(bytes))).toBe(value);
  });

  it.each(['f9 3c00', 'fa 3f800000', 'fb 3ff0000000000000'])('the float %s is refused as a float', (bytes) => {
    expect(refusal(hex(bytes))).toBe('record: floating-point number (floats are not allowed in atproto data) at byte 0');
  });
});

describe('item headers', () => {
  it.each([
    ['1c', 'reserved additional information 28'],
    ['3d', 'reserved additional information 29'],
    ['5e', 'reserved additional information 30'],
    ['5f', 'indefinite-length item (not allowed in DAG-CBOR)'],
  ])('%s: %s', (bytes, reason) => {
    expect(refusal(hex(bytes))).toBe(`record: ${reason} at byte 0`);
  });

  it('an integer header that exactly fits the input is read; one byte short is truncated', () => {
    expect(decodeCanonicalCbor(hex('1b 0020000000000000'))).toBe(2n ** 53n);
    expect(refusal(hex('1b 00200000000000'))).toBe('record: truncated item header at byte 0');
    expect(decodeCanonicalCbor(hex('19 0100'))).toBe(256);
    expect(refusal(hex('19 01'))).toBe('record: truncated item header at byte 0');
  });

  it('a string that exactly fits is read; one that runs past the end says which kind', () => {
    expect(decodeCanonicalCbor(hex('63 616263'))).toBe('abc');
    expect(refusal(hex('64 616263'))).toBe('record: text string of 4 bytes runs past the end at byte 0');
    expect(refusal(hex('44 616263'))).toBe('record: byte string of 4 bytes runs past the end at byte 0');
    expect(refusal(hex('82 01 44 616263'))).toBe('record: byte string of 4 bytes runs past the end at byte 2');
  });

  it('a tag other than 42 is refused, naming it', () => {
    expect(refusal(hex('d8 2b 40'))).toBe('record: CBOR tag 43 (only tag 42, CID, is allowed) at byte 0');
    expect(refusal(hex('c1 00'))).toBe('record: CBOR tag 1 (only tag 42, CID, is allowed) at byte 0');
  });

  it('truncation inside a container, empty input and trailing bytes say so, with the offset', () => {
    expect(refusal(hex('82 01'))).toBe('record: truncated inside an array, map or tag at byte 2');
    expect(refusal(hex('a1 61 61'))).toBe('record: truncated inside an array, map or tag at byte 3');
    expect(refusal(new Uint8Array(0))).toBe('record: empty input at byte 0');
    expect(refusal(hex('01 02 03'))).toBe('record: 2 trailing bytes after the top-level item at byte 1');
  });

  it('an empty array or map closes itself: what follows is trailing', () => {
    expect(decodeCanonicalCbor(hex('80'))).toEqual([]);
    expect(refusal(hex('80 00'))).toBe('record: 1 trailing bytes after the top-level item at byte 1');
    expect(decodeCanonicalCbor(hex('82 80 a0'))).toEqual([[], {}]);
  });

  it('a map counts two items per entry', () => {
    expect(decodeCanonicalCbor(hex('a1 61 61 01'))).toEqual({ a: 1 });
    expect(refusal(hex('a1 61 61'))).toMatch(/truncated inside/);
    expect(refusal(hex('a1 61 61 01 02'))).toMatch(/1 trailing bytes/);
  });
});

describe('depth: the cap is inclusive, and counts arrays, maps and tags', () => {
  const nested = (depth: number) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = [value];
    return dagCbor.encode(value);
  };
  it.each([1, 2, 5])('depth cap %i: %i levels are read, one more is refused', (cap) => {
    expect(() => decodeCanonicalCbor(nested(cap), { maxDepth: cap })).not.toThrow();
    expect(refusal(nested(cap + 1), { maxDepth: cap })).toBe(`record: nesting deeper than ${cap} levels at byte ${cap}`);
  });

  it(`the default cap is ${DEFAULT_MAX_DEPTH}`, () => {
    expect(DEFAULT_MAX_DEPTH).toBe(32);
    expect(() => decodeCanonicalCbor(nested(32))).not.toThrow();
    expect(refusal(nested(33))).toMatch(/nesting deeper than 32 levels/);
  });

  it('a CID tag counts as a level', () => {
    const cid = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
    expect(() => decodeCanonicalCbor(dagCbor.encode([cid]), { maxDepth: 2 })).not.toThrow();
    expect(refusal(dagCbor.encode([cid]), { maxDepth: 1 })).toBe('record: nesting deeper than 1 levels at byte 1');
  });
});

describe('canonical form: the bytes are what the encoder writes', () => {
  it('unsorted map keys: the message says how the bytes differ', () => {
    expect(refusal(hex('a2 6162 01 6161 02'))).toBe('record is not canonical DAG-CBOR (7 bytes re-encode to 7 different bytes: unsorted or duplicate map keys, or non-minimal lengths)');
    // Keys sort by length first: "b" before "aa".
    expect(refusal(hex('a2 626161 01 6162 02'))).toMatch(/^record is not canonical DAG-CBOR \(8 bytes re-encode to 8 different bytes/);
    expect(decodeCanonicalCbor(hex('a2 6162 01 626161 02'))).toEqual({ b: 1, aa: 2 });
  });

  it('bytes the decoder refuses say so, with its reason', () => {
    const err = errorOf(() => decodeCanonicalCbor(hex('a1 01 02')));
    expect(err.cause).toBeInstanceOf(Error);
    expect(err.message).toBe(`CBOR is not valid DAG-CBOR: ${(err.cause as Error).message}`);
  });
});

describe('isCborMap and showValue', () => {
  const cid = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
  it.each<[unknown, boolean, string]>([
    [{ a: 1 }, true, 'a map'],
    [{}, true, 'a map'],
    [[], false, 'an array'],
    [new Uint8Array(3), false, '3 bytes'],
    [cid, false, 'a CID'],
    [null, false, 'null'],
    ['x'.repeat(100), false, JSON.stringify('x'.repeat(80))],
    [7, false, '7'],
    [10n, false, '10'],
    [true, false, 'true'],
    [undefined, false, 'undefined'],
  ])('value %#: is a map: %s; shown as %s', (value, map, shown) => {
    expect(isCborMap(value)).toBe(map);
    expect(showValue(value)).toBe(shown);
  });
});
