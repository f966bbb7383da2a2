/**
 * The whole chain of Verifier.verify() (src/verify/verifier.ts: artifact, claim, identity, proof,
 * handle, record, policy) against an in-process network (test/harness/in-memory-network.ts): a
 * PLC directory replaying our own signed logs and a PDS serving getRecord CARs of repositories
 * signed in memory by @atproto/repo with K-256 and P-256 keys, on 127.0.0.1. Each table pins one
 * rule: which step breaks, with which code, what a failure still reports, and what passes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TID } from '@atproto/common-web';
import { Secp256k1Keypair } from '@atproto/crypto';
import * as dagCbor from '@ipld/dag-cbor';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTid } from '../../src/atproto/tid.js';
import { remediationFor, type ErrorCode } from '../../src/errors.js';
import type { HandleResolver } from '../../src/identity/handle.js';
import { parseTrustPolicy, type TrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS, type VerifierSettings } from '../../src/verify/settings.js';
import { MAX_PREFETCHED_DIDS, OFFLINE_NOTE, Verifier, type VerificationOutcome, type VerifyRequest } from '../../src/verify/verifier.js';
import { cborBlock, decodeBlock, joinCar, splitCar, withCommitBlock } from '../atproto/car-surgery.js';
import { signedCommitBlock } from '../atproto/repo-fixtures.js';
import { makeTestCa } from '../harness/certs.js';
import { startInMemoryNetwork, type InMemoryNetwork, type InMemoryPublisher, type ManifestFields, type WrittenRecord } from '../harness/in-memory-network.js';

let net: InMemoryNetwork;
beforeAll(async () => {
  net = await startInMemoryNetwork();
});
afterAll(async () => {
  await net?.close();
});
afterEach(() => {
  net.answer = undefined;
});

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
let counter = 0;
const freshDigest = () => sha(`image ${++counter} ${Math.random()}`);
const REPOSITORY = 'ghcr.io/acme/app';
const STRANGER = 'did:plc:strangerstrangerstranger';
const HOUR = 3_600_000;

let handles = 0;
const publisher = (curve: 'k256' | 'p256' = 'k256', withHandle = true) =>
  net.createPublisher({ curve, ...(withHandle ? { handle: `signer${++handles}.test` } : {}) });

interface PolicyOptions {
  /** The signer's trustedDIDs entry, a YAML flow map. */
  entry?: string;
  action?: 'enforce' | 'audit';
  /** The DIDs the policy trusts for ghcr.io/** (default: the signer). */
  trusted?: string[];
  registries?: string;
  defaultAction?: 'deny' | 'allow';
}

function policyFor(did: string, o: PolicyOptions = {}): TrustPolicy {
  const trusted = o.trusted ?? [did];
  const entries = [...new Set([did, ...trusted])].map((d) => `  ${d}: ${d === did ? (o.entry ?? '{}') : '{}'}`).join('\n');
  return parseTrustPolicy(
    `version: "1.0"\n${o.defaultAction ? `defaultAction: ${o.defaultAction}\n` : ''}trustedDIDs:\n${entries}\n${o.registries ?? ''}policies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${trusted.join(', ')}], action: ${o.action ?? 'enforce'}}\n`,
    'policy.yaml',
  );
}

const settings = (over: Partial<VerifierSettings> = {}): VerifierSettings => ({
  ...DEFAULT_SETTINGS,
  plcDirectory: net.url,
  allowPrivateNetwork: true,
  cacheEnabled: false,
  didResolverTimeoutMs: 5000,
  pdsTimeoutMs: 5000,
  ...over,
});

interface VerifierOptions {
  settings?: Partial<VerifierSettings>;
  now?: () => Date;
  handleResolver?: HandleResolver;
  ca?: string;
  /** Use the verifier's own resolver (settings), not the network's handle map. */
  ownResolver?: boolean;
}

function verifierFor(policy: TrustPolicy | undefined, o: VerifierOptions = {}): Verifier {
  return new Verifier(settings(o.settings), {
    ...(policy ? { policy } : {}),
    ...(o.ownResolver ? {} : { handleResolver: o.handleResolver ?? net.handleResolver }),
    ...(o.now ? { now: o.now } : {}),
    ...(o.ca ? { ca: o.ca } : {}),
  });
}

interface Image {
  digest: string;
  reference: string;
  written: WrittenRecord;
  request: VerifyRequest;
}

async function signedImage(pub: InMemoryPublisher, o: { repository?: string; reference?: string; digest?: string; fields?: Partial<ManifestFields>; rkey?: string } = {}): Promise<Image> {
  const digest = o.digest ?? freshDigest();
  const repository = o.repository ?? REPOSITORY;
  const written = await pub.putManifestRecord({ digest, repository, ...o.fields }, o.rkey ? { rkey: o.rkey } : {});
  const reference = o.reference ?? `${repository}@${digest}`;
  return { digest, reference, written, request: { subjectDigest: digest, reference, payload: pub.payload(digest, written) } };
}

const trail = (out: VerificationOutcome) => out.steps.map((s) => `${s.step}:${s.ok ? 'ok' : 'failed'}`);
const detailOf = (out: VerificationOutcome, step: string) => out.steps.find((s) => s.step === step)?.detail;
const signedAtOf = (written: WrittenRecord) => parseTid(written.rev).date;
const GETRECORD = '/xrpc/com.atproto.sync.getRecord';
const plcHits = (did: string) => net.requests.filter((r) => r === `/${did}/log/audit`).length;
const pdsHits = () => net.requests.filter((r) => r.startsWith(GETRECORD)).length;
const settle = (ms = 100) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until `done()` holds (at most 5 s), then a little more, so late extra requests would show. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 5000; waited += 20) await settle(20);
  await settle();
}
const ALL_OK = ['artifact:ok', 'claim:ok', 'identity:ok', 'proof:ok', 'handle:ok', 'record:ok', 'policy:ok'];

/** Serves `car` instead of the PDS's own answer for `rkey`. */
function serveProof(rkey: string, car: Uint8Array): void {
  net.answer = (url) => (url.pathname === GETRECORD && url.searchParams.get('rkey') === rkey ? { status: 200, body: car, type: 'application/vnd.ipld.car' } : undefined);
}

