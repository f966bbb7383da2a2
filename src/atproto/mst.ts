import { sha256 } from './sha256.js';
import { CID } from 'multiformats/cid';
import { VerificationError } from '../errors.js';
import { boundedCache } from '../bounded-memo.js';
import type { BlockStore } from './car.js';
import { decodeCanonicalCbor, isCborMap } from './cbor.js';
import { asBlessedCid } from './cid.js';


/** Upstream caps repo paths at 1024 characters. */
const MAX_KEY_BYTES = 1024;
/** Fanout is 4, so a node holding hundreds of entries is statistically impossible unless mined (repository spec, "Security Considerations"). */
export const MAX_NODE_ENTRIES = 512;
/** Each level down is one layer lower and a sha256 has 128 two-bit steps, so real paths are far shorter. */
const MAX_PATH_NODES = 130;

/** One entry of an MST node with its key already expanded from the prefix compression. */
export interface MstEntry {
  key: Uint8Array;
  /** The record CID. */
  value: CID;
  /** Subtree of keys between this entry and the next, one layer down. */
  tree: CID | null;
}

/** An MST node: `l` (subtree left of every entry) and its entries, in key order. */
export interface MstNode {
  left: CID | null;
  entries: MstEntry[];
}

/**
 * The MST layer (depth) of a key: leading zero bits of sha256(key), counted in 2-bit steps
 * (repository spec, "MST Structure"): a fanout of 4.
 */
export function mstKeyLayer(key: string | Uint8Array): number {
  const hash = sha256(typeof key === 'string' ? new TextEncoder().encode(key) : key);
  let zeros = 0;
  for (const byte of hash) {
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    zeros += Math.clz32(byte) - 24;
    break;
  }
  return Math.floor(zeros / 2);
}

