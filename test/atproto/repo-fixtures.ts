/**
 * Test-only: real atproto repositories and record proofs built with the reference implementation
 * (@atproto/repo, @atproto/crypto; dev dependencies, never imported from src/). A PDS answers
 * `com.atproto.sync.getRecord` with exactly `sync.getRecords(storage, commit, [path])`.
 */
import { streamToBuffer } from '@atproto/common';
import { TID } from '@atproto/common-web';
import { P256Keypair, Secp256k1Keypair, type Keypair } from '@atproto/crypto';
import { MemoryBlockstore, Repo, WriteOpAction, getRecords, type RecordCreateOp } from '@atproto/repo';
import * as dagCbor from '@ipld/dag-cbor';
import { parseDidKey, type AtprotoPublicKey } from '../../src/atproto/keys.js';
import { cborBlock, type CarBlock } from './car-surgery.js';

export const COLLECTION = 'io.atcr.manifest';

export interface BuiltRepo {
  did: string;
  keypair: Keypair;
  key: AtprotoPublicKey;
  storage: MemoryBlockstore;
  repo: Repo;
  rkeys: string[];
}

export function manifestRecord(i: number): Record<string, unknown> {
  return {
    $type: COLLECTION,
    repository: `app-${i}`,
    digest: `sha256:${i.toString(16).padStart(64, '0')}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    schemaVersion: 2,
    createdAt: '2025-10-31T12:34:56.000Z',
  };
}

/** A repository with `records` manifest records (TID rkeys) in one signed commit. */
export async function buildRepo(opts: { curve?: 'k256' | 'p256'; records?: number; did?: string } = {}): Promise<BuiltRepo> {
  const keypair = opts.curve === 'p256' ? await P256Keypair.create({ exportable: true }) : await Secp256k1Keypair.create({ exportable: true });
  const did = opts.did ?? 'did:plc:testrepoabcdefghijklmnop';
  const storage = new MemoryBlockstore();
  const rkeys: string[] = [];
  const writes: RecordCreateOp[] = [];
  for (let i = 0; i < (opts.records ?? 1); i++) {
    const rkey = TID.nextStr();
    rkeys.push(rkey);
    writes.push({ action: WriteOpAction.Create, collection: COLLECTION, rkey, record: manifestRecord(i) });
  }
  const repo = await Repo.create(storage, did, keypair, writes);
  return { did, keypair, key: parseDidKey(keypair.did()), storage, repo, rkeys };
}

/** The getRecord CAR for `rkey` at the repository's current commit (an exclusion proof if absent). */
export async function recordProof(built: BuiltRepo, rkey: string, collection = COLLECTION): Promise<Uint8Array> {
  return streamToBuffer(getRecords(built.storage, built.repo.cid, [{ collection, rkey }]));
}

/** Signs an unsigned commit object the way a PDS does (sha256 of its DAG-CBOR, compact low-S). */
export async function signedCommit(unsigned: Record<string, unknown>, keypair: Keypair): Promise<Record<string, unknown>> {
  const sig = await keypair.sign(dagCbor.encode(unsigned));
  return { ...unsigned, sig };
}

export async function signedCommitBlock(unsigned: Record<string, unknown>, keypair: Keypair): Promise<CarBlock> {
  return cborBlock(await signedCommit(unsigned, keypair));
}