/** The CAR with its commit block replaced by `edit(commit)`, re-encoded (so its CID is true). */
async function editedCommit(car: Uint8Array, edit: (commit: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>): Promise<Uint8Array> {
  const parts = splitCar(car);
  const commit = decodeBlock(parts, parts.roots[0]!);
  return joinCar(withCommitBlock(parts, cborBlock(await edit(commit))));
}

/** The malleable twin (r, n - s) of a compact low-S signature: valid ECDSA, refused by atproto. */
function highSTwin(sig: Uint8Array, curve: 'k256' | 'p256'): Uint8Array {
  const impl = curve === 'k256' ? secp256k1 : p256;
  const low = impl.Signature.fromBytes(sig, 'compact');
  return new impl.Signature(low.r, impl.Point.Fn.ORDER - low.s).toBytes('compact');
}

describe('a valid chain passes, and the outcome carries the evidence of every step', () => {
  it.each(['k256', 'p256'] as const)('a %s-signed record of this digest, trusted by an enforce policy', async (curve) => {
    const alice = await publisher(curve);
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did, { entry: '{name: "Alice"}' })).verify(img.request);
    const signedAt = signedAtOf(img.written).toISOString();
    expect(out.error).toBeUndefined();
    expect(trail(out)).toEqual(ALL_OK);
    expect({ ...out, steps: undefined, trust: undefined, registryMapping: undefined }).toEqual({
      isSuccess: true,
      audit: false,
      message: `verified: signed by ${alice.handle} (${alice.did}) at ${signedAt} (commit ${img.written.commitCid})`,
      did: alice.did,
      handle: alice.handle,
      handleStatus: { handle: alice.handle, verified: true },
      signedAt,
      commitCid: img.written.commitCid,
      commitRev: img.written.rev,
      recordUri: img.written.uri,
      recordCid: img.written.cid,
      pdsEndpoint: net.url,
      signingKey: alice.multikey,
      steps: undefined,
      trust: undefined,
      registryMapping: undefined,
    });
    expect([out.trust?.allowed, out.trust?.audit, out.trust?.trustedAs, out.registryMapping?.applied]).toEqual([true, false, 'Alice', false]);
    expect(out.registryMapping?.description).toMatch(/ghcr\.io/);
    expect(out.steps.map((s) => s.detail)).toEqual([
      `payload names ${img.written.uri}`,
      `claimed signer ${alice.did} may be trusted for this image (not verified yet)`,
      `${alice.did}: key ${alice.multikey}, PDS ${net.url}`,
      `commit ${img.written.commitCid} (rev ${img.written.rev}) signed by ${alice.multikey}; record ${img.written.cid} included`,
      `handle ${alice.handle} verified both ways`,
      `record ${img.written.rkey} signs ${img.digest} for repository ${REPOSITORY}`,
      'trusted as "Alice" by p',
    ]);
  });

  it('a signer trusted without a display name: "trusted by <policy>"', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did)).verify(img.request);
    expect(detailOf(out, 'policy')).toBe('trusted by p');
  });

  it('an image no scope covers under defaultAction allow: "trusted by default-allow" (the action, as no policy matched)', async () => {
    const alice = await publisher();
    const img = await signedImage(alice, { repository: 'quay.io/acme/app' });
    const out = await verifierFor(policyFor(alice.did, { defaultAction: 'allow' })).verify(img.request);
    expect([out.isSuccess, detailOf(out, 'policy')]).toEqual([true, 'trusted by default-allow']);
  });

  it('without a trust policy the proof chain is verified and the signer is not judged', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(undefined).verify(img.request);
    expect([out.isSuccess, out.audit, out.trust]).toEqual([true, false, undefined]);
    expect(detailOf(out, 'claim')).toBe(`claimed signer ${alice.did}: no trust policy, not judged`);
    expect(detailOf(out, 'policy')).toBe('no trust policy given: the proof chain is verified, the signer is not judged');
  });

  it('a request without a reference reports no registry mapping', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(undefined).verify({ subjectDigest: img.digest, payload: img.request.payload });
    expect([out.isSuccess, out.registryMapping]).toEqual([true, undefined]);
  });

  it('a mirror mapped to its origin: the record is checked on the origin name, and the record step says how', async () => {
    const alice = await publisher();
    const digest = freshDigest();
    const img = await signedImage(alice, { digest, reference: `mirror.example/acme/app@${digest}` });
    const policy = policyFor(alice.did, { registries: 'registries:\n  - {host: mirror.example, mirrorOf: ghcr.io}\n' });
    const out = await verifierFor(policy).verify(img.request);
    expect(out.error).toBeUndefined();
    expect(out.registryMapping?.applied).toBe(true);
    expect(detailOf(out, 'record')).toBe(`record ${img.written.rkey} signs ${digest} for repository ${REPOSITORY} (${out.registryMapping!.description})`);
  });

  it('the key rotated and the repository re-signed with the new key: the record verifies again', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    await alice.rotateSigningKey();
    await alice.resign();
    const out = await verifierFor(policyFor(alice.did)).verify(img.request);
    expect([out.isSuccess, out.signingKey]).toEqual([true, alice.multikey]);
  });
});

type Setup = (alice: InMemoryPublisher) => Promise<{ request: VerifyRequest; verifier?: Verifier }>;

