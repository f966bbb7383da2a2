import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import { attachSignature } from '../../src/publish/attach-signature.js';
import { RegistryClient } from '../../src/registry/client.js';
import { OCI_MANIFEST_MEDIA_TYPE } from '../../src/registry/oci.js';
import { MAX_SIGNATURE_REFERRERS } from '../../src/verify/verify-referrers.js';
import { facesAreBuilt, threeFaces, type Faces, type ProviderFace } from '../harness/three-faces.js';

// Issue 12, item 2: whoever can push referrers must not hide a good signature. 100 junk signature
// referrers are pushed BEFORE the publisher's real one (more than the 64 read): 60 valid-looking
// signatures by an untrusted account, and 40 that claim the trusted publisher with records that
// do not exist. `verify` and the provider still find and pass the real one, within the budget.
// Real registry (distribution 2.8: the referrers tag-schema index lists them all), PDS and PLC.

const BUDGET_MS = 2500;

let net: AtprotoNetwork;
let registry: RegistryServer;
let client: RegistryClient;
let alice: Publisher;
let mallory: Publisher;
let faces: Faces;
let policyPath: string;
let provider: ProviderFace;
let buried: PushedImage;
let strangersOnly: PushedImage;
let unannotated: PushedImage;
const REPOSITORY = 'alice/app';

async function junk(image: PushedImage, count: number, make: (i: number) => { payload: object; signer?: string }): Promise<void> {
  const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
  for (let i = 0; i < count; i++) {
    const { payload, signer } = make(i);
    await attachSignature(client, REPOSITORY, subject, new TextEncoder().encode(JSON.stringify(payload)), signer ? { signer } : {});
  }
}

beforeAll(async () => {
  expect(facesAreBuilt(), 'run node scripts/build.mjs first').toBe(true);
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  [alice, mallory] = await Promise.all([net.createPublisher('alice'), net.createPublisher('mallory')]);
  faces = threeFaces(net);
  policyPath = faces.policy(
    'alice',
    `version: "1.0"\ntrustedDIDs:\n  ${alice.did}: {name: "Alice"}\npolicies:\n  - {name: everything, scope: "**", trustedDIDs: [${alice.did}], action: enforce}\n`,
  );
  buried = await pushSampleImage(client, registry.host, REPOSITORY, 'v1', 'buried signature');
  const pinned = `${registry.host}/${REPOSITORY}@${buried.digest}`;
  // Valid signatures, by an account nobody trusts: mallory's real record for this very image.
  const record = await mallory.putManifestRecord({ repository: pinned.split('@')[0]!, digest: buried.digest });
  await junk(buried, 60, (i) => ({
    payload: buildSignaturePayload({ subjectDigest: buried.digest, did: mallory.did, recordUri: record.uri, signedAt: new Date(Date.now() + i).toISOString() }),
    signer: mallory.did,
  }));
  // Claims of the trusted publisher, unannotated, naming records that were never written.
  await junk(buried, 40, (i) => ({
    payload: buildSignaturePayload({ subjectDigest: buried.digest, did: alice.did, recordUri: `at://${alice.did}/io.atcr.manifest/3kjunk${String(i).padStart(7, 'a')}` }),
  }));
  await alice.sign(pinned, client);
  const listed = await client.listReferrers(REPOSITORY, buried.digest, SIGNATURE_ARTIFACT_TYPE);
  expect(listed.length).toBe(101);
  expect(listed.length).toBeGreaterThan(MAX_SIGNATURE_REFERRERS);

  strangersOnly = await pushSampleImage(client, registry.host, REPOSITORY, 'v2', 'strangers only');
  const strangerRecord = await mallory.putManifestRecord({ repository: pinned.split('@')[0]!, digest: strangersOnly.digest });
  await junk(strangersOnly, 3, (i) => ({
    payload: buildSignaturePayload({ subjectDigest: strangersOnly.digest, did: mallory.did, recordUri: strangerRecord.uri, signedAt: new Date(Date.now() + i).toISOString() }),
  }));
  // No annotations anywhere (as other signers write referrers): the newest are read first, so
  // junk pushed before the signature does not hide it.
  unannotated = await pushSampleImage(client, registry.host, REPOSITORY, 'v3', 'unannotated signature');
  const junkRecord = await mallory.putManifestRecord({ repository: pinned.split('@')[0]!, digest: unannotated.digest });
  await junk(unannotated, 100, (i) => ({
    payload: buildSignaturePayload({ subjectDigest: unannotated.digest, did: mallory.did, recordUri: junkRecord.uri, signedAt: new Date(Date.now() + i).toISOString() }),
  }));
  const good = await alice.putManifestRecord({ repository: pinned.split('@')[0]!, digest: unannotated.digest });
  await junk(unannotated, 1, () => ({ payload: buildSignaturePayload({ subjectDigest: unannotated.digest, did: alice.did, recordUri: good.uri, recordCid: good.cid }) }));
  provider = await faces.provider(policyPath, { REQUEST_BUDGET: `${BUDGET_MS}ms` });
}, 180_000);

afterAll(async () => {
  await provider?.close();
  client?.close();
  faces?.close();
  await Promise.all([net?.close(), registry?.close()]);
});

describe('referrer triage: junk referrers never hide a good signature', () => {
  it('verify finds the publisher signature behind 100 junk referrers', async () => {
    const started = performance.now();
    const cli = await faces.verify(`${registry.host}/${REPOSITORY}@${buried.digest}`, policyPath);
    const ms = performance.now() - started;
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.json.decisive.did).toBe(alice.did);
    // The trusted claim was verified first: no junk needed verifying before it.
    expect(cli.json.signatures.length).toBe(1);
    expect(ms).toBeLessThan(BUDGET_MS + 2000); // process start included
  }, 30_000);

  it('the provider finds it within its request budget', async () => {
    const started = performance.now();
    const item = await provider.answer(`${registry.host}/${REPOSITORY}@${buried.digest}`);
    const ms = performance.now() - started;
    expect(item.value.isSuccess, item.value.message).toBe(true);
    expect(item.value.did).toBe(alice.did);
    expect(ms).toBeLessThan(BUDGET_MS);
  }, 30_000);

  it('finds an unannotated signature pushed after 100 unannotated junk referrers, in verify and the provider', async () => {
    const image = `${registry.host}/${REPOSITORY}@${unannotated.digest}`;
    const cli = await faces.verify(image, policyPath);
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.json.decisive.did).toBe(alice.did);
    const started = performance.now();
    const item = await provider.answer(image);
    expect(item.value.isSuccess, item.value.message).toBe(true);
    expect(performance.now() - started).toBeLessThan(BUDGET_MS);
  }, 30_000);

  it('the provider refuses an image signed only by strangers on the claim, and counts those refusals', async () => {
    const before = await provider.metric('atproto_verifier_untrusted_claims_total');
    const item = await provider.answer(`${registry.host}/${REPOSITORY}@${strangersOnly.digest}`);
    expect(item.value.isSuccess).toBe(false);
    expect(item.value.error.code).toBe('UNTRUSTED_DID');
    expect(item.value.error.message).toContain('claimed, not verified');
    expect(await provider.metric('atproto_verifier_untrusted_claims_total')).toBe(before + 3);
  }, 30_000);
});
