import * as dagCbor from '@ipld/dag-cbor';
import { describe, expect, it } from 'vitest';
import { decodeCanonicalCbor } from '../../src/atproto/cbor.js';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { VerificationError } from '../../src/errors.js';
import { concat, encodeMapInOrder } from './car-surgery.js';
import { fromBase64, interopJson } from './vectors.js';

function expectCborInvalid(bytes: Uint8Array, reason?: RegExp): void {
  let caught: unknown;
  try {
    decodeCanonicalCbor(bytes);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(VerificationError);
  expect((caught as VerificationError).code).toBe('CBOR_INVALID');
  if (reason) expect((caught as VerificationError).message).toMatch(reason);
}

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));

describe('decodeCanonicalCbor: interop data-model fixtures', () => {
  const fixtures = interopJson<{ cbor_base64: string; cid: string }[]>('data-model/data-model-fixtures.json');
  it.each(fixtures.map((f, i) => [i, f] as const))('fixture %i decodes and its bytes hash to the fixture CID', (_i, fixture) => {
    const bytes = fromBase64(fixture.cbor_base64);
    const value = decodeCanonicalCbor(bytes);
    expect(value).toBeTypeOf('object');
    expect(cidForDagCbor(bytes).toString()).toBe(fixture.cid);
  });
});

describe('decodeCanonicalCbor: accepts canonical DAG-CBOR', () => {
  it('round-trips maps, lists, bytes, CIDs, booleans, null and 64-bit integers', () => {
    const cid = cidForDagCbor(dagCbor.encode({ a: 1 }));
    const value = { a: [1, -1, 2 ** 40, true, false, null], b: new Uint8Array([1, 2]), c: cid, dd: 'text', big: 2n ** 63n - 1n };
    expect(decodeCanonicalCbor(dagCbor.encode(value))).toEqual(value);
  });
});

describe('decodeCanonicalCbor: rejects every non-canonical or out-of-model encoding', () => {
  it('unsorted map keys', () => {
    // DAG-CBOR sorts by length then bytes: "b" before "aa".
    expectCborInvalid(encodeMapInOrder([['aa', 1], ['b', 2]]), /not canonical/);
    expectCborInvalid(encodeMapInOrder([['b', 1], ['a', 2]]), /not canonical/);
  });
  it('duplicate map keys', () => expectCborInvalid(encodeMapInOrder([['a', 1], ['a', 2]])));
  it('non-minimal integers and lengths', () => {
    expectCborInvalid(hex('1805')); // 5 written in one extra byte
    expectCborInvalid(hex('190005'));
    expectCborInvalid(hex('a1 7801 61 01')); // key "a" with a 1-byte length prefix
    expectCborInvalid(hex('9801 01')); // array of 1 with a 1-byte length
  });
  it('indefinite-length items', () => {
    expectCborInvalid(hex('9f 01 ff'), /indefinite/);
    expectCborInvalid(hex('bf 61 61 01 ff'), /indefinite/);
    expectCborInvalid(hex('5f 41 00 ff'), /indefinite/);
  });
  it('floats, including integral ones and specials', () => {
    expectCborInvalid(dagCbor.encode({ a: 1.5 }), /float/);
    expectCborInvalid(hex('a1 61 61 fb 3ff0000000000000'), /float/); // 1.0 as a float64
    expectCborInvalid(hex('f97e00'), /float/); // NaN as float16
    expectCborInvalid(hex('fa7f800000'), /float/); // Infinity as float32
  });
  it('tags other than 42', () => {
    expectCborInvalid(hex('c1 1a 5e0be100'), /tag 1/);
    expectCborInvalid(hex('d82b 41 00'), /tag 43/);
  });
  it('tag 42 that is not a CID', () => {
    expectCborInvalid(hex('d82a 43 010203'));
    expectCborInvalid(hex('d82a 01'));
  });
  it('undefined and other simple values', () => {
    expectCborInvalid(hex('f7'), /simple value/);
    expectCborInvalid(hex('f0'), /simple value/);
    expectCborInvalid(hex('f8 ff'), /simple value/);
  });
  it('non-string map keys', () => expectCborInvalid(hex('a1 01 02')));
  it('invalid UTF-8 in a text string', () => expectCborInvalid(hex('62 c328')));
  it('truncated input and lengths that run past the end', () => {
    expectCborInvalid(new Uint8Array(0), /empty/);
    expectCborInvalid(hex('82 01'), /truncated/);
    expectCborInvalid(hex('5a ffffffff 00'), /runs past the end/);
    expectCborInvalid(hex('7b ffffffffffffffff'), /runs past the end/);
    expectCborInvalid(hex('1b 00'), /truncated/);
    expectCborInvalid(hex('9b ffffffffffffffff'), /truncated/);
  });
  it('reserved additional information', () => expectCborInvalid(hex('1c'), /reserved/));
  it('trailing bytes after the item', () => expectCborInvalid(concat(dagCbor.encode({ a: 1 }), hex('00')), /trailing/));
  it('nesting beyond the depth cap, without exhausting the stack', () => {
    const deep = new Uint8Array(200_000).fill(0x81); // [[[[...
    expectCborInvalid(concat(deep, hex('01')), /nesting deeper than 32/);
    let nested: unknown = 1;
    for (let i = 0; i < 10; i++) nested = [nested];
    expect(() => decodeCanonicalCbor(dagCbor.encode(nested), { maxDepth: 10 })).not.toThrow();
    let caught: unknown;
    try {
      decodeCanonicalCbor(dagCbor.encode([nested]), { maxDepth: 10 });
    } catch (err) {
      caught = err;
    }
    expect((caught as VerificationError).code).toBe('CBOR_INVALID');
  });
  it('names what it was decoding', () => {
    expect(() => decodeCanonicalCbor(hex('f7'), { what: 'record block bafyx' })).toThrow(/record block bafyx/);
  });
});