describe('each broken link fails at its step, with its code, step and remediation', () => {
  const before = (steps: number, failed: string) => [...ALL_OK.slice(0, steps), `${failed}:failed`];
  // [rule, setup, code, trail]
  const table: [string, Setup, ErrorCode, string[]][] = [
    [
      'a commit signed by a key the DID document does not name: SIGNATURE_INVALID',
      async (alice) => {
        const img = await signedImage(alice);
        const stranger = await Secp256k1Keypair.create();
        serveProof(img.written.rkey, await editedCommit(await alice.proof(img.written.rkey), async ({ sig: _sig, ...unsigned }) => dagCbor.decode((await signedCommitBlock(unsigned, stranger)).bytes) as Record<string, unknown>));
        return img;
      },
      'SIGNATURE_INVALID',
      before(3, 'proof'),
    ],
    [
      'the #atproto key rotated since the record was signed (old signatures revoked): SIGNATURE_INVALID',
      async (alice) => {
        const img = await signedImage(alice);
        await alice.rotateSigningKey();
        return img;
      },
      'SIGNATURE_INVALID',
      before(3, 'proof'),
    ],
    ...(['k256', 'p256'] as const).map((curve): [string, Setup, ErrorCode, string[]] => [
      `the high-S twin of a valid ${curve} commit signature: SIGNATURE_INVALID`,
      async () => {
        const pub = await publisher(curve);
        const img = await signedImage(pub);
        serveProof(img.written.rkey, await editedCommit(await pub.proof(img.written.rkey), (c) => ({ ...c, sig: highSTwin(c.sig as Uint8Array, curve) })));
        return { request: img.request, verifier: verifierFor(policyFor(pub.did)) };
      },
      'SIGNATURE_INVALID',
      before(3, 'proof'),
    ]),
    [
      "another DID's valid commit for the same record path (a swapped proof): COMMIT_DID_MISMATCH",
      async (alice) => {
        const img = await signedImage(alice);
        const bob = await publisher();
        await bob.putManifestRecord({ digest: img.digest, repository: REPOSITORY }, { rkey: img.written.rkey });
        serveProof(img.written.rkey, await bob.proof(img.written.rkey));
        return img;
      },
      'COMMIT_DID_MISMATCH',
      before(3, 'proof'),
    ],
    [
      "the signer's own earlier commit, from before the record (a stale proof): RECORD_NOT_IN_COMMIT",
      async (alice) => {
        const rkey = TID.nextStr();
        const stale = await alice.proof(rkey);
        const img = await signedImage(alice, { rkey });
        serveProof(rkey, stale);
        return img;
      },
      'RECORD_NOT_IN_COMMIT',
      before(3, 'proof'),
    ],
    [
      'the record deleted by its publisher (revoked): RECORD_NOT_FOUND',
      async (alice) => {
        const img = await signedImage(alice);
        await alice.deleteRecord(img.written.rkey);
        return img;
      },
      'RECORD_NOT_FOUND',
      before(3, 'proof'),
    ],
    [
      'the PDS answers HTTP 500: PDS_FETCH_FAILED',
      async (alice) => {
        const img = await signedImage(alice);
        net.answer = (url) => (url.pathname === GETRECORD ? { status: 500, body: 'oops' } : undefined);
        return img;
      },
      'PDS_FETCH_FAILED',
      before(3, 'proof'),
    ],
    [
      'the DID is not registered with the PLC directory: DID_RESOLUTION_FAILED',
      async (alice) => {
        const img = await signedImage(alice);
        net.answer = (url) => (url.pathname.startsWith(`/${alice.did}`) ? { status: 404, body: '{}' } : undefined);
        return img;
      },
      'DID_RESOLUTION_FAILED',
      before(2, 'identity'),
    ],
    [
      'the signed record is for another digest than the image: DIGEST_MISMATCH',
      async (alice) => {
        const img = await signedImage(alice);
        const other = freshDigest();
        return { request: { subjectDigest: other, reference: `${REPOSITORY}@${other}`, payload: alice.payload(other, img.written) } };
      },
      'DIGEST_MISMATCH',
      before(5, 'record'),
    ],
    [
      'the artifact names another record CID than the signed commit holds: RECORD_CID_MISMATCH',
      async (alice) => {
        const img = await signedImage(alice);
        const decoy = await signedImage(alice);
        return { request: { ...img.request, payload: alice.payload(img.digest, img.written, { recordCid: decoy.written.cid }) } };
      },
      'RECORD_CID_MISMATCH',
      before(5, 'record'),
    ],
    [
      'the record names another repository than the image path: REPOSITORY_MISMATCH',
      async (alice) => {
        const digest = freshDigest();
        return signedImage(alice, { digest, repository: 'ghcr.io/acme/other', reference: `${REPOSITORY}@${digest}` });
      },
      'REPOSITORY_MISMATCH',
      before(5, 'record'),
    ],
    [
      'a commit rev more than 10 minutes ahead of the clock: COMMIT_INVALID',
      async (alice) => {
        const img = await signedImage(alice);
        return { request: img.request, verifier: verifierFor(policyFor(alice.did), { now: () => new Date(Date.now() - HOUR) }) };
      },
      'COMMIT_INVALID',
      before(3, 'proof'),
    ],
    [
      "a commit signed before the signer's validFrom: DID_NOT_YET_VALID",
      async (alice) => {
        const img = await signedImage(alice);
        const validFrom = new Date(Date.now() + HOUR).toISOString();
        return { request: img.request, verifier: verifierFor(policyFor(alice.did, { entry: `{validFrom: "${validFrom}"}` }), { now: () => new Date(Date.now() + 2 * HOUR) }) };
      },
      'DID_NOT_YET_VALID',
      before(6, 'policy'),
    ],
    [
      "the signer's expiresAt has passed: DID_EXPIRED",
      async (alice) => {
        const img = await signedImage(alice);
        return { request: img.request, verifier: verifierFor(policyFor(alice.did, { entry: `{expiresAt: "${new Date(Date.now() - 60_000).toISOString()}"}` })) };
      },
      'DID_EXPIRED',
      before(6, 'policy'),
    ],
    [
      'the policy pins another key than the one that signed: KEY_NOT_PINNED',
      async (alice) => {
        const img = await signedImage(alice);
        const other = await publisher();
        return { request: img.request, verifier: verifierFor(policyFor(alice.did, { entry: `{keys: ["${other.multikey}"]}` })) };
      },
      'KEY_NOT_PINNED',
      before(6, 'policy'),
    ],
    [
      'the payload covers another image: SUBJECT_MISMATCH, before any request',
      async (alice) => {
        const img = await signedImage(alice);
        const other = freshDigest();
        return { request: { ...img.request, subjectDigest: other, reference: `${REPOSITORY}@${other}` } };
      },
      'SUBJECT_MISMATCH',
      before(0, 'artifact'),
    ],
  ];

  it.each(table)('%s', async (_rule, setup, code, expectedTrail) => {
    const alice = await publisher();
    const made = await setup(alice);
    const verifier = made.verifier ?? verifierFor(policyFor(alice.did));
    const out = await verifier.verify(made.request);
    expect([out.isSuccess, out.error?.code, out.audit]).toEqual([false, code, false]);
    expect(trail(out)).toEqual(expectedTrail);
    // REPOSITORY_MISMATCH says which registries entry would map the name, when one fits.
    if (code !== 'REPOSITORY_MISMATCH') expect(out.error!.remediation).toBe(remediationFor(code));
    expect(out.message).toBe(`${out.error!.step} step failed [${code}]: ${out.error!.message}`);
    expect(out.steps.at(-1)!.detail).toBe(out.error!.message);
    expect(out.refusedOnClaim).toBeUndefined();
  });
});

