import { BlockMap, MST, MemoryBlockstore } from '@atproto/repo';
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../src/atproto/car.js';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { MAX_NODE_ENTRIES, commonPrefixLength, findInMst, mstKeyLayer } from '../../src/atproto/mst.js';
import { encodeMapInOrder } from './car-surgery.js';
import { interopJson, interopLines } from './vectors.js';
import { codeOf } from '../harness/error-code.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const LEAF = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
const OTHER_LEAF = cidForDagCbor(dagCbor.encode({ other: true }));


function storeOf(blocks: BlockMap | Iterable<[CID, Uint8Array]>): BlockStore {
  const store = new BlockStore();
  for (const [cid, bytes] of blocks) store.put(cid, bytes);
  return store;
}

/** Builds an MST with the reference implementation; returns its root and every node block. */
async function referenceTree(keys: string[], value: CID = LEAF): Promise<{ mst: MST; root: CID; store: BlockStore }> {
  let mst = await MST.create(new MemoryBlockstore());
  for (const key of keys) mst = await mst.add(key, value);
  const { root, blocks } = await mst.getUnstoredBlocks();
  return { mst, root, store: storeOf(blocks) };
}

describe('MST key layers and prefixes (interop vectors)', () => {
  it.each(interopJson<{ key: string; height: number }[]>('mst/key_heights.json'))('layer of $key is $height', ({ key, height }) => {
    expect(mstKeyLayer(key)).toBe(height);
  });

  it.each(interopJson<{ left: string; right: string; len: number }[]>('mst/common_prefix.json'))(
    'common prefix of $left and $right is $len',
    ({ left, right, len }) => {
      expect(commonPrefixLength(utf8(left), utf8(right))).toBe(len);
    },
  );

  it('every example key sits on the layer its name says (X<layer>/...)', () => {
    for (const key of interopLines('mst/example_keys.txt')) expect(mstKeyLayer(key)).toBe(Number(key[1]));
  });
});

describe('findInMst over reference-built trees', () => {
  const keys = interopLines('mst/example_keys.txt');

  it('finds every key of the 156-key interop tree and proves neighbours absent', async () => {
    const { root, store } = await referenceTree(keys);
    for (const key of keys) expect(findInMst(store, root, key)).toEqual(LEAF);
    for (const absent of ['A', 'A0/374912', 'A0/374914', 'M9/000000', 'Z9/999999', 'ZZ', '0', '~']) {
      expect(findInMst(store, root, absent)).toBeNull();
    }
  });

  it('returns the value stored for the key, not just any value', async () => {
    let mst = await MST.create(new MemoryBlockstore());
    for (const key of keys) mst = await mst.add(key, key === 'C3/564755' ? OTHER_LEAF : LEAF);
    const { root, blocks } = await mst.getUnstoredBlocks();
    expect(findInMst(storeOf(blocks), root, 'C3/564755')).toEqual(OTHER_LEAF);
    expect(findInMst(storeOf(blocks), root, 'C2/014073')).toEqual(LEAF);
  });

  it('the empty tree proves every key absent', async () => {
    const { root, store } = await referenceTree([]);
    expect(findInMst(store, root, 'io.atcr.manifest/3k')).toBeNull();
  });

  it('a missing node on the path is MST_INVALID for found and absent keys alike, never null', async () => {
    const { mst, root, store } = await referenceTree(keys);
    for (const key of ['A0/374913', 'F3/000000', 'Z5/000000', 'M2/000001']) {
      const path = await mst.cidsForPath(key);
      const nodes = path.filter((cid) => !cid.equals(LEAF));
      expect(nodes.length).toBeGreaterThan(1);
      for (const node of nodes) {
        const partial = storeOf([...entriesOf(store, nodes)].filter(([cid]) => !cid.equals(node)));
        expect(codeOf(() => findInMst(partial, root, key))).toBe('MST_INVALID');
      }
      // With exactly the path nodes the answer stands.
      const exact = storeOf(entriesOf(store, nodes));
      expect(findInMst(exact, root, key)).toEqual(keys.includes(key) ? LEAF : null);
    }
  });

  it('rejects a key outside the input limits', async () => {
    const { root, store } = await referenceTree(keys);
    expect(codeOf(() => findInMst(store, root, ''))).toBe('INPUT_INVALID');
    expect(codeOf(() => findInMst(store, root, 'x'.repeat(1025)))).toBe('INPUT_INVALID');
  });
});

function* entriesOf(store: BlockStore, cids: CID[]): Generator<[CID, Uint8Array]> {
  for (const cid of cids) {
    const bytes = store.get(cid);
    if (bytes) yield [cid, bytes];
  }
}

