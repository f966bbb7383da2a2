import { sha256 } from './sha256.js';
import { base32 } from 'multiformats/bases/base32';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { VerificationError, type ErrorCode } from '../errors.js';


/** Multicodec codes of the "blessed" atproto CID format (data-model spec, "Link and CID Formats"). */
export const DAG_CBOR_CODEC = 0x71;
export const RAW_CODEC = 0x55;
export const SHA2_256_CODE = 0x12;
const SHA2_256_LENGTH = 32;

export interface CidRules {
  /** Error code raised when the CID is malformed or not blessed (default CAR_INVALID). */
  code?: ErrorCode;
  /** What the CID is, for the message: "commit data", "MST node left link"... */
  what?: string;
  /** Commit and MST links must point at DAG-CBOR nodes, never raw blobs (repository spec). */
  dagCborOnly?: boolean;
}

/**
 * Parses a CID from its string (base32, `b` prefix) or binary form and enforces the blessed format:
 * CIDv1, codec dag-cbor or raw, sha2-256 with a 32-byte digest. Anything else is refused, so two
 * parties can never disagree about which bytes a link names.
 */
export function parseCid(input: string | Uint8Array, rules: CidRules = {}): CID {
  const what = rules.what ?? 'CID';
  let cid: CID;
  try {
    if (typeof input === 'string') {
      // Only the canonical base32 string form: rejects CIDv0 "Qm...", other bases, upper case.
      if (!input.startsWith('b')) throw new Error('not base32 (a "b" multibase prefix is required)');
      cid = CID.parse(input, base32);
      if (cid.toString() !== input) throw new Error('not in canonical base32 form');
    } else {
      cid = CID.decode(input);
    }
  } catch (err) {
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 120)) : `${input.length} bytes`;
    throw new VerificationError(rules.code ?? 'CAR_INVALID', `${what} ${shown} is not a valid CID: ${messageOf(err)}`, { cause: err });
  }
  return asBlessedCid(cid, rules);
}

/**
 * Checks that a value decoded from DAG-CBOR (tag 42) is a CID in the blessed format and returns it.
 * Used for the links a proof depends on: commit `data`/`prev`, MST `l`/`t`, CAR roots and blocks.
 */
export function asBlessedCid(value: unknown, rules: CidRules = {}): CID {
  const code = rules.code ?? 'CAR_INVALID';
  const what = rules.what ?? 'CID';
  const cid = CID.asCID(value);
  if (!cid) throw new VerificationError(code, `${what} is not a CID link (got ${describe(value)})`);
  if (cid.version !== 1) throw new VerificationError(code, `${what} ${cid} is CIDv${cid.version}; atproto requires CIDv1`);
  if (cid.code !== DAG_CBOR_CODEC && cid.code !== RAW_CODEC) {
    throw new VerificationError(code, `${what} ${cid} has codec 0x${cid.code.toString(16)}; only dag-cbor (0x71) and raw (0x55) are allowed`);
  }
  if (rules.dagCborOnly && cid.code !== DAG_CBOR_CODEC) {
    throw new VerificationError(code, `${what} ${cid} has codec raw (0x55); it must link a dag-cbor (0x71) node`);
  }
  if (cid.multihash.code !== SHA2_256_CODE || cid.multihash.size !== SHA2_256_LENGTH || cid.multihash.digest.length !== SHA2_256_LENGTH) {
    throw new VerificationError(
      code,
      `${what} ${cid} uses hash 0x${cid.multihash.code.toString(16)} of ${cid.multihash.size} bytes; only sha2-256 (0x12, 32 bytes) is allowed`,
    );
  }
  return cid;
}

/** Throws CID_MISMATCH unless `bytes` hash (sha2-256) to the digest `cid` names. */
export function verifyBlockCid(cid: CID, bytes: Uint8Array): void {
  if (cid.multihash.code !== SHA2_256_CODE) {
    throw new VerificationError('CID_MISMATCH', `block ${cid}: hash 0x${cid.multihash.code.toString(16)} is not sha2-256, cannot verify`);
  }
  const actual = sha256(bytes);
  if (!equalBytes(actual, cid.multihash.digest)) {
    throw new VerificationError(
      'CID_MISMATCH',
      `block ${cid} does not hash to its CID: its ${bytes.length} bytes have sha2-256 ${toHex(actual)}, the CID names ${toHex(cid.multihash.digest)}`,
    );
  }
}

/** The blessed CID of a DAG-CBOR block. */
export function cidForDagCbor(bytes: Uint8Array): CID {
  return CID.createV1(DAG_CBOR_CODEC, Digest.create(SHA2_256_CODE, sha256(bytes)));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