describe('what a failure still reports: the evidence gathered before the step that broke', () => {
  it('a claim refused before any request: the claimed DID and record, refusedOnClaim, no network', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const requests = net.requests.length;
    const out = await verifierFor(policyFor(alice.did, { trusted: [STRANGER] })).verify(img.request);
    expect([out.error?.code, out.refusedOnClaim, out.did, out.recordUri, out.signingKey, out.pdsEndpoint]).toEqual(['UNTRUSTED_DID', true, alice.did, img.written.uri, undefined, undefined]);
    expect(net.requests.length).toBe(requests);
  });

  it('a proof that fails: the PDS is known, but no commit, signed time or signing key is reported', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    await alice.rotateSigningKey();
    const out = await verifierFor(policyFor(alice.did)).verify(img.request);
    expect(out.error?.code).toBe('SIGNATURE_INVALID');
    expect([out.did, out.pdsEndpoint, out.signedAt, out.commitCid, out.signingKey, out.handleStatus]).toEqual([alice.did, net.url, undefined, undefined, undefined, undefined]);
  });

  it('a record that fails: the verified commit, its key and the handle are reported beside the error', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const other = freshDigest();
    const out = await verifierFor(policyFor(alice.did)).verify({ subjectDigest: other, reference: `${REPOSITORY}@${other}`, payload: alice.payload(other, img.written) });
    expect(out.error?.code).toBe('DIGEST_MISMATCH');
    expect([out.commitCid, out.commitRev, out.recordCid, out.signingKey, out.handle]).toEqual([img.written.commitCid, img.written.rev, img.written.cid, alice.multikey, alice.handle]);
    expect(out.trust).toBeUndefined();
  });

  it('a policy that refuses: its decision is reported', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did, { entry: `{expiresAt: "${new Date(Date.now() - 60_000).toISOString()}"}` })).verify(img.request);
    expect([out.error?.code, out.trust?.allowed, out.trust?.audit]).toEqual(['DID_EXPIRED', false, false]);
  });
});

describe('the subject digest must be exactly sha256:<64 lowercase hex>, checked before anything else', () => {
  const hex = 'a'.repeat(64);
  it.each([
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['a prefix before sha256:', `xsha256:${hex}`],
    ['a 65th character', `sha256:${hex}0`],
    ['another algorithm', `sha512:${hex}`],
    ['empty', ''],
  ])('%s: INPUT_INVALID at the artifact step', async (_rule, subjectDigest) => {
    const alice = await publisher();
    // The payload itself is well formed (its parser checks its own digest): only the request's is not.
    const payload = alice.payload(`sha256:${hex}`, { uri: `at://${alice.did}/io.atcr.manifest/3kabcdefghijk`, rkey: '3kabcdefghijk', cid: '', commitCid: '', rev: '' });
    const out = await verifierFor(policyFor(alice.did)).verify({ subjectDigest, reference: `${REPOSITORY}:1`, payload });
    expect([out.error?.code, trail(out)]).toEqual(['INPUT_INVALID', ['artifact:failed']]);
    expect(out.error!.message).toBe(`subject digest "${subjectDigest.slice(0, 80)}" is not sha256:<64 hex>`);
  });

  it('a long digest is quoted to 80 characters only', async () => {
    const alice = await publisher();
    const subjectDigest = `sha256:${'b'.repeat(300)}`;
    const payload = alice.payload(`sha256:${hex}`, { uri: `at://${alice.did}/io.atcr.manifest/3kabcdefghijk`, rkey: '3kabcdefghijk', cid: '', commitCid: '', rev: '' });
    const out = await verifierFor(undefined).verify({ subjectDigest, payload });
    expect(out.error!.message).toBe(`subject digest "${subjectDigest.slice(0, 80)}" is not sha256:<64 hex>`);
  });
});

describe('the commit time: a rev more than 10 minutes ahead of the verifier clock is refused', () => {
  // [rule, clock relative to the signed time (ms), passes?]
  it.each([
    ['the clock exactly 10 minutes behind the rev: accepted (the bound is inclusive)', -10 * 60_000, true],
    ['9 minutes behind: accepted (clock skew)', -9 * 60_000, true],
    ['11 minutes behind: COMMIT_INVALID', -11 * 60_000, false],
    ['the clock after the rev: accepted', 60_000, true],
  ] as [string, number, boolean][])('%s', async (_rule, offset, ok) => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const signedAt = signedAtOf(img.written).getTime();
    const out = await verifierFor(policyFor(alice.did), { now: () => new Date(signedAt + offset) }).verify(img.request);
    expect(out.isSuccess).toBe(ok);
    if (!ok) {
      expect(out.error?.code).toBe('COMMIT_INVALID');
      expect(out.error!.message).toBe(`commit rev ${img.written.rev} claims a time in the future (${signedAtOf(img.written).toISOString()})`);
    }
  });
});

