/**
 * MST walk properties, against the reference implementation (@atproto/repo) on random trees:
 * findInMst gives the reference's answer for present and absent keys, from the whole tree and
 * from the covering proof alone; and removing any block from a proof never changes the answer,
 * it only turns it into MST_INVALID (a missing node proves nothing, never absence).
 */
import { MST, MemoryBlockstore, type BlockMap } from '@atproto/repo';
import * as dagCbor from '@ipld/dag-cbor';
import fc from 'fast-check';
import type { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../src/atproto/car.js';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { findInMst, parseMstNode } from '../../src/atproto/mst.js';
import { VerificationError } from '../../src/errors.js';

const S32 = '234567abcdefghijklmnopqrstuvwxyz';
/** Repository paths as atproto writes them: `<collection>/<rkey>`, with TID-like or short rkeys. */
const repoKey = fc.tuple(
  fc.constantFrom('io.atcr.manifest', 'app.bsky.feed.post', 'a.b.c'),
  fc.oneof(fc.array(fc.constantFrom(...S32), { minLength: 13, maxLength: 13 }).map((c) => c.join('')), fc.stringMatching(/^[a-zA-Z0-9._:~-]{1,12}$/)),
).map(([collection, rkey]) => `${collection}/${rkey}`);

function storeOf(blocks: BlockMap): BlockStore {
  const store = new BlockStore();
  blocks.forEach((bytes, cid) => store.put(cid, bytes));
  return store;
}

/** OK with the value found (or null), or the typed code; anything untyped fails the property. */
function walk(store: BlockStore, root: CID, key: string): string {
  try {
    return findInMst(store, root, key)?.toString() ?? 'absent';
  } catch (err) {
    if (err instanceof VerificationError) return err.code;
    throw err;
  }
}

async function build(keys: string[]): Promise<{ mst: MST; root: CID; all: BlockMap; values: Map<string, CID> }> {
  let mst = await MST.create(new MemoryBlockstore());
  const values = new Map<string, CID>();
  for (const key of keys) {
    const value = cidForDagCbor(dagCbor.encode({ key }));
    values.set(key, value);
    mst = await mst.add(key, value);
  }
  const { root, blocks } = await mst.getUnstoredBlocks();
  return { mst, root, all: blocks, values };
}

describe('findInMst against @atproto/repo on random trees', () => {
  it('agrees with the reference for present and absent keys, from the whole tree and from covering proofs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(repoKey, { minLength: 0, maxLength: 60 }), fc.array(repoKey, { maxLength: 4 }), async (keys, probes) => {
        const { mst, root, all, values } = await build(keys);
        const whole = storeOf(all);
        for (const key of [...keys.slice(0, 4), ...probes]) {
          const expected = values.get(key)?.toString() ?? 'absent';
          expect(walk(whole, root, key)).toBe(expected);
          expect(walk(storeOf(await mst.getCoveringProof(key)), root, key)).toBe(expected);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('a proof missing any one block gives the same answer or MST_INVALID, never the opposite answer', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(repoKey, { minLength: 1, maxLength: 60 }), fc.nat(), fc.boolean(), fc.nat(), async (keys, pick, present, drop) => {
        const { mst, root, values } = await build(keys);
        const key = present ? keys[pick % keys.length]! : `zz.absent/${pick}`;
        const proof = await mst.getCoveringProof(key);
        const cids: CID[] = [];
        proof.forEach((_bytes, cid) => cids.push(cid));
        fc.pre(cids.length > 0);
        const dropped = cids[drop % cids.length]!;
        const partial = new BlockStore();
        proof.forEach((bytes, cid) => {
          if (!cid.equals(dropped)) partial.put(cid, bytes);
        });
        const answer = walk(partial, root, key);
        expect([values.get(key)?.toString() ?? 'absent', 'MST_INVALID']).toContain(answer);
      }),
      { numRuns: 100 },
    );
  });

  it('random bytes as an MST node fail typed, never find a record', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const cid = cidForDagCbor(bytes);
        try {
          parseMstNode(bytes, cid);
        } catch (err) {
          expect(err).toBeInstanceOf(VerificationError);
          expect(['CBOR_INVALID', 'MST_INVALID']).toContain((err as VerificationError).code);
        }
        const store = new BlockStore();
        store.put(cid, bytes);
        expect(['absent', 'CBOR_INVALID', 'MST_INVALID']).toContain(walk(store, cid, 'io.atcr.manifest/3k'));
      }),
      { numRuns: 500 },
    );
  });
});
