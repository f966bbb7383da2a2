/**
 * Rules of src/atproto/mst.ts the mutation run found unpinned, on hand-built nodes: entry fields
 * exactly {p, k, v, t} and node fields exactly {l, e}; p a non-negative integer; keys 1..1024 bytes
 * that sort strictly (a key sorts after its own prefix); the node limit inclusive; subtree links
 * dag-cbor and refused with MST_INVALID; the lower bound a parent gives a subtree; a key that is a
 * prefix of the one sought routes the walk past it. Refusals name the node, the entry and the rule.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../src/atproto/car.js';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { MAX_NODE_ENTRIES, commonPrefixLength, findInMst, mstKeyLayer, parseMstNode } from '../../src/atproto/mst.js';
import { errorOf } from '../harness/error-code.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const LEAF = cidForDagCbor(dagCbor.encode({ record: 1 }));
const RAW = CID.createV1(0x55, LEAF.multihash);

interface EntrySpec {
  key: string;
  tree?: CID | null;
  fields?: Record<string, unknown>;
}

/** An MST node value with maximal prefix compression, as a writer must produce it. */
function nodeValue(left: CID | null, entries: EntrySpec[]) {
  let previous = '';
  return {
    e: entries.map(({ key, tree, fields }) => {
      const p = commonPrefixLength(utf8(previous), utf8(key));
      previous = key;
      return { k: utf8(key.slice(p)), p, t: tree ?? null, v: LEAF, ...fields };
    }),
    l: left,
  };
}

class Tree {
  readonly store = new BlockStore();
  node(left: CID | null, entries: EntrySpec[]): CID {
    return this.raw(nodeValue(left, entries));
  }
  raw(value: unknown): CID {
    const bytes = dagCbor.encode(value);
    const cid = cidForDagCbor(bytes);
    this.store.put(cid, bytes);
    return cid;
  }
}

/** The first `count` keys `prefix<n>` on `layer`. */
function keysOnLayer(layer: number, count: number, prefix = 'io.atcr.manifest/k'): string[] {
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n++) if (mstKeyLayer(`${prefix}${n}`) === layer) keys.push(`${prefix}${n}`);
  return keys.sort();
}

const parse = (value: unknown) => {
  const bytes = dagCbor.encode(value);
  const cid = cidForDagCbor(bytes);
  return { cid, run: () => parseMstNode(bytes, cid) };
};
const refusal = (value: unknown) => {
  const { cid, run } = parse(value);
  const err = errorOf(run);
  expect(err.code).toBe('MST_INVALID');
  return { cid, message: err.message };
};

describe('node and entry fields, exactly', () => {
  it.each([
    [{ e: [], x: null }, 'fields are {e, x}, expected exactly {l, e}'],
    [{ l: null }, 'fields are {l}, expected exactly {l, e}'],
    [{ e: [], l: null, x: 1 }, 'fields are {e, l, x}, expected exactly {l, e}'],
  ])('node %j is refused', (value, reason) => {
    const { cid, message } = refusal(value);
    expect(message).toBe(`MST node ${cid}: ${reason}`);
  });

  it.each([
    [{ k: utf8('a'), p: 0, t: null, x: LEAF }],
    [{ k: utf8('a'), p: 0, v: LEAF }],
    [{ k: utf8('a'), p: 0, t: null, v: LEAF, x: 1 }],
  ])('entry %# with other fields than {p, k, v, t} is refused', (entry) => {
    const { cid, message } = refusal({ e: [entry], l: null });
    expect(message).toBe(`MST node ${cid}: entry 0 is not exactly {p, k, v, t}`);
  });
});