describe('validFrom is judged at the signed commit time and at the earlier of the rkey TID and createdAt', () => {
  const tidAt = (ms: number) => TID.fromTime(ms * 1000, 0).toString();
  // [rule, rkey (a TID at now + offset, or a non-TID key), createdAt (offset, or text), passes?]
  const table: [string, number | string, number | string, boolean][] = [
    ['rkey and createdAt both after validFrom: trusted', 0, 0, true],
    ['createdAt claims a time before validFrom: DID_NOT_YET_VALID', 0, -2 * HOUR, false],
    ['the rkey TID is from before validFrom: DID_NOT_YET_VALID', -2 * HOUR, 0, false],
    ['createdAt is not a date: the rkey alone decides (trusted)', 0, 'yesterday', true],
    ['createdAt is not a date, the rkey TID before validFrom: DID_NOT_YET_VALID', -2 * HOUR, 'yesterday', false],
    ['the rkey is not a TID: createdAt alone decides (trusted)', 'app-record', 0, true],
    ['the rkey is not a TID, createdAt before validFrom: DID_NOT_YET_VALID', 'app-record', -2 * HOUR, false],
    ['neither gives a time: the commit time alone decides (trusted)', 'app-record', 'yesterday', true],
  ];
  it.each(table)('%s', async (_rule, rkey, createdAt, ok) => {
    const alice = await publisher();
    const now = Date.now();
    const img = await signedImage(alice, {
      rkey: typeof rkey === 'number' ? tidAt(now + rkey) : `${rkey}-${++counter}`,
      fields: { createdAt: typeof createdAt === 'number' ? new Date(now + createdAt).toISOString() : createdAt },
    });
    const validFrom = new Date(now - HOUR).toISOString();
    const out = await verifierFor(policyFor(alice.did, { entry: `{validFrom: "${validFrom}"}` })).verify(img.request);
    expect([out.isSuccess, out.error?.code]).toEqual(ok ? [true, undefined] : [false, 'DID_NOT_YET_VALID']);
  });

  it.each([
    ['expiresAt an hour ahead: trusted', HOUR, true],
    ['expiresAt a minute ago: DID_EXPIRED', -60_000, false],
  ] as [string, number, boolean][])('%s', async (_rule, offset, ok) => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did, { entry: `{expiresAt: "${new Date(Date.now() + offset).toISOString()}"}` })).verify(img.request);
    expect([out.isSuccess, out.error?.code]).toEqual(ok ? [true, undefined] : [false, 'DID_EXPIRED']);
  });
});

describe('audit mode reports what enforce would refuse, and admits', () => {
  // [rule, action, signer entry, trusted by the policy: the signer?, outcome, code]
  const table: [string, 'enforce' | 'audit', string, boolean, boolean, ErrorCode | undefined][] = [
    ['enforce, trusted: verified', 'enforce', '{}', true, true, undefined],
    ['enforce, expired: refused', 'enforce', `{expiresAt: "2020-01-01T00:00:00Z"}`, true, false, 'DID_EXPIRED'],
    ['audit, expired: admitted, saying it would be refused', 'audit', `{expiresAt: "2020-01-01T00:00:00Z"}`, true, true, 'DID_EXPIRED'],
    ['audit, a signer the policy does not trust: admitted after the whole chain', 'audit', '{}', false, true, 'UNTRUSTED_DID'],
  ];
  it.each(table)('%s', async (_rule, action, entry, trustsSigner, ok, code) => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did, { action, entry, trusted: trustsSigner ? [alice.did] : [STRANGER] })).verify(img.request);
    const audited = ok && code !== undefined;
    expect([out.isSuccess, out.audit, out.trust?.audit]).toEqual([ok, audited, audited]);
    if (audited) {
      expect(out.error).toBeUndefined();
      expect(trail(out)).toEqual(ALL_OK);
      const failure = out.trust!.failures[0]!;
      expect(failure.code).toBe(code);
      expect(out.message).toBe(
        `audit: would be refused [${code}]: ${failure.message}; allowed because the matching policy is in audit mode. Signed by ${alice.handle} (${alice.did}) at ${signedAtOf(img.written).toISOString()} (commit ${img.written.commitCid})`,
      );
      expect(detailOf(out, 'policy')).toBe(`audit: ${out.trust!.failures.map((f) => f.message).join('; ')} (not enforced)`);
    } else if (ok) {
      expect(out.message.startsWith('verified: ')).toBe(true);
    } else {
      expect(out.error?.code).toBe(code);
    }
  });
});

describe('the handle: reported only when verified both ways, never fatal by itself', () => {
  it('a handle that resolves to another DID is not reported; the signer is named by DID', async () => {
    const alice = await publisher();
    net.handles.set(alice.handle!, STRANGER);
    try {
      const img = await signedImage(alice);
      const out = await verifierFor(policyFor(alice.did)).verify(img.request);
      const reason = `handle ${alice.handle} resolves to another DID, not ${alice.did}`;
      expect([out.isSuccess, out.handle, out.handleStatus]).toEqual([true, undefined, { handle: alice.handle, verified: false, reason }]);
      expect(detailOf(out, 'handle')).toBe(`handle unverified: ${reason}`);
      expect(out.message).toBe(`verified: signed by ${alice.did} at ${signedAtOf(img.written).toISOString()} (commit ${img.written.commitCid})`);
    } finally {
      net.handles.set(alice.handle!, alice.did);
    }
  });

  it('a DID document that claims no handle: verified by DID alone', async () => {
    const bare = await publisher('k256', false);
    const img = await signedImage(bare);
    const out = await verifierFor(policyFor(bare.did)).verify(img.request);
    expect([out.isSuccess, out.handle, out.handleStatus?.verified]).toEqual([true, undefined, false]);
  });

  it.each([
    ['verified both ways: the ATCR path under the handle names the record', true, true],
    ['not verified: the path names an identity that is not the signer (REPOSITORY_MISMATCH)', false, false],
  ] as [string, boolean, boolean][])('an image path that starts with the handle, %s', async (_rule, verified, ok) => {
    const alice = await publisher();
    const digest = freshDigest();
    const img = await signedImage(alice, { digest, repository: 'app', reference: `ghcr.io/${alice.handle}/app@${digest}` });
    const resolver: HandleResolver = async (handle) => (verified ? net.handles.get(handle) : STRANGER);
    const out = await verifierFor(policyFor(alice.did), { handleResolver: resolver }).verify(img.request);
    expect([out.isSuccess, out.error?.code]).toEqual(ok ? [true, undefined] : [false, 'REPOSITORY_MISMATCH']);
  });

  it('the handle is resolved once per verification (started beside the proof fetch, then awaited)', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const lookups = net.handleLookups;
    const out = await verifierFor(policyFor(alice.did)).verify(img.request);
    expect([out.isSuccess, net.handleLookups - lookups]).toEqual([true, 1]);
  });

  it("the request's abort signal reaches the handle resolver", async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const signal = new AbortController().signal;
    const seen: (AbortSignal | undefined)[] = [];
    const resolver: HandleResolver = async (handle, s) => {
      seen.push(s);
      return net.handles.get(handle);
    };
    const out = await verifierFor(policyFor(alice.did), { handleResolver: resolver }).verify({ ...img.request, signal });
    expect(out.isSuccess).toBe(true);
    expect(seen).toEqual([signal]);
  });

  it('an aborted request stops at the identity step (the signal reaches the DID resolution)', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const controller = new AbortController();
    controller.abort(new Error('caller gave up'));
    const out = await verifierFor(policyFor(alice.did)).verify({ ...img.request, signal: controller.signal });
    expect(out.isSuccess).toBe(false);
    expect(trail(out)).toEqual(['artifact:ok', 'claim:ok', 'identity:failed']);
  });
});

