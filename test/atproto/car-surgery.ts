/**
 * Test-only tools to take a CAR proof apart and put a tampered one back together. Parsing here
 * uses @ipld/car, independent of src/atproto/car.ts, so tests do not grade our reader with itself.
 */
import { CarBufferReader } from '@ipld/car/buffer-reader';
import * as dagCbor from '@ipld/dag-cbor';
import { varint } from 'multiformats';
import type { CID } from 'multiformats/cid';
import { cidForDagCbor } from '../../src/atproto/cid.js';

export interface CarBlock {
  cid: CID;
  bytes: Uint8Array;
}

export interface CarParts {
  roots: CID[];
  blocks: CarBlock[];
}

export function splitCar(bytes: Uint8Array): CarParts {
  const reader = CarBufferReader.fromBytes(bytes);
  return { roots: reader.getRoots(), blocks: [...reader.blocks()].map((b) => ({ cid: b.cid, bytes: b.bytes })) };
}

/** Writes a CAR v1 with any header (so tests can write wrong versions or root counts). */
export function joinCar(parts: CarParts, header: unknown = { version: 1, roots: parts.roots }): Uint8Array {
  const chunks: Uint8Array[] = [];
  const section = (body: Uint8Array) => {
    chunks.push(Uint8Array.from(varint.encodeTo(body.length, new Uint8Array(varint.encodingLength(body.length)))), body);
  };
  section(dagCbor.encode(header));
  for (const block of parts.blocks) section(concat(block.cid.bytes, block.bytes));
  return concat(...chunks);
}

/** A DAG-CBOR block with its true CID. */
export function cborBlock(value: unknown): CarBlock {
  const bytes = dagCbor.encode(value);
  return { cid: cidForDagCbor(bytes), bytes };
}

/** A block with its true CID, from raw bytes (which may be deliberately non-canonical). */
export function rawBlock(bytes: Uint8Array): CarBlock {
  return { cid: cidForDagCbor(bytes), bytes };
}

/** Replaces the root (commit) block with `commit` bytes and makes it the CAR's root. */
export function withCommitBlock(parts: CarParts, commit: CarBlock): CarParts {
  const root = parts.roots[0]!;
  return { roots: [commit.cid], blocks: parts.blocks.map((b) => (b.cid.equals(root) ? commit : b)) };
}

export function decodeBlock(parts: CarParts, cid: CID): Record<string, unknown> {
  const block = parts.blocks.find((b) => b.cid.equals(cid));
  if (!block) throw new Error(`test setup: block ${cid} not in CAR`);
  return dagCbor.decode(block.bytes) as Record<string, unknown>;
}

/** Encodes a map with its keys in exactly the given order (canonical DAG-CBOR would sort them). */
export function encodeMapInOrder(entries: [string, unknown][]): Uint8Array {
  if (entries.length >= 24) throw new Error('test helper handles small maps only');
  return concat(Uint8Array.of(0xa0 | entries.length), ...entries.flatMap(([k, v]) => [dagCbor.encode(k), dagCbor.encode(v)]));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
