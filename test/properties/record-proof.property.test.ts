/**
 * Random mutations of a valid record proof never verify. The proof is the corpus's reference
 * getRecord CAR (a 200-record @atproto/repo tree, signed by the corpus K-256 key). Mutations are
 * made the way an attacker without the signing key could: byte splices, dropped, duplicated,
 * reordered or swapped blocks, and semantic edits of any block re-encoded canonically with every
 * link above it rewritten up to (and including) a new root, optionally re-signed with another key.
 * Only the harmless ones (reordering, duplicates) may verify, and then to the very same record.
 * test/atproto/record-proof.test.ts already flips bits and truncates; this adds the structure.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { parseMultikey } from '../../src/atproto/keys.js';
import { verifyRecordProof, type ExpectedRecord, type RecordProof } from '../../src/atproto/record-proof.js';
import { VerificationError } from '../../src/errors.js';
import { joinCar, splitCar, type CarBlock } from '../atproto/car-surgery.js';
import { corpusBytes, corpusVerifier, loadCorpus, outcomeCode, verifyRequestFor } from '../adversarial/corpus.js';

const world = loadCorpus().world;
const signer = world.signers.k256;
const CAR = corpusBytes('cases/car/valid.car');
const PARTS = splitCar(CAR);
const EXPECTED: ExpectedRecord = { did: signer.did, collection: world.collection, rkey: signer.rkey, key: parseMultikey(signer.publicKeyMultibase) };
const GENUINE = verifyRecordProof(CAR, EXPECTED);
const ATTACKER_KEY = sha256(new TextEncoder().encode('property attacker'));

/** The proof it verified to, or the typed refusal; anything untyped fails the property. */
function attempt(car: Uint8Array): RecordProof | VerificationError {
  try {
    return verifyRecordProof(car, EXPECTED);
  } catch (err) {
    if (err instanceof VerificationError) return err;
    throw new Error(`untyped exception: ${String(err)}`, { cause: err });
  }
}

function expectRefused(car: Uint8Array): void {
  const result = attempt(car);
  expect(result instanceof VerificationError, 'a mutated proof verified').toBe(true);
}

describe('record proof mutations', () => {
  it('byte splices (insert, delete, overwrite a run) never verify', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 64 }), fc.uint8Array({ maxLength: 64 }), (at, removed, inserted) => {
        const pos = at % (CAR.length + 1);
        const mutated = Uint8Array.from([...CAR.subarray(0, pos), ...inserted, ...CAR.subarray(Math.min(CAR.length, pos + removed))]);
        if (Buffer.compare(Buffer.from(mutated), Buffer.from(CAR)) === 0) return;
        expectRefused(mutated);
      }),
      { numRuns: 500 },
    );
  });

  it('dropping any non-empty set of blocks never verifies (the proof holds only what it needs)', () => {
    fc.assert(
      fc.property(fc.subarray([...PARTS.blocks.keys()], { minLength: 1 }), (dropped) => {
        expectRefused(joinCar({ roots: PARTS.roots, blocks: PARTS.blocks.filter((_, i) => !dropped.includes(i)) }));
      }),
      { numRuns: 200 },
    );
  });

  it('duplicated and reordered blocks verify, to the very same commit and record', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...PARTS.blocks, ...PARTS.blocks], { minLength: PARTS.blocks.length * 2 }), (blocks) => {
        const result = attempt(joinCar({ roots: PARTS.roots, blocks }));
        expect(result).not.toBeInstanceOf(VerificationError);
        const proof = result as RecordProof;
        expect(proof.commitCid.equals(GENUINE.commitCid)).toBe(true);
        expect(proof.recordCid.equals(GENUINE.recordCid)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('swapping the bytes of two blocks (CIDs kept) is CID_MISMATCH', () => {
    const n = PARTS.blocks.length;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 }), (i, j) => {
        fc.pre(i !== j);
        const blocks = PARTS.blocks.map((b, k) => (k === i ? { cid: b.cid, bytes: PARTS.blocks[j]!.bytes } : k === j ? { cid: b.cid, bytes: PARTS.blocks[i]!.bytes } : b));
        expect((attempt(joinCar({ roots: PARTS.roots, blocks })) as VerificationError).code).toBe('CID_MISMATCH');
      }),
      { numRuns: 100 },
    );
  });

  it('a semantic edit of any block, relinked up to a new root, never verifies (with or without re-signing by another key)', () => {
    fc.assert(
      fc.property(fc.nat(), valueEdit, fc.boolean(), (which, change, resign) => {
        const target = PARTS.blocks[which % PARTS.blocks.length]!;
        const value = dagCbor.decode(target.bytes);
        const edited = change(value);
        let encoded: Uint8Array;
        try {
          encoded = dagCbor.encode(edited);
        } catch {
          return; // the edit made something DAG-CBOR cannot hold: not a proof anyone can send
        }
        fc.pre(Buffer.compare(Buffer.from(encoded), Buffer.from(target.bytes)) !== 0);
        const { roots, blocks } = relink(PARTS.blocks, target.cid, { cid: cidForDagCbor(encoded), bytes: encoded }, resign);
        expectRefused(joinCar({ roots, blocks }));
      }),
      { numRuns: 400 },
    );
  });

  it('the whole Verifier (offline, pinned key) refuses what verifyRecordProof refuses, typed', async () => {
    const verifier = corpusVerifier();
    const valid = loadCorpus().cases.find((c) => c.file === 'cases/car/valid.car')!;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const car = Uint8Array.from(CAR);
        car[at % car.length]! ^= xor;
        const request = verifyRequestFor(valid);
        const payload = JSON.parse(Buffer.from(request.payload).toString('utf8')) as { proof: { car: string } };
        payload.proof.car = Buffer.from(car).toString('base64');
        const outcome = await verifier.verify({ ...request, payload: new TextEncoder().encode(JSON.stringify(payload)) });
        expect(outcomeCode(outcome)).not.toBe('OK');
        expect(outcome.error).toBeInstanceOf(VerificationError);
        expect(outcome.error!.code).not.toBe('INTERNAL');
      }),
      { numRuns: 150 },
    );
  });
});

