/**
 * did:plc identities replayed from the directory's signed operation log (src/identity/plc-audit-log.ts):
 * the did-method-plc interop vectors, logs a real PLC directory (@atproto/dev-env) wrote for
 * creations, rotations, a recovery fork, a tombstone and identities without an atproto key or PDS,
 * and hostile logs made by editing those real ones (what a lying directory could serve).
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto';
import { Client as PlcClient, addSignature } from '@did-plc/lib';
import * as dagCbor from '@ipld/dag-cbor';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { formatMultikey, parseDidKey } from '../../src/atproto/keys.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { parseDidDocument } from '../../src/identity/did-document.js';
import {
  MAX_PLC_LOG_ENTRIES,
  MAX_PLC_SIGNATURE_CHECKS,
  plcDidForGenesis,
  replayPlcAuditLog,
  verifyPlcAuditLog,
} from '../../src/identity/plc-audit-log.js';
import { resolveDid } from '../../src/identity/resolve-did.js';
import { TtlCache } from '../../src/identity/ttl-cache.js';
import { networkStats } from '../../src/net/guarded-fetch.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';
import { codeOf, codeOfAsync, errorOf } from '../harness/error-code.js';
import { atprotoOperation, genesisLog, newPlcKey, plcLogEntry, plcOperationCid, signPlcOperation, type PlcLogEntry } from './plc-log-builder.js';

const VECTORS = new URL('../vectors/did-method-plc/audit_log/', import.meta.url);
const HOUR = 60 * 60 * 1000;
const ON_TEST_NETWORK = { allowPrivateNetwork: true };

let net: AtprotoNetwork;
let plc: PlcClient;
let alice: Publisher;
/** A PDS account whose #atproto key was rotated away: a two-operation log. */
let carol: Publisher;
let carolKeyBeforeRotation: string;
/** A DID whose low-priority key's update was nullified by a recovery fork signed by the high-priority key. */
let recovered: { did: string; signingKey: string };
let tombstoned: string;
/** DIDs whose operation in force lacks something atproto needs. */
const incomplete = new Map<string, string>();
let p256Did: string;

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
/** An ISO timestamp `ms` after (or before) another. */
const shifted = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
const resolveOnTestNetwork = (did: string, plcDirectory = net.plcUrl) => resolveDid(did, { plcDirectory, timeoutMs: 5000, allowPrivateNetwork: true });

async function auditLog(did: string): Promise<PlcLogEntry[]> {
  const res = await fetch(`${net.plcUrl}/${did}/log/audit`);
  expect(res.status).toBe(200);
  return (await res.json()) as PlcLogEntry[];
}

/** A new DID in the real directory, created by our own rotation keys (signed by the last one). */
async function createDid(handle: string, rotationKeys: (Secp256k1Keypair | P256Keypair)[]): Promise<{ did: string; signingKey: string }> {
  const signing = await Secp256k1Keypair.create();
  const did = await plc.createDid({
    signingKey: signing.did(),
    handle,
    pds: net.pdsUrl,
    rotationKeys: rotationKeys.map((k) => k.did()),
    signer: rotationKeys.at(-1)!,
  });
  // The directory stamps createdAt in milliseconds; the log must be strictly increasing.
  await wait(5);
  return { did, signingKey: signing.did() };
}

