/**
 * Every parser that reads attacker-chosen input, fed random input: it returns, or throws a
 * VerificationError with a code of its own step; never a TypeError, RangeError or other untyped
 * exception (which a face would report as INTERNAL, or worse, crash on). Plus the key and
 * signature properties: a key round-trips through its Multikey, a valid signature stops
 * verifying when any bit of it or of the message changes, and its high-S twin never verifies.
 */
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as dagCbor from '@ipld/dag-cbor';
import fc from 'fast-check';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { parseSignaturePayload } from '../../src/artifact/signature-payload.js';
import { readCarProof } from '../../src/atproto/car.js';
import { parseCid } from '../../src/atproto/cid.js';
import { parseCommit } from '../../src/atproto/commit.js';
import { formatMultikey, keyFromVerificationMethod, parseDidKey, parseMultikey, verifyEcdsaSignature } from '../../src/atproto/keys.js';
import { verifyRecordProof } from '../../src/atproto/record-proof.js';
import { parseTid } from '../../src/atproto/tid.js';
import { ERROR_CODES, VerificationError, type ErrorCode } from '../../src/errors.js';
import { locateDid } from '../../src/identity/did.js';
import { parseDidDocument } from '../../src/identity/did-document.js';
import { parseManifestRecordUri } from '../../src/verify/record-uri.js';
import { corpusVerifier, loadCorpus } from '../adversarial/corpus.js';

const world = loadCorpus().world;
const signer = world.signers.k256;

/** Runs `fn`; passes when it returns or throws a VerificationError whose code is in `allowed`. */
function typedOnly(allowed: ErrorCode[], fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof VerificationError)) throw new Error(`untyped exception: ${err instanceof Error ? err.stack : String(err)}`, { cause: err });
    expect(allowed).toContain(err.code);
  }
}

const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.stringMatching(/^did:(plc|web|key):[a-zA-Z0-9._:%-]{0,40}$/));
const json = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.anything({ maxDepth: 3 }));
/** JSON shaped almost like a payload or a DID document, so parsing reaches past the first check. */
const nearPayload = fc.record(
  {
    $type: fc.oneof(fc.constant('io.atcr.atprotoSignature'), fc.string()),
    subject: fc.oneof(fc.record({ digest: fc.oneof(fc.constant(world.subjectDigest), fc.string()) }), json),
    atproto: fc.oneof(fc.record({ did: fc.oneof(fc.constant(signer.did), text), recordUri: fc.oneof(fc.constant(`at://${signer.did}/io.atcr.manifest/${signer.rkey}`), fc.string()) }), json),
    proof: fc.oneof(fc.record({ car: fc.base64String({ maxLength: 200 }) }), json),
  },
  { requiredKeys: [] },
);
const nearDidDocument = fc.record(
  {
    id: fc.oneof(fc.constant(signer.did), text),
    verificationMethod: fc.array(
      fc.record({ id: fc.oneof(fc.constant('#atproto'), fc.string()), type: fc.oneof(fc.constantFrom('Multikey', 'EcdsaSecp256k1VerificationKey2019', 'EcdsaSecp256r1VerificationKey2019'), fc.string()), controller: fc.constant(signer.did), publicKeyMultibase: fc.oneof(fc.constant(signer.publicKeyMultibase), fc.string(), json) }, { requiredKeys: [] }),
      { maxLength: 3 },
    ),
    service: fc.array(fc.record({ id: fc.oneof(fc.constant('#atproto_pds'), fc.string()), type: fc.oneof(fc.constant('AtprotoPersonalDataServer'), fc.string()), serviceEndpoint: fc.oneof(fc.webUrl(), fc.string(), json) }, { requiredKeys: [] }), { maxLength: 3 }),
  },
  { requiredKeys: [] },
);

describe('parsers of untrusted input throw only typed errors', () => {
  it('signature payload: random bytes, random JSON, near-payloads', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), json.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'null')), json, nearPayload), (input) => {
        typedOnly(['ARTIFACT_INVALID'], () => parseSignaturePayload(input));
      }),
      { numRuns: 500 },
    );
  });

  it('DID documents: random JSON and near-documents', () => {
    fc.assert(
      fc.property(fc.oneof(json, nearDidDocument), fc.boolean(), (doc, allow) => {
        typedOnly(['DID_DOCUMENT_INVALID', 'KEY_UNSUPPORTED'], () => parseDidDocument(doc, signer.did, allow));
      }),
      { numRuns: 500 },
    );
  });

  it('DIDs, record URIs, TIDs and CID strings', () => {
    fc.assert(
      fc.property(text, fc.boolean(), (s, allow) => {
        typedOnly(['DID_INVALID'], () => locateDid(s, allow));
        typedOnly(['ARTIFACT_INVALID'], () => parseManifestRecordUri(s, signer.did));
        typedOnly(['ARTIFACT_INVALID'], () => parseManifestRecordUri(`at://${signer.did}/io.atcr.manifest/${s}`, signer.did));
        typedOnly(['COMMIT_INVALID'], () => parseTid(s));
        typedOnly(['CAR_INVALID'], () => parseCid(s));
      }),
      { numRuns: 500 },
    );
  });

  it('CARs, commits and record proofs from random bytes and random CBOR', () => {
    const expected = { did: signer.did, collection: world.collection, rkey: signer.rkey, key: parseMultikey(signer.publicKeyMultibase) };
    const cborish = fc.oneof(fc.uint8Array({ maxLength: 300 }), json.map((v) => safeEncode(v)));
    fc.assert(
      fc.property(cborish, (bytes) => {
        typedOnly(['CAR_INVALID', 'CBOR_INVALID', 'CID_MISMATCH'], () => readCarProof(bytes));
        typedOnly(['CBOR_INVALID', 'COMMIT_INVALID'], () => parseCommit(bytes));
        typedOnly(['CAR_INVALID', 'CBOR_INVALID', 'CID_MISMATCH', 'COMMIT_INVALID', 'COMMIT_DID_MISMATCH', 'SIGNATURE_INVALID', 'MST_INVALID', 'RECORD_NOT_IN_COMMIT'], () =>
          verifyRecordProof(bytes, expected),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('the Verifier never reports INTERNAL for random payloads', async () => {
    const verifier = corpusVerifier();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 200 }), nearPayload, json), async (payload) => {
        const outcome = await verifier.verify({ subjectDigest: world.subjectDigest, reference: world.reference, payload });
        expect(outcome.isSuccess).toBe(false);
        expect(ERROR_CODES).toContain(outcome.error!.code);
        expect(outcome.error!.code).not.toBe('INTERNAL');
      }),
      { numRuns: 300 },
    );
  });
});