describe('offline: an embedded proof checked against pinned keys, only when the operator allows it', () => {
  async function offlineCase(pinned: (alice: InMemoryPublisher) => Promise<string[]>, o: { entry?: string; action?: 'enforce' | 'audit'; car?: Uint8Array; deleteAfter?: boolean } = {}) {
    const alice = await publisher();
    const img = await signedImage(alice);
    const car = o.car ?? (await alice.proof(img.written.rkey));
    if (o.deleteAfter) await alice.deleteRecord(img.written.rkey);
    const keys = await pinned(alice);
    const entry = `{keys: [${keys.map((k) => `"${k}"`).join(', ')}], offline: allowed${o.entry ?? ''}}`;
    const verifier = verifierFor(policyFor(alice.did, { entry, ...(o.action ? { action: o.action } : {}) }), { settings: { offline: true } });
    const requests = net.requests.length;
    const out = await verifier.verify({ ...img.request, payload: alice.payload(img.digest, img.written, { proofCar: car }) });
    return { alice, img, out, requests: net.requests.length - requests };
  }
  const strangerKey = async () => (await publisher()).multikey;

  it("the signer's pinned key: verified with no request at all, and said to be offline", async () => {
    const { alice, img, out, requests } = await offlineCase(async (a) => [a.multikey]);
    const reason = 'offline verification: DID document not consulted';
    expect([out.isSuccess, out.offline, requests, out.pdsEndpoint, out.signingKey]).toEqual([true, true, 0, undefined, alice.multikey]);
    expect(out.message).toBe(`${OFFLINE_NOTE}; verified: signed by ${alice.did} at ${signedAtOf(img.written).toISOString()} (commit ${img.written.commitCid})`);
    expect([out.handleStatus, detailOf(out, 'handle')]).toEqual([{ handle: undefined, verified: false, reason }, reason]);
    expect(detailOf(out, 'proof')).toBe(`commit ${img.written.commitCid} (rev ${img.written.rev}) signed by ${alice.multikey}; record ${img.written.cid} included`);
  });

  it('several pinned keys: each is tried, and the one that verifies is reported', async () => {
    const stranger = await strangerKey();
    const { alice, out } = await offlineCase(async (a) => [stranger, a.multikey]);
    expect([out.isSuccess, out.signingKey]).toEqual([true, alice.multikey]);
  });

  it('no pinned key verifies: SIGNATURE_INVALID naming how many were tried, the last failure as cause', async () => {
    const [k1, k2] = [await strangerKey(), await strangerKey()];
    const { alice, out } = await offlineCase(async () => [k1, k2]);
    expect([out.error?.code, out.offline, out.signingKey]).toEqual(['SIGNATURE_INVALID', true, undefined]);
    expect(out.error!.message).toBe(`commit signature verifies with none of the 2 key(s) pinned for ${alice.did}`);
    expect((out.error!.cause as { code?: string }).code).toBe('SIGNATURE_INVALID');
    expect(out.message.startsWith(OFFLINE_NOTE)).toBe(false);
  });

  it('an embedded proof that is not a CAR fails as such at once, not as a wrong key', async () => {
    const [k1, k2] = [await strangerKey(), await strangerKey()];
    const { out } = await offlineCase(async () => [k1, k2], { car: new Uint8Array([1, 2, 3, 4]) });
    expect([out.error?.code, trail(out)]).toEqual(['CAR_INVALID', ['artifact:ok', 'claim:ok', 'identity:ok', 'proof:failed']]);
  });

  it('a record deleted since: still verified offline (revocation is not checked, and the outcome says so)', async () => {
    const { out } = await offlineCase(async (a) => [a.multikey], { deleteAfter: true });
    expect([out.isSuccess, out.offline]).toEqual([true, true]);
    expect(out.message.startsWith(`${OFFLINE_NOTE}; `)).toBe(true);
  });

  it('offline and refused by the policy: the failure message is not prefixed as a verification', async () => {
    const { out } = await offlineCase(async (a) => [a.multikey], { entry: ', expiresAt: "2020-01-01T00:00:00Z"' });
    expect([out.isSuccess, out.offline, out.error?.code]).toEqual([false, true, 'DID_EXPIRED']);
    expect(out.message).toBe(`policy step failed [DID_EXPIRED]: ${out.error!.message}`);
  });

  it('offline and admitted by audit: the audit message is prefixed with the offline note', async () => {
    const { out } = await offlineCase(async (a) => [a.multikey], { entry: ', expiresAt: "2020-01-01T00:00:00Z"', action: 'audit' });
    expect([out.isSuccess, out.audit]).toEqual([true, true]);
    expect(out.message.startsWith(`${OFFLINE_NOTE}; audit: would be refused [DID_EXPIRED]`)).toBe(true);
  });
});