describe('p is a non-negative integer; k is bytes; keys are 1..1024 bytes', () => {
  const first = { k: utf8('io.atcr.manifest/a'), p: 0, t: null, v: LEAF };
  it.each<[string, Record<string, unknown>, string]>([
    ['p = -1', { p: -1, k: utf8('b') }, 'entry 1: p is not a non-negative integer'],
    ['p as a string', { p: '1', k: utf8('b') }, 'entry 1: p is not a non-negative integer'],
    ['p beyond 2^64 (a bigint)', { p: 2n ** 64n - 1n, k: utf8('b') }, 'entry 1: p is not a non-negative integer'],
    ['k as a string', { p: 17, k: 'b' }, 'entry 1: k is not a byte string'],
    ['k as a CID', { p: 17, k: LEAF }, 'entry 1: k is not a byte string'],
  ])('%s is refused', (_name, fields, reason) => {
    const { cid, message } = refusal({ e: [first, { t: null, v: LEAF, ...fields }], l: null });
    expect(message).toBe(`MST node ${cid}: ${reason}`);
  });

  it('an empty first key is refused', () => {
    const { cid, message } = refusal({ e: [{ k: new Uint8Array(0), p: 0, t: null, v: LEAF }], l: null });
    expect(message).toBe(`MST node ${cid}: entry 0: key length 0 is outside 1..1024`);
  });

  it('a key of 1024 bytes is read; 1025 is refused', () => {
    const entry = (n: number) => ({ k: utf8('k'.repeat(n)), p: 0, t: null, v: LEAF });
    expect(parse({ e: [entry(1024)], l: null }).run().entries[0]!.key).toHaveLength(1024);
    const { cid, message } = refusal({ e: [entry(1025)], l: null });
    expect(message).toBe(`MST node ${cid}: entry 0: key length 1025 is outside 1..1024`);
  });

  it('keys rebuilt from p and k become the entries, each with its value and subtree link', () => {
    const sub = cidForDagCbor(dagCbor.encode({ sub: 1 }));
    const node = parse(nodeValue(null, [{ key: 'io.atcr.manifest/a' }, { key: 'io.atcr.manifest/ab', tree: sub }])).run();
    expect(node.entries.map((e) => new TextDecoder().decode(e.key))).toEqual(['io.atcr.manifest/a', 'io.atcr.manifest/ab']);
    expect(node.entries[1]!.tree?.equals(sub)).toBe(true);
    expect(node.entries[0]!.value.equals(LEAF)).toBe(true);
  });
});

describe('keys sort strictly, and a key sorts after its own prefix', () => {
  it('a key followed by its own prefix is refused', () => {
    const { cid, message } = refusal(nodeValue(null, [{ key: 'io.atcr.manifest/ab' }, { key: 'io.atcr.manifest/a' }]));
    expect(message).toBe(`MST node ${cid}: entry 1: key "io.atcr.manifest/a" does not sort after "io.atcr.manifest/ab"`);
  });

  it('a key followed by its extension is in order', () => {
    expect(parse(nodeValue(null, [{ key: 'io.atcr.manifest/a' }, { key: 'io.atcr.manifest/ab' }])).run().entries).toHaveLength(2);
  });

  it('keys in the message are cut to 120 characters', () => {
    const long = `io.atcr.manifest/${'z'.repeat(200)}`;
    const { message } = refusal(nodeValue(null, [{ key: long }, { key: `${long.slice(0, -1)}a` }]));
    expect(message).toContain(`does not sort after ${JSON.stringify(long.slice(0, 120))}`);
  });
});

describe(`a node holds at most ${MAX_NODE_ENTRIES} entries`, () => {
  const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `io.atcr.manifest/${String(i).padStart(4, '0')}` }));
  it(`${MAX_NODE_ENTRIES} entries are read; one more is refused`, () => {
    expect(parse(nodeValue(null, entries(MAX_NODE_ENTRIES))).run().entries).toHaveLength(MAX_NODE_ENTRIES);
    const { cid, message } = refusal(nodeValue(null, entries(MAX_NODE_ENTRIES + 1)));
    expect(message).toBe(`MST node ${cid}: ${MAX_NODE_ENTRIES + 1} entries, above the ${MAX_NODE_ENTRIES} limit`);
  });
});

