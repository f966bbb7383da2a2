import type { CID } from 'multiformats/cid';
import { boundedCache } from '../bounded-memo.js';
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

/**
 * Commits whose signature verified, by commit CID and key. The CID is the hash of the commit
 * block (every block of the CAR was checked against its CID), so the same CID under the same key
 * verifies the same way: a PDS proves every record of a repository against its current head
 * commit, so the images a publisher pushed since its last write share one commit, and its ECDSA
 * verification (about a third of a millisecond for K-256) is done once (issue 12, item 3).
 * Only successes are kept; the DID and the MST path are checked on every proof.
 */
const verifiedCommits = boundedCache<Commit>(1024);

function verifiedCommit(blockBytes: Uint8Array, commitCid: CID, expected: ExpectedRecord): Commit {
  const id = `${commitCid.toString()} ${expected.key.curve} ${Buffer.from(expected.key.compressed).toString('hex')}`;
  const known = verifiedCommits.get(id);
  const commit = known ?? parseCommit(blockBytes);
  if (commit.did !== expected.did) {
    throw new VerificationError('COMMIT_DID_MISMATCH', `commit ${commitCid} is for repository ${commit.did}, not ${expected.did}`);
  }
  if (known) return known;
  verifyCommitSignature(commit, expected.key);
  return verifiedCommits.remember(id, Object.freeze(commit));
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
  const commit = verifiedCommit(blocks.get(commitCid)!, commitCid, expected);

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