beforeAll(async () => {
  net = await startAtprotoNetwork();
  plc = new PlcClient(net.plcUrl);
  [alice, carol] = await Promise.all([net.createPublisher('alice'), net.createPublisher('carol')]);
  carolKeyBeforeRotation = parseDidDocument(await (await fetch(`${net.plcUrl}/${carol.did}`)).json(), carol.did, true).signingKeyMultibase;
  await net.rotateSigningKeyAway(carol.did);

  // Recovery: the low-priority key changes the handle, the high-priority key forks from genesis.
  const [high, low] = await Promise.all([Secp256k1Keypair.create(), Secp256k1Keypair.create()]);
  recovered = await createDid('recover.test', [high, low]);
  await plc.updateHandle(recovered.did, low, 'hijacked.test');
  await wait(5);
  const genesis = (await auditLog(recovered.did))[0]!;
  const fork = await addSignature(
    {
      type: 'plc_operation' as const,
      rotationKeys: [high.did()],
      verificationMethods: { atproto: recovered.signingKey },
      alsoKnownAs: ['at://recovered.test'],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: net.pdsUrl } },
      prev: genesis.cid,
    },
    high,
  );
  await plc.sendOperation(recovered.did, fork);

  const doomed = await Secp256k1Keypair.create();
  tombstoned = (await createDid('doomed.test', [doomed])).did;
  await plc.tombstone(tombstoned, doomed);

  const edits: [string, (op: Record<string, unknown>) => Record<string, unknown>][] = [
    ['no atproto key', (op) => ({ ...op, verificationMethods: {} })],
    ['no PDS service', (op) => ({ ...op, services: {} })],
    ['a PDS service of another type', (op) => ({ ...op, services: { atproto_pds: { type: 'SomethingElse', endpoint: net.pdsUrl } } })],
    ['a PDS endpoint with a path', (op) => ({ ...op, services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: `${net.pdsUrl}/xrpc` } } })],
  ];
  for (const [what, edit] of edits) {
    const key = await Secp256k1Keypair.create();
    const { did } = await createDid(`${what.replace(/\W+/g, '-')}.test`, [key]);
    await plc.updateData(did, key, (last) => edit(last as unknown as Record<string, unknown>) as never);
    incomplete.set(what, did);
  }

  p256Did = (await createDid('p256.test', [await P256Keypair.create()])).did;
});
afterAll(async () => {
  await net?.close();
});

describe('did-method-plc interop vectors (test/vectors/did-method-plc, MIT)', () => {
  const files = (kind: string) => readdirSync(new URL(`${kind}/`, VECTORS)).filter((f) => f.endsWith('.json'));
  const read = (kind: string, file: string) => JSON.parse(readFileSync(new URL(`${kind}/${file}`, VECTORS), 'utf8')) as PlcLogEntry[];

  it.each(files('valid'))('valid/%s replays', (file) => {
    const log = read('valid', file);
    const replay = replayPlcAuditLog(log[0]!.did, log);
    expect(replay.headCid).toBe(log.at(-1)!.cid);
    expect(replay.nullifiedOperations).toBe(log.filter((e) => e.nullified).length);
    expect(replay.state === null).toBe(log.at(-1)!.operation['type'] === 'plc_tombstone');
  });

  it.each(files('invalid'))('invalid/%s is PLC_LOG_INVALID', (file) => {
    const log = read('invalid', file);
    expect(codeOf(() => replayPlcAuditLog(log[0]!.did, log))).toBe('PLC_LOG_INVALID');
  });

  it('a legacy `create` genesis (valid/log_legacy_dholms.json) is normalised: rotation keys [recoveryKey, signingKey]', () => {
    const log = read('valid', 'log_legacy_dholms.json');
    const genesisOnly = replayPlcAuditLog(log[0]!.did, log.slice(0, 1));
    const op = log[0]!.operation;
    expect(genesisOnly.state).toEqual({
      rotationKeys: [op['recoveryKey'], op['signingKey']],
      verificationMethods: { atproto: op['signingKey'] },
      alsoKnownAs: [`at://${op['handle']}`],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: op['service'] } },
    });
    const identity = verifyPlcAuditLog(log[0]!.did, log.slice(0, 1), { allowPrivateNetwork: false });
    expect(identity).toMatchObject({ pdsEndpoint: 'https://bsky.social', claimedHandle: 'dan.bsky.social' });
    expect(identity.signingKeyMultibase).toBe(String(op['signingKey']).slice('did:key:'.length));
  });

  it('valid/log_nullification_nontrivial.json: a fork of a fork nullifies five operations, the head is the last fork', () => {
    const log = read('valid', 'log_nullification_nontrivial.json');
    const replay = replayPlcAuditLog(log[0]!.did, log);
    expect([replay.activeOperations, replay.nullifiedOperations]).toEqual([3, 5]);
  });
});

