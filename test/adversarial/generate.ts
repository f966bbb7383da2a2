/**
 * The adversarial corpus, written as code: every file under cases/ and manifest.json come from
 * here, deterministically (fixed keys, fixed TIDs, RFC 6979 signatures, @atproto/repo's MST), so
 * the committed corpus can be checked for drift and rebuilt with
 *   REGENERATE=1 npx vitest run test/adversarial/corpus.test.ts
 * Nothing here touches the disk. Proofs are built with the reference implementation
 * (@atproto/repo) and @ipld/dag-cbor, never with src/, so the verifier is not graded by itself.
 */
import { gzipSync } from 'node:zlib';
import { MST, MemoryBlockstore } from '@atproto/repo';
import * as dagCbor from '@ipld/dag-cbor';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { base58btc } from 'multiformats/bases/base58';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import type { ErrorCode } from '../../src/errors.js';

// ---------------------------------------------------------------------------------------------
// Manifest shape (also read by corpus.ts)

export type CaseKind = 'payload' | 'car' | 'did-document' | 'did' | 'manifest' | 'chain';
/** `OK` marks a control: a case that must verify, so the failures around it fail for their reason. */
export type Expectation = ErrorCode | 'OK';
export type SignerName = 'k256' | 'p256';

export interface CorpusCase {
  /** Path relative to test/adversarial/ (a `.gz` file is gunzipped before use). */
  file: string;
  kind: CaseKind;
  expect: Expectation;
  note: string;
  /** car: what verifyRecordProof alone says, when the Verifier fails at a later step. */
  expectProof?: Expectation;
  /** car / payload: the signer the case is checked against (default k256). */
  signer?: SignerName;
  /** payload: the image digest being verified, when not the world's subject. */
  subjectDigest?: string;
  /** did / did-document: run with allowPrivateNetwork (default false). */
  allowPrivateNetwork?: boolean;
  /** did-document: the DID the document was fetched for (default: the k256 signer). */
  did?: string;
  /**
   * A known weakness: `expect` is the code the verifier should give; `today` is what it gives.
   * The runner asserts `today`, so fixing the weakness fails the test until the case is updated.
   */
  knownGap?: string;
  today?: Expectation;
}

export interface CorpusSigner {
  did: string;
  rkey: string;
  publicKeyMultibase: string;
  /** cases/payload/ file holding this signer's valid payload (proof embedded). */
  validPayload: string;
}

export interface CorpusWorld {
  collection: string;
  /** The image every signer signed (`record.digest`), and its reference for the policy scope. */
  subjectDigest: string;
  otherDigest: string;
  reference: string;
  /** Trust policy pinning both signers' keys: proofs verify offline, with no network at all. */
  policy: string;
  signers: Record<SignerName, CorpusSigner>;
  /** manifest kind: the blobs and the subject image manifest to push before the cases. */
  registry: { repository: string; blobs: string[]; subjectManifest: string };
}

export interface CorpusManifest {
  version: 1;
  world: CorpusWorld;
  cases: CorpusCase[];
}

export interface CorpusFile {
  path: string;
  bytes: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// The world: two signers, one image, one record

const COLLECTION = 'io.atcr.manifest';
/** The registry name the corpus signs for; a plugin or provider run can ask for its real host:port. */
export const DEFAULT_REGISTRY_NAME = 'registry.example';
const REPOSITORY = 'adversarial/app';
/** Every repository a corpus may sign for lies under this path, which the corpus policy scopes. */
const REPOSITORY_PARENT = 'adversarial';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SIGNATURE_TYPE = 'application/vnd.atproto.signature.v1+json';
const EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';
/** Every commit is signed "at" 2025-06-01, after the policy's validFrom and long before now. */
const SIGNED_AT_MS = Date.UTC(2025, 5, 1);

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));
const json = (v: unknown) => utf8(`${JSON.stringify(v, null, 2)}\n`);
const sha256Digest = (bytes: Uint8Array) => `sha256:${Buffer.from(sha256(bytes)).toString('hex')}`;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A TID (tid spec): 53 bits of microseconds, 10 bits of clock id, base32-sortable. */
const S32 = '234567abcdefghijklmnopqrstuvwxyz';
function tid(micros: bigint, clock = 0n): string {
  let v = (micros << 10n) | clock;
  let s = '';
  for (let i = 0; i < 13; i++) {
    s = S32[Number(v & 31n)] + s;
    v >>= 5n;
  }
  return s;
}
const tidAt = (ms: number, clock = 0n) => tid(BigInt(ms) * 1000n, clock);

/** MST layer of a key: leading zero bits of sha256 in 2-bit steps (re-implemented, not imported). */
function layerOf(key: string): number {
  let zeros = 0;
  for (const byte of sha256(utf8(key))) {
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    zeros += Math.clz32(byte) - 24;
    break;
  }
  return zeros >> 1;
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** DAG-CBOR map key order: shorter keys first, then bytewise (stable, so duplicates stay adjacent). */
function canonicalOrder(entries: [string, unknown][]): [string, unknown][] {
  return [...entries].sort(([a], [b]) => Buffer.byteLength(a) - Buffer.byteLength(b) || compareKeys(a, b));
}

interface Block {
  cid: CID;
  bytes: Uint8Array;
}

const cidOf = (bytes: Uint8Array, codec = 0x71) => CID.createV1(codec, Digest.create(0x12, sha256(bytes)));
const block = (value: unknown): Block => rawBlock(dagCbor.encode(value));
const rawBlock = (bytes: Uint8Array): Block => ({ cid: cidOf(bytes), bytes });

/** A CAR v1: header then length-prefixed (CID + bytes) sections. */
function car(blocks: Block[], header: unknown = { version: 1, roots: [blocks[0]!.cid] }): Uint8Array {
  const headerBytes = header instanceof Uint8Array ? header : dagCbor.encode(header);
  return concat(section(headerBytes), ...blocks.map((b) => section(concat(b.cid.bytes, b.bytes))));
}

function section(body: Uint8Array): Uint8Array {
  return concat(varint(body.length), body);
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** A CBOR map with its keys written in exactly this order (canonical DAG-CBOR would sort them). */
function mapInOrder(entries: [string, unknown][]): Uint8Array {
  return concat(Uint8Array.of(0xa0 | entries.length), ...entries.flatMap(([k, v]) => [dagCbor.encode(k), v instanceof RawCbor ? v.bytes : dagCbor.encode(v)]));
}

/** Pre-encoded CBOR to splice into a hand-written map. */
class RawCbor {
  constructor(readonly bytes: Uint8Array) {}
}

interface Signer {
  name: SignerName;
  did: string;
  rkey: string;
  curve: typeof secp256k1 | typeof p256;
  secret: Uint8Array;
  multikey: string;
  sign(message: Uint8Array, opts?: { prehash?: boolean; format?: 'compact' | 'der' | 'recovered' }): Uint8Array;
}

function makeSigner(name: SignerName): Signer {
  const curve = name === 'k256' ? secp256k1 : p256;
  const secret = sha256(utf8(`atproto-verifier adversarial corpus: ${name} signer`));
  const compressed = curve.getPublicKey(secret, true);
  const multikey = base58btc.encode(concat(Uint8Array.from(name === 'k256' ? [0xe7, 0x01] : [0x80, 0x24]), compressed));
  return {
    name,
    did: `did:plc:adversarialcorpussigner${name === 'k256' ? 'k' : 'p'}`,
    rkey: tidAt(SIGNED_AT_MS - 60_000, name === 'k256' ? 1n : 2n),
    curve,
    secret,
    multikey,
    // RFC 6979 (no extra entropy): the same commit always gets the same signature.
    sign: (message, opts = {}) =>
      curve.sign(message, secret, { prehash: opts.prehash ?? true, lowS: true, format: opts.format ?? 'compact' }) as Uint8Array,
  };
}

// The subject image and another one, as a registry would hold them.
const SUBJECT_CONFIG = utf8('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const SUBJECT_LAYER = utf8('adversarial corpus: the subject image layer\n');
const SUBJECT_MANIFEST = utf8(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(SUBJECT_CONFIG), size: SUBJECT_CONFIG.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256Digest(SUBJECT_LAYER), size: SUBJECT_LAYER.length }],
  }),
);
const SUBJECT = sha256Digest(SUBJECT_MANIFEST);
const OTHER = sha256Digest(utf8('adversarial corpus: another image'));