/** Edits of a decoded DAG-CBOR value at a random path: change a scalar, add or remove a key, drop an array item. */
const valueEdit = fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.uint8Array({ maxLength: 8 })), fc.nat({ max: 3 })).map(
  ([path, replacement, op]) =>
    (value: unknown): unknown => {
      const root = structuredCloneCbor(value);
      let parent: unknown = null;
      let key: string | number | null = null;
      let node: unknown = root;
      for (const step of path) {
        const children = childrenOf(node);
        if (children.length === 0) break;
        key = children[step % children.length]!;
        parent = node;
        node = (node as Record<string | number, unknown>)[key];
      }
      if (parent === null || key === null) return op === 0 ? replacement : { ...(root as object), x: replacement };
      const container = parent as Record<string | number, unknown>;
      if (op === 1 && Array.isArray(container)) container.splice(key as number, 1);
      else if (op === 1) delete container[key];
      else if (op === 2 && !Array.isArray(container)) container[`${String(key)}x`] = replacement;
      else container[key] = replacement;
      return root;
    },
);

function childrenOf(node: unknown): (string | number)[] {
  if (Array.isArray(node)) return node.map((_, i) => i);
  if (node !== null && typeof node === 'object' && !(node instanceof Uint8Array) && !CID.asCID(node)) return Object.keys(node);
  return [];
}

function structuredCloneCbor(value: unknown): unknown {
  return dagCbor.decode(dagCbor.encode(value));
}

/**
 * Replaces block `old` with `replacement` and rewrites every link to a replaced block, bottom-up,
 * until the commit: what an attacker must do for the tree to stay linked. The CAR root follows the
 * commit; with `resign`, the new commit gets a fresh signature by a key that is not the signer's.
 */
function relink(blocks: CarBlock[], old: CID, replacement: CarBlock, resign: boolean): { roots: CID[]; blocks: CarBlock[] } {
  const renamed = new Map<string, CID>([[old.toString(), replacement.cid]]);
  let current = blocks.map((b) => (b.cid.equals(old) ? replacement : b));
  for (let round = 0; round < blocks.length; round++) {
    let changed = false;
    current = current.map((b) => {
      const value = dagCbor.decode(b.bytes);
      const rewritten = rewriteLinks(value, renamed);
      if (rewritten === value) return b;
      const bytes = dagCbor.encode(rewritten);
      const cid = cidForDagCbor(bytes);
      renamed.set(b.cid.toString(), cid);
      changed = true;
      return { cid, bytes };
    });
    if (!changed) break;
  }
  let root = renamed.get(PARTS.roots[0]!.toString()) ?? PARTS.roots[0]!;
  if (resign) {
    const commit = current.find((b) => b.cid.equals(root));
    const value = commit && (dagCbor.decode(commit.bytes) as Record<string, unknown>);
    if (value && typeof value === 'object' && 'sig' in value) {
      const { sig: _sig, ...unsigned } = value;
      const bytes = dagCbor.encode({ ...unsigned, sig: secp256k1.sign(dagCbor.encode(unsigned), ATTACKER_KEY, { prehash: true, lowS: true }) });
      const resigned = { cid: cidForDagCbor(bytes), bytes };
      current = current.map((b) => (b.cid.equals(root) ? resigned : b));
      root = resigned.cid;
    }
  }
  return { roots: [root], blocks: current };
}

/** The value with every CID in `renamed` replaced; the same object when nothing changed. */
function rewriteLinks(value: unknown, renamed: Map<string, CID>): unknown {
  const cid = CID.asCID(value);
  if (cid) return renamed.get(cid.toString()) ?? value;
  if (Array.isArray(value)) {
    const items = value.map((v) => rewriteLinks(v, renamed));
    return items.some((v, i) => v !== value[i]) ? items : value;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const entries = Object.entries(value).map(([k, v]) => [k, rewriteLinks(v, renamed)] as const);
    return entries.some(([k, v]) => v !== (value as Record<string, unknown>)[k]) ? Object.fromEntries(entries) : value;
  }
  return value;
}
