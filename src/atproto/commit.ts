import * as dagCbor from '@ipld/dag-cbor';
import type { CID } from 'multiformats/cid';
import { VerificationError } from '../errors.js';
import { decodeCanonicalCbor, isCborMap, showValue } from './cbor.js';
import { asBlessedCid, cidForDagCbor } from './cid.js';
import { formatMultikey, verifyEcdsaSignature, type AtprotoPublicKey } from './keys.js';
import { parseTid } from './tid.js';

/** A signed repository commit, version 3 (repository spec, "Commit Objects"). */
export interface Commit {
  did: string;
  version: 3;
  /** Root of the MST. */
  data: CID;
  /** TID; the commit's logical clock and signed time. */
  rev: string;
  /** Kept for v2 compatibility; must be present, virtually always null. */
  prev: CID | null;
  sig: Uint8Array;
}

const COMMIT_FIELDS = new Set(['did', 'version', 'data', 'rev', 'prev', 'sig']);
/** atproto DID syntax (did spec), bounded. */
const DID_SYNTAX = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/;
const MAX_DID_LENGTH = 2048;

/**
 * Parses a commit block strictly. Every v3 field is required with its exact type (`prev` must be
 * present, even if null); version 2 and unknown fields are refused: the signature covers the
 * re-encoded unsigned commit, so a field we drop could never verify anyway.
 */
export function parseCommit(bytes: Uint8Array): Commit {
  const obj = decodeCanonicalCbor(bytes, { what: 'commit block' });
  const fail = (reason: string): never => {
    throw new VerificationError('COMMIT_INVALID', `commit: ${reason}`);
  };
  if (!isCborMap(obj)) return fail('block is not a map');
  for (const field of Object.keys(obj)) {
    if (!COMMIT_FIELDS.has(field)) fail(`unknown field ${JSON.stringify(field)} (a v3 commit has did, version, data, rev, prev, sig)`);
  }
  for (const field of COMMIT_FIELDS) {
    if (!Object.hasOwn(obj, field)) fail(`required field ${field} is missing`);
  }
  if (obj.version !== 3) {
    fail(obj.version === 2 ? 'version 2 (legacy) commits are not accepted; version 3 is required' : `version is ${showValue(obj.version)}, not 3`);
  }
  const did = obj.did;
  if (typeof did !== 'string' || did.length > MAX_DID_LENGTH || !DID_SYNTAX.test(did)) {
    fail(`did ${showValue(did)} is not a DID`);
  }
  const rev = obj.rev;
  if (typeof rev !== 'string') return fail('rev is not a string');
  parseTid(rev);
  const data = asBlessedCid(obj.data, { code: 'COMMIT_INVALID', what: 'commit data (MST root)', dagCborOnly: true });
  const prev = obj.prev === null ? null : asBlessedCid(obj.prev, { code: 'COMMIT_INVALID', what: 'commit prev', dagCborOnly: true });
  const sig = obj.sig;
  if (!(sig instanceof Uint8Array)) return fail('sig is not a byte string');
  return { did: did as string, version: 3, data, rev, prev, sig };
}

/** The bytes the signing key signed: the DAG-CBOR of the commit without `sig`. */
export function unsignedCommitBytes(commit: Commit): Uint8Array {
  const { did, version, data, rev, prev } = commit;
  return dagCbor.encode({ did, version, data, rev, prev });
}

/**
 * Verifies the commit signature (SPEC section 3 step 4): sha256 of the unsigned commit's DAG-CBOR,
 * 64-byte compact low-S ECDSA, with the key from the DID document. Throws SIGNATURE_INVALID.
 */
export function verifyCommitSignature(commit: Commit, key: AtprotoPublicKey): void {
  if (verifyEcdsaSignature(key, unsignedCommitBytes(commit), commit.sig)) return;
  const commitCid = cidForDagCbor(dagCbor.encode(commit));
  const shape =
    commit.sig.length === 64 ? '64-byte signature' : `${commit.sig.length}-byte signature (a compact r||s signature is 64 bytes)`;
  throw new VerificationError(
    'SIGNATURE_INVALID',
    `commit ${commitCid} (rev ${commit.rev}, ${commit.did}): the ${shape} does not verify with key ${formatMultikey(key)} (${key.curve}; high-S, DER, tampered, or another key)`,
  );
}