/** The io.atcr.manifest record signing the subject in `image` (registry/repository); an override of `undefined` drops the field. */
function manifestRecord(image: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const record: Record<string, unknown> = {
    $type: COLLECTION,
    repository: image,
    digest: SUBJECT,
    mediaType: OCI_MANIFEST,
    schemaVersion: 2,
    createdAt: '2025-06-01T00:00:00.000Z',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

// ---------------------------------------------------------------------------------------------
// Proof builders

interface ReferenceProof {
  signer: Signer;
  unsigned: Record<string, unknown>;
  commit: Block;
  /** MST nodes on the path to the record, root first. */
  path: Block[];
  /** Every MST node of the tree. */
  allNodes: Block[];
  record: Block;
  car: Uint8Array;
}

/** A repository of ~200 records built by @atproto/repo's MST, with `record` at `<collection>/<rkey>`. */
async function referenceProof(signer: Signer, image: string, opts: { collection?: string; include?: boolean } = {}): Promise<ReferenceProof> {
  const record = block(manifestRecord(image));
  const target = `${opts.collection ?? COLLECTION}/${signer.rkey}`;
  let mst = await MST.create(new MemoryBlockstore());
  for (let i = 1; i <= 200; i++) {
    const collection = i % 4 === 0 ? 'app.bsky.feed.post' : COLLECTION;
    const key = `${collection}/${tidAt(SIGNED_AT_MS - i * 3_600_000, 7n)}`;
    mst = await mst.add(key, block({ filler: key }).cid);
  }
  if (opts.include !== false) mst = await mst.add(target, record.cid);
  const { root, blocks } = await mst.getUnstoredBlocks();
  const allNodes: Block[] = [];
  blocks.forEach((bytes, cid) => allNodes.push({ cid, bytes }));
  const path = (await mst.cidsForPath(`${COLLECTION}/${signer.rkey}`)).flatMap((cid) => {
    const bytes = blocks.get(cid);
    return bytes ? [{ cid, bytes }] : [];
  });
  const unsigned = { did: signer.did, version: 3, data: root, rev: tidAt(SIGNED_AT_MS), prev: null };
  const commit = block({ ...unsigned, sig: signer.sign(dagCbor.encode(unsigned)) });
  return { signer, unsigned, commit, path, allNodes, record, car: car([commit, ...path, record]) };
}

interface EntrySpec {
  key: string;
  value?: CID;
  tree?: CID | null;
  p?: unknown;
  k?: unknown;
  extra?: Record<string, unknown>;
  omit?: string[];
}

/** An MST node value with keys prefix-compressed as the spec requires (overridable per entry). */
function mstNode(left: unknown, entries: EntrySpec[], filler: CID): { l: unknown; e: unknown[] } {
  let previous = new Uint8Array(0);
  const e = entries.map((spec) => {
    const key = utf8(spec.key);
    let p = 0;
    while (p < previous.length && p < key.length && previous[p] === key[p]) p++;
    const entry: Record<string, unknown> = {
      p: spec.p ?? p,
      k: spec.k ?? key.subarray(typeof spec.p === 'number' ? spec.p : p),
      v: spec.value ?? filler,
      t: spec.tree ?? null,
      ...spec.extra,
    };
    for (const field of spec.omit ?? []) delete entry[field];
    previous = key;
    return entry;
  });
  return { l: left, e };
}

/** The first `io.atcr.manifest/<tid>` key on `layer` that satisfies `accept` (deterministic search). */
function findKey(layer: number, accept: (key: string) => boolean): string {
  for (let i = 1; i < 1_000_000; i++) {
    const key = `${COLLECTION}/${tidAt(SIGNED_AT_MS - i * 1000, 9n)}`;
    if (layerOf(key) === layer && accept(key)) return key;
  }
  throw new Error(`no key on layer ${layer}`);
}

// ---------------------------------------------------------------------------------------------
// The corpus

/**
 * Builds every corpus file. `registryName` is the registry the records sign for (and the policy
 * scope): the committed corpus uses DEFAULT_REGISTRY_NAME; a run through the plugin or provider,
 * which see the real registry host, can generate its own in memory for `127.0.0.1:<port>`.
 * `repository` (default `adversarial/app`, always directly under `adversarial/`) lets such a run
 * sign the same cases for several images at once: a provider request holds one key per image.
 */
export async function generateCorpus(options: { registryName?: string; repository?: string } = {}): Promise<{ manifest: CorpusManifest; files: CorpusFile[] }> {
  const registryName = options.registryName ?? DEFAULT_REGISTRY_NAME;
  const repository = options.repository ?? REPOSITORY;
  // The policy scope and the two wrong-repository cases below assume this shape.
  if (!new RegExp(`^${REPOSITORY_PARENT}/[a-z0-9-]+$`).test(repository) || repository === `${REPOSITORY_PARENT}/other`) {
    throw new Error(`corpus repository must be ${REPOSITORY_PARENT}/<name> (not ${REPOSITORY_PARENT}/other): ${repository}`);
  }
  const image = `${registryName}/${repository}`;
  const record = (overrides: Record<string, unknown> = {}) => manifestRecord(image, overrides);
  const files: CorpusFile[] = [];
  const cases: CorpusCase[] = [];
  const add = (path: string, bytes: Uint8Array, entry: Omit<CorpusCase, 'file'> | undefined) => {
    if (files.some((f) => f.path === path)) throw new Error(`duplicate corpus file ${path}`);
    files.push({ path, bytes });
    if (entry) cases.push({ file: path, ...entry });
  };

  const k256 = makeSigner('k256');
  const p256Signer = makeSigner('p256');
  const base = await referenceProof(k256, image);
  const baseP256 = await referenceProof(p256Signer, image);
  const target = `${COLLECTION}/${k256.rkey}`;
  const filler = block({ filler: 'value' }).cid;

  // ---- car: proofs (com.atproto.sync.getRecord CARs), checked with the pinned k256 key -------
  const carCase = (name: string, bytes: Uint8Array, expect: Expectation, note: string, extra: Partial<CorpusCase> = {}) =>
    add(`cases/car/${name}.car`, bytes, { kind: 'car', expect, note, ...extra });
  const signed = (unsigned: Record<string, unknown>, signer = k256) => block({ ...unsigned, sig: signer.sign(dagCbor.encode(unsigned)) });
  const withCommit = (commit: Block, rest: Block[] = [...base.path, base.record]) => car([commit, ...rest]);
  /** A signed single-node repository: one MST node holding `target` -> `link`, plus `extra` blocks. */
  const singleNode = (recordBlock: Block | undefined, link?: CID, unsigned: Record<string, unknown> = base.unsigned) => {
    const node = block(mstNode(null, [{ key: target, value: link ?? recordBlock!.cid }], filler));
    const commit = signed({ ...unsigned, data: node.cid });
    return car([commit, node, ...(recordBlock ? [recordBlock] : [])]);
  };
  /** A single-node repository whose entry value is `value` (whatever it is). */
  const singleNodeValue = (value: unknown) => {
    const nodeBlock = block(mstNode(null, [{ key: target, value: value as CID }], filler));
    return car([signed({ ...base.unsigned, data: nodeBlock.cid }), nodeBlock, base.record]);
  };
  /** A signed repository whose MST is exactly `nodes` (root first). */
  const handTree = (nodes: Block[], recordBlock: Block = base.record) => car([signed({ ...base.unsigned, data: nodes[0]!.cid }), ...nodes, recordBlock]);
  const flip = (bytes: Uint8Array, at: number) => {
    const out = Uint8Array.from(bytes); // not slice(): cborg hands out Buffers, whose slice() is a view
    out[at]! ^= 0x01;
    return out;
  };
  const realSig = dagCbor.decode(base.commit.bytes) as { sig: Uint8Array };
  const n = secp256k1.Point.CURVE().n;
  const be32 = (v: bigint) => hex(v.toString(16).padStart(64, '0'));
  const r = realSig.sig.subarray(0, 32);
  const s = realSig.sig.subarray(32);
  const sBig = BigInt(`0x${Buffer.from(s).toString('hex')}`);
  const withSig = (sig: unknown) => withCommit(block({ ...base.unsigned, sig }));

  carCase('valid', base.car, 'OK', 'control: a real getRecord-shaped proof from a 200-record @atproto/repo tree');
  carCase('valid-p256', baseP256.car, 'OK', 'control: the same for a P-256 signer', { signer: 'p256' });
  carCase('valid-whole-tree', car([base.commit, ...base.allNodes, base.record, base.record]), 'OK', 'control: extra and duplicate blocks are tolerated (repository spec)');
  carCase('valid-prev-link', withCommit(signed({ ...base.unsigned, prev: base.commit.cid })), 'OK', 'control: a non-null prev (v2 compatibility field) is allowed');

  // CAR framing
  carCase('empty', new Uint8Array(0), 'ARTIFACT_INVALID', 'zero bytes (an empty proof.car fails the payload schema first)', { expectProof: 'CAR_INVALID' });
  carCase('truncated-mid-block', base.car.subarray(0, base.car.length - 7), 'CAR_INVALID', 'last block cut short');
  carCase('truncated-header', base.car.subarray(0, 20), 'CAR_INVALID', 'cut inside the header');
  carCase('header-version-2', car([base.commit, ...base.path, base.record], { version: 2, roots: [base.commit.cid] }), 'CAR_INVALID', 'CAR v2 header');
  carCase('header-extra-roots', car([base.commit, ...base.path, base.record], { version: 1, roots: [base.commit.cid, base.path[0]!.cid] }), 'CAR_INVALID', 'two roots: which commit is meant?');
  carCase('header-no-roots', car([base.commit, ...base.path, base.record], { version: 1, roots: [] }), 'CAR_INVALID', 'no root');
  carCase('header-roots-missing', car([base.commit, ...base.path, base.record], { version: 1 }), 'CAR_INVALID', 'no roots field');
  carCase('header-not-a-map', car([base.commit, ...base.path, base.record], [1, [base.commit.cid]]), 'CAR_INVALID', 'header is an array');
  carCase('header-root-not-cid', car([base.commit, ...base.path, base.record], { version: 1, roots: [base.commit.cid.toString()] }), 'CAR_INVALID', 'root written as a string');
  carCase(
    'header-root-raw-codec',
    car([base.commit, ...base.path, base.record], { version: 1, roots: [CID.createV1(0x55, base.commit.cid.multihash)] }),
    'CAR_INVALID',
    'root names the commit with the raw codec',
  );
  carCase(
    'header-root-cidv0',
    car([base.commit, ...base.path, base.record], { version: 1, roots: [CID.createV0(base.commit.cid.multihash as never)] }),
    'CAR_INVALID',
    'root is a CIDv0 (dag-pb)',
  );
  carCase(
    'header-non-canonical',
    car([base.commit, ...base.path, base.record], concat(Uint8Array.of(0xb8, 0x02), dagCbor.encode({ version: 1, roots: [base.commit.cid] }).subarray(1))),
    'CAR_INVALID',
    'header map length in a non-minimal extra byte',
  );
  carCase('header-indefinite-map', car([base.commit], concat(hex('bf'), dagCbor.encode('roots'), dagCbor.encode([base.commit.cid]), dagCbor.encode('version'), hex('01 ff'))), 'CAR_INVALID', 'indefinite-length header map');
  carCase('root-block-missing', car([...base.path, base.record], { version: 1, roots: [base.commit.cid] }), 'CAR_INVALID', 'the commit block is absent');
  carCase('zero-length-section', concat(base.car, Uint8Array.of(0)), 'CAR_INVALID', 'a section of length 0');
  carCase('non-minimal-varint', concat(base.car, Uint8Array.of(0x81, 0x00)), 'CAR_INVALID', 'section length 1 written in two bytes');
  carCase('section-length-beyond-end', concat(base.car, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f)), 'CAR_INVALID', 'a 4 GiB section in a small file');
  carCase('varint-too-long', concat(base.car, new Uint8Array(12).fill(0xff)), 'CAR_INVALID', 'a length varint that never ends');
  carCase('block-cid-only', concat(base.car, section(base.record.cid.bytes.subarray(0, 4))), 'CAR_INVALID', 'a block section holding a partial CID');
  const body = dagCbor.encode({ a: 1 });
  carCase('block-unknown-codec', car([base.commit, ...base.path, base.record, { cid: CID.createV1(0x70, Digest.create(0x12, sha256(body))), bytes: body }]), 'CAR_INVALID', 'an extra block named by a dag-pb (0x70) CID');
  carCase('block-unknown-hash', car([base.commit, ...base.path, base.record, { cid: CID.createV1(0x71, Digest.create(0x13, sha512(body))), bytes: body }]), 'CAR_INVALID', 'an extra block named by a sha2-512 CID');
  carCase('block-identity-hash', car([base.commit, ...base.path, base.record, { cid: CID.createV1(0x71, Digest.create(0x00, body)), bytes: body }]), 'CAR_INVALID', 'an identity-multihash CID: bytes that name themselves');
  carCase(
    'block-short-digest',
    car([base.commit, ...base.path, base.record, { cid: CID.createV1(0x71, Digest.create(0x12, sha256(body).subarray(0, 20))), bytes: body }]),
    'CAR_INVALID',
    'a sha2-256 CID truncated to 20 bytes',
  );
  carCase('block-cidv0', car([base.commit, ...base.path, base.record, { cid: CID.createV0(Digest.create(0x12, sha256(body)) as never) as unknown as CID, bytes: body }]), 'CAR_INVALID', 'a CIDv0 block');
  carCase('too-many-blocks', car([base.commit, ...base.path, base.record, ...Array.from({ length: 1001 }, (_, i) => block({ i }))]), 'CAR_INVALID', '1001 extra blocks: above the block cap');

  // Block hashes
  carCase('hash-mismatch-commit', withCommit({ cid: base.commit.cid, bytes: flip(base.commit.bytes, base.commit.bytes.length - 3) }), 'CID_MISMATCH', 'a flipped bit in the commit signature');
  carCase('hash-mismatch-mst-root', car([base.commit, { cid: base.path[0]!.cid, bytes: flip(base.path[0]!.bytes, 10) }, ...base.path.slice(1), base.record]), 'CID_MISMATCH', 'a flipped bit in the MST root node');
  carCase('hash-mismatch-record', car([base.commit, ...base.path, { cid: base.record.cid, bytes: flip(base.record.bytes, 30) }]), 'CID_MISMATCH', 'a flipped bit in the record');
  carCase(
    'forged-cycle',
    car([base.commit, { cid: base.path[0]!.cid, bytes: dagCbor.encode({ l: base.path[0]!.cid, e: [] }) }, ...base.path.slice(1), base.record]),
    'CID_MISMATCH',
    'hash links make a real cycle impossible; a node claiming the root CID while linking to itself fails its hash',
  );
  carCase('hash-mismatch-unrelated-block', car([base.commit, ...base.path, base.record, { cid: block({ x: 1 }).cid, bytes: dagCbor.encode({ x: 2 }) }]), 'CID_MISMATCH', 'even a block the proof does not need must hash to its CID');

  // Missing blocks
  carCase('missing-mst-root', car([base.commit, ...base.path.slice(1), base.record]), 'MST_INVALID', 'the MST root is not in the proof: nothing is proven');
  carCase('missing-mst-leaf-node', car([base.commit, ...base.path.slice(0, -1), base.record]), 'MST_INVALID', 'the lowest MST node on the path is missing');
  carCase('missing-record', car([base.commit, ...base.path]), 'CAR_INVALID', 'the MST names the record but its block is absent');

  // CBOR in the commit
  // The commit's fields in canonical order, so each case below differs from canonical in one way only.
  const commitFields = canonicalOrder(Object.entries({ ...base.unsigned, sig: realSig.sig }));
  carCase('commit-unsorted-keys', withCommit(rawBlock(mapInOrder([...commitFields].reverse()))), 'CBOR_INVALID', 'commit map keys in reverse order');
  carCase('commit-duplicate-key', withCommit(rawBlock(mapInOrder(canonicalOrder([...commitFields, ['rev', tidAt(SIGNED_AT_MS + 1)]])))), 'CBOR_INVALID', 'two "rev" entries');
  carCase(
    'commit-indefinite-sig',
    withCommit(rawBlock(mapInOrder(commitFields.map(([k, v]) => [k, k === 'sig' ? new RawCbor(concat(hex('5f'), dagCbor.encode(realSig.sig.subarray(0, 32)), dagCbor.encode(realSig.sig.subarray(32)), hex('ff'))) : v] as [string, unknown])))),
    'CBOR_INVALID',
    'sig as an indefinite-length byte string',
  );
  carCase(
    'commit-tag-43',
    withCommit(rawBlock(mapInOrder(commitFields.map(([k, v]) => [k, k === 'data' ? new RawCbor(concat(hex('d82b'), dagCbor.encode(concat(Uint8Array.of(0), base.path[0]!.cid.bytes)))) : v] as [string, unknown])))),
    'CBOR_INVALID',
    'data link under tag 43 instead of 42',
  );
  carCase(
    'commit-tag-1-rev',
    withCommit(rawBlock(mapInOrder(commitFields.map(([k, v]) => [k, k === 'rev' ? new RawCbor(hex('c1 1a 683b9a00')) : v] as [string, unknown])))),
    'CBOR_INVALID',
    'rev as a tag-1 epoch time',
  );
  carCase(
    'commit-non-minimal-int',
    withCommit(rawBlock(mapInOrder(commitFields.map(([k, v]) => [k, k === 'version' ? new RawCbor(hex('1803')) : v] as [string, unknown])))),
    'CBOR_INVALID',
    'version 3 written in two bytes',
  );
  carCase(
    'commit-float-version',
    withCommit(rawBlock(mapInOrder(commitFields.map(([k, v]) => [k, k === 'version' ? new RawCbor(hex('fb 4008000000000000')) : v] as [string, unknown])))),
    'CBOR_INVALID',
    'version 3.0 as a float64',
  );
  const deepValue = concat(new Uint8Array(100_000).fill(0x81), Uint8Array.of(0x01));
  carCase(
    'commit-deeply-nested',
    withCommit(rawBlock(mapInOrder(canonicalOrder([...commitFields, ['zz', new RawCbor(deepValue)]])))),
    'CBOR_INVALID',
    '100,000 nested arrays in an extra commit field (no stack overflow)',
  );
  carCase('commit-trailing-bytes', withCommit(rawBlock(concat(base.commit.bytes, Uint8Array.of(0x00)))), 'CBOR_INVALID', 'a byte after the commit map');

  // Commit structure (validly signed unless said otherwise)
  carCase('commit-version-2', withCommit(signed({ ...base.unsigned, version: 2 })), 'COMMIT_INVALID', 'version 2 commit, signed');
  carCase('commit-version-string', withCommit(signed({ ...base.unsigned, version: '3' })), 'COMMIT_INVALID', 'version "3" as text, signed');
  for (const field of ['did', 'version', 'data', 'rev', 'prev'] as const) {
    const { [field]: _dropped, ...rest } = base.unsigned;
    carCase(`commit-missing-${field}`, withCommit(signed(rest)), 'COMMIT_INVALID', `no ${field} field, signed`);
  }
  carCase('commit-missing-sig', withCommit(block(base.unsigned)), 'COMMIT_INVALID', 'unsigned commit');
  carCase('commit-extra-field', withCommit(signed({ ...base.unsigned, note: 'x' })), 'COMMIT_INVALID', 'an extra field, signed');
  carCase(
    'commit-proto-key',
    withCommit(rawBlock(dagCbor.encode(Object.fromEntries([...commitFields, ['__proto__', { version: 3 }]])))),
    'COMMIT_INVALID',
    'a "__proto__" field: must be an ordinary unknown key, never a prototype',
  );
  carCase('commit-rev-not-tid', withCommit(signed({ ...base.unsigned, rev: '2025-06-01' })), 'COMMIT_INVALID', 'rev is a date, not a TID');
  carCase('commit-rev-top-bit', withCommit(signed({ ...base.unsigned, rev: 'j222222222222' })), 'COMMIT_INVALID', 'rev with the reserved TID top bit set');
  carCase('commit-did-not-string', withCommit(signed({ ...base.unsigned, did: 42 })), 'COMMIT_INVALID', 'did is a number');
  carCase('commit-did-not-did', withCommit(signed({ ...base.unsigned, did: 'alice.example' })), 'COMMIT_INVALID', 'did is a handle');
  carCase('commit-data-not-link', withCommit(signed({ ...base.unsigned, data: base.path[0]!.cid.bytes })), 'COMMIT_INVALID', 'data as bytes, not a tag-42 link');
  carCase('commit-data-raw-codec', withCommit(signed({ ...base.unsigned, data: CID.createV1(0x55, base.path[0]!.cid.multihash) })), 'COMMIT_INVALID', 'data links the MST root with the raw codec');
  carCase(
    'commit-data-sha512',
    withCommit(signed({ ...base.unsigned, data: CID.createV1(0x71, Digest.create(0x13, sha512(base.path[0]!.bytes))) })),
    'COMMIT_INVALID',
    'data links the MST root by sha2-512',
  );
  carCase('commit-prev-string', withCommit(signed({ ...base.unsigned, prev: 'bafyrei' })), 'COMMIT_INVALID', 'prev is text');
  carCase('commit-sig-string', withCommit(block({ ...base.unsigned, sig: b64(realSig.sig) })), 'COMMIT_INVALID', 'sig as base64 text');
  carCase('commit-is-array', withCommit(block([base.unsigned])), 'COMMIT_INVALID', 'the commit block is an array');
  carCase('root-is-mst-node', car([base.path[0]!, ...base.path.slice(1), base.record]), 'COMMIT_INVALID', 'the CAR root is the MST root, not a commit');
  carCase('commit-did-other', withCommit(signed({ ...base.unsigned, did: 'did:plc:someoneelse2222222222' })), 'COMMIT_DID_MISMATCH', "a commit of another repository, signed with the signer's key");
  carCase('commit-did-web-other', withCommit(signed({ ...base.unsigned, did: 'did:web:evil.example' })), 'COMMIT_DID_MISMATCH', 'a commit claiming a did:web repository');

  // Signatures
  carCase('sig-empty', withSig(new Uint8Array(0)), 'SIGNATURE_INVALID', '0-byte signature');
  carCase('sig-63-bytes', withSig(realSig.sig.subarray(0, 63)), 'SIGNATURE_INVALID', 'the real signature minus one byte');
  carCase('sig-65-bytes', withSig(concat(realSig.sig, Uint8Array.of(0))), 'SIGNATURE_INVALID', 'the real signature plus one byte');
  carCase('sig-recovered-format', withSig(k256.sign(dagCbor.encode(base.unsigned), { format: 'recovered' })), 'SIGNATURE_INVALID', '65-byte recoverable signature (recovery byte + r||s)');
  carCase('sig-128-bytes', withSig(concat(realSig.sig, realSig.sig)), 'SIGNATURE_INVALID', 'signature repeated');
  carCase('sig-all-zero', withSig(new Uint8Array(64)), 'SIGNATURE_INVALID', 'r = s = 0');
  carCase('sig-r-zero', withSig(concat(new Uint8Array(32), s)), 'SIGNATURE_INVALID', 'r = 0');
  carCase('sig-s-zero', withSig(concat(r, new Uint8Array(32))), 'SIGNATURE_INVALID', 's = 0');
  carCase('sig-r-order', withSig(concat(be32(n), s)), 'SIGNATURE_INVALID', 'r = n (the curve order)');
  carCase('sig-s-order', withSig(concat(r, be32(n))), 'SIGNATURE_INVALID', 's = n');
  carCase('sig-r-max', withSig(concat(new Uint8Array(32).fill(0xff), s)), 'SIGNATURE_INVALID', 'r = 2^256 - 1');
  carCase('sig-high-s', withSig(concat(r, be32(n - sBig))), 'SIGNATURE_INVALID', 'the malleable high-S twin of the real signature');
  carCase('sig-der', withSig(secp256k1.Signature.fromBytes(realSig.sig, 'compact').toBytes('der')), 'SIGNATURE_INVALID', 'the real signature DER-encoded');
  carCase('sig-other-key', withCommit(signed(base.unsigned, { ...k256, sign: (m) => secp256k1.sign(m, sha256(utf8('attacker')), { lowS: true }) as Uint8Array })), 'SIGNATURE_INVALID', 'signed by another K-256 key');
  carCase('sig-p256-key', withCommit(block({ ...base.unsigned, sig: p256Signer.sign(dagCbor.encode(base.unsigned)) })), 'SIGNATURE_INVALID', "signed by the P-256 signer's key, checked with the K-256 key");
  carCase('sig-over-hash', withSig(k256.sign(sha256(dagCbor.encode(base.unsigned)))), 'SIGNATURE_INVALID', 'signed over sha256(commit): double-hashed');
  carCase('sig-not-prehashed', withSig(k256.sign(dagCbor.encode(base.unsigned), { prehash: false })), 'SIGNATURE_INVALID', 'signed over the raw CBOR truncated to 32 bytes');
  carCase('sig-covers-empty-sig', withSig(k256.sign(dagCbor.encode({ ...base.unsigned, sig: new Uint8Array(0) }))), 'SIGNATURE_INVALID', 'signed over the commit with an empty sig field included');
  carCase('sig-rev-changed', withCommit(block({ ...base.unsigned, rev: tidAt(SIGNED_AT_MS - 86_400_000), sig: realSig.sig })), 'SIGNATURE_INVALID', 'rev backdated under the original signature');
  carCase('sig-data-changed', withCommit(block({ ...base.unsigned, data: block({ l: null, e: [] }).cid, sig: realSig.sig }), [block({ l: null, e: [] })]), 'SIGNATURE_INVALID', 'data swapped under the original signature');
  const p256Sig = (dagCbor.decode(baseP256.commit.bytes) as { sig: Uint8Array }).sig;
  const pN = p256.Point.CURVE().n;
  const pS = BigInt(`0x${Buffer.from(p256Sig.subarray(32)).toString('hex')}`);
  carCase('p256-sig-high-s', car([block({ ...baseP256.unsigned, sig: concat(p256Sig.subarray(0, 32), be32(pN - pS)) }), ...baseP256.path, baseP256.record]), 'SIGNATURE_INVALID', 'P-256 high-S twin', { signer: 'p256' });
  carCase('p256-sig-der', car([block({ ...baseP256.unsigned, sig: p256.Signature.fromBytes(p256Sig, 'compact').toBytes('der') }), ...baseP256.path, baseP256.record]), 'SIGNATURE_INVALID', 'P-256 signature DER-encoded', { signer: 'p256' });

  // MST structure (hand-built trees, validly signed)
  const LT = layerOf(target);
  const sameLayerBelow = findKey(LT, (k) => compareKeys(k, target) < 0);
  const otherLayerAbove = findKey(LT === 0 ? 1 : 0, (k) => compareKeys(k, target) > 0);
  const twoUpAbove = findKey(LT + 2, (k) => compareKeys(k, target) > 0);
  const oneUpBelow = findKey(LT + 1, (k) => compareKeys(k, target) < 0);
  const betweenLow = findKey(LT, (k) => compareKeys(k, oneUpBelow) < 0);
  const layerZero = findKey(0, () => true);
  const node = (left: unknown, entries: EntrySpec[]) => block(mstNode(left, entries, filler));
  const leaf = (key: string): EntrySpec => (key === target ? { key, value: base.record.cid } : { key });

  carCase('mst-single-node', handTree([node(null, [leaf(target)])]), 'OK', 'control: a hand-built one-node tree verifies');
  carCase('mst-out-of-order', handTree([node(null, [leaf(target), leaf(sameLayerBelow)])]), 'MST_INVALID', 'entries in descending key order');
  carCase('mst-duplicate-key', handTree([node(null, [leaf(target), leaf(target)])]), 'MST_INVALID', 'the same key twice in one node');
  carCase('mst-mixed-layers', handTree([node(null, [leaf(target), leaf(otherLayerAbove)])]), 'MST_INVALID', 'keys of two layers in one node');
  carCase('mst-skipped-layer', handTree([node(node(null, [leaf(target)]).cid, [leaf(twoUpAbove)]), node(null, [leaf(target)])]), 'MST_INVALID', 'a subtree two layers below its parent');
  carCase(
    'mst-same-layer-subtree',
    handTree([node(node(null, [leaf(target)]).cid, [leaf(findKey(LT, (k) => compareKeys(k, target) > 0))]), node(null, [leaf(target)])]),
    'MST_INVALID',
    'a subtree on its parent layer (what a cycle would need)',
  );
  const outOfRange = node(null, [leaf(betweenLow), leaf(target)]);
  carCase('mst-key-outside-range', handTree([node(null, [{ key: oneUpBelow, tree: outOfRange.cid }]), outOfRange]), 'MST_INVALID', "a subtree holding a key outside its parent's range");
  const emptyNode = block({ l: null, e: [] });
  carCase('mst-empty-intermediate', handTree([node(null, [{ key: oneUpBelow, tree: emptyNode.cid }]), emptyNode]), 'MST_INVALID', 'an empty node below the root');
  const lone = node(null, [leaf(target)]);
  carCase('mst-empty-root-with-subtree', handTree([block({ l: lone.cid, e: [] }), lone]), 'MST_INVALID', 'an empty root pointing at a subtree (not pruned)');
  carCase('mst-layer0-links-subtree', handTree([node(null, [{ key: layerZero, tree: emptyNode.cid }]), emptyNode]), 'MST_INVALID', 'a layer-0 node with a subtree link');
  carCase('mst-prefix-not-maximal', handTree([node(null, [leaf(sameLayerBelow), { ...leaf(target), p: 0 }])]), 'MST_INVALID', 'second key spelled out in full (p = 0)');
  carCase('mst-first-p-nonzero', handTree([node(null, [{ ...leaf(target), p: 3 }])]), 'MST_INVALID', 'first entry with p = 3');
  carCase('mst-p-negative', handTree([node(null, [{ ...leaf(target), p: -1, k: utf8(target) }])]), 'MST_INVALID', 'p = -1');
  carCase('mst-k-text', handTree([node(null, [{ ...leaf(target), k: target }])]), 'MST_INVALID', 'k as text, not bytes');
  carCase('mst-empty-key', handTree([node(null, [{ key: '', value: filler }])]), 'MST_INVALID', 'an empty key');
  carCase('mst-extra-node-field', handTree([block({ ...mstNode(null, [leaf(target)], filler), x: 1 })]), 'MST_INVALID', 'a node with a field besides l and e');
  carCase('mst-extra-entry-field', handTree([node(null, [{ ...leaf(target), extra: { x: 1 } }])]), 'MST_INVALID', 'an entry with a fifth field');
  carCase('mst-entry-missing-t', handTree([node(null, [{ ...leaf(target), omit: ['t'] }])]), 'MST_INVALID', 'an entry without t');
  carCase('mst-e-not-array', handTree([block({ l: null, e: { 0: 1 } })]), 'MST_INVALID', 'e is a map');
  carCase('mst-v-not-link', singleNodeValue(utf8('bafyrei')), 'MST_INVALID', 'the record value is bytes, not a link');
  carCase('mst-record-raw-link', singleNode({ cid: CID.createV1(0x55, base.record.cid.multihash), bytes: base.record.bytes }, CID.createV1(0x55, base.record.cid.multihash)), 'MST_INVALID', 'the MST links the record with the raw codec');
  carCase('mst-left-dag-pb', handTree([node(CID.createV1(0x70, lone.cid.multihash), [leaf(target)])]), 'MST_INVALID', 'left link with the dag-pb codec');
  carCase('mst-tree-sha512', handTree([node(null, [{ ...leaf(target), tree: CID.createV1(0x71, Digest.create(0x13, sha512(lone.bytes))) }])]), 'MST_INVALID', 'subtree link by sha2-512');
  carCase(
    'mst-too-many-entries',
    handTree([block({ l: null, e: Array.from({ length: 513 }, () => ({ p: 0, k: utf8(target), v: filler, t: null })) })]),
    'MST_INVALID',
    '513 entries in one node (fanout 4 makes this a mined tree)',
  );
  carCase('mst-unsorted-cbor', handTree([rawBlock(mapInOrder([['l', null], ['e', mstNode(null, [leaf(target)], filler).e]]))]), 'CBOR_INVALID', 'node written {l, e} instead of canonical {e, l}');
  carCase('mst-indefinite-array', handTree([rawBlock(concat(hex('a2'), dagCbor.encode('e'), hex('9f'), dagCbor.encode(mstNode(null, [leaf(target)], filler).e[0]), hex('ff'), dagCbor.encode('l'), hex('f6')))]), 'CBOR_INVALID', 'e as an indefinite-length array');

  // The MST does not hold the record
  const otherCollection = await referenceProof(k256, image, { collection: 'app.bsky.feed.post' });
  carCase(
    'record-other-collection',
    car([otherCollection.commit, ...otherCollection.allNodes, otherCollection.record]),
    'RECORD_NOT_IN_COMMIT',
    'a valid, signed repository holding the same record under app.bsky.feed.post/<rkey>, not io.atcr.manifest/<rkey>',
  );
  const without = await referenceProof(k256, image, { include: false });
  carCase('exclusion-proof', car([without.commit, ...without.allNodes]), 'RECORD_NOT_IN_COMMIT', 'the signed tree proves the key absent (a deleted record)');
  carCase('empty-tree', handTree([emptyNode]), 'RECORD_NOT_IN_COMMIT', 'a signed commit of an empty repository');

  // CBOR of the record (single-node trees, validly signed)
  const recordCase = (name: string, bytes: Uint8Array, expect: Expectation, note: string, extra: Partial<CorpusCase> = {}) =>
    carCase(name, singleNode(rawBlock(bytes)), expect, note, extra);
  const recordFields = canonicalOrder(Object.entries(record()));
  recordCase('record-unsorted-keys', mapInOrder([...recordFields].reverse()), 'CBOR_INVALID', 'record keys in reverse order');
  recordCase('record-duplicate-digest', mapInOrder(canonicalOrder([...recordFields, ['digest', OTHER]])), 'CBOR_INVALID', 'two "digest" keys: which one was signed?');
  recordCase('record-indefinite-map', concat(hex('bf'), ...recordFields.flatMap(([k, v]) => [dagCbor.encode(k), dagCbor.encode(v)]), hex('ff')), 'CBOR_INVALID', 'indefinite-length record map');
  recordCase('record-indefinite-text', mapInOrder(recordFields.map(([k, v]) => [k, k === 'digest' ? new RawCbor(concat(hex('7f'), dagCbor.encode(SUBJECT.slice(0, 7)), dagCbor.encode(SUBJECT.slice(7)), hex('ff'))) : v] as [string, unknown])), 'CBOR_INVALID', 'digest as indefinite-length text');
  recordCase('record-tag-1', mapInOrder(recordFields.map(([k, v]) => [k, k === 'createdAt' ? new RawCbor(hex('c1 1a 683b9a00')) : v] as [string, unknown])), 'CBOR_INVALID', 'createdAt as tag 1');
  recordCase('record-tag-2-bignum', mapInOrder(recordFields.map(([k, v]) => [k, k === 'schemaVersion' ? new RawCbor(hex('c2 41 02')) : v] as [string, unknown])), 'CBOR_INVALID', 'schemaVersion as a tag-2 bignum');
  recordCase('record-float', mapInOrder(recordFields.map(([k, v]) => [k, k === 'schemaVersion' ? new RawCbor(hex('fb 4000000000000000')) : v] as [string, unknown])), 'CBOR_INVALID', 'schemaVersion 2.0 as a float64');
  recordCase('record-undefined', mapInOrder(recordFields.map(([k, v]) => [k, k === 'mediaType' ? new RawCbor(hex('f7')) : v] as [string, unknown])), 'CBOR_INVALID', 'undefined value');
  recordCase('record-invalid-utf8', mapInOrder(recordFields.map(([k, v]) => [k, k === 'repository' ? new RawCbor(hex('62 c328')) : v] as [string, unknown])), 'CBOR_INVALID', 'text that is not UTF-8');
  recordCase('record-deeply-nested', concat(new Uint8Array(100_000).fill(0x81), Uint8Array.of(0x01)), 'CBOR_INVALID', '100,000 nested arrays');
  let nested: unknown = record();
  for (let i = 0; i < 40; i++) nested = { d: nested };
  recordCase('record-nested-40-maps', dagCbor.encode(nested), 'CBOR_INVALID', '40 nested maps: past the depth cap of 32');
  recordCase('record-trailing-bytes', concat(dagCbor.encode(record()), Uint8Array.of(0xf6)), 'CBOR_INVALID', 'a null after the record');
  recordCase('record-non-minimal-length', concat(hex('b8 06'), dagCbor.encode(record()).subarray(1)), 'CBOR_INVALID', 'map length in an extra byte');

  // The record is valid CBOR but not this image's
  recordCase('record-not-a-map', dagCbor.encode('sha256:...'), 'RECORD_INVALID', 'the record is a string', { expectProof: 'OK' });
  recordCase('record-missing-digest', dagCbor.encode(record({ digest: undefined })), 'RECORD_INVALID', 'no digest', { expectProof: 'OK' });
  recordCase('record-other-type', dagCbor.encode(record({ $type: 'app.bsky.feed.post' })), 'RECORD_INVALID', '$type of another collection', { expectProof: 'OK' });
  recordCase('record-schema-version-text', dagCbor.encode(record({ schemaVersion: '2' })), 'RECORD_INVALID', 'schemaVersion as text', { expectProof: 'OK' });
  recordCase('record-other-digest', dagCbor.encode(record({ digest: OTHER })), 'DIGEST_MISMATCH', 'a signed record for another image', { expectProof: 'OK' });
  recordCase('record-digest-uppercase', dagCbor.encode(record({ digest: SUBJECT.toUpperCase().replace('SHA256', 'sha256') })), 'DIGEST_MISMATCH', 'the same digest in upper-case hex', { expectProof: 'OK' });
  recordCase('record-other-repository', dagCbor.encode(record({ repository: `${registryName}/${REPOSITORY_PARENT}/other` })), 'REPOSITORY_MISMATCH', 'signed for another repository', { expectProof: 'OK' });
  recordCase('record-repository-prefix', dagCbor.encode(record({ repository: `${registryName}/${REPOSITORY_PARENT}` })), 'REPOSITORY_MISMATCH', 'signed for a parent path', { expectProof: 'OK' });
  carCase('rev-in-future', singleNode(base.record, undefined, { ...base.unsigned, rev: tidAt(Date.UTC(2100, 0, 1)) }), 'COMMIT_INVALID', 'a commit dated 2100', { expectProof: 'OK' });
  carCase('rev-before-valid-from', singleNode(base.record, undefined, { ...base.unsigned, rev: tidAt(Date.UTC(2023, 0, 1)) }), 'DID_NOT_YET_VALID', 'a commit dated before the policy validFrom', { expectProof: 'OK' });
  carCase('rev-epoch', singleNode(base.record, undefined, { ...base.unsigned, rev: '2222222222222' }), 'DID_NOT_YET_VALID', 'a commit dated 1970', { expectProof: 'OK' });

  // ---- payload: the signature artifact JSON, verified offline against the pinned keys --------
  const payloadFor = (signer: Signer, proof: Uint8Array, recordCid: CID, commitCid: CID) => ({
    $type: 'io.atcr.atprotoSignature',
    version: '1.0',
    subject: { digest: SUBJECT, mediaType: OCI_MANIFEST },
    atproto: {
      did: signer.did,
      handle: 'corpus.example',
      pdsEndpoint: 'https://pds.example',
      recordUri: `at://${signer.did}/${COLLECTION}/${signer.rkey}`,
      recordCid: recordCid.toString(),
      commitCid: commitCid.toString(),
      commitRev: tidAt(SIGNED_AT_MS),
      signedAt: '2025-06-01T00:00:00.000Z',
    },
    signature: { algorithm: signer.name === 'k256' ? 'ECDSA-K256-SHA256' : 'ECDSA-P256-SHA256', keyId: `${signer.did}#atproto`, publicKeyMultibase: signer.multikey },
    proof: { car: b64(proof) },
  });
  const valid = payloadFor(k256, base.car, base.record.cid, base.commit.cid);
  const validP256 = payloadFor(p256Signer, baseP256.car, baseP256.record.cid, baseP256.commit.cid);
  type Payload = typeof valid;
  const mutate = (change: (p: Payload & Record<string, unknown>) => void): Payload => {
    const copy = structuredClone(valid) as Payload & Record<string, unknown>;
    change(copy);
    return copy;
  };
  const payloadCase = (name: string, content: Uint8Array | unknown, expect: Expectation, note: string, extra: Partial<CorpusCase> = {}, ext = 'json') =>
    add(`cases/payload/${name}.${ext}`, content instanceof Uint8Array ? content : json(content), { kind: 'payload', expect, note, ...extra });

  payloadCase('valid', valid, 'OK', 'control: the valid payload with its proof embedded (verifies offline with the pinned key)');
  payloadCase('valid-p256', validP256, 'OK', 'control: the P-256 signer', { signer: 'p256' });
  payloadCase(
    'valid-minimal',
    { $type: valid.$type, subject: { digest: SUBJECT }, atproto: { did: k256.did, recordUri: valid.atproto.recordUri }, proof: valid.proof },
    'OK',
    'control: only the required fields',
  );
  payloadCase(
    'lying-hints',
    mutate((p) => {
      p.atproto.pdsEndpoint = 'http://169.254.169.254/latest/meta-data';
      p.atproto.handle = 'admin.bsky.social';
      p.signature.publicKeyMultibase = p256Signer.multikey;
      p.signature.keyId = 'did:plc:attacker#atproto';
      p.atproto.signedAt = '2099-01-01T00:00:00Z';
      p.atproto.commitRev = '2222222222222';
    }),
    'OK',
    'control: hints (PDS endpoint, handle, key, times) are ignored: the proof alone decides, and nothing is fetched',
  );
  payloadCase(
    'prototype-keys',
    mutate((p) => {
      Object.defineProperty(p, '__proto__', { value: { isSuccess: true }, enumerable: true });
      Object.defineProperty(p, 'constructor', { value: { prototype: { polluted: true } }, enumerable: true });
    }),
    'OK',
    'control: "__proto__" and "constructor" keys are inert unknown fields',
  );
  payloadCase('duplicate-subject-key', utf8(JSON.stringify(valid).replace('"subject":', `"subject":{"digest":"${OTHER}"},"subject":`)), 'OK', 'two "subject" keys: JSON.parse keeps the last, which is the one checked');
  payloadCase('not-json', utf8('{"$type": "io.atcr.atprotoSignature",'), 'ARTIFACT_INVALID', 'truncated JSON');
  payloadCase('empty', new Uint8Array(0), 'ARTIFACT_INVALID', 'zero bytes');
  payloadCase('invalid-utf8', concat(utf8('{"$type": "'), Uint8Array.of(0xc3, 0x28), utf8('"}')), 'ARTIFACT_INVALID', 'bytes that are not UTF-8', {}, 'bin');
  payloadCase('utf16', Uint8Array.from(Buffer.from(JSON.stringify(valid), 'utf16le')), 'ARTIFACT_INVALID', 'the valid payload in UTF-16', {}, 'bin');
  payloadCase('array', [valid], 'ARTIFACT_INVALID', 'a JSON array');
  payloadCase('null', null, 'ARTIFACT_INVALID', 'JSON null');
  payloadCase('string', 'io.atcr.atprotoSignature', 'ARTIFACT_INVALID', 'a JSON string');
  payloadCase('wrong-type', mutate((p) => (p.$type = 'dev.sigstore.bundle')), 'ARTIFACT_INVALID', '$type of another format');
  payloadCase('missing-type', mutate((p) => delete (p as Partial<Payload>).$type), 'ARTIFACT_INVALID', 'no $type');
  payloadCase('missing-subject', mutate((p) => delete (p as Partial<Payload>).subject), 'ARTIFACT_INVALID', 'no subject');
  payloadCase('missing-subject-digest', mutate((p) => delete (p.subject as Partial<Payload['subject']>).digest), 'ARTIFACT_INVALID', 'subject without digest');
  payloadCase('subject-sha512', mutate((p) => (p.subject.digest = `sha512:${'ab'.repeat(64)}`)), 'ARTIFACT_INVALID', 'a sha512 subject digest');
  payloadCase('subject-uppercase', mutate((p) => (p.subject.digest = `sha256:${SUBJECT.slice(7).toUpperCase()}`)), 'ARTIFACT_INVALID', 'upper-case hex');
  payloadCase('subject-whitespace', mutate((p) => (p.subject.digest = ` ${SUBJECT}`)), 'ARTIFACT_INVALID', 'leading space');
  payloadCase('subject-not-string', mutate((p) => ((p.subject as Record<string, unknown>).digest = { digest: SUBJECT })), 'ARTIFACT_INVALID', 'digest is an object');
  payloadCase('subject-other-image', mutate((p) => (p.subject.digest = OTHER)), 'SUBJECT_MISMATCH', 'the artifact covers another image');
  payloadCase('subject-other-image-consistent', mutate((p) => (p.subject.digest = OTHER)), 'DIGEST_MISMATCH', 'verifying the other image with this artifact: the signed record names the original', { subjectDigest: OTHER });
  payloadCase('missing-atproto', mutate((p) => delete (p as Partial<Payload>).atproto), 'ARTIFACT_INVALID', 'no atproto block');
  payloadCase('missing-did', mutate((p) => delete (p.atproto as Partial<Payload['atproto']>).did), 'ARTIFACT_INVALID', 'no did');
  payloadCase('missing-record-uri', mutate((p) => delete (p.atproto as Partial<Payload['atproto']>).recordUri), 'ARTIFACT_INVALID', 'no recordUri');
  payloadCase('did-key', mutate((p) => (p.atproto.did = `did:key:${k256.multikey}`)), 'ARTIFACT_INVALID', 'did:key is not an atproto account DID');
  payloadCase('record-uri-other-collection', mutate((p) => (p.atproto.recordUri = `at://${k256.did}/app.bsky.feed.post/${k256.rkey}`)), 'ARTIFACT_INVALID', 'recordUri names a post');
  payloadCase('record-uri-other-did', mutate((p) => (p.atproto.recordUri = `at://${p256Signer.did}/${COLLECTION}/${k256.rkey}`)), 'ARTIFACT_INVALID', "recordUri in another account's repository");
  payloadCase('record-uri-handle', mutate((p) => (p.atproto.recordUri = `at://corpus.example/${COLLECTION}/${k256.rkey}`)), 'ARTIFACT_INVALID', 'recordUri with a handle authority');
  payloadCase('record-uri-dotdot', mutate((p) => (p.atproto.recordUri = `at://${k256.did}/${COLLECTION}/..`)), 'ARTIFACT_INVALID', 'rkey ".."');
  payloadCase('record-uri-query', mutate((p) => (p.atproto.recordUri = `at://${k256.did}/${COLLECTION}/${k256.rkey}?x=1`)), 'ARTIFACT_INVALID', 'recordUri with a query');
  payloadCase('record-uri-extra-segment', mutate((p) => (p.atproto.recordUri = `at://${k256.did}/${COLLECTION}/${k256.rkey}/x`)), 'ARTIFACT_INVALID', 'recordUri with four segments');
  payloadCase('record-cid-v0', mutate((p) => (p.atproto.recordCid = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')), 'ARTIFACT_INVALID', 'recordCid as CIDv0');
  payloadCase('record-cid-other', mutate((p) => (p.atproto.recordCid = filler.toString())), 'RECORD_CID_MISMATCH', 'recordCid names another block than the proven record');
  payloadCase('proof-not-base64', mutate((p) => (p.proof.car = '!!not base64!!')), 'ARTIFACT_INVALID', 'proof.car with characters outside base64');
  payloadCase('proof-garbage', mutate((p) => (p.proof.car = b64(utf8('this is not a CAR file')))), 'CAR_INVALID', 'proof.car decodes to junk');
  payloadCase('proof-missing-car', mutate((p) => ((p as Record<string, unknown>).proof = {})), 'ARTIFACT_INVALID', 'proof without car');
  payloadCase('proof-other-signer', mutate((p) => (p.proof.car = b64(baseP256.car))), 'COMMIT_DID_MISMATCH', "the P-256 signer's valid proof embedded in the K-256 signer's payload");
  payloadCase('handle-too-long', mutate((p) => (p.atproto.handle = `${'a'.repeat(300)}.example`)), 'ARTIFACT_INVALID', 'a 308-character handle');
  payloadCase('did-web-path', mutate((p) => ((p.atproto.did = 'did:web:example.com:users:alice'), (p.atproto.recordUri = `at://did:web:example.com:users:alice/${COLLECTION}/${k256.rkey}`))), 'UNTRUSTED_DID', 'did:web with a path: not a DID the policy trusts, so refused on the claim before it is even resolved');
  payloadCase('did-web-ip', mutate((p) => ((p.atproto.did = 'did:web:127.0.0.1'), (p.atproto.recordUri = `at://did:web:127.0.0.1/${COLLECTION}/${k256.rkey}`))), 'UNTRUSTED_DID', 'did:web naming an IP address: not a DID the policy trusts, so refused on the claim before it is even resolved');
  payloadCase('did-web-decimal-ip', mutate((p) => ((p.atproto.did = 'did:web:2130706433'), (p.atproto.recordUri = `at://did:web:2130706433/${COLLECTION}/${k256.rkey}`))), 'UNTRUSTED_DID', 'did:web naming 127.0.0.1 as one decimal number: not a DID the policy trusts, so refused on the claim before it is even resolved');
  payloadCase('did-plc-short', mutate((p) => ((p.atproto.did = 'did:plc:abc'), (p.atproto.recordUri = `at://did:plc:abc/${COLLECTION}/${k256.rkey}`))), 'UNTRUSTED_DID', 'did:plc of 3 characters: not a DID the policy trusts, so refused on the claim before it is even resolved');
  payloadCase(
    'unpinned-signer',
    mutate((p) => ((p.atproto.did = 'did:plc:notpinnedsigner222222222'), (p.atproto.recordUri = `at://did:plc:notpinnedsigner222222222/${COLLECTION}/${k256.rkey}`))),
    'UNTRUSTED_DID',
    'a signer the policy does not trust is refused on its claim, before its DID document is fetched (policy first)',
  );
  payloadCase('oversized', gzipSync(concat(json(valid).subarray(0, -2), utf8(`,"pad":"${' '.repeat(4 * 1024 * 1024)}"}`)), { level: 9 }), 'ARTIFACT_INVALID', 'the valid payload padded past the 4 MiB cap (stored gzipped)', {}, 'json.gz');
  payloadCase(
    'deeply-nested-unknown-field',
    gzipSync(concat(json(valid).subarray(0, -2), utf8(',"x":'), utf8('['.repeat(1_000_000)), utf8(']'.repeat(1_000_000)), utf8('}')), { level: 9 }),
    'OK',
    'control: the valid payload plus 1,000,000 nested arrays in an unknown field (stored gzipped): JSON.parse is iterative and nothing walks unknown fields, so no stack overflow',
    {},
    'json.gz',
  );
  payloadCase('deeply-nested', gzipSync(concat(utf8('['.repeat(1_000_000)), utf8(']'.repeat(1_000_000))), { level: 9 }), 'ARTIFACT_INVALID', '1,000,000 nested arrays and nothing else (stored gzipped)', {}, 'json.gz');
  payloadCase('proof-too-long', gzipSync(json(mutate((p) => (p.proof.car = 'A'.repeat(2_796_208)))), { level: 9 }), 'ARTIFACT_INVALID', 'proof.car longer than a 2 MiB CAR (stored gzipped)', {}, 'json.gz');

  // ---- did-document: what the PLC directory or did:web host returned -------------------------
  const did = k256.did;
  const uncompressed = secp256k1.Point.fromBytes(secp256k1.getPublicKey(k256.secret, true)).toBytes(false);
  const docBase = () => ({
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    alsoKnownAs: ['at://corpus.example'],
    verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: k256.multikey }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' }],
  });
  type Doc = ReturnType<typeof docBase> & Record<string, unknown>;
  const doc = (change: (d: Doc) => void = () => {}) => {
    const d = docBase() as Doc;
    change(d);
    return d;
  };
  const docCase = (name: string, content: unknown, expect: Expectation, note: string, extra: Partial<CorpusCase> = {}) =>
    add(`cases/did-document/${name}.json`, json(content), { kind: 'did-document', expect, note, ...extra });
  const vm = (d: Doc) => d.verificationMethod[0]! as Record<string, unknown>;
  const svc = (d: Doc) => d.service[0]! as Record<string, unknown>;
  const multikeyOf = (prefix: number[], point: Uint8Array) => base58btc.encode(concat(Uint8Array.from(prefix), point));

  docCase('valid', doc(), 'OK', 'control: Multikey K-256 and an https PDS');
  docCase('valid-legacy-k256', doc((d) => Object.assign(vm(d), { type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: base58btc.encode(uncompressed) })), 'OK', 'control: the legacy form the PLC directory emits');
  docCase('valid-relative-ids', doc((d) => (vm(d).id = '#atproto')), 'OK', 'control: relative #atproto id');
  docCase('no-atproto-key', doc((d) => (vm(d).id = `${did}#other`)), 'DID_DOCUMENT_INVALID', 'no #atproto verification method');
  docCase('no-verification-method', doc((d) => delete (d as Partial<Doc>).verificationMethod), 'DID_DOCUMENT_INVALID', 'no verificationMethod at all');
  docCase('two-atproto-keys', doc((d) => d.verificationMethod.push({ ...d.verificationMethod[0]!, id: '#atproto', publicKeyMultibase: p256Signer.multikey })), 'DID_DOCUMENT_INVALID', '#atproto and did#atproto: which key?');
  docCase('two-identical-atproto-keys', doc((d) => d.verificationMethod.push({ ...d.verificationMethod[0]! })), 'DID_DOCUMENT_INVALID', 'the same #atproto method twice');
  docCase('key-type-ed25519', doc((d) => Object.assign(vm(d), { type: 'Ed25519VerificationKey2020', publicKeyMultibase: multikeyOf([0xed, 0x01], new Uint8Array(32).fill(7)) })), 'KEY_UNSUPPORTED', 'an Ed25519 verification method');
  docCase('key-type-jwk', doc((d) => Object.assign(vm(d), { type: 'JsonWebKey2020', publicKeyMultibase: undefined, publicKeyJwk: { kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA' } })), 'DID_DOCUMENT_INVALID', 'a JWK with no publicKeyMultibase');
  docCase('multikey-ed25519', doc((d) => (vm(d).publicKeyMultibase = multikeyOf([0xed, 0x01], new Uint8Array(32).fill(7)))), 'KEY_UNSUPPORTED', 'a Multikey with the Ed25519 multicodec');
  docCase('multikey-secp256k1-unprefixed', doc((d) => (vm(d).publicKeyMultibase = base58btc.encode(secp256k1.getPublicKey(k256.secret, true)))), 'KEY_UNSUPPORTED', 'a Multikey without its multicodec prefix');
  docCase('multikey-not-on-curve', doc((d) => (vm(d).publicKeyMultibase = multikeyOf([0xe7, 0x01], concat(Uint8Array.of(0x02), new Uint8Array(32).fill(0xff))))), 'DID_DOCUMENT_INVALID', 'x = 2^256-1: no such point');
  docCase('multikey-bad-prefix-byte', doc((d) => (vm(d).publicKeyMultibase = multikeyOf([0xe7, 0x01], concat(Uint8Array.of(0x05), secp256k1.getPublicKey(k256.secret, true).subarray(1))))), 'DID_DOCUMENT_INVALID', 'compressed point with prefix 0x05');
  docCase('multikey-short', doc((d) => (vm(d).publicKeyMultibase = multikeyOf([0xe7, 0x01], secp256k1.getPublicKey(k256.secret, true).subarray(0, 32)))), 'DID_DOCUMENT_INVALID', '32-byte point');
  docCase('multikey-bad-base58', doc((d) => (vm(d).publicKeyMultibase = 'z0OIl')), 'DID_DOCUMENT_INVALID', 'characters outside base58');
  docCase('multikey-base64', doc((d) => (vm(d).publicKeyMultibase = `m${b64(secp256k1.getPublicKey(k256.secret, true))}`)), 'DID_DOCUMENT_INVALID', 'base64 multibase instead of base58btc');
  docCase('multikey-huge', doc((d) => (vm(d).publicKeyMultibase = `z${'2'.repeat(100_000)}`)), 'DID_DOCUMENT_INVALID', 'a 100 kB key string');
  docCase('pds-http', doc((d) => (svc(d).serviceEndpoint = 'http://pds.example.com')), 'DID_DOCUMENT_INVALID', 'plain http PDS');
  docCase('pds-with-path', doc((d) => (svc(d).serviceEndpoint = 'https://pds.example.com/xrpc')), 'DID_DOCUMENT_INVALID', 'PDS endpoint with a path');
  docCase('pds-with-query', doc((d) => (svc(d).serviceEndpoint = 'https://pds.example.com/?x=1')), 'DID_DOCUMENT_INVALID', 'PDS endpoint with a query');
  docCase('pds-with-credentials', doc((d) => (svc(d).serviceEndpoint = 'https://user:secret@pds.example.com')), 'DID_DOCUMENT_INVALID', 'PDS endpoint with credentials');
  docCase('pds-private-ip', doc((d) => (svc(d).serviceEndpoint = 'https://10.0.0.1')), 'DID_DOCUMENT_INVALID', 'PDS on a private address');
  docCase('pds-metadata-ip', doc((d) => (svc(d).serviceEndpoint = 'https://169.254.169.254')), 'DID_DOCUMENT_INVALID', 'PDS on the cloud metadata address');
  docCase('pds-decimal-ip', doc((d) => (svc(d).serviceEndpoint = 'https://2130706433')), 'DID_DOCUMENT_INVALID', 'PDS on 127.0.0.1 written as one decimal');
  docCase('pds-mapped-ipv6', doc((d) => (svc(d).serviceEndpoint = 'https://[::ffff:127.0.0.1]')), 'DID_DOCUMENT_INVALID', 'PDS on IPv4-mapped loopback');
  docCase('pds-file-scheme', doc((d) => (svc(d).serviceEndpoint = 'file:///etc/passwd')), 'DID_DOCUMENT_INVALID', 'file: PDS');
  docCase('pds-not-url', doc((d) => (svc(d).serviceEndpoint = 'pds.example.com')), 'DID_DOCUMENT_INVALID', 'no scheme');
  docCase('pds-endpoint-map', doc((d) => (svc(d).serviceEndpoint = { uri: 'https://pds.example.com' } as unknown as string)), 'DID_DOCUMENT_INVALID', 'endpoint as a map');
  docCase('pds-wrong-type', doc((d) => (svc(d).type = 'BskyFeedGenerator')), 'DID_DOCUMENT_INVALID', '#atproto_pds of another type');
  docCase('no-pds', doc((d) => (d.service = [])), 'DID_DOCUMENT_INVALID', 'no #atproto_pds service');
  docCase('two-pds', doc((d) => d.service.push({ ...d.service[0]!, id: `${did}#atproto_pds`, serviceEndpoint: 'https://evil.example.com' })), 'DID_DOCUMENT_INVALID', 'two #atproto_pds services');
  docCase('id-other-did', doc((d) => (d.id = p256Signer.did)), 'DID_DOCUMENT_INVALID', 'a document for another DID');
  docCase('id-missing', doc((d) => delete (d as Partial<Doc>).id), 'DID_DOCUMENT_INVALID', 'no id');
  docCase('not-an-object', [doc()], 'DID_DOCUMENT_INVALID', 'an array holding the document');
  docCase('too-many-methods', doc((d) => d.verificationMethod.push(...Array.from({ length: 64 }, (_, i) => ({ ...d.verificationMethod[0]!, id: `#k${i}` })))), 'DID_DOCUMENT_INVALID', '65 verification methods');
  docCase('pds-private-allowed-on-test-network', doc((d) => (svc(d).serviceEndpoint = 'http://127.0.0.1:2583')), 'OK', 'control: allowPrivateNetwork admits a loopback http PDS', { allowPrivateNetwork: true });

  // ---- did: identifiers as they appear in a payload ------------------------------------------
  const didCase = (name: string, value: string, expect: Expectation, note: string, extra: Partial<CorpusCase> = {}) =>
    add(`cases/did/${name}.txt`, utf8(value), { kind: 'did', expect, note, ...extra });
  didCase('valid-plc', k256.did, 'OK', 'control');
  didCase('valid-web', 'did:web:pds.example.com', 'OK', 'control');
  didCase('web-path', 'did:web:example.com:users:alice', 'DID_INVALID', 'did:web with a path');
  didCase('web-port', 'did:web:example.com%3A8443', 'DID_INVALID', 'did:web with a port');
  didCase('web-localhost-port', 'did:web:localhost%3A2583', 'DID_INVALID', 'did:web with a port, outside a test network');
  didCase('web-localhost-port-test-network', 'did:web:localhost%3A2583', 'OK', 'control: a test network may use ports', { allowPrivateNetwork: true });
  didCase('web-port-zero-test-network', 'did:web:localhost%3A0', 'DID_INVALID', 'port 0', { allowPrivateNetwork: true });
  didCase('web-ipv4', 'did:web:127.0.0.1', 'DID_INVALID', 'IPv4 literal');
  didCase('web-ipv4-public', 'did:web:8.8.8.8', 'DID_INVALID', 'public IPv4 literal (still not a host name)');
  didCase('web-ipv6', 'did:web:%5B%3A%3A1%5D', 'DID_INVALID', 'IPv6 literal');
  didCase('web-decimal-ip', 'did:web:2130706433', 'DID_INVALID', '127.0.0.1 as one decimal number (URL parsers turn it into an IP)');
  didCase('web-hex-ip', 'did:web:0x7f000001', 'DID_INVALID', '127.0.0.1 in hex');
  didCase('web-octal-ip', 'did:web:0177.0.0.1', 'DID_INVALID', '127.0.0.1 with an octal first part');
  didCase('web-short-ip', 'did:web:127.1', 'DID_INVALID', '127.0.0.1 in two parts');
  didCase('web-encoded-ip', 'did:web:%31%32%37.0.0.1', 'DID_INVALID', 'percent-encoded IP literal');
  didCase('web-userinfo', 'did:web:user%40example.com', 'DID_INVALID', 'user@host');
  didCase('web-encoded-slash', 'did:web:example.com%2F..%2Fadmin', 'DID_INVALID', 'percent-encoded path');
  didCase('plc-short', 'did:plc:abc', 'DID_INVALID', 'too short');
  didCase('plc-uppercase', 'did:plc:ADVERSARIALCORPUSSIGNERK', 'DID_INVALID', 'upper case');
  didCase('plc-bad-alphabet', 'did:plc:adversarialcorpussigner1', 'DID_INVALID', '"1" is not base32');
  didCase('plc-too-long', 'did:plc:adversarialcorpussignerkk', 'DID_INVALID', '25 characters');
  didCase('key', `did:key:${k256.multikey}`, 'DID_INVALID', 'did:key');
  didCase('other-method', 'did:ion:EiClkZMDxPKqC9c-umQfTkR8vvZ9JPhl_xLDI9Nfk38w5w', 'DID_INVALID', 'a DID method atproto does not use');
  didCase('empty', '', 'DID_INVALID', 'empty');
  didCase('newline', `${k256.did}\n`, 'DID_INVALID', 'trailing newline');
  didCase('huge', `did:web:${'a'.repeat(3000)}.com`, 'DID_INVALID', '3000-character host');

  // ---- manifest: referrer manifests in a real registry ---------------------------------------
  const EMPTY = utf8('{}');
  const payloadBytes = json(valid);
  const otherPayload = json(mutate((p) => (p.subject.digest = OTHER)));
  const bigBlob = utf8('x'.repeat(4096));
  const blobs: [string, Uint8Array][] = [
    ['subject-config.json', SUBJECT_CONFIG],
    ['subject-layer.txt', SUBJECT_LAYER],
    ['empty-config.json', EMPTY],
    ['payload-valid.json', payloadBytes],
    ['payload-other-image.json', otherPayload],
    ['big.txt', bigBlob],
  ];
  for (const [name, bytes] of blobs) add(`cases/manifest/blobs/${name}`, bytes, undefined);
  add('cases/manifest/blobs/subject-manifest.json', SUBJECT_MANIFEST, undefined);
  const desc = (mediaType: string, bytes: Uint8Array) => ({ mediaType, digest: sha256Digest(bytes), size: bytes.length });
  const referrer = (change: (m: Record<string, unknown> & { layers: Record<string, unknown>[] }) => void = () => {}) => {
    const m = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIGNATURE_TYPE,
      config: desc(EMPTY_TYPE, EMPTY),
      layers: [desc(SIGNATURE_TYPE, payloadBytes)] as Record<string, unknown>[],
      subject: desc(OCI_MANIFEST, SUBJECT_MANIFEST),
      annotations: { 'org.opencontainers.image.created': '2025-06-01T00:00:00Z' },
    };
    change(m);
    return m;
  };
  const manifestCase = (name: string, content: unknown, expect: Expectation, note: string) =>
    add(`cases/manifest/${name}.json`, json(content), { kind: 'manifest', expect, note });
  manifestCase('valid', referrer(), 'OK', 'control: the referrer as attachSignature writes it');
  manifestCase('valid-config-artifact-type', referrer((m) => ((m.artifactType = undefined), (m.config = desc(SIGNATURE_TYPE, EMPTY)))), 'OK', 'control: artifact type given by config.mediaType (pre-1.1 form)');
  manifestCase('wrong-artifact-type', referrer((m) => (m.artifactType = 'application/vnd.dev.cosign.artifact.sig.v1+json')), 'ARTIFACT_INVALID', 'a cosign artifact type');
  manifestCase('no-artifact-type', referrer((m) => (m.artifactType = undefined)), 'ARTIFACT_INVALID', 'no artifactType and an empty config');
  manifestCase('subject-other-image', referrer((m) => (m.subject = { mediaType: OCI_MANIFEST, digest: OTHER, size: 100 })), 'SUBJECT_MISMATCH', 'attached to another image');
  manifestCase('no-subject', referrer((m) => (m.subject = undefined)), 'SUBJECT_MISMATCH', 'no subject');
  manifestCase('two-signature-layers', referrer((m) => m.layers.push(desc(SIGNATURE_TYPE, otherPayload))), 'ARTIFACT_INVALID', 'two payloads: which one is meant?');
  manifestCase('no-signature-layer', referrer((m) => (m.layers = [desc('application/octet-stream', payloadBytes)])), 'ARTIFACT_INVALID', 'the payload under another media type');
  manifestCase('no-layers', referrer((m) => (m.layers = [])), 'ARTIFACT_INVALID', 'no layers');
  manifestCase('layer-size-oversized', referrer((m) => (m.layers[0]!.size = 64 * 1024 * 1024)), 'ARTIFACT_INVALID', 'a layer declared as 64 MiB');
  manifestCase('layer-size-understated', referrer((m) => (m.layers = [{ ...desc(SIGNATURE_TYPE, bigBlob), size: 16 }])), 'RESPONSE_TOO_LARGE', 'a 4 kB blob declared as 16 bytes: the cap follows the descriptor');
  manifestCase('layer-size-negative', referrer((m) => (m.layers[0]!.size = -1)), 'ARTIFACT_INVALID', 'a layer declared as -1 bytes');
  manifestCase('payload-for-other-image', referrer((m) => (m.layers = [desc(SIGNATURE_TYPE, otherPayload)])), 'SUBJECT_MISMATCH', 'a referrer of this image carrying the payload of another');
  manifestCase('oversized-manifest', referrer((m) => (m.annotations = { pad: 'x'.repeat(70 * 1024) })), 'RESPONSE_TOO_LARGE', 'a 70 KiB referrer manifest (cap 64 KiB)');
  manifestCase(
    'image-index',
    { schemaVersion: 2, mediaType: OCI_INDEX, artifactType: SIGNATURE_TYPE, manifests: [desc(OCI_MANIFEST, SUBJECT_MANIFEST)], subject: desc(OCI_MANIFEST, SUBJECT_MANIFEST) },
    'ARTIFACT_INVALID',
    'an image index posing as the signature',
  );

  // ---- chain: scenarios against a real PDS and PLC (corpus.chain.test.ts) --------------------
  const chainCase = (name: string, expect: Expectation, note: string, extra: Partial<CorpusCase> = {}) =>
    add(`cases/chain/${name}.json`, json({ scenario: name, note }), { kind: 'chain', expect, note, ...extra });
  chainCase('valid', 'OK', 'control: a record written through the PDS, verified online');
  chainCase('record-other-collection', 'RECORD_NOT_IN_COMMIT', 'the publisher wrote a manifest-shaped record to app.bsky.feed.post; the payload names io.atcr.manifest/<that rkey>: the PDS proves it absent');
  chainCase('record-other-digest', 'DIGEST_MISMATCH', 'a genuine record for another image');
  chainCase('record-other-repository', 'REPOSITORY_MISMATCH', 'a genuine record for another repository');
  chainCase('rkey-of-another-account', 'RECORD_NOT_IN_COMMIT', "bob's rkey claimed under alice's DID: alice's signed tree proves it absent");
  chainCase('record-cid-hint-mismatch', 'RECORD_CID_MISMATCH', "recordCid names alice's other record");
  chainCase('signer-rotated-key', 'SIGNATURE_INVALID', 'the DID document key was rotated away after signing');
  // Online, an embedded proof is ignored and the proof fetched live (offline, the car cases cover it).
  chainCase('embedded-proof-other-did', 'RECORD_NOT_IN_COMMIT', "alice's proof embedded in a payload claiming bob: bob's live repository lacks the record");
  chainCase('embedded-proof-tampered', 'OK', 'a byte of the embedded record flipped: ignored online, the live proof of the genuine signature is used');
  chainCase('unregistered-did', 'DID_RESOLUTION_FAILED', 'a well-formed did:plc the PLC directory does not know');
  chainCase('untrusted-signer', 'UNTRUSTED_DID', "bob's genuine signature under a policy trusting only alice");
  chainCase('record-before-valid-from', 'DID_NOT_YET_VALID', 'a record written before the signer\'s validFrom, verified after a later, unrelated write to the same repository (its rkey and createdAt predate validFrom)');
  chainCase('deleted-record', 'RECORD_NOT_IN_COMMIT', 'the record was deleted (revoked) before verification: the newer signed commit proves it absent');
  chainCase('embedded-proof-deleted-record', 'RECORD_NOT_IN_COMMIT', 'the record was deleted (revoked), but the payload embeds the proof taken before deletion: online, the proof is always fetched live');

  // ---- the policy and the manifest -----------------------------------------------------------
  const policy = [
    'version: "1.0"',
    'trustedDIDs:',
    `  ${k256.did}: {name: "corpus K-256 signer", validFrom: "2024-01-01T00:00:00Z", keys: ["${k256.multikey}"], offline: allowed}`,
    `  ${p256Signer.did}: {name: "corpus P-256 signer", validFrom: "2024-01-01T00:00:00Z", keys: ["${p256Signer.multikey}"], offline: allowed}`,
    'policies:',
    '  - name: corpus',
    `    scope: "${registryName}/${REPOSITORY_PARENT}/*"`,
    `    trustedDIDs: [${k256.did}, ${p256Signer.did}]`,
    '    action: enforce',
    '',
  ].join('\n');
  add('cases/policy.yaml', utf8(policy), undefined);

  const manifest: CorpusManifest = {
    version: 1,
    world: {
      collection: COLLECTION,
      subjectDigest: SUBJECT,
      otherDigest: OTHER,
      reference: `${image}@${SUBJECT}`,
      policy: 'cases/policy.yaml',
      signers: {
        k256: { did: k256.did, rkey: k256.rkey, publicKeyMultibase: k256.multikey, validPayload: 'cases/payload/valid.json' },
        p256: { did: p256Signer.did, rkey: p256Signer.rkey, publicKeyMultibase: p256Signer.multikey, validPayload: 'cases/payload/valid-p256.json' },
      },
      registry: {
        repository,
        blobs: blobs.map(([name]) => `cases/manifest/blobs/${name}`),
        subjectManifest: 'cases/manifest/blobs/subject-manifest.json',
      },
    },
    cases,
  };
  files.push({ path: 'manifest.json', bytes: json(manifest) });
  return { manifest, files };
}
