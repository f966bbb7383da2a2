import type { CID } from 'multiformats/cid';
import { VerificationError } from '../errors.js';
import { readCarProof, type CarLimits } from './car.js';
import { decodeCanonicalCbor } from './cbor.js';
import { DAG_CBOR_CODEC } from './cid.js';
import { parseCommit, verifyCommitSignature, type Commit } from './commit.js';
import type { AtprotoPublicKey } from './keys.js';
import { findInMst } from './mst.js';
import { parseTid } from './tid.js';

/** What a verified `com.atproto.sync.getRecord` proof establishes. */
export interface RecordProof {
  commitCid: CID;
  commit: Commit;
  recordCid: CID;
  /** The record, decoded from canonical DAG-CBOR. */
  record: unknown;
  /** The time the signer claims for the commit: its `rev` TID. Signed, unlike any artifact field. */
  signedAt: Date;
}

export interface ExpectedRecord {
  did: string;
  collection: string;
  rkey: string;
  /** The signing key, from the DID document (never from the artifact). */
  key: AtprotoPublicKey;
}

/** Repo path segments (repository spec, "Repository Paths"): NSID and record key characters. */
const PATH_SEGMENT = /^[A-Za-z0-9._~:-]+$/;

/**
 * Verifies a record proof CAR (SPEC section 3 steps 3-5): its blocks hash to their CIDs, its root
 * is a v3 commit of `expected.did` signed by `expected.key`, and that commit's MST maps
 * `<collection>/<rkey>` to a record whose block is in the CAR. Every failure is a VerificationError.
 */
export function verifyRecordProof(car: Uint8Array, expected: ExpectedRecord, limits: CarLimits = {}): RecordProof {
  const path = repoPath(expected.collection, expected.rkey);
  const { root: commitCid, blocks } = readCarProof(car, limits);
  const commit = parseCommit(blocks.get(commitCid)!);
  if (commit.did !== expected.did) {
    throw new VerificationError('COMMIT_DID_MISMATCH', `commit ${commitCid} is for repository ${commit.did}, not ${expected.did}`);
  }
  verifyCommitSignature(commit, expected.key);

  const recordCid = findInMst(blocks, commit.data, path);
  if (recordCid === null) {
    throw new VerificationError(
      'RECORD_NOT_IN_COMMIT',
      `signed commit ${commitCid} (rev ${commit.rev}) proves ${path} is absent from ${commit.did}'s repository (deleted, or never written)`,
    );
  }
  if (recordCid.code !== DAG_CBOR_CODEC) {
    throw new VerificationError('MST_INVALID', `MST maps ${path} to ${recordCid}, which is not a dag-cbor record link`);
  }
  const recordBytes = blocks.get(recordCid);
  if (!recordBytes) {
    throw new VerificationError('CAR_INVALID', `commit ${commitCid} includes ${path} as ${recordCid}, but the proof lacks that record block`);
  }
  const record = decodeCanonicalCbor(recordBytes, { what: `record block ${recordCid}` });
  return { commitCid, commit, recordCid, record, signedAt: parseTid(commit.rev).date };
}

function repoPath(collection: string, rkey: string): string {
  for (const [name, segment] of [
    ['collection', collection],
    ['rkey', rkey],
  ] as const) {
    if (typeof segment !== 'string' || !PATH_SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new VerificationError('INPUT_INVALID', `${name} ${typeof segment === 'string' ? JSON.stringify(segment.slice(0, 80)) : typeof segment} is not a valid repo path segment`);
    }
  }
  return `${collection}/${rkey}`;
}