describe('interop firehose/commit-proof-fixtures.json', () => {
  const fixtures = interopJson<
    { comment: string; leafValue: string; keys: string[]; adds: string[]; dels: string[]; rootBeforeCommit: string; rootAfterCommit: string; blocksInProof: string[] }[]
  >('firehose/commit-proof-fixtures.json');

  it.each(fixtures.map((f) => [f.comment, f] as const))('%s', async (_comment, f) => {
    const leaf = CID.parse(f.leafValue);
    const before = await referenceTree(f.keys, leaf);
    expect(before.root.toString()).toBe(f.rootBeforeCommit);
    for (const key of f.keys) expect(findInMst(before.store, before.root, key)).toEqual(leaf);

    let mst = before.mst;
    for (const key of f.adds) mst = await mst.add(key, leaf);
    for (const key of f.dels) mst = await mst.delete(key);
    const rootAfter = await mst.getPointer();
    expect(rootAfter.toString()).toBe(f.rootAfterCommit);

    // Only the covering proofs of the changed keys: enough to prove each add present, each del absent.
    const proof = new BlockMap();
    for (const key of [...f.adds, ...f.dels]) proof.addMap(await mst.getCoveringProof(key));
    for (const cid of f.blocksInProof) expect(proof.has(CID.parse(cid))).toBe(true);
    const store = storeOf(proof);
    for (const key of f.adds) expect(findInMst(store, rootAfter, key)).toEqual(leaf);
    for (const key of f.dels) if (!f.adds.includes(key)) expect(findInMst(store, rootAfter, key)).toBeNull();
  });
});

/** Hand-built MST nodes, to write the malformed trees a reference implementation never would. */
interface EntrySpec {
  key: string;
  value?: CID;
  tree?: CID | null;
  p?: number;
  k?: string;
  extra?: Record<string, unknown>;
}

function nodeValue(left: CID | null, entries: EntrySpec[]): { l: CID | null; e: Record<string, unknown>[] } {
  let previous = '';
  const e = entries.map((spec) => {
    const p = spec.p ?? commonPrefixLength(utf8(previous), utf8(spec.key));
    const k = spec.k ?? spec.key.slice(p);
    previous = spec.key;
    return { p, k: utf8(k), v: spec.value ?? LEAF, t: spec.tree ?? null, ...spec.extra };
  });
  return { l: left, e };
}

class TreeBuilder {
  readonly store = new BlockStore();
  node(left: CID | null, entries: EntrySpec[]): CID {
    return this.raw(dagCbor.encode(nodeValue(left, entries)));
  }
  raw(bytes: Uint8Array): CID {
    const cid = cidForDagCbor(bytes);
    this.store.put(cid, bytes);
    return cid;
  }
}

