/**
 * Properties of the strict DAG-CBOR decoder (src/atproto/cbor.ts): one value has one encoding.
 * Every canonical encoding decodes back to its value; any other byte string either fails with
 * CBOR_INVALID or decodes to a value whose canonical encoding is exactly those bytes. Nothing
 * else escapes: no untyped exception, no stack overflow.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { describe, expect, it } from 'vitest';
import { decodeCanonicalCbor, DEFAULT_MAX_DEPTH } from '../../src/atproto/cbor.js';
import { VerificationError } from '../../src/errors.js';

/** `null` when the decoder refused with CBOR_INVALID; anything else it threw fails the property. */
function decodeOrRefuse(bytes: Uint8Array): { value: unknown } | null {
  try {
    return { value: decodeCanonicalCbor(bytes) };
  } catch (err) {
    if (err instanceof VerificationError && err.code === 'CBOR_INVALID') return null;
    throw err;
  }
}

const cidArb = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((seed) => CID.createV1(0x71, Digest.create(0x12, sha256(seed))));
/** Values of the atproto data model: no floats, no undefined, integers within 64 bits. */
const dataModel = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }).filter((n) => n < -(2n ** 53n) || n > 2n ** 53n),
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 40 }),
    cidArb,
  ),
  node: fc.oneof({ depthSize: 'small', maxDepth: 5 }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 5 })),
})).node;

/** Byte-level edits: flip, overwrite, insert, delete, truncate, append. */
const edit = fc.oneof(
  fc.record({ op: fc.constant('xor' as const), at: fc.nat(), v: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), v: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), v: fc.constant(0) }),
  fc.record({ op: fc.constant('append' as const), at: fc.constant(0), v: fc.integer({ min: 0, max: 255 }) }),
);
type Edit = { op: 'xor' | 'set' | 'insert' | 'delete' | 'truncate' | 'append'; at: number; v: number };

function applyEdit(bytes: Uint8Array, e: Edit): Uint8Array {
  const at = bytes.length === 0 ? 0 : e.at % bytes.length;
  const out = Array.from(bytes);
  switch (e.op) {
    case 'xor':
      if (out.length) out[at]! ^= e.v;
      break;
    case 'set':
      if (out.length) out[at] = e.v;
      break;
    case 'insert':
      out.splice(at, 0, e.v);
      break;
    case 'delete':
      out.splice(at, e.v);
      break;
    case 'truncate':
      out.length = at;
      break;
    case 'append':
      out.push(e.v);
  }
  return Uint8Array.from(out);
}

describe('decodeCanonicalCbor properties', () => {
  it('every data-model value round-trips through its canonical encoding', () => {
    fc.assert(
      fc.property(dataModel, (value) => {
        const bytes = dagCbor.encode(value);
        const decoded = decodeOrRefuse(bytes);
        // Deeply nested generated values may exceed the depth cap; those must be refused, typed.
        if (decoded === null) return;
        expect(Buffer.compare(Buffer.from(dagCbor.encode(decoded.value)), Buffer.from(bytes))).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('an edited encoding is refused, or decodes to a value whose only encoding is the edited bytes', () => {
    fc.assert(
      fc.property(dataModel, fc.array(edit, { minLength: 1, maxLength: 3 }), (value, edits) => {
        let bytes: Uint8Array = dagCbor.encode(value);
        for (const e of edits) bytes = applyEdit(bytes, e);
        const decoded = decodeOrRefuse(bytes);
        if (decoded !== null) expect(Buffer.compare(Buffer.from(dagCbor.encode(decoded.value)), Buffer.from(bytes))).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes are refused with CBOR_INVALID or accepted as canonical; nothing else escapes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const decoded = decodeOrRefuse(bytes);
        if (decoded !== null) expect(Buffer.compare(Buffer.from(dagCbor.encode(decoded.value)), Buffer.from(bytes))).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('a map written in any order other than the canonical one is refused', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 6 }), { minLength: 2, maxLength: 8 }), fc.infiniteStream(fc.nat()), (keys, stream) => {
        // DAG-CBOR's order: shorter encoded keys first, then bytewise (not JS property order).
        const canonical = [...keys].sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const shuffled = [...keys];
        const it = stream[Symbol.iterator]();
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = it.next().value! % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const bytes = Uint8Array.from([0xa0 | shuffled.length, ...shuffled.flatMap((k) => [...dagCbor.encode(k), 0x01])]);
        const decoded = decodeOrRefuse(bytes);
        expect(decoded !== null).toBe(shuffled.every((k, i) => k === canonical[i]));
      }),
      { numRuns: 300 },
    );
  });

  it('nesting is accepted exactly up to the depth cap, at any depth without exhausting the stack', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom(0x81, 0xa1), (depth, opener) => {
        // 0x81: array of one; 0xa1: map of one, whose key "" (0x60) precedes each level's value.
        const level = opener === 0x81 ? [0x81] : [0xa1, 0x60];
        const bytes = new Uint8Array(depth * level.length + 1);
        for (let i = 0; i < depth; i++) bytes.set(level, i * level.length);
        bytes[bytes.length - 1] = 0x01;
        expect(decodeOrRefuse(bytes) !== null).toBe(depth <= DEFAULT_MAX_DEPTH);
      }),
      { numRuns: 200 },
    );
  });
});