describe('logs the real PLC directory wrote', () => {
  it('a new PDS account: the identity replayed from its log is the one the directory renders, in one request', async () => {
    const before = networkStats.requests;
    const identity = await resolveOnTestNetwork(alice.did);
    expect(networkStats.requests - before).toBe(1);
    const rendered = parseDidDocument(await (await fetch(`${net.plcUrl}/${alice.did}`)).json(), alice.did, true);
    // The same AtprotoIdentity shape, field for field, as before the log was audited.
    expect(identity).toEqual(rendered);
    expect(Object.keys(identity).sort()).toEqual(['claimedHandle', 'did', 'pdsEndpoint', 'signingKey', 'signingKeyMultibase']);
    expect(identity.claimedHandle).toBe(alice.handle);
  });

  it('cost: a new account log is one operation of under 1 KiB and verifies in milliseconds', async () => {
    const res = await fetch(`${net.plcUrl}/${alice.did}/log/audit`);
    const bytes = (await res.arrayBuffer()).byteLength;
    const carolBytes = (await (await fetch(`${net.plcUrl}/${carol.did}/log/audit`)).arrayBuffer()).byteLength;
    const log = await auditLog(alice.did);
    verifyPlcAuditLog(alice.did, log, ON_TEST_NETWORK); // warm-up
    const started = performance.now();
    for (let i = 0; i < 20; i++) verifyPlcAuditLog(alice.did, log, ON_TEST_NETWORK);
    const ms = (performance.now() - started) / 20;
    console.log(`dev-env audit log: new account ${log.length} op, ${bytes} bytes; after one key rotation ${carolBytes} bytes; verify ${ms.toFixed(1)} ms`);
    expect(log).toHaveLength(1);
    expect(bytes).toBeLessThan(1024);
    expect(ms).toBeLessThan(50);
  });

  it('after rotateSigningKeyAway the rotated key is in force, not the one the account was created with', async () => {
    const log = await auditLog(carol.did);
    expect(log).toHaveLength(2);
    const identity = verifyPlcAuditLog(carol.did, log, ON_TEST_NETWORK);
    const rendered = parseDidDocument(await (await fetch(`${net.plcUrl}/${carol.did}`)).json(), carol.did, true);
    expect(identity.signingKeyMultibase).toBe(rendered.signingKeyMultibase);
    expect(identity.signingKeyMultibase).not.toBe(carolKeyBeforeRotation);
  });

  it('a recovery fork: the nullified update is excluded and the fork is in force', async () => {
    const log = await auditLog(recovered.did);
    expect(log.map((e) => e.nullified)).toEqual([false, true, false]);
    const identity = verifyPlcAuditLog(recovered.did, log, ON_TEST_NETWORK);
    expect(identity).toMatchObject({ claimedHandle: 'recovered.test', activeOperations: 2, nullifiedOperations: 1, headCid: log[2]!.cid });
    const rendered = parseDidDocument(await (await fetch(`${net.plcUrl}/${recovered.did}`)).json(), recovered.did, true);
    expect(identity.claimedHandle).toBe(rendered.claimedHandle);
  });

  it('a genesis signed by a P-256 rotation key', async () => {
    expect(verifyPlcAuditLog(p256Did, await auditLog(p256Did), ON_TEST_NETWORK).claimedHandle).toBe('p256.test');
  });

  it('a high-S P-256 genesis, which this directory accepts (did-method-plc issue #104), is PLC_LOG_INVALID', async () => {
    const key = newPlcKey('p256', { highS: true });
    const genesis = signPlcOperation(atprotoOperation({ signingKey: newPlcKey().did, pds: net.pdsUrl, handle: 'high-s.test', rotationKeys: [key] }, null), key);
    const did = plcDidForGenesis(dagCbor.encode(genesis));
    await plc.sendOperation(did, genesis as never);
    // The directory renders a DID document for it; the log does not verify.
    expect(parseDidDocument(await (await fetch(`${net.plcUrl}/${did}`)).json(), did, true).claimedHandle).toBe('high-s.test');
    expect(await codeOfAsync(resolveOnTestNetwork(did))).toBe('PLC_LOG_INVALID');
  });

  it('a tombstoned DID is DID_RESOLUTION_FAILED (deactivated), whatever the log says before', async () => {
    const log = await auditLog(tombstoned);
    expect(replayPlcAuditLog(tombstoned, log).state).toBeNull();
    const err = errorOf(() => verifyPlcAuditLog(tombstoned, log, ON_TEST_NETWORK));
    expect(err.code).toBe('DID_RESOLUTION_FAILED');
    expect(err.message).toMatch(/deactivated/);
    expect(await codeOfAsync(resolveOnTestNetwork(tombstoned))).toBe('DID_RESOLUTION_FAILED');
  });

  it.each(['no atproto key', 'no PDS service', 'a PDS service of another type', 'a PDS endpoint with a path'])(
    'an operation in force with %s is DID_DOCUMENT_INVALID',
    async (what) => {
      const did = incomplete.get(what)!;
      const log = await auditLog(did);
      expect(replayPlcAuditLog(did, log).activeOperations).toBe(2); // the log itself is valid
      expect(codeOf(() => verifyPlcAuditLog(did, log, ON_TEST_NETWORK))).toBe('DID_DOCUMENT_INVALID');
    },
  );

  it('an unregistered DID is DID_RESOLUTION_FAILED (the directory answers 404)', async () => {
    expect(await codeOfAsync(resolveOnTestNetwork('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'))).toBe('DID_RESOLUTION_FAILED');
  });

  it('a whole cold verification still makes one PLC request (and one to the PDS)', async () => {
    const digest = `sha256:${createHash('sha256').update(`plc audit ${Math.random()}`).digest('hex')}`;
    const rec = await alice.putManifestRecord({ repository: 'registry.example/alice/app', digest });
    const policy = parseTrustPolicy(
      [
        'version: "1.0"',
        `trustedDIDs: {${alice.did}: {validFrom: "2024-01-01T00:00:00Z"}}`,
        `policies: [{name: all, scope: "**", trustedDIDs: [${alice.did}]}]`,
        '',
      ].join('\n'),
    );
    const settings = { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false };
    const verifier = new Verifier(settings, { policy, handleResolver: net.handleResolver });
    const payload = buildSignaturePayload({ subjectDigest: digest, did: alice.did, recordUri: rec.uri, recordCid: rec.cid, commitCid: rec.commitCid });
    const before = networkStats.requests;
    const out = await verifier.verify({ subjectDigest: digest, reference: `registry.example/alice/app@${digest}`, payload });
    expect(out.error).toBeUndefined();
    expect(out.isSuccess).toBe(true);
    expect(networkStats.requests - before).toBe(2);
  });

  it('the cache holds the raw log under its URL: a hit costs no request, and a tampered entry fails closed', async () => {
    const cache = new TtlCache<unknown>('did', { enabled: true, ttlMs: 60_000 });
    const options = { plcDirectory: net.plcUrl, timeoutMs: 5000, allowPrivateNetwork: true, cache };
    const first = await resolveDid(carol.did, options);
    const before = networkStats.requests;
    expect(await resolveDid(carol.did, options)).toEqual(first);
    expect(networkStats.requests).toBe(before);
    const key = `${net.plcUrl}/${carol.did}/log/audit`;
    const tampered = clone(cache.get(key) as PlcLogEntry[]);
    (tampered[1]!.operation['verificationMethods'] as Record<string, string>)['atproto'] = newPlcKey().did;
    tampered[1]!.cid = plcOperationCid(tampered[1]!.operation);
    cache.set(key, tampered);
    expect(await codeOfAsync(resolveDid(carol.did, options))).toBe('PLC_LOG_INVALID');
  });
});

