/**
 * The corpus's `chain` cases: whole-chain scenarios against a real PLC directory and PDS
 * (@atproto/dev-env on loopback), through the Verifier online. Each case file names a scenario;
 * the scenario writes real records through the PDS and builds the payload, since DIDs and record
 * keys are minted fresh by every network. The expected codes live in manifest.json.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload, type PayloadFields } from '../../src/artifact/build-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher, type WrittenRecord } from '../../src/devnet/atproto-network.js';
import { parseTid } from '../../src/atproto/tid.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier, type VerifyRequest } from '../../src/verify/verifier.js';
import { caseId, corpusBytes, listCases, outcomeCode, type CorpusCase } from './corpus.js';

const REGISTRY = 'registry.example';
const REPOSITORY = `${REGISTRY}/chain/app`;
const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

let net: AtprotoNetwork;
let alice: Publisher;
let bob: Publisher;

beforeAll(async () => {
  net = await startAtprotoNetwork();
  [alice, bob] = await Promise.all([net.createPublisher('alice'), net.createPublisher('bob')]);
});
afterAll(async () => {
  await net?.close();
});

function verifier(trusted: Publisher[] = [alice, bob], validFrom = '2024-01-01T00:00:00Z'): Verifier {
  const dids = trusted.map((p) => p.did);
  const policy = parseTrustPolicy(
    [
      'version: "1.0"',
      'trustedDIDs:',
      ...dids.map((did) => `  ${did}: {name: "chain publisher", validFrom: "${validFrom}"}`),
      'policies:',
      `  - {name: chain, scope: "${REGISTRY}/chain/*", trustedDIDs: [${dids.join(', ')}], action: enforce}`,
      '',
    ].join('\n'),
  );
  return new Verifier(
    { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false },
    { policy, handleResolver: net.handleResolver },
  );
}

async function sign(publisher: Publisher, digest: string, fields: Record<string, unknown> = {}, collection?: string): Promise<WrittenRecord> {
  return publisher.putManifestRecord({ repository: REPOSITORY, digest, ...fields }, collection);
}

function request(digest: string, fields: Omit<PayloadFields, 'subjectDigest'>): VerifyRequest {
  return { subjectDigest: digest, reference: `${REPOSITORY}@${digest}`, payload: buildSignaturePayload({ subjectDigest: digest, ...fields }) };
}

const payloadOf = (p: Publisher, rec: WrittenRecord) => ({ did: p.did, recordUri: rec.uri, recordCid: rec.cid, commitCid: rec.commitCid });

async function getRecordCar(did: string, rkey: string): Promise<Uint8Array> {
  const res = await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getRecord?did=${did}&collection=io.atcr.manifest&rkey=${rkey}`);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

/** Each scenario returns the verifier and request the case stands for. */
const scenarios: Record<string, (tag: string) => Promise<[Verifier, VerifyRequest]>> = {
  async valid(tag) {
    const digest = digestOf(tag);
    return [verifier(), request(digest, payloadOf(alice, await sign(alice, digest)))];
  },
  async 'record-other-collection'(tag) {
    const digest = digestOf(tag);
    const rec = await sign(alice, digest, {}, 'app.bsky.feed.post');
    return [verifier(), request(digest, { did: alice.did, recordUri: `at://${alice.did}/io.atcr.manifest/${rec.rkey}` })];
  },
  async 'record-other-digest'(tag) {
    const rec = await sign(alice, digestOf(`${tag} signed`));
    const digest = digestOf(`${tag} presented`);
    return [verifier(), request(digest, { did: alice.did, recordUri: rec.uri })];
  },
  async 'record-other-repository'(tag) {
    const digest = digestOf(tag);
    return [verifier(), request(digest, payloadOf(alice, await sign(alice, digest, { repository: `${REGISTRY}/chain/other` })))];
  },
  async 'rkey-of-another-account'(tag) {
    const digest = digestOf(tag);
    const rec = await sign(bob, digest);
    return [verifier(), request(digest, { did: alice.did, recordUri: `at://${alice.did}/io.atcr.manifest/${rec.rkey}` })];
  },
  async 'record-cid-hint-mismatch'(tag) {
    const digest = digestOf(tag);
    const rec = await sign(alice, digest);
    const other = await sign(alice, digestOf(`${tag} other`));
    return [verifier(), request(digest, { ...payloadOf(alice, rec), recordCid: other.cid })];
  },
  async 'signer-rotated-key'(tag) {
    const carol = await net.createPublisher('carol');
    const digest = digestOf(tag);
    const rec = await sign(carol, digest);
    await net.rotateSigningKeyAway(carol.did);
    return [verifier([carol]), request(digest, payloadOf(carol, rec))];
  },
  async 'embedded-proof-other-did'(tag) {
    const digest = digestOf(tag);
    const rec = await sign(alice, digest);
    const car = await getRecordCar(alice.did, rec.rkey);
    return [verifier(), request(digest, { did: bob.did, recordUri: `at://${bob.did}/io.atcr.manifest/${rec.rkey}`, proofCar: car })];
  },
  async 'embedded-proof-tampered'(tag) {
    const digest = digestOf(tag);
    const rec = await sign(alice, digest);
    const car = Uint8Array.from(await getRecordCar(alice.did, rec.rkey));
    car[car.length - 5]! ^= 0x01; // inside the last block
    return [verifier(), request(digest, { ...payloadOf(alice, rec), proofCar: car })];
  },
  async 'unregistered-did'(tag) {
    const digest = digestOf(tag);
    const did = 'did:plc:unregistered222222222222';
    // Trusted by the policy, so the claim passes the policy-first step and resolution itself is what fails.
    return [verifier([alice, bob, { did } as Publisher]), request(digest, { did, recordUri: `at://${did}/io.atcr.manifest/3lbk2ozq2dk2a` })];
  },
  async 'untrusted-signer'(tag) {
    const digest = digestOf(tag);
    return [verifier([alice]), request(digest, payloadOf(bob, await sign(bob, digest)))];
  },
  async 'record-before-valid-from'(tag) {
    const dave = await net.createPublisher('dave');
    const digest = digestOf(tag);
    const rec = await sign(dave, digest);
    // Trust starts just after the record's commit; then the repository moves on.
    const validFrom = new Date(parseTid(rec.rev).date.getTime() + 1);
    await new Promise((r) => setTimeout(r, 20));
    await sign(dave, digestOf(`${tag} later`));
    return [verifier([dave], validFrom.toISOString()), request(digest, payloadOf(dave, rec))];
  },
  async 'deleted-record'(tag) {
    const digest = digestOf(tag);
    const rec = await sign(alice, digest);
    await alice.deleteRecord(rec.rkey);
    return [verifier(), request(digest, payloadOf(alice, rec))];
  },
  async 'embedded-proof-deleted-record'(tag) {
    const digest = digestOf(tag);
    const rec = await sign(alice, digest);
    const car = await getRecordCar(alice.did, rec.rkey);
    await alice.deleteRecord(rec.rkey);
    return [verifier(), request(digest, { ...payloadOf(alice, rec), proofCar: car })];
  },
};

describe('chain cases, through the Verifier against a real PDS and PLC', () => {
  const cases = listCases('chain').map((c) => [caseId(c), c] as const);

  it('every chain case names a scenario this file implements', () => {
    for (const [, c] of cases) expect(Object.keys(scenarios)).toContain(scenarioOf(c));
  });

  for (const [id, c] of cases) {
    // A known gap asserts what the verifier does today; once fixed, this fails until the case is updated.
    const title = c.knownGap ? `${id}: KNOWN GAP, gives ${c.today} where ${c.expect} is due (${c.knownGap})` : id;
    it(title, async () => {
      const [v, req] = await scenarios[scenarioOf(c)]!(id);
      const outcome = await v.verify(req);
      expect(outcomeCode(outcome), `${c.note}: ${outcome.message}`).toBe(c.knownGap ? c.today : c.expect);
    });
  }
});

function scenarioOf(c: CorpusCase): string {
  return (JSON.parse(Buffer.from(corpusBytes(c.file)).toString('utf8')) as { scenario: string }).scenario;
}