describe('prefetchIdentities: the DIDs the policy trusts for the image, at most MAX_PREFETCHED_DIDS, handed to verify()', () => {
  const others = (n: number) => Array.from({ length: n }, (_, i) => `did:plc:prefetch${'x'.repeat(15)}${String.fromCharCode(97 + i)}`);
  const cacheOn = { cacheEnabled: true };
  /** Delays every PLC answer for `did` by `ms` (then `status`, or the real log). */
  const slowPlc = (did: string, ms: number, status?: (n: number) => number | undefined) => {
    let n = 0;
    net.answer = async (url) => {
      if (url.pathname !== `/${did}/log/audit`) return undefined;
      const s = status?.(++n);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return s ? { status: s, body: '{}' } : undefined;
    };
  };

  // [rule, how the verifier and reference are made]
  const nothing: [string, (alice: InMemoryPublisher) => { verifier: Verifier; reference: string }][] = [
    ['no trust policy', () => ({ verifier: verifierFor(undefined, { settings: cacheOn }), reference: `${REPOSITORY}:1` })],
    ['the DID cache is off (the resolution could not be handed over)', (a) => ({ verifier: verifierFor(policyFor(a.did)), reference: `${REPOSITORY}:1` })],
    ['an image no scope covers', (a) => ({ verifier: verifierFor(policyFor(a.did), { settings: cacheOn }), reference: 'quay.io/acme/app:1' })],
    ['not an image reference', (a) => ({ verifier: verifierFor(policyFor(a.did), { settings: cacheOn }), reference: 'NOT A REFERENCE::' })],
    [
      `a scope trusting more than ${MAX_PREFETCHED_DIDS} DIDs`,
      (a) => ({ verifier: verifierFor(policyFor(a.did, { trusted: [a.did, ...others(MAX_PREFETCHED_DIDS)] }), { settings: cacheOn }), reference: `${REPOSITORY}:1` }),
    ],
    [
      'the only trusted DID is verified offline (pinned keys, offline: allowed)',
      (a) => ({ verifier: verifierFor(policyFor(a.did, { entry: `{keys: ["${a.multikey}"], offline: allowed}` }), { settings: { ...cacheOn, offline: true } }), reference: `${REPOSITORY}:1` }),
    ],
  ];
  it.each(nothing)('fetches nothing: %s', async (_rule, make) => {
    const alice = await publisher();
    const { verifier, reference } = make(alice);
    const requests = net.requests.length;
    verifier.prefetchIdentities(reference);
    await settle();
    expect(net.requests.length).toBe(requests);
  });

  it(`a scope trusting exactly ${MAX_PREFETCHED_DIDS} DIDs: each is resolved once, even when asked twice`, async () => {
    const alice = await publisher();
    const trusted = [alice.did, ...others(MAX_PREFETCHED_DIDS - 1)];
    const verifier = verifierFor(policyFor(alice.did, { trusted }), { settings: cacheOn });
    const requests = net.requests.length;
    verifier.prefetchIdentities(`${REPOSITORY}:1`);
    verifier.prefetchIdentities(`${REPOSITORY}:2`);
    await until(() => net.requests.length - requests >= trusted.length);
    expect(net.requests.slice(requests).sort()).toEqual(trusted.map((d) => `/${d}/log/audit`).sort());
  });

  it('verify() under the same signal takes the pending resolution over: one PLC request in all', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const verifier = verifierFor(policyFor(alice.did), { settings: cacheOn });
    slowPlc(alice.did, 50);
    verifier.prefetchIdentities(img.reference);
    const out = await verifier.verify(img.request);
    expect([out.isSuccess, plcHits(alice.did)]).toEqual([true, 1]);
  });

  it('verify() under another signal does not share it: it resolves the DID itself', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const verifier = verifierFor(policyFor(alice.did), { settings: cacheOn });
    slowPlc(alice.did, 50);
    verifier.prefetchIdentities(img.reference, new AbortController().signal);
    const out = await verifier.verify({ ...img.request, signal: new AbortController().signal });
    expect([out.isSuccess, plcHits(alice.did)]).toEqual([true, 2]);
  });

  it('a prefetch that fails is not the answer: verify() resolves the DID again', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const verifier = verifierFor(policyFor(alice.did), { settings: cacheOn });
    slowPlc(alice.did, 50, (n) => (n === 1 ? 500 : undefined));
    verifier.prefetchIdentities(img.reference);
    const out = await verifier.verify(img.request);
    expect([out.isSuccess, plcHits(alice.did)]).toEqual([true, 2]);
  });

  it('a settled prefetch is forgotten: once the cache entry expires, verify() asks the directory again', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const verifier = verifierFor(policyFor(alice.did), { settings: { ...cacheOn, cacheTtlMs: 1 } });
    verifier.prefetchIdentities(img.reference);
    await until(() => plcHits(alice.did) >= 1);
    const out = await verifier.verify(img.request);
    expect([out.isSuccess, plcHits(alice.did)]).toEqual([true, 2]);
  });
});