describe('hostile logs, made by editing real ones', () => {
  let rotatedLog: PlcLogEntry[];
  let recoveryLog: PlcLogEntry[];
  beforeAll(async () => {
    [rotatedLog, recoveryLog] = await Promise.all([auditLog(carol.did), auditLog(recovered.did)]);
  });

  /** Re-derives an entry's cid after its operation was edited, as a careful liar would. */
  const recid = (entry: PlcLogEntry) => {
    entry.cid = plcOperationCid(entry.operation);
  };
  const setSig = (entry: PlcLogEntry, sig: string) => {
    entry.operation['sig'] = sig;
    recid(entry);
  };
  const sigBytes = (entry: PlcLogEntry) => new Uint8Array(Buffer.from(String(entry.operation['sig']), 'base64url'));

  const cases: [string, (log: PlcLogEntry[]) => { did?: string; log: unknown }][] = [
    ['the genesis of another DID (every entry relabelled)', (log) => ({ did: alice.did, log: log.map((e) => ({ ...e, did: alice.did })) })],
    ['entries that name another DID', (log) => ({ log: log.map((e) => ({ ...e, did: alice.did })) })],
    [
      'a substituted atproto key, cid left as signed',
      (log) => {
        (log[1]!.operation['verificationMethods'] as Record<string, string>)['atproto'] = newPlcKey().did;
        return { log };
      },
    ],
    [
      'a substituted atproto key, cid recomputed (the signature no longer covers it)',
      (log) => {
        (log[1]!.operation['verificationMethods'] as Record<string, string>)['atproto'] = newPlcKey().did;
        recid(log[1]!);
        return { log };
      },
    ],
    [
      'a substituted PDS endpoint, cid recomputed',
      (log) => {
        (log[1]!.operation['services'] as Record<string, { endpoint: string }>)['atproto_pds']!.endpoint = 'https://evil.example';
        recid(log[1]!);
        return { log };
      },
    ],
    [
      'an update signed by a key that is not a rotation key',
      (log) => {
        const intruder = newPlcKey();
        const unsigned = { ...log[1]!.operation, verificationMethods: { atproto: intruder.did }, prev: log[1]!.cid };
        delete (unsigned as Record<string, unknown>)['sig'];
        const op = signPlcOperation(unsigned, intruder);
        return { log: [...log, plcLogEntry(carol.did, op, new Date(shifted(log[1]!.createdAt, 1000)))] };
      },
    ],
    [
      'a broken prev chain',
      (log) => {
        log[1]!.operation['prev'] = plcOperationCid({ unrelated: true });
        recid(log[1]!);
        return { log };
      },
    ],
    ['reordered operations', (log) => ({ log: [...log].reverse() })],
    ['the genesis operation left out', (log) => ({ log: log.slice(1) })],
    ['an operation served twice', (log) => ({ log: [...log, log[1]] })],
    [
      'the high-S twin of a real signature, cid recomputed',
      (log) => {
        const sig = secp256k1.Signature.fromBytes(sigBytes(log[1]!), 'compact');
        const twin = new secp256k1.Signature(sig.r, secp256k1.Point.Fn.ORDER - sig.s).toBytes('compact');
        setSig(log[1]!, Buffer.from(twin).toString('base64url'));
        return { log };
      },
    ],
    [
      'the same signature DER-encoded',
      (log) => {
        setSig(log[1]!, Buffer.from(secp256k1.Signature.fromBytes(sigBytes(log[1]!), 'compact').toBytes('der')).toString('base64url'));
        return { log };
      },
    ],
    ['the signature with = padding', (log) => (setSig(log[1]!, `${String(log[1]!.operation['sig'])}==`), { log })],
    ['the signature in standard base64 (+ / and padding)', (log) => (setSig(log[1]!, Buffer.from(sigBytes(log[1]!)).toString('base64')), { log })],
    ['the signature with a trailing newline', (log) => (setSig(log[1]!, `${String(log[1]!.operation['sig'])}\n`), { log })],
    [
      'the signature with non-zero padding bits in its last character',
      (log) => {
        const sig = String(log[1]!.operation['sig']);
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        // The last character carries 2 data bits and 4 padding bits: flip the lowest padding bit.
        setSig(log[1]!, sig.slice(0, -1) + alphabet[alphabet.indexOf(sig.at(-1)!) ^ 1]!);
        return { log };
      },
    ],
    ['an update stamped before the operation it follows', (log) => ((log[1]!.createdAt = shifted(log[0]!.createdAt, -1000)), { log })],
    ['a createdAt that is not a datetime', (log) => ((log[1]!.createdAt = 'yesterday'), { log })],
    [
      'an unknown field in an operation, cid recomputed',
      (log) => {
        log[1]!.operation['note'] = 'added by the directory';
        recid(log[1]!);
        return { log };
      },
    ],
    [
      'a lone surrogate in alsoKnownAs, cid recomputed',
      (log) => {
        log[1]!.operation['alsoKnownAs'] = ['at://carol.test\uD800'];
        recid(log[1]!);
        return { log };
      },
    ],
    [
      'an operation over 7500 bytes of DAG-CBOR',
      (log) => {
        log[1]!.operation['alsoKnownAs'] = [`at://${'a'.repeat(8000)}.test`];
        recid(log[1]!);
        return { log };
      },
    ],
    [
      'a tombstone the directory signed itself',
      (log) => {
        const op = signPlcOperation({ type: 'plc_tombstone', prev: log[1]!.cid }, newPlcKey());
        return { log: [...log, plcLogEntry(carol.did, op, new Date(shifted(log[1]!.createdAt, 1000)))] };
      },
    ],
    [
      'a prev that is not a canonical CID string',
      (log) => {
        log[1]!.operation['prev'] = String(log[1]!.operation['prev']).toUpperCase();
        recid(log[1]!);
        return { log };
      },
    ],
    ['a JSON object instead of an array', () => ({ log: { message: 'DID not registered' } })],
    ['null', () => ({ log: null })],
    ['an empty array', () => ({ log: [] })],
    ['an entry that is a string', (log) => ({ log: [log[0], 'not an entry'] })],
    ['an entry without its operation', (log) => ({ log: [{ ...log[0], operation: undefined }] })],
    [`more than ${MAX_PLC_LOG_ENTRIES} entries`, (log) => ({ log: Array.from({ length: MAX_PLC_LOG_ENTRIES + 1 }, () => log[0]) })],
  ];

  it.each(cases)('%s is PLC_LOG_INVALID', (_what, edit) => {
    const { did = carol.did, log } = edit(clone(rotatedLog));
    expect(errorOf(() => verifyPlcAuditLog(did, log, ON_TEST_NETWORK)).code).toBe('PLC_LOG_INVALID');
  });

  it('control: the unedited log verifies, and the high-S twin really is a valid signature without the low-S rule', () => {
    expect(verifyPlcAuditLog(carol.did, rotatedLog, ON_TEST_NETWORK).activeOperations).toBe(2);
    const entry = rotatedLog[1]!;
    const unsigned = { ...entry.operation };
    delete unsigned['sig'];
    const rotationKeys = (rotatedLog[0]!.operation['rotationKeys'] as string[]).map((k) => parseDidKey(k));
    const sig = secp256k1.Signature.fromBytes(new Uint8Array(Buffer.from(String(entry.operation['sig']), 'base64url')), 'compact');
    const twin = new secp256k1.Signature(sig.r, secp256k1.Point.Fn.ORDER - sig.s).toBytes('compact');
    const lax = { prehash: true, lowS: false, format: 'compact' } as const;
    expect(rotationKeys.some((key) => key.curve === 'k256' && secp256k1.verify(twin, dagCbor.encode(unsigned), key.compressed, lax))).toBe(true);
  });

  it.each<[string, (log: PlcLogEntry[]) => void]>([
    ['the nullified update marked active', (log) => (log[1]!.nullified = false)],
    ['the fork in force marked nullified', (log) => (log[2]!.nullified = true)],
    ['the fork stamped 73 hours after the update it nullifies', (log) => (log[2]!.createdAt = shifted(log[1]!.createdAt, 73 * HOUR))],
    ['the update and the fork swapped', (log) => log.splice(1, 2, log[2]!, log[1]!)],
  ])('recovery log with %s is PLC_LOG_INVALID', (_what, edit) => {
    const log = clone(recoveryLog);
    edit(log);
    expect(codeOf(() => verifyPlcAuditLog(recovered.did, log, ON_TEST_NETWORK))).toBe('PLC_LOG_INVALID');
  });

  it('a fork stamped exactly 72 hours after the update it nullifies is still in time', () => {
    const log = clone(recoveryLog);
    log[2]!.createdAt = shifted(log[1]!.createdAt, 72 * HOUR);
    expect(verifyPlcAuditLog(recovered.did, log, ON_TEST_NETWORK).nullifiedOperations).toBe(1);
  });

  // What a log cannot prove (did:plc spec, "PLC Server Trust Model"): these pass, by design.
  it('not detectable: a directory that withholds the newest operation serves the older, once-valid state', () => {
    expect(verifyPlcAuditLog(carol.did, rotatedLog.slice(0, 1), ON_TEST_NETWORK).signingKeyMultibase).toBe(carolKeyBeforeRotation);
  });
  it('not detectable: a directory that hides a nullified fork serves the same state', () => {
    const hidden = recoveryLog.filter((e) => !e.nullified);
    expect(verifyPlcAuditLog(recovered.did, hidden, ON_TEST_NETWORK).headCid).toBe(recoveryLog[2]!.cid);
  });
});