describe('key parsers', () => {
  const curves = { k256: { curve: secp256k1, prefix: [0xe7, 0x01] }, p256: { curve: p256, prefix: [0x80, 0x24] } } as const;

  it('random Multikeys, did:keys and verification methods throw only typed errors', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('k256', 'p256'),
        fc.oneof(fc.uint8Array({ minLength: 33, maxLength: 33 }), fc.uint8Array({ minLength: 65, maxLength: 65 }), fc.uint8Array({ maxLength: 80 })),
        fc.string({ maxLength: 40 }),
        (name, point, type) => {
          const multikey = base58btc.encode(Uint8Array.from([...curves[name].prefix, ...point]));
          typedOnly(['KEY_UNSUPPORTED'], () => parseMultikey(multikey));
          typedOnly(['KEY_UNSUPPORTED'], () => parseDidKey(`did:key:${multikey}`));
          typedOnly(['KEY_UNSUPPORTED', 'DID_DOCUMENT_INVALID'], () => keyFromVerificationMethod({ type, publicKeyMultibase: multikey }));
          typedOnly(['KEY_UNSUPPORTED', 'DID_DOCUMENT_INVALID'], () => keyFromVerificationMethod({ type: 'Multikey', publicKeyMultibase: multikey }));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a real key round-trips: compressed or uncompressed in, the canonical compressed Multikey out', () => {
    fc.assert(
      fc.property(fc.constantFrom('k256', 'p256'), fc.uint8Array({ minLength: 32, maxLength: 32 }), (name, seed) => {
        const { curve, prefix } = curves[name];
        fc.pre(curve.utils.isValidSecretKey(seed));
        const compressed = curve.getPublicKey(seed, true);
        const uncompressed = curve.getPublicKey(seed, false);
        const fromCompressed = parseMultikey(base58btc.encode(Uint8Array.from([...prefix, ...compressed])));
        const fromUncompressed = parseMultikey(base58btc.encode(Uint8Array.from([...prefix, ...uncompressed])));
        expect(formatMultikey(fromUncompressed)).toBe(formatMultikey(fromCompressed));
        expect(parseMultikey(formatMultikey(fromCompressed))).toEqual(fromCompressed);
      }),
      { numRuns: 200 },
    );
  });

  it('a valid signature fails when any bit of it or of the message flips, and its high-S twin never verifies', () => {
    fc.assert(
      fc.property(fc.constantFrom('k256', 'p256'), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.boolean(), (name, seed, message, bit, flipMessage) => {
        const { curve } = curves[name];
        fc.pre(curve.utils.isValidSecretKey(seed));
        const key = { curve: name, compressed: curve.getPublicKey(seed, true) };
        const sig = curve.sign(message, seed, { prehash: true, lowS: true }) as Uint8Array;
        expect(verifyEcdsaSignature(key, message, sig)).toBe(true);
        const target = Uint8Array.from(flipMessage ? message : sig);
        target[(bit >> 3) % target.length]! ^= 1 << (bit & 7);
        expect(verifyEcdsaSignature(key, flipMessage ? target : message, flipMessage ? sig : target)).toBe(false);
        const parsed = curve.Signature.fromBytes(sig, 'compact');
        const highS = new curve.Signature(parsed.r, curve.Point.CURVE().n - parsed.s).toBytes('compact');
        expect(verifyEcdsaSignature(key, message, highS)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('random signatures of any length never verify and never throw', () => {
    const key = parseMultikey(signer.publicKeyMultibase);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 130 }), fc.uint8Array({ maxLength: 64 }), (sig, message) => {
        expect(verifyEcdsaSignature(key, message, sig)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

function safeEncode(value: unknown): Uint8Array {
  try {
    return dagCbor.encode(value);
  } catch {
    return new Uint8Array([0xf7]);
  }
}
