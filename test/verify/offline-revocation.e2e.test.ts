import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage } from '../../src/devnet/sample-image.js';
import { attachSignature } from '../../src/publish/attach-signature.js';
import { RegistryClient } from '../../src/registry/client.js';
import { OCI_MANIFEST_MEDIA_TYPE, type Descriptor } from '../../src/registry/oci.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';
import { facesAreBuilt, threeFaces, type Faces, type ProviderFace } from '../harness/three-faces.js';

// Issue 14: the artifact never chooses how it is verified. A record's getRecord CAR is public:
// anyone can capture it, and embed it in a referrer after the publisher revoked the signature
// (deleted the record) or rotated the key. With the key pinned, that replay is refused online by
// every face, naming the revocation; it is admitted only when the operator turned offline
// verification on AND the DID is marked `offline: allowed`, and then each face says plainly
// "offline: revocation not checked". Real PDS + PLC (dev-env), real registry, built executables.

let net: AtprotoNetwork;
let registry: RegistryServer;
let client: RegistryClient;
let alice: Publisher;
let carol: Publisher;
let faces: Faces;

interface Replay {
  image: string;
  referrer: Descriptor;
}
let deleted: Replay;
let rotated: Replay;
let allowedPolicy: string;
let notAllowedPolicy: string;
const providers: ProviderFace[] = [];

