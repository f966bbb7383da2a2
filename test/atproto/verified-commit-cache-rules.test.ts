import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as commitModule from '../../src/atproto/commit.js';
import { verifyRecordProof, type ExpectedRecord } from '../../src/atproto/record-proof.js';
import { forgetBoundedMemos } from '../../src/bounded-memo.js';
import { buildRepo, COLLECTION, recordProof, type BuiltRepo } from './repo-fixtures.js';
import { codeOf } from '../harness/error-code.js';

// Issue 12, item 3: a PDS proves every record of a repository against its current head commit, so
// the images a publisher pushed since its last write share one signed commit. Its signature is
// verified once per (commit CID, key); the DID, the MST path and the record are checked every time.

let built: BuiltRepo;
let other: BuiltRepo;
let cars: Uint8Array[];
const expectedFor = (b: BuiltRepo, rkey: string): ExpectedRecord => ({ did: b.did, collection: COLLECTION, rkey, key: b.key });

beforeAll(async () => {
  [built, other] = await Promise.all([buildRepo({ records: 20 }), buildRepo({ records: 3, curve: 'p256', did: 'did:plc:otherotherotherotherothe' })]);
  cars = await Promise.all(built.rkeys.slice(0, 3).map((rkey) => recordProof(built, rkey)));
});

describe('the verified-commit cache', () => {
  it('verifies the shared head commit once for the proofs of several records, and each record is still found', () => {
    const verify = vi.spyOn(commitModule, 'verifyCommitSignature');
    try {
      const records = cars.map((car, i) => verifyRecordProof(car, expectedFor(built, built.rkeys[i]!)));
      expect(new Set(records.map((r) => r.commitCid.toString())).size).toBe(1);
      expect(new Set(records.map((r) => r.recordCid.toString())).size).toBe(3);
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      verify.mockRestore();
    }
  });

  it('never lets a commit verified under one key pass under another key', () => {
    expect(codeOf(() => verifyRecordProof(cars[0]!, expectedFor(built, built.rkeys[0]!)))).toBe('no error');
    expect(codeOf(() => verifyRecordProof(cars[0]!, { ...expectedFor(built, built.rkeys[0]!), key: other.key }))).toBe('SIGNATURE_INVALID');
  });

  it('checks the DID on every proof, cached commit or not', () => {
    expect(codeOf(() => verifyRecordProof(cars[1]!, expectedFor(built, built.rkeys[1]!)))).toBe('no error');
    expect(codeOf(() => verifyRecordProof(cars[1]!, { ...expectedFor(built, built.rkeys[1]!), did: other.did }))).toBe('COMMIT_DID_MISMATCH');
  });

  it('checks the MST path on every proof: a cached commit does not prove a record it lacks', () => {
    expect(codeOf(() => verifyRecordProof(cars[2]!, expectedFor(built, built.rkeys[2]!)))).toBe('no error');
    // The same proof asked for another record of the repository: the record block is not in it.
    expect(codeOf(() => verifyRecordProof(cars[2]!, expectedFor(built, built.rkeys[5]!)))).not.toBe('no error');
    expect(codeOf(() => verifyRecordProof(cars[2]!, expectedFor(built, 'absent')))).not.toBe('no error');
  });

  it('is emptied by forgetBoundedMemos (tests start afresh)', () => {
    verifyRecordProof(cars[0]!, expectedFor(built, built.rkeys[0]!));
    forgetBoundedMemos();
    const verify = vi.spyOn(commitModule, 'verifyCommitSignature');
    try {
      verifyRecordProof(cars[0]!, expectedFor(built, built.rkeys[0]!));
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      verify.mockRestore();
    }
  });
});