describe('findInMst rejects malformed MST nodes on the path', () => {
  it('accepts a well-formed hand-built two-layer tree (control for the cases below)', () => {
    const t = new TreeBuilder();
    const low = t.node(null, [{ key: 'B0/601692' }, { key: 'C0/451630' }]);
    const root = t.node(null, [{ key: 'A1/076595', tree: low }]);
    expect(findInMst(t.store, root, 'B0/601692')).toEqual(LEAF);
    expect(findInMst(t.store, root, 'A1/076595')).toEqual(LEAF);
    expect(findInMst(t.store, root, 'A9/000000')).toBeNull();
  });

  const cases: [string, (t: TreeBuilder) => CID, string, string][] = [
    ['unknown field in a node', (t) => t.raw(dagCbor.encode({ ...nodeValue(null, [{ key: 'A0/374913' }]), x: 1 })), 'A0/374913', 'MST_INVALID'],
    ['a node missing l', (t) => t.raw(dagCbor.encode({ e: nodeValue(null, [{ key: 'A0/374913' }]).e })), 'A0/374913', 'MST_INVALID'],
    ['unknown field in an entry', (t) => t.node(null, [{ key: 'A0/374913', extra: { z: 1 } }]), 'A0/374913', 'MST_INVALID'],
    ['an entry with v that is not a link', (t) => t.raw(dagCbor.encode({ l: null, e: [{ p: 0, k: utf8('A0/374913'), v: 'bafy', t: null }] })), 'A0/374913', 'MST_INVALID'],
    ['a first entry with p > 0', (t) => t.node(null, [{ key: 'A0/374913', p: 1, k: '0/374913' }]), 'A0/374913', 'MST_INVALID'],
    ['p longer than the previous key', (t) => t.node(null, [{ key: 'A0/374913' }, { key: 'B0/601692', p: 20, k: 'x' }]), 'B0/601692', 'MST_INVALID'],
    [
      'prefix compression that is not maximal',
      (t) => t.node(null, [{ key: 'A0/374913' }, { key: 'A0/374920', p: 0, k: 'A0/374920' }]),
      'A0/374920',
      'MST_INVALID',
    ],
    ['keys out of order', (t) => t.node(null, [{ key: 'B0/601692' }, { key: 'A0/374913' }]), 'A0/374913', 'MST_INVALID'],
    ['a duplicated key', (t) => t.node(null, [{ key: 'A0/374913' }, { key: 'A0/374913' }]), 'A0/374913', 'MST_INVALID'],
    ['keys of two layers in one node', (t) => t.node(null, [{ key: 'A0/374913' }, { key: 'B1/986427' }]), 'A0/374913', 'MST_INVALID'],
    [
      'a subtree that skips a layer',
      (t) => t.node(t.node(null, [{ key: 'A0/374913' }]), [{ key: 'B2/827649' }]),
      'A0/374913',
      'MST_INVALID',
    ],
    [
      'a subtree on a higher layer than its parent',
      (t) => t.node(t.node(null, [{ key: 'A2/827942' }]), [{ key: 'B1/986427' }]),
      'A2/827942',
      'MST_INVALID',
    ],
    ['a layer-0 node linking a subtree', (t) => t.node(t.node(null, [{ key: 'A0/374913' }]), [{ key: 'B0/601692' }]), 'A0/374913', 'MST_INVALID'],
    ['an empty root pointing at a subtree', (t) => t.node(t.node(null, [{ key: 'A0/374913' }]), []), 'A0/374913', 'MST_INVALID'],
    ['an empty non-root node with no subtree', (t) => t.node(t.node(null, []), [{ key: 'B1/986427' }]), 'A0/374913', 'MST_INVALID'],
    [
      'a subtree key outside the range its parent gives it',
      (t) => t.node(null, [{ key: 'A1/076595', tree: t.node(null, [{ key: 'C0/451630' }]) }, { key: 'B1/986427' }]),
      'A9/000000',
      'MST_INVALID',
    ],
    [
      'a left subtree holding a key after the first entry',
      (t) => t.node(t.node(null, [{ key: 'C0/451630' }]), [{ key: 'B1/986427' }]),
      'A0/374913',
      'MST_INVALID',
    ],
    [
      'a subtree link with the raw codec',
      (t) => t.node(CID.createV1(0x55, cidForDagCbor(new Uint8Array([1])).multihash), [{ key: 'B1/986427' }]),
      'A0/374913',
      'MST_INVALID',
    ],
    ['a node that is not a map', (t) => t.raw(dagCbor.encode([null, []])), 'A0/374913', 'MST_INVALID'],
    ['entries that are not an array', (t) => t.raw(dagCbor.encode({ l: null, e: {} })), 'A0/374913', 'MST_INVALID'],
    [
      'more entries than the node limit',
      (t) => {
        const many = Array.from({ length: MAX_NODE_ENTRIES + 1 }, (_, i) => ({ p: 0, k: utf8(`k${i}`), v: LEAF, t: null }));
        return t.raw(dagCbor.encode({ l: null, e: many }));
      },
      'k1',
      'MST_INVALID',
    ],
    [
      'a node block that is not canonical DAG-CBOR (entry fields unsorted)',
      (t) => t.raw(encodeMapInOrder([['l', null], ['e', []]])),
      'A0/374913',
      'CBOR_INVALID',
    ],
  ];

  const REASONS: Record<string, RegExp> = {
    'unknown field in a node': /expected exactly \{l, e\}/,
    'a node missing l': /expected exactly \{l, e\}/,
    'unknown field in an entry': /not exactly \{p, k, v, t\}/,
    'an entry with v that is not a link': /v is not a CID link/,
    'a first entry with p > 0': /first entry must carry its full key/,
    'p longer than the previous key': /longer than the previous key/,
    'prefix compression that is not maximal': /compression must be maximal/,
    'keys out of order': /does not sort after/,
    'a duplicated key': /does not sort after/,
    'keys of two layers in one node': /shares a node with keys on layer 0/,
    'a subtree that skips a layer': /layer 0 but its parent is on layer 2/,
    'a subtree on a higher layer than its parent': /layer 2 but its parent is on layer 1/,
    'a layer-0 node linking a subtree': /layer-0 node links a subtree/,
    'an empty root pointing at a subtree': /pruned from the top/,
    'an empty non-root node with no subtree': /pruned from the bottom/,
    'a subtree key outside the range its parent gives it': /outside the range/,
    'a left subtree holding a key after the first entry': /outside the range/,
    'a subtree link with the raw codec': /codec raw/,
    'a node that is not a map': /not a map/,
    'entries that are not an array': /e is not an array/,
    'more entries than the node limit': /above the 512 limit/,
    'a node block that is not canonical DAG-CBOR (entry fields unsorted)': /not canonical DAG-CBOR/,
  };

  it.each(cases)('%s', (_name, build, key, code) => {
    const t = new TreeBuilder();
    const root = build(t);
    expect(codeOf(() => findInMst(t.store, root, key))).toBe(code);
    // And for the reason the case names, not some earlier accident of the setup.
    expect(() => findInMst(t.store, root, key)).toThrow(REASONS[_name]!);
  });
});