async function fetchProof(did: string, rkey: string): Promise<Uint8Array> {
  const res = await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getRecord?did=${did}&collection=io.atcr.manifest&rkey=${rkey}`);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

/** Signs an image with a real record, captures its proof, lets `revoke` run, then attaches the replay. */
async function replayAfter(publisher: Publisher, repository: string, revoke: (rkey: string) => Promise<unknown>): Promise<Replay> {
  const image = await pushSampleImage(client, registry.host, repository, 'v1', `${repository} replayed`);
  const record = await publisher.putManifestRecord({ repository: `${registry.host}/${repository}`, digest: image.digest });
  const car = await fetchProof(publisher.did, record.rkey);
  await revoke(record.rkey);
  const payload = buildSignaturePayload({ subjectDigest: image.digest, did: publisher.did, recordUri: record.uri, recordCid: record.cid, proofCar: car });
  const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
  const referrer = await attachSignature(client, repository, subject, new TextEncoder().encode(JSON.stringify(payload)));
  return { image: `${registry.host}/${repository}@${image.digest}`, referrer };
}

/** The atproto key the DID document lists now, in the form the engine compares. */
async function currentKey(publisher: Publisher): Promise<string> {
  const digest = `sha256:${'0'.repeat(64)}`;
  const record = await publisher.putManifestRecord({ repository: 'probe', digest });
  const out = await new Verifier({ ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false }, { handleResolver: net.handleResolver }).verify({
    subjectDigest: digest,
    payload: buildSignaturePayload({ subjectDigest: digest, did: publisher.did, recordUri: record.uri }),
  });
  expect(out.signingKey).toBeTruthy();
  return out.signingKey!;
}

const policyYaml = (aliceKey: string, carolKey: string, offline: string) => `version: "1.0"
trustedDIDs:
  ${alice.did}: {name: "Alice", keys: ["${aliceKey}"]${offline}}
  ${carol.did}: {name: "Carol", keys: ["${carolKey}"]${offline}}
policies:
  - {name: everything, scope: "**", trustedDIDs: [${alice.did}, ${carol.did}], action: enforce}
`;

beforeAll(async () => {
  expect(facesAreBuilt(), 'run node scripts/build.mjs first').toBe(true);
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  [alice, carol] = await Promise.all([net.createPublisher('alice'), net.createPublisher('carol')]);
  const [aliceKey, carolKey] = await Promise.all([currentKey(alice), currentKey(carol)]);
  faces = threeFaces(net);
  allowedPolicy = faces.policy('allowed', policyYaml(aliceKey, carolKey, ', offline: allowed'));
  notAllowedPolicy = faces.policy('not-allowed', policyYaml(aliceKey, carolKey, ''));
  deleted = await replayAfter(alice, 'alice/app', (rkey) => alice.deleteRecord(rkey));
  // The old key stays pinned in the policy; the DID document now names another.
  rotated = await replayAfter(carol, 'carol/app', () => net.rotateSigningKeyAway(carol.did));
}, 120_000);

afterAll(async () => {
  await Promise.all(providers.map((p) => p.close()));
  client?.close();
  faces?.close();
  await Promise.all([net?.close(), registry?.close()]);
});

async function provider(policy: string, offline: boolean): Promise<ProviderFace> {
  const p = await faces.provider(policy, offline ? { OFFLINE: 'true' } : {});
  providers.push(p);
  return p;
}

const REVOKED = {
  deleted: { codes: ['RECORD_NOT_FOUND', 'RECORD_NOT_IN_COMMIT'], says: /deleted|RecordNotFound|absent/ },
  rotated: { codes: ['SIGNATURE_INVALID'], says: /signature/i },
};

describe.each([
  ['a deleted record', () => deleted, REVOKED.deleted],
  ['a key rotated away in the PLC directory (old key still pinned)', () => rotated, REVOKED.rotated],
])('a captured proof replayed after %s', (_what, replay, revoked) => {
  it('is refused online by the plugin, verify and the provider, naming the revocation', async () => {
    const { image, referrer } = replay();
    for (const policy of [allowedPolicy, notAllowedPolicy]) {
      const plugin = await faces.plugin(image, referrer, policy);
      expect(plugin.result?.isSuccess).toBe(false);
      expect(revoked.codes).toContain(plugin.result?.extensions.errorCode);
      expect(String(plugin.result?.extensions.error)).toMatch(revoked.says);
      expect(plugin.result?.extensions.offline).toBeUndefined();

      const cli = await faces.verify(image, policy);
      expect(cli.code).not.toBe(0);
      expect(revoked.codes).toContain(cli.json.decisive.error.code);
      expect(cli.json.decisive.offline).toBeUndefined();

      const item = await (await provider(policy, false)).answer(image);
      expect(item.value.isSuccess).toBe(false);
      expect(revoked.codes).toContain(item.value.error.code);
      expect(item.error).toBeTruthy();
      expect(item.value.offline).toBeUndefined();
    }
  }, 60_000);

  it('is still refused online when the operator turned offline on but the DID is not marked offline: allowed', async () => {
    const { image, referrer } = replay();
    const plugin = await faces.plugin(image, referrer, notAllowedPolicy, { offline: true });
    expect(plugin.result?.isSuccess).toBe(false);
    expect(revoked.codes).toContain(plugin.result?.extensions.errorCode);
    const cli = await faces.verify(image, notAllowedPolicy, ['--offline']);
    expect(cli.code).not.toBe(0);
    expect(revoked.codes).toContain(cli.json.decisive.error.code);
    const item = await (await provider(notAllowedPolicy, true)).answer(image);
    expect(item.value.isSuccess).toBe(false);
    expect(revoked.codes).toContain(item.value.error.code);
  }, 60_000);

  it('is admitted only with the explicit offline setting, and every face says revocation was not checked', async () => {
    const { image, referrer } = replay();
    const plugin = await faces.plugin(image, referrer, allowedPolicy, { offline: true });
    expect(plugin.result?.isSuccess).toBe(true);
    expect(plugin.result?.extensions.offline).toBe('revocation not checked');
    expect(plugin.result?.message).toContain('offline: revocation not checked');

    const cli = await faces.verify(image, allowedPolicy, ['--offline']);
    expect(cli.code).toBe(0);
    expect(cli.json.decisive.offline).toBe(true);
    expect(cli.json.decisive.message).toContain('offline: revocation not checked');
    const text = await faces.verify(image, allowedPolicy, ['--offline', '--output', 'text']);
    expect(text.stdout).toContain('offline: revocation not checked');

    const item = await (await provider(allowedPolicy, true)).answer(image);
    expect(item.value.isSuccess).toBe(true);
    expect(item.value.offline).toBe('revocation not checked');
    expect(item.value.message).toContain('offline: revocation not checked');
    expect(item.error).toBeUndefined();
  }, 60_000);
});