describe('logs no directory would accept, built here', () => {
  it('a legacy `create` genesis carries its identity: service is the PDS, handle the claimed handle', () => {
    const signing = newPlcKey();
    const recovery = newPlcKey();
    const legacy = { type: 'create', signingKey: signing.did, recoveryKey: recovery.did, handle: 'legacy.test', service: 'https://pds.example', prev: null };
    const op = signPlcOperation(legacy, signing);
    const did = plcDidForGenesis(dagCbor.encode(op));
    const identity = verifyPlcAuditLog(did, [plcLogEntry(did, op, new Date())], { allowPrivateNetwork: false });
    expect(identity).toMatchObject({ pdsEndpoint: 'https://pds.example', claimedHandle: 'legacy.test', rotationKeys: [recovery.did, signing.did] });
    expect(identity.signingKeyMultibase).toBe(formatMultikey(parseDidKey(signing.did)));
  });

  it('a P-256 chain: genesis and update signed by P-256 rotation keys', () => {
    const [k1, k2] = [newPlcKey('p256'), newPlcKey('p256')];
    const signingKey = newPlcKey().did;
    const { did, log } = genesisLog({ signingKey, pds: 'https://pds.example', handle: 'p.test', rotationKeys: [k1, k2] });
    const update = signPlcOperation(atprotoOperation({ signingKey, pds: 'https://pds2.example', handle: 'p.test', rotationKeys: [k2] }, log[0]!.cid), k1);
    log.push(plcLogEntry(did, update, new Date(Date.now() + 1000)));
    expect(verifyPlcAuditLog(did, log, { allowPrivateNetwork: false }).pdsEndpoint).toBe('https://pds2.example');
  });

  it(`a log costing more than ${MAX_PLC_SIGNATURE_CHECKS} signature checks is refused, in bounded time`, () => {
    // Ten rotation keys, every operation signed by the last: ten checks per operation.
    const keys = Array.from({ length: 10 }, () => newPlcKey());
    const fields = { signingKey: keys[0]!.did, pds: 'https://pds.example', rotationKeys: keys };
    const genesis = signPlcOperation(atprotoOperation(fields, null), keys[9]!);
    const did = plcDidForGenesis(dagCbor.encode(genesis));
    const start = Date.parse('2025-01-01T00:00:00Z');
    const log = [plcLogEntry(did, genesis, new Date(start))];
    while (log.length * 10 <= MAX_PLC_SIGNATURE_CHECKS) {
      const op = signPlcOperation(atprotoOperation({ ...fields, handle: `h${log.length}.test` }, log.at(-1)!.cid), keys[9]!);
      log.push(plcLogEntry(did, op, new Date(start + log.length * 1000)));
    }
    const started = performance.now();
    const err = errorOf(() => replayPlcAuditLog(did, log));
    const ms = performance.now() - started;
    console.log(`${log.length} operations x 10 keys: refused after ${MAX_PLC_SIGNATURE_CHECKS} checks in ${ms.toFixed(0)} ms`);
    expect(err.code).toBe('PLC_LOG_INVALID');
    expect(err.message).toMatch(/signature checks/);
    // One fewer operation fits the budget and verifies.
    expect(replayPlcAuditLog(did, log.slice(0, -1)).activeOperations).toBe(log.length - 1);
  });

  it('a log body over 1 MiB is RESPONSE_TOO_LARGE before it is parsed (a stand-in directory: a real one cannot be made to)', async () => {
    const server = http.createServer((_req, res) => res.end(`[${' '.repeat(2 * 1024 * 1024)}]`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const directory = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await codeOfAsync(resolveOnTestNetwork(alice.did, directory))).toBe('RESPONSE_TOO_LARGE');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
