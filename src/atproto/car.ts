import { CID } from 'multiformats/cid';
import { VerificationError } from '../errors.js';
import { decodeCanonicalCbor, isCborMap, showValue } from './cbor.js';
import { asBlessedCid, verifyBlockCid } from './cid.js';

/** A record proof is a commit, one MST path and a record: kilobytes. These caps are generous. */
export const DEFAULT_MAX_CAR_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_CAR_BLOCKS = 1000;

export interface CarLimits {
  maxBytes?: number;
  maxBlocks?: number;
}

/** The blocks of a CAR proof, each already checked against its CID. */
export class BlockStore {
  private readonly blocks = new Map<string, Uint8Array>();

  /** Only `readCarProof` (and tests) add blocks; callers must verify the CID first. */
  put(cid: CID, bytes: Uint8Array): void {
    this.blocks.set(cid.toString(), bytes);
  }

  get(cid: CID): Uint8Array | undefined {
    return this.blocks.get(cid.toString());
  }

  has(cid: CID): boolean {
    return this.blocks.has(cid.toString());
  }

  get size(): number {
    return this.blocks.size;
  }
}

export interface CarProof {
  root: CID;
  blocks: BlockStore;
}

/**
 * Reads a CAR v1 proof (SPEC section 3 step 3; repository spec "CAR File Serialization"): a header
 * naming exactly one root (the commit), then blocks, every one of which must hash to its CID.
 * Duplicate blocks are tolerated, as the spec asks; block order is not relied on.
 */
export function readCarProof(bytes: Uint8Array, limits: CarLimits = {}): CarProof {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_CAR_BYTES;
  const maxBlocks = limits.maxBlocks ?? DEFAULT_MAX_CAR_BLOCKS;
  if (bytes.length > maxBytes) {
    throw new VerificationError('CAR_INVALID', `CAR proof is ${bytes.length} bytes, above the ${maxBytes}-byte limit`);
  }
  const reader = new SectionReader(bytes);
  const root = readHeader(reader.next('header'));

  const blocks = new BlockStore();
  let count = 0;
  while (!reader.done()) {
    if (++count > maxBlocks) throw new VerificationError('CAR_INVALID', `CAR proof has more than ${maxBlocks} blocks`);
    const section = reader.next(`block ${count}`);
    let cid: CID;
    let rest: Uint8Array;
    try {
      [cid, rest] = CID.decodeFirst(section);
    } catch (err) {
      throw new VerificationError('CAR_INVALID', `CAR block ${count} does not start with a valid CID: ${messageOf(err)}`, { cause: err });
    }
    asBlessedCid(cid, { what: `CAR block ${count} CID` });
    verifyBlockCid(cid, rest);
    blocks.put(cid, rest);
  }
  if (!blocks.has(root)) {
    throw new VerificationError('CAR_INVALID', `CAR proof does not contain its root block ${root} (the commit)`);
  }
  return { root, blocks };
}

function readHeader(section: Uint8Array): CID {
  let header: unknown;
  try {
    header = decodeCanonicalCbor(section, { what: 'CAR header', maxDepth: 4 });
  } catch (err) {
    throw new VerificationError('CAR_INVALID', messageOf(err), { cause: err });
  }
  if (!isCborMap(header)) throw new VerificationError('CAR_INVALID', 'CAR header is not a map');
  if (header.version !== 1) {
    throw new VerificationError('CAR_INVALID', `CAR header version is ${showValue(header.version)}; only CAR v1 is accepted`);
  }
  const roots = header.roots;
  if (!Array.isArray(roots) || roots.length !== 1) {
    throw new VerificationError(
      'CAR_INVALID',
      `CAR header must name exactly one root (the commit), found ${Array.isArray(roots) ? roots.length : 'no roots array'}`,
    );
  }
  return asBlessedCid(roots[0], { what: 'CAR root', dagCborOnly: true });
}

/** Splits a CAR into its length-prefixed sections (unsigned LEB128 varint, then that many bytes). */
class SectionReader {
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {}

  done(): boolean {
    return this.pos >= this.bytes.length;
  }

  next(what: string): Uint8Array {
    const start = this.pos;
    const length = this.readVarint(what);
    if (length === 0) throw new VerificationError('CAR_INVALID', `CAR ${what} at byte ${start} has zero length`);
    if (length > this.bytes.length - this.pos) {
      throw new VerificationError(
        'CAR_INVALID',
        `CAR ${what} at byte ${start} claims ${length} bytes but only ${this.bytes.length - this.pos} remain (truncated)`,
      );
    }
    const section = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return section;
  }

  private readVarint(what: string): number {
    const start = this.pos;
    let value = 0;
    for (let shift = 0; shift < 49; shift += 7) {
      const byte = this.bytes[this.pos++];
      if (byte === undefined) throw new VerificationError('CAR_INVALID', `CAR ${what} length at byte ${start} is truncated`);
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        // Minimal encoding only: a trailing zero byte would give one length two spellings.
        if (byte === 0 && shift > 0) throw new VerificationError('CAR_INVALID', `CAR ${what} length at byte ${start} is not minimally encoded`);
        return value;
      }
    }
    throw new VerificationError('CAR_INVALID', `CAR ${what} length at byte ${start} is too large`);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
