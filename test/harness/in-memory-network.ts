/**
 * Test-only: an ATProto network in one process, without @atproto/dev-env. One node:http server on
 * 127.0.0.1 plays both parts the verifier talks to:
 * - the PLC directory: `/<did>/log/audit`, a genesis (and later operations) signed by our own
 *   rotation key (test/identity/plc-log-builder.ts), so the log really replays;
 * - the PDS: `com.atproto.sync.getRecord`, answered from a signed repository built in memory with
 *   the reference implementation (@atproto/repo, @atproto/crypto; K-256 or P-256 keys), exactly
 *   `getRecords(storage, commit, [path])` as a PDS does, and `RecordNotFound` for a missing record;
 *   and `com.atproto.identity.resolveHandle` for an xrpc handle resolver.
 * Publishers can rotate their #atproto key in the log, re-sign their repository, delete records,
 * and a test can rewrite any answer (`network.answer`). Every request is counted. The verifier
 * reaches it with `allowPrivateNetwork: true` and `plcDirectory: network.url`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { streamToBuffer } from '@atproto/common';
import { TID } from '@atproto/common-web';
import { P256Keypair, Secp256k1Keypair, type Keypair } from '@atproto/crypto';
import { MemoryBlockstore, Repo, WriteOpAction, getRecords } from '@atproto/repo';
import { buildSignaturePayload, type PayloadFields } from '../../src/artifact/build-payload.js';
import type { SignaturePayload } from '../../src/artifact/signature-payload.js';
import { formatMultikey, parseDidKey } from '../../src/atproto/keys.js';
import type { HandleResolver } from '../../src/identity/handle.js';
import { atprotoOperation, genesisLog, newPlcKey, plcLogEntry, signPlcOperation, type PlcLogEntry, type PlcTestKey } from '../identity/plc-log-builder.js';

export const MANIFEST = 'io.atcr.manifest';

export type Curve = 'k256' | 'p256';

export interface Answer {
  status: number;
  body: Uint8Array | string;
  type?: string;
}

export interface WrittenRecord {
  uri: string;
  rkey: string;
  /** CID of the record block. */
  cid: string;
  /** CID of the signed commit that holds it, and its rev. */
  commitCid: string;
  rev: string;
}

export interface ManifestFields {
  digest: string;
  repository: string;
  createdAt?: string;
  [extra: string]: unknown;
}

export interface InMemoryPublisher {
  did: string;
  handle: string | undefined;
  /** The key the repository is signed with now. */
  keypair: Keypair;
  /** Multikey (`z...`) of `keypair`: what a policy pins. */
  multikey: string;
  /** Writes an `io.atcr.manifest` record in a new signed commit (rkey: a fresh TID unless given). */
  putManifestRecord(fields: ManifestFields, options?: { rkey?: string; collection?: string }): Promise<WrittenRecord>;
  deleteRecord(rkey: string, collection?: string): Promise<void>;
  /** The getRecord CAR for `rkey` at the current commit (an exclusion proof when it is absent). */
  proof(rkey: string, collection?: string): Promise<Uint8Array>;
  /**
   * Appends a PLC operation pointing #atproto at a fresh key. The repository stays signed by the
   * old key until `resign()`: its proofs no longer verify against the DID document.
   */
  rotateSigningKey(curve?: Curve): Promise<Keypair>;
  /** Signs a new commit of the repository (no record change) with the key the log names now. */
  resign(): Promise<void>;
  /** A signature payload for `written`, covering `subjectDigest`. */
  payload(subjectDigest: string, written: WrittenRecord, extra?: Partial<PayloadFields>): SignaturePayload;
}

export interface InMemoryNetwork {
  /** http(s)://127.0.0.1:<port>: the PLC directory and the PDS. */
  url: string;
  /** Maps the handles of publishers to their DIDs (what DNS or /.well-known would answer). */
  handles: Map<string, string>;
  /** A HandleResolver over `handles`, counting its calls. */
  handleResolver: HandleResolver;
  readonly handleLookups: number;
  /** Paths (with query) requested so far, in order. */
  readonly requests: string[];
  /** Answers a request before the built-in routes when it returns something. */
  answer: ((url: URL) => Answer | undefined | Promise<Answer | undefined>) | undefined;
  createPublisher(options?: { curve?: Curve; handle?: string; pdsEndpoint?: string }): Promise<InMemoryPublisher>;
  close(): Promise<void>;
}