/** How many leading bytes two keys share: what an entry's `p` must be (compression is mandatory). */
export function commonPrefixLength(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Parses an MST node block strictly: exactly `{l, e}`, entries exactly `{p, k, v, t}`, keys
 * rebuilt from maximal prefix compression and strictly increasing, subtree links blessed
 * dag-cbor CIDs. Layers are checked by the walk, which knows where the node sits.
 */
export function parseMstNode(bytes: Uint8Array, cid: CID): MstNode {
  const obj = decodeCanonicalCbor(bytes, { what: `MST node ${cid}` });
  const fail = (reason: string): never => {
    throw new VerificationError('MST_INVALID', `MST node ${cid}: ${reason}`);
  };
  if (!isCborMap(obj)) return fail('block is not a map');
  if (!sameFields(obj, ['e', 'l'])) return fail(`fields are {${Object.keys(obj).join(', ')}}, expected exactly {l, e}`);
  const left = obj.l === null ? null : asBlessedCid(obj.l, { code: 'MST_INVALID', what: `MST node ${cid} left link`, dagCborOnly: true });
  if (!Array.isArray(obj.e)) return fail('e is not an array');
  if (obj.e.length > MAX_NODE_ENTRIES) fail(`${obj.e.length} entries, above the ${MAX_NODE_ENTRIES} limit`);

  const entries: MstEntry[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  obj.e.forEach((raw: unknown, i: number) => {
    const at = `entry ${i}`;
    if (!isCborMap(raw) || !sameFields(raw, ['k', 'p', 't', 'v'])) return fail(`${at} is not exactly {p, k, v, t}`);
    const { p, k } = raw;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0) return fail(`${at}: p is not a non-negative integer`);
    if (!(k instanceof Uint8Array)) return fail(`${at}: k is not a byte string`);
    if (i === 0 && p !== 0) fail(`${at}: the first entry must carry its full key (p = 0), got p = ${p}`);
    if (p > previous.length) fail(`${at}: p = ${p} is longer than the previous key (${previous.length} bytes)`);
    const key = new Uint8Array(p + k.length);
    key.set(previous.subarray(0, p), 0);
    key.set(k, p);
    if (key.length === 0 || key.length > MAX_KEY_BYTES) fail(`${at}: key length ${key.length} is outside 1..${MAX_KEY_BYTES}`);
    if (i > 0 && commonPrefixLength(previous, key) !== p) {
      fail(`${at}: p = ${p} but the key shares ${commonPrefixLength(previous, key)} bytes with the previous one (compression must be maximal)`);
    }
    if (i > 0 && compareBytes(previous, key) >= 0) fail(`${at}: key ${showKey(key)} does not sort after ${showKey(previous)}`);
    const value = CID.asCID(raw.v);
    if (!value) return fail(`${at}: v is not a CID link`);
    const tree = raw.t === null ? null : asBlessedCid(raw.t, { code: 'MST_INVALID', what: `MST node ${cid} ${at} tree link`, dagCborOnly: true });
    entries.push({ key, value, tree });
    previous = key;
  });
  return { left, entries };
}

/**
 * Walks the MST from `root` to `key` (SPEC section 3 step 5) and returns the record CID, or null
 * when the nodes on the path prove the key absent. Every node on the path must be in `blocks`:
 * a missing node proves nothing, so it is MST_INVALID, never "absent". Each node is checked on
 * the way: all its keys on one layer, that layer exactly one below its parent's, keys inside the
 * range the parent gives the subtree, no empty nodes except an empty tree's root.
 */
export function findInMst(blocks: BlockStore, root: CID, key: string): CID | null {
  const target = new TextEncoder().encode(typeof key === 'string' ? key : '');
  if (target.length === 0 || target.length > MAX_KEY_BYTES) {
    throw new VerificationError('INPUT_INVALID', `MST key ${typeof key === 'string' ? JSON.stringify(key.slice(0, 80)) : typeof key} must be 1..${MAX_KEY_BYTES} bytes`);
  }
  let cid: CID = root;
  let parentLayer: number | null = null;
  // Exclusive key range this subtree must stay within, from the parent's neighbouring entries.
  let lower: Uint8Array | null = null;
  let upper: Uint8Array | null = null;

  for (let depth = 0; depth < MAX_PATH_NODES; depth++) {
    const bytes = blocks.get(cid);
    if (!bytes) {
      throw new VerificationError(
        'MST_INVALID',
        `MST node ${cid} on the path to ${key} is missing from the proof (depth ${depth}): neither inclusion nor absence is proven`,
      );
    }
    const { node, entriesLayer } = checkedNode(bytes, cid);
    const layer = nodeLayer(entriesLayer, cid, parentLayer);
    const subtreeLinks = node.left !== null || node.entries.some((e) => e.tree !== null);
    if (node.entries.length === 0 && parentLayer === null && node.left !== null) {
      fail(cid, 'the root is an empty node pointing at a subtree (empty nodes must be pruned from the top)');
    }
    if (node.entries.length === 0 && parentLayer !== null && node.left === null) {
      fail(cid, 'an empty node with no subtree below the root (empty nodes must be pruned from the bottom)');
    }
    if (layer === 0 && subtreeLinks) fail(cid, 'a layer-0 node links a subtree');
    for (const entry of node.entries) {
      if ((lower && compareBytes(entry.key, lower) <= 0) || (upper && compareBytes(entry.key, upper) >= 0)) {
        fail(cid, `key ${showKey(entry.key)} lies outside the range its parent assigns to this subtree`);
      }
    }

    // First entry whose key is >= the target; the target sits in the gap just before it.
    let index = 0;
    while (index < node.entries.length && compareBytes(node.entries[index]!.key, target) < 0) index++;
    const match = node.entries[index];
    if (match && compareBytes(match.key, target) === 0) return match.value;

    const before = index === 0 ? null : node.entries[index - 1]!;
    const next: CID | null = before ? before.tree : node.left;
    if (next === null) return null;
    if (before) lower = before.key;
    if (match) upper = match.key;
    parentLayer = layer;
    cid = next;
  }
  throw new VerificationError('MST_INVALID', `MST path to ${key} is deeper than ${MAX_PATH_NODES} nodes`);
}

/** A node's layer: that of its keys, all equal; an empty intermediate node sits one below its parent. */
/** A parsed node and the one layer all its entries' keys share (undefined for an empty node). */
interface CheckedNode {
  node: MstNode;
  entriesLayer: number | undefined;
}

/**
 * Parsed nodes by CID. The blocks come from a CAR whose every block was checked against its CID,
 * so a CID names exactly one node: the upper nodes of a publisher's repository, shared by the
 * proofs of all its images, are parsed and hashed once rather than per verification (issue 12).
 * Only nodes that parsed and checked are kept; the walk's contextual checks run every time.
 */
const checkedNodes = boundedCache<CheckedNode>(4096);

function checkedNode(bytes: Uint8Array, cid: CID): CheckedNode {
  const id = cid.toString();
  const cached = checkedNodes.get(id);
  if (cached) return cached;
  const node = parseMstNode(bytes, cid);
  let entriesLayer: number | undefined;
  for (const entry of node.entries) {
    const own = mstKeyLayer(entry.key);
    entriesLayer ??= own;
    if (own !== entriesLayer) fail(cid, `key ${showKey(entry.key)} is on layer ${own} but shares a node with keys on layer ${entriesLayer}`);
  }
  return checkedNodes.remember(id, { node, entriesLayer });
}

function nodeLayer(entriesLayer: number | undefined, cid: CID, parentLayer: number | null): number {
  const layer = entriesLayer ?? (parentLayer === null ? 0 : parentLayer - 1);
  if (parentLayer !== null && layer !== parentLayer - 1) {
    fail(cid, `node is on layer ${layer} but its parent is on layer ${parentLayer} (a subtree is exactly one layer down)`);
  }
  if (layer < 0) fail(cid, 'a node below layer 0');
  return layer;
}

function fail(cid: CID, reason: string): never {
  throw new VerificationError('MST_INVALID', `MST node ${cid}: ${reason}`);
}

function sameFields(obj: Record<string, unknown>, expected: string[]): boolean {
  const keys = Object.keys(obj).sort();
  return keys.length === expected.length && keys.every((k, i) => k === expected[i]);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

function showKey(key: Uint8Array): string {
  return JSON.stringify(new TextDecoder().decode(key).slice(0, 120));
}