describe('caches: DID and handle answers are kept per verifier, and per resolver', () => {
  it('with the cache on, a second verification asks neither the directory nor the handle resolver again', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const verifier = verifierFor(policyFor(alice.did), { settings: { cacheEnabled: true } });
    const lookups = net.handleLookups;
    for (let i = 0; i < 2; i++) expect((await verifier.verify(img.request)).isSuccess).toBe(true);
    expect([plcHits(alice.did), net.handleLookups - lookups, pdsHits() > 0]).toEqual([1, 1, true]);
  });

  it('on disk, DID answers and handle answers are kept apart (did/ and handle/)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verifier-cache-'));
    try {
      const alice = await publisher();
      const img = await signedImage(alice);
      const out = await verifierFor(policyFor(alice.did), { settings: { cacheEnabled: true, cacheDir: dir } }).verify(img.request);
      expect(out.isSuccess).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['did', 'handle']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a handle answer from a custom resolver is never served to a verifier that uses the xrpc resolver (shared cache directory)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verifier-cache-'));
    try {
      const alice = await publisher();
      const img = await signedImage(alice);
      const shared = { cacheEnabled: true, cacheDir: dir, handleResolverUrl: net.url };
      // The custom resolver vouches for the handle; the xrpc service (the network's map) names another DID.
      const custom = await verifierFor(policyFor(alice.did), { settings: shared, handleResolver: async () => alice.did }).verify(img.request);
      net.handles.set(alice.handle!, STRANGER);
      const xrpc = await verifierFor(policyFor(alice.did), { settings: shared, ownResolver: true }).verify(img.request);
      expect([custom.handle, xrpc.handle, xrpc.handleStatus?.verified]).toEqual([alice.handle, undefined, false]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a handle answer from the xrpc resolver is never served to a verifier that uses DNS and /.well-known (shared cache directory)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verifier-cache-'));
    try {
      const alice = await publisher();
      const img = await signedImage(alice);
      const shared = { cacheEnabled: true, cacheDir: dir, didResolverTimeoutMs: 1000 };
      const xrpc = await verifierFor(policyFor(alice.did), { settings: { ...shared, handleResolverUrl: net.url }, ownResolver: true }).verify(img.request);
      // A .test handle has no DNS record and no https host: the standard resolver cannot vouch for it.
      const standard = await verifierFor(policyFor(alice.did), { settings: shared, ownResolver: true }).verify(img.request);
      expect([xrpc.handle, standard.isSuccess, standard.handle, standard.handleStatus?.verified]).toEqual([alice.handle, true, undefined, false]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the xrpc handle resolver runs under the verifier's network allowance", async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did), { settings: { handleResolverUrl: net.url }, ownResolver: true }).verify(img.request);
    expect([out.isSuccess, out.handle]).toEqual([true, alice.handle]);
  });
});

describe("a private CA (deps.ca) is trusted for the PLC directory, the PDS and the handle resolver", () => {
  it('an https network whose certificate only that CA issued: verified with it, refused without it', async () => {
    const ca = makeTestCa('verifier chain CA');
    const tlsNet = await startInMemoryNetwork({ tls: ca.issue({ cn: '127.0.0.1', ips: ['127.0.0.1'] }) });
    try {
      const alice = await tlsNet.createPublisher({ handle: 'tls-signer.test' });
      const digest = freshDigest();
      const written = await alice.putManifestRecord({ digest, repository: REPOSITORY });
      const request = { subjectDigest: digest, reference: `${REPOSITORY}@${digest}`, payload: alice.payload(digest, written) };
      const over = { plcDirectory: tlsNet.url, handleResolverUrl: tlsNet.url };
      const withCa = await new Verifier(settings(over), { policy: policyFor(alice.did), ca: ca.cert }).verify(request);
      expect([withCa.error?.code, withCa.isSuccess, withCa.handle, withCa.pdsEndpoint]).toEqual([undefined, true, alice.handle, tlsNet.url]);
      const without = await new Verifier(settings(over), { policy: policyFor(alice.did) }).verify(request);
      expect(trail(without)).toEqual(['artifact:ok', 'claim:ok', 'identity:failed']);
    } finally {
      await tlsNet.close();
      ca.dispose();
    }
  });
});

describe('smaller rules of the chain', () => {
  it('without an image reference, a policy finds no scope: NO_POLICY at the claim step (no reference is not a wildcard)', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did)).verify({ subjectDigest: img.digest, payload: img.request.payload });
    expect([out.error?.code, trail(out), out.refusedOnClaim]).toEqual(['NO_POLICY', ['artifact:ok', 'claim:failed'], true]);
    expect(out.error!.message).toContain('(no image reference)');
  });

  it('without an image reference, under defaultAction allow: the chain is verified and the policy step says no scope matched', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did, { defaultAction: 'allow' })).verify({ subjectDigest: img.digest, payload: img.request.payload });
    expect([out.isSuccess, out.trust?.image, detailOf(out, 'policy')]).toEqual([true, '', 'trusted by default-allow']);
  });

  it('a reference that does not parse maps to nothing and is refused, never verified', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(policyFor(alice.did)).verify({ ...img.request, reference: 'NOT A REFERENCE::' });
    expect([out.isSuccess, out.registryMapping]).toEqual([false, undefined]);
    expect(out.steps.at(-1)!.step).toBe('claim');
  });

  it('the SUBJECT_MISMATCH message names both digests', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const other = freshDigest();
    const out = await verifierFor(policyFor(alice.did)).verify({ ...img.request, subjectDigest: other });
    expect(out.error!.message).toBe(`signature artifact covers ${img.digest}, not the image ${other}`);
  });

  it('an artifact naming the right record CID passes; naming another, RECORD_CID_MISMATCH names both', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const decoy = await signedImage(alice);
    const right = await verifierFor(policyFor(alice.did)).verify({ ...img.request, payload: alice.payload(img.digest, img.written, { recordCid: img.written.cid }) });
    expect(right.isSuccess).toBe(true);
    const wrong = await verifierFor(policyFor(alice.did)).verify({ ...img.request, payload: alice.payload(img.digest, img.written, { recordCid: decoy.written.cid }) });
    expect(wrong.error!.message).toBe(`artifact names record ${decoy.written.cid} but the signed commit holds ${img.written.cid}`);
  });

  it('the offline setting on, a signer the policy does not list (audit): verified online, not offline', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    // The policy's trustedDIDs do not list the signer at all: there is no entry to read `offline` from.
    const policy = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${STRANGER}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${STRANGER}], action: audit}\n`,
      'policy.yaml',
    );
    const out = await verifierFor(policy, { settings: { offline: true } }).verify(img.request);
    expect([out.isSuccess, out.audit, out.offline, out.pdsEndpoint]).toEqual([true, true, undefined, net.url]);
  });

  function twoPolicies(did: string, action: 'enforce' | 'audit', trusted: string): TrustPolicy {
    return parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${did}: {}\n  ${STRANGER}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${trusted}], action: ${action}}\n  - {name: q, scope: "ghcr.io/acme/**", trustedDIDs: [${trusted}], action: ${action}}\n`,
      'policy.yaml',
    );
  }

  it('trusted by two matching policies: both are named, comma-separated', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(twoPolicies(alice.did, 'enforce', alice.did)).verify(img.request);
    expect(detailOf(out, 'policy')).toBe('trusted by p, q');
  });

  it('refused by two audit policies: each failure is reported, separated by "; "', async () => {
    const alice = await publisher();
    const img = await signedImage(alice);
    const out = await verifierFor(twoPolicies(alice.did, 'audit', STRANGER)).verify(img.request);
    const [f1, f2] = out.trust!.failures;
    expect([out.isSuccess, out.audit, out.trust!.failures.length]).toEqual([true, true, 2]);
    expect(detailOf(out, 'policy')).toBe(`audit: ${f1!.message}; ${f2!.message} (not enforced)`);
  });
});