/** `tls`: serve https with this certificate (e.g. from test/harness/certs.ts) instead of http. */
export async function startInMemoryNetwork(options: { tls?: { cert: string; key: string } } = {}): Promise<InMemoryNetwork> {
  const logs = new Map<string, PlcLogEntry[]>();
  const repos = new Map<string, { storage: MemoryBlockstore; repo: () => Repo }>();
  const handles = new Map<string, string>();
  const requests: string[] = [];
  let handleLookups = 0;

  const route = async (url: URL): Promise<Answer> => {
    const answer = await network.answer?.(url);
    if (answer) return answer;
    const plc = /^\/(did:[^/]+)\/log\/audit$/.exec(decodeURIComponent(url.pathname));
    if (plc) {
      const log = logs.get(plc[1]!);
      return log ? json(200, log) : json(404, { message: 'DID not registered' });
    }
    if (url.pathname === '/xrpc/com.atproto.sync.getRecord') {
      const did = url.searchParams.get('did') ?? '';
      const collection = url.searchParams.get('collection') ?? '';
      const rkey = url.searchParams.get('rkey') ?? '';
      const held = repos.get(did);
      if (!held) return json(400, { error: 'RepoNotFound', message: `no repo ${did}` });
      const repo = held.repo();
      if ((await repo.getRecord(collection, rkey)) === null) return json(400, { error: 'RecordNotFound', message: 'no such record' });
      return { status: 200, body: await streamToBuffer(getRecords(held.storage, repo.cid, [{ collection, rkey }])), type: 'application/vnd.ipld.car' };
    }
    if (url.pathname === '/xrpc/com.atproto.identity.resolveHandle') {
      const did = handles.get(url.searchParams.get('handle') ?? '');
      return did ? json(200, { did }) : json(400, { error: 'HandleNotFound', message: 'unknown handle' });
    }
    return json(404, { error: 'NotFound' });
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(req.url ?? '');
    route(new URL(req.url ?? '/', 'http://127.0.0.1'))
      .then((a) => {
        res.writeHead(a.status, { 'content-type': a.type ?? 'application/json' });
        res.end(a.body);
      })
      .catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
  };
  const server = options.tls ? createTlsServer(options.tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as { port: number }).port}`;

  const network: InMemoryNetwork = {
    url,
    handles,
    handleResolver: async (handle) => {
      handleLookups++;
      return handles.get(handle);
    },
    get handleLookups() {
      return handleLookups;
    },
    requests,
    answer: undefined,
    async createPublisher(options = {}) {
      const curve = options.curve ?? 'k256';
      let keypair = await newKeypair(curve);
      const rotation: PlcTestKey = newPlcKey('k256');
      const pds = options.pdsEndpoint ?? url;
      const fields = (signingKey: string) => ({ signingKey, pds, rotationKeys: [rotation], ...(options.handle ? { handle: options.handle } : {}) });
      // The log starts a minute ago, so later operations sort after it.
      const { did, log } = genesisLog(fields(keypair.did()), new Date(Date.now() - 60_000));
      logs.set(did, log);
      if (options.handle) handles.set(options.handle, did);
      const storage = new MemoryBlockstore();
      let repo = await Repo.create(storage, did, keypair);
      repos.set(did, { storage, repo: () => repo });

      const publisher: InMemoryPublisher = {
        did,
        handle: options.handle,
        get keypair() {
          return keypair;
        },
        get multikey() {
          return formatMultikey(parseDidKey(keypair.did()));
        },
        async putManifestRecord(record, opts = {}) {
          const collection = opts.collection ?? MANIFEST;
          const rkey = opts.rkey ?? TID.nextStr();
          const value = { $type: collection, mediaType: 'application/vnd.oci.image.manifest.v1+json', schemaVersion: 2, createdAt: new Date().toISOString(), ...record };
          repo = await repo.applyWrites([{ action: WriteOpAction.Create, collection, rkey, record: value }], keypair);
          const cid = await repo.data.get(`${collection}/${rkey}`);
          return { uri: `at://${did}/${collection}/${rkey}`, rkey, cid: String(cid), commitCid: repo.cid.toString(), rev: repo.commit.rev };
        },
        async deleteRecord(rkey, collection = MANIFEST) {
          repo = await repo.applyWrites([{ action: WriteOpAction.Delete, collection, rkey }], keypair);
        },
        proof: (rkey, collection = MANIFEST) => streamToBuffer(getRecords(storage, repo.cid, [{ collection, rkey }])),
        async rotateSigningKey(next = curve) {
          const fresh = await newKeypair(next);
          const entries = logs.get(did)!;
          const operation = signPlcOperation(atprotoOperation(fields(fresh.did()), entries.at(-1)!.cid), rotation);
          logs.set(did, [...entries, plcLogEntry(did, operation, new Date())]);
          keypair = fresh;
          return fresh;
        },
        async resign() {
          // A no-op write set still makes and signs a new commit.
          repo = await repo.applyWrites([], keypair);
        },
        payload: (subjectDigest, written, extra = {}) => buildSignaturePayload({ subjectDigest, did, recordUri: written.uri, ...extra }),
      };
      return publisher;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return network;
}

function newKeypair(curve: Curve): Promise<Keypair> {
  return curve === 'p256' ? P256Keypair.create({ exportable: true }) : Secp256k1Keypair.create({ exportable: true });
}

function json(status: number, value: unknown): Answer {
  return { status, body: JSON.stringify(value), type: 'application/json' };
}
