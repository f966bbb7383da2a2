import * as dagCbor from '@ipld/dag-cbor';
import { VerificationError } from '../errors.js';
import { equalBytes } from './cid.js';

/** Repository objects nest a few levels; records rarely more than ten (data-validation guide). */
export const DEFAULT_MAX_DEPTH = 32;

const CID_TAG = 42;

export interface CborOptions {
  /** Maximum nesting of arrays, maps and tags (the top-level map counts as 1). */
  maxDepth?: number;
  /** What the bytes are, for the message: "commit block bafy...", "record block...". */
  what?: string;
}

/**
 * Decodes atproto DAG-CBOR (DRISL) strictly: the bytes must be exactly what a canonical encoder
 * writes for the decoded value, so a block has one meaning and one CID. A structural scan first
 * enforces what re-encoding cannot see or would survive (depth, floats, tags), then the decoded
 * value is re-encoded and compared byte for byte, which rejects unsorted or duplicate map keys,
 * non-minimal integers and lengths, `undefined`, and invalid UTF-8.
 */
export function decodeCanonicalCbor(bytes: Uint8Array, options: CborOptions = {}): unknown {
  const what = options.what ?? 'CBOR';
  scanStructure(bytes, options.maxDepth ?? DEFAULT_MAX_DEPTH, what);
  let value: unknown;
  try {
    value = dagCbor.decode(bytes);
  } catch (err) {
    throw new VerificationError('CBOR_INVALID', `${what} is not valid DAG-CBOR: ${messageOf(err)}`, { cause: err });
  }
  let again: Uint8Array;
  try {
    again = dagCbor.encode(value);
  } catch (err) {
    throw new VerificationError('CBOR_INVALID', `${what} decodes to a value DAG-CBOR cannot encode: ${messageOf(err)}`, { cause: err });
  }
  if (!equalBytes(again, bytes)) {
    throw new VerificationError(
      'CBOR_INVALID',
      `${what} is not canonical DAG-CBOR (${bytes.length} bytes re-encode to ${again.length} different bytes: unsorted or duplicate map keys, or non-minimal lengths)`,
    );
  }
  return value;
}

/**
 * Walks the CBOR item headers without recursion (so hostile nesting cannot blow the stack) and
 * refuses what atproto's data model excludes: indefinite lengths, floats (not allowed in atproto),
 * `undefined` and other simple values, tags other than 42 (CID), truncation, trailing bytes.
 */
function scanStructure(bytes: Uint8Array, maxDepth: number, what: string): void {
  const fail = (pos: number, reason: string): never => {
    throw new VerificationError('CBOR_INVALID', `${what}: ${reason} at byte ${pos}`);
  };
  // Items still expected by each open array, map or tag, innermost last.
  const open: number[] = [];
  let pos = 0;
  do {
    const start = pos;
    const initial = bytes[pos];
    if (initial === undefined) fail(pos, open.length ? 'truncated inside an array, map or tag' : 'empty input');
    pos++;
    const major = initial! >> 5;
    const info = initial! & 0x1f;
    let arg = info;
    if (info === 31) fail(start, 'indefinite-length item (not allowed in DAG-CBOR)');
    if (info >= 28) fail(start, `reserved additional information ${info}`);
    if (info >= 24) {
      const size = 1 << (info - 24);
      if (pos + size > bytes.length) fail(start, 'truncated item header');
      arg = 0;
      // Exact up to 2^53; larger values only ever exceed the remaining bytes, which is what matters.
      for (let i = 0; i < size; i++) arg = arg * 256 + bytes[pos + i]!;
      pos += size;
    }
    let children = 0;
    switch (major) {
      case 0:
      case 1:
        break;
      case 2:
      case 3:
        if (arg > bytes.length - pos) fail(start, `${major === 2 ? 'byte' : 'text'} string of ${arg} bytes runs past the end`);
        pos += arg;
        break;
      case 4:
        children = arg;
        break;
      case 5:
        children = arg * 2;
        break;
      case 6:
        if (arg !== CID_TAG) fail(start, `CBOR tag ${arg} (only tag 42, CID, is allowed)`);
        children = 1;
        break;
      default:
        // major 7: false (20), true (21) and null (22) are the only simple values in the data model.
        if (info === 25 || info === 26 || info === 27) fail(start, 'floating-point number (floats are not allowed in atproto data)');
        if (info < 20 || info > 22) fail(start, `simple value ${info === 24 ? bytes[start + 1] : info} (only false, true and null are allowed)`);
    }
    if (open.length > 0) open[open.length - 1]!--;
    if (children > 0) {
      open.push(children);
      if (open.length > maxDepth) fail(start, `nesting deeper than ${maxDepth} levels`);
    } else {
      while (open.length > 0 && open[open.length - 1] === 0) open.pop();
    }
  } while (open.length > 0);
  if (pos !== bytes.length) fail(pos, `${bytes.length - pos} trailing bytes after the top-level item`);
}

/** A DAG-CBOR map decoded to a plain object (not an array, CID, or byte string). */
export function isCborMap(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value) || value instanceof Uint8Array) return false;
  // A CID decodes to a class instance whose `asCID` points at itself.
  return (value as { asCID?: unknown }).asCID !== value;
}

/** A short rendering of an untrusted decoded value for messages; never throws (no toString calls). */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || value === null) return `${value}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return 'an array';
  return isCborMap(value) ? 'a map' : typeof value === 'object' ? 'a CID' : typeof value;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