describe('subtree links are dag-cbor CIDs, refused as MST_INVALID naming the link', () => {
  it('a raw left link', () => {
    const { cid } = parse({ e: [], l: RAW });
    const err = errorOf(parse({ e: [], l: RAW }).run);
    expect(err.code).toBe('MST_INVALID');
    expect(err.message).toBe(`MST node ${cid} left link ${RAW} has codec raw (0x55); it must link a dag-cbor (0x71) node`);
  });

  it('a raw tree link of an entry', () => {
    const value = nodeValue(null, [{ key: 'io.atcr.manifest/a', tree: RAW }]);
    const { cid } = parse(value);
    const err = errorOf(parse(value).run);
    expect(err.code).toBe('MST_INVALID');
    expect(err.message).toBe(`MST node ${cid} entry 0 tree link ${RAW} has codec raw (0x55); it must link a dag-cbor (0x71) node`);
  });

  it('a value that is not a link names its entry', () => {
    const { cid, message } = refusal({ e: [{ k: utf8('a'), p: 0, t: null, v: 'bafy' }], l: null });
    expect(message).toBe(`MST node ${cid}: entry 0: v is not a CID link`);
  });

  it('a node block that is not canonical names the node', () => {
    const bytes = Uint8Array.of(0xa2, 0x61, 0x6c, 0xf6, 0x61, 0x65, 0x80); // {l: null, e: []}: keys unsorted
    const cid = cidForDagCbor(bytes);
    expect(errorOf(() => parseMstNode(bytes, cid)).message).toMatch(new RegExp(`^MST node ${cid} is not canonical DAG-CBOR`));
  });
});

describe('the walk', () => {
  const [upperKey] = keysOnLayer(1, 1);
  const layer0 = keysOnLayer(0, 4);

  it('a subtree key below the entry that links it is refused (the lower bound)', () => {
    const t = new Tree();
    const below = layer0.find((k) => k < upperKey!)!;
    const sub = t.node(null, [{ key: below }]);
    const root = t.node(null, [{ key: upperKey!, tree: sub }]);
    const target = `${upperKey}~`; // after the entry: the walk enters its subtree
    const err = errorOf(() => findInMst(t.store, root, target));
    expect(err.code).toBe('MST_INVALID');
    expect(err.message).toBe(`MST node ${sub}: key ${JSON.stringify(below)} lies outside the range its parent assigns to this subtree`);
  });

  it('a layer-0 node whose entry links a subtree is refused, even when the key sought does not route there', () => {
    const t = new Tree();
    const sub = t.node(null, [{ key: layer0[3]! }]);
    const root = t.node(null, [{ key: layer0[0]! }, { key: layer0[2]!, tree: sub }]);
    const err = errorOf(() => findInMst(t.store, root, layer0[0]!));
    expect(err.message).toBe(`MST node ${root}: a layer-0 node links a subtree`);
  });

  it('a key that is a prefix of the one sought is passed: the walk goes into the subtree after it', () => {
    // A layer-1 key P and a layer-0 key that extends it: the extension sorts after P.
    let prefix = '';
    let extension = '';
    for (let n = 0; !extension; n++) {
      const p = `io.atcr.manifest/p${n}`;
      if (mstKeyLayer(p) !== 1) continue;
      for (let m = 0; m < 200 && !extension; m++) if (mstKeyLayer(`${p}${m}`) === 0) [prefix, extension] = [p, `${p}${m}`];
    }
    const t = new Tree();
    const sub = t.node(null, [{ key: extension }]);
    const root = t.node(null, [{ key: prefix, tree: sub }]);
    expect(findInMst(t.store, root, extension)?.equals(LEAF)).toBe(true);
    expect(findInMst(t.store, root, prefix)?.equals(LEAF)).toBe(true);
    expect(findInMst(t.store, root, `${extension}0`)).toBeNull();
  });

  it('a missing node names the node, the key and the depth', () => {
    const t = new Tree();
    const absent = cidForDagCbor(dagCbor.encode({ absent: true }));
    const root = t.node(absent, [{ key: upperKey! }]);
    const err = errorOf(() => findInMst(t.store, root, 'io.atcr.manifest/0'));
    expect(err.message).toBe(
      `MST node ${absent} on the path to io.atcr.manifest/0 is missing from the proof (depth 1): neither inclusion nor absence is proven`,
    );
  });

  it.each<[unknown, string]>([
    ['', 'MST key "" must be 1..1024 bytes'],
    [5, 'MST key number must be 1..1024 bytes'],
    ['k'.repeat(1025), `MST key ${JSON.stringify('k'.repeat(80))} must be 1..1024 bytes`],
  ])('the key sought %#: INPUT_INVALID', (key, message) => {
    const t = new Tree();
    const root = t.node(null, []);
    const err = errorOf(() => findInMst(t.store, root, key as string));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.message).toBe(message);
  });

  it('a key of 1024 bytes may be sought', () => {
    const t = new Tree();
    expect(findInMst(t.store, t.node(null, []), 'k'.repeat(1024))).toBeNull();
  });
});
